/** Activity: consent changes per day by source and opt-outs per day over the last 30 days, as charts. */
import type { Hono } from 'hono';
import { html } from 'hono/html';
import { activityCharts, dayRange, legend, series } from '../chart.ts';
import { type AdminEnv, requirePage, requireSession } from '../guard.ts';
import { PAGES, render } from '../layout.ts';

const DAYS = 30;

/** Registers the activity page. */
export function activityPages(r: Hono<AdminEnv>): void {
  r.get('/activity', requireSession, requirePage(PAGES.activity), async (c) => {
    const today = c.var.services.clock().toISOString().slice(0, 10);
    const days = dayRange(today, DAYS);
    const s = series(await c.var.services.store.ledgerDaily(`${days[0]}T00:00:00.000Z`), days);
    const { changes, optOuts } = activityCharts(s);
    const total = s.bySource.reduce((n, d) => n + Object.values(d).reduce((a, b) => a + b, 0), 0);
    const outs = s.optOuts.reduce((a, b) => a + b, 0);
    return render(
      c,
      'Activity',
      html`<p class="muted">From the consent ledger, last ${DAYS} days (UTC), ${days[0]} to ${today}:
        ${total} consent change(s), ${outs} opt-out(s).</p>
      <section class="card"><h2>Consent changes per day, by source</h2>${legend(s.sources)}${changes}</section>
      <section class="card"><h2>Opt-outs per day</h2>${optOuts}</section>
      <details><summary>The numbers</summary><table class="numbers"><thead><tr><th>day</th>${s.sources.map(
        (src) => html`<th>${src}</th>`,
      )}<th>opt-outs</th></tr></thead><tbody>${s.days.map(
        (d, i) =>
          html`<tr><td>${d}</td>${s.sources.map((src) => html`<td>${s.bySource[i]![src] ?? 0}</td>`)}<td>${
            s.optOuts[i]
          }</td></tr>`,
      )}</tbody></table></details>`,
    );
  });
}
