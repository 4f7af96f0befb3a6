/**
 * Server-rendered bar charts (inline SVG, no library): consent changes per day stacked by source,
 * and opt-outs per day, from the ledger's daily counts. Colours are SVG attributes, so the page's
 * Content-Security-Policy can forbid inline styles.
 */
import { html } from 'hono/html';
import type { LedgerDay } from '../store/stats-sql.ts';

/** Actions that change a status (evidence-only and erasure events are not consent changes). */
export const CHANGE_ACTIONS = ['requested', 'confirmed', 'granted', 'opted_out', 'expired'] as const;

export const SOURCE_COLOURS: Record<string, string> = {
  whatsapp: '#25a244',
  form: '#1f5fbf',
  api: '#7b52c7',
  hubspot: '#e8643f',
  salesforce: '#0a8fc7',
  meta_preferences: '#b08900',
  meta_status: '#8d6e63',
  system: '#8a94a6',
};
const colour = (source: string) => SOURCE_COLOURS[source] ?? '#555555';

/** The `n` UTC days ending with `lastDay` (YYYY-MM-DD), oldest first. */
export function dayRange(lastDay: string, n: number): string[] {
  const end = Date.parse(`${lastDay}T00:00:00.000Z`);
  return Array.from({ length: n }, (_, i) =>
    new Date(end - (n - 1 - i) * 86_400_000).toISOString().slice(0, 10),
  );
}

export interface Series {
  days: string[];
  /** per day: count per source */
  bySource: Array<Record<string, number>>;
  sources: string[];
  optOuts: number[];
}

/** Folds the store's daily counts into per-day series (days with nothing are zero). */
export function series(rows: LedgerDay[], days: string[]): Series {
  const index = new Map(days.map((d, i) => [d, i]));
  const bySource = days.map(() => ({}) as Record<string, number>);
  const optOuts = days.map(() => 0);
  const sources = new Set<string>();
  for (const r of rows) {
    const i = index.get(r.day);
    if (i === undefined || !(CHANGE_ACTIONS as readonly string[]).includes(r.action)) continue;
    sources.add(r.source);
    const day = bySource[i]!;
    day[r.source] = (day[r.source] ?? 0) + r.count;
    if (r.action === 'opted_out') optOuts[i]! += r.count;
  }
  return { days, bySource, sources: [...sources].sort(), optOuts };
}

const W = 760;
const H = 220;
const PAD = { left: 40, right: 10, top: 12, bottom: 30 };

function niceMax(n: number): number {
  if (n <= 5) return Math.max(1, n);
  const p = 10 ** Math.floor(Math.log10(n));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= n) return m * p;
  return 10 * p;
}

interface Bar {
  day: string;
  parts: Array<{ label: string; value: number; fill: string }>;
}

/** One bar chart; each bar may be stacked. Every bar carries a `<title>` with its numbers. */
export function barChart(id: string, title: string, bars: Bar[]) {
  const max = niceMax(Math.max(0, ...bars.map((b) => b.parts.reduce((s, p) => s + p.value, 0))));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, bars.length);
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH;
  const ticks = [0, max / 2, max];
  return html`<svg class="chart" id="${id}" role="img" aria-labelledby="${id}-title" viewBox="0 0 ${W} ${H}"
    width="${W}" height="${H}" xmlns="http://www.w3.org/2000/svg">
  <title id="${id}-title">${title}</title>
  ${ticks.map(
    (t) => html`<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(t)}" y2="${y(t)}" stroke="#e3e6eb" />
    <text x="${PAD.left - 6}" y="${y(t) + 4}" text-anchor="end" font-size="11" fill="#5b6475">${
      Number.isInteger(t) ? t : t.toFixed(1)
    }</text>`,
  )}
  ${bars.map((b, i) => {
    let base = 0;
    const x = PAD.left + i * slot + slot * 0.15;
    const total = b.parts.reduce((s, p) => s + p.value, 0);
    return html`<g class="bar" data-day="${b.day}" data-total="${total}"><title>${b.day}: ${
      b.parts
        .filter((p) => p.value > 0)
        .map((p) => `${p.label} ${p.value}`)
        .join(', ') || 'none'
    }</title>${b.parts
      .filter((p) => p.value > 0)
      .map((p) => {
        const top = y(base + p.value);
        const h = y(base) - top;
        base += p.value;
        return html`<rect x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${(slot * 0.7).toFixed(1)}"
          height="${h.toFixed(1)}" fill="${p.fill}" />`;
      })}${
      i % 5 === 0 || i === bars.length - 1
        ? html`<text x="${(x + slot * 0.35).toFixed(1)}" y="${H - 10}" text-anchor="middle" font-size="11"
            fill="#5b6475">${b.day.slice(5)}</text>`
        : ''
    }</g>`;
  })}
</svg>`;
}

/** A legend whose swatches are tiny SVGs (no inline styles). */
export const legend = (sources: string[]) =>
  html`<p class="legend">${sources.map(
    (s) =>
      html`<span><svg width="12" height="12" aria-hidden="true"><rect width="12" height="12" fill="${colour(s)}" /></svg>
        ${s}</span>`,
  )}</p>`;

/** Both charts for the activity page. */
export function activityCharts(s: Series) {
  const changes = barChart(
    'changes-chart',
    'Consent changes per day by source',
    s.days.map((day, i) => ({
      day,
      parts: s.sources.map((src) => ({ label: src, value: s.bySource[i]![src] ?? 0, fill: colour(src) })),
    })),
  );
  const optOuts = barChart(
    'optouts-chart',
    'Opt-outs per day',
    s.days.map((day, i) => ({ day, parts: [{ label: 'opt-outs', value: s.optOuts[i]!, fill: '#b3261e' }] })),
  );
  return { changes, optOuts };
}
