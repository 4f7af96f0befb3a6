/**
 * The audit log of admin actions: who (key id and role), what, when; filters by actor, action and
 * date (GET parameters, none of them personal data); consecutive sign-ins of one key collapsed into
 * one row with a count; details as key/value pairs, mapping edits as a diff.
 */
import type { Context, Hono } from 'hono';
import { html } from 'hono/html';
import type { AuditEntry } from '../../core/types.ts';
import type { AuditFilter } from '../../store/stats-sql.ts';
import { lineDiff, pretty } from '../diff.ts';
import { type AdminEnv, requirePage, requireSession } from '../guard.ts';
import { notice, PAGES, render, when } from '../layout.ts';

const LIMIT = 200;
/** Actions that say only that someone used the console: collapsed when one key repeats them. */
const NOISE = new Set(['console.sign_in', 'console.sign_out']);
const DAY = /^\d{4}-\d{2}-\d{2}$/;
const TOKEN = /^[\w.:-]{1,100}$/;

/** A row of the page: one entry, or a run of one key's sign-ins. */
export interface AuditRow {
  entry: AuditEntry;
  count: number;
  firstAt: string;
}

/**
 * Collapses consecutive sign-ins and sign-outs of the same key (entries newest first) into one row.
 *
 * @example collapse([signIn('k1', '10:05'), signIn('k1', '10:00'), retry('k1')]) // → 2 rows, the first with count 2
 */
export function collapse(entries: AuditEntry[]): AuditRow[] {
  const rows: AuditRow[] = [];
  for (const e of entries) {
    const last = rows.at(-1);
    if (last && NOISE.has(e.action) && last.entry.action === e.action && last.entry.actor === e.actor) {
      last.count += 1;
      last.firstAt = e.at;
    } else rows.push({ entry: e, count: 1, firstAt: e.at });
  }
  return rows;
}

const scalar = (v: unknown): string =>
  v === null || v === undefined
    ? '–'
    : typeof v === 'string'
      ? v
      : typeof v === 'number' || typeof v === 'boolean'
        ? String(v)
        : Array.isArray(v) && v.every((x) => typeof x !== 'object' || x === null)
          ? v.map(scalar).join(', ')
          : JSON.stringify(v);

function details(d: Record<string, unknown>) {
  if ('before' in d && 'after' in d) {
    const lines = lineDiff(pretty(d.before), pretty(d.after)).filter((l) => l.op !== 'same');
    return html`<details><summary>${lines.length} line(s) changed</summary><pre class="diff">${lines.map(
      (l) => html`<span class="${l.op}">${l.op === 'add' ? '+ ' : '- '}${l.line}</span>`,
    )}</pre></details>`;
  }
  const keys = Object.keys(d);
  if (keys.length === 0) return '';
  return html`<dl class="kv details">${keys.map((k) => {
    const v = d[k];
    const nested = typeof v === 'object' && v !== null && !Array.isArray(v);
    return html`<dt>${k}</dt><dd>${
      nested
        ? html`<dl class="kv">${Object.entries(v as Record<string, unknown>).map(
            ([k2, v2]) => html`<dt>${k2}</dt><dd>${scalar(v2)}</dd>`,
          )}</dl>`
        : scalar(v)
    }</dd>`;
  })}</dl>`;
}

/** The filter from the query string; unreadable values are dropped and named. */
function readFilter(c: Context<AdminEnv>): {
  filter: AuditFilter;
  typed: Record<string, string>;
  bad: string[];
} {
  const typed = {
    actor: (c.req.query('actor') ?? '').trim(),
    action: (c.req.query('action') ?? '').trim(),
    from: (c.req.query('from') ?? '').trim(),
    to: (c.req.query('to') ?? '').trim(),
  };
  const filter: AuditFilter = {};
  const bad: string[] = [];
  const day = (s: string) => (DAY.test(s) && !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) ? s : null);
  const take = (value: string, read: (v: string) => string | null, name: string) => {
    if (!value) return undefined;
    const v = read(value);
    if (v === null) bad.push(name);
    return v ?? undefined;
  };
  const token = (v: string) => (TOKEN.test(v) ? v : null);
  const actor = take(typed.actor, token, 'key id');
  const action = take(typed.action, token, 'action');
  const from = take(typed.from, day, 'from');
  const to = take(typed.to, day, 'to');
  if (actor) filter.actor = actor;
  if (action) filter.action = action;
  if (from) filter.since = `${from}T00:00:00.000Z`;
  // "to" is inclusive: everything before the next day
  if (to) filter.until = new Date(Date.parse(`${to}T00:00:00Z`) + 86_400_000).toISOString();
  return { filter, typed, bad };
}

/** Registers the audit log page. */
export function auditPages(r: Hono<AdminEnv>): void {
  r.get('/audit', requireSession, requirePage(PAGES.audit), async (c) => {
    const { store } = c.var.services;
    const { filter, typed, bad } = readFilter(c);
    const entries = await store.listAudit(LIMIT, filter);
    const rows = collapse(entries);
    const actions = [...new Set(entries.map((e) => e.action))].sort();
    const filtered = Object.keys(filter).length > 0;
    return render(
      c,
      'Audit log',
      html`${bad.length ? notice(`Not understood, so not applied: ${bad.join(', ')} (dates as YYYY-MM-DD).`, 'alert') : ''}
      <form method="get" action="/admin/audit" class="filters card">
        <div class="field"><label for="f-actor">Key id</label>
          <input type="text" id="f-actor" name="actor" value="${typed.actor}" placeholder="any" /></div>
        <div class="field"><label for="f-action">Action</label>
          <input type="text" id="f-action" name="action" value="${typed.action}" placeholder="any" list="actions" />
          <datalist id="actions">${actions.map((a) => html`<option value="${a}"></option>`)}</datalist></div>
        <div class="field"><label for="f-from">From</label>
          <input type="date" id="f-from" name="from" value="${typed.from}" /></div>
        <div class="field"><label for="f-to">To</label>
          <input type="date" id="f-to" name="to" value="${typed.to}" /></div>
        <div class="field buttons"><button type="submit">Filter</button>
          ${filtered ? html`<a href="/admin/audit">clear</a>` : ''}</div>
      </form>
      <p class="muted">${filtered ? 'Matching actions' : 'The newest actions'}, up to ${LIMIT}
        (${entries.length} shown as ${rows.length} row(s); repeated sign-ins of one key count as one row). People
        appear as internal ids, keys as key ids (never tokens).</p>
      <table class="audit"><thead><tr><th>when</th><th>who</th><th>role</th><th>what</th><th>on</th><th>details</th></tr></thead>
      <tbody>${rows.map(
        ({
          entry: e,
          count,
          firstAt,
        }) => html`<tr data-action="${e.action}"${count > 1 ? html` data-count="${count}"` : ''}>
          <td>${when(e.at)}${count > 1 ? html`<div class="muted">since ${when(firstAt)}</div>` : ''}</td>
          <td><a href="/admin/audit?actor=${encodeURIComponent(e.actor)}"><code>${e.actor}</code></a></td><td>${e.role}</td>
          <td>${e.action}${count > 1 ? html` <span class="badge">${count} times</span>` : ''}</td>
          <td>${e.target ? html`<code>${e.target}</code>` : '–'}</td><td>${details(e.details)}</td></tr>`,
      )}</tbody></table>`,
    );
  });
}
