/** The audit log of admin actions: who (key id and role), what, when; mapping edits as a diff. */
import type { Hono } from 'hono';
import { html } from 'hono/html';
import { lineDiff, pretty } from '../diff.ts';
import { type AdminEnv, requirePage, requireSession } from '../guard.ts';
import { PAGES, render, when } from '../layout.ts';

const LIMIT = 200;

/** Registers the audit log page. */
export function auditPages(r: Hono<AdminEnv>): void {
  r.get('/audit', requireSession, requirePage(PAGES.audit), async (c) => {
    const entries = await c.var.services.store.listAudit(LIMIT);
    const details = (d: Record<string, unknown>) => {
      if ('before' in d && 'after' in d) {
        const lines = lineDiff(pretty(d.before), pretty(d.after)).filter((l) => l.op !== 'same');
        return html`<details><summary>${lines.length} line(s) changed</summary><pre class="diff">${lines.map(
          (l) => html`<span class="${l.op}">${l.op === 'add' ? '+ ' : '- '}${l.line}</span>`,
        )}</pre></details>`;
      }
      const keys = Object.keys(d);
      return keys.length ? html`<code>${JSON.stringify(d)}</code>` : '';
    };
    return render(
      c,
      'Audit log',
      html`<p class="muted">The newest ${LIMIT} actions. People appear as internal ids, keys as key ids (never tokens).</p>
      <table class="audit"><thead><tr><th>when</th><th>who</th><th>role</th><th>what</th><th>on</th><th>details</th></tr></thead>
      <tbody>${entries.map(
        (
          e,
        ) => html`<tr data-action="${e.action}"><td>${when(e.at)}</td><td><code>${e.actor}</code></td><td>${e.role}</td>
          <td>${e.action}</td><td>${e.target ? html`<code>${e.target}</code>` : '–'}</td><td>${details(e.details)}</td></tr>`,
      )}</tbody></table>`,
    );
  });
}
