/**
 * Person lookup: the current state per purpose and, for auditors and admins, the ledger timeline
 * with evidence and the exact wording shown. The number is asked for in a POST form (never in a
 * URL, where it would reach browser history and proxy logs) and masked for operators. Actions on
 * the person, each for the roles the JSON API allows it: opt out and start an erasure (operator,
 * admin), download the Art. 15 export (auditor, admin); the CRM records linked to the person.
 */
import type { Context, Hono } from 'hono';
import { html } from 'hono/html';
import type { Config, Role } from '../../config.ts';
import { maskIdentifier, parseSubjectRef } from '../../core/identity.ts';
import type { Api, ApiError } from '../api.ts';
import { type AdminEnv, requireCsrf, requirePage, requireSession } from '../guard.ts';
import {
  badge,
  csrfField,
  EXAMPLE_PHONE,
  maskPhone,
  notice,
  PAGES,
  type PageDef,
  render,
  when,
} from '../layout.ts';

type C = Context<AdminEnv>;

/** Roles that see full numbers; the others (operator) see them masked. */
export const FULL_NUMBER_ROLES: readonly Role[] = ['admin', 'auditor'];
/** Roles that see the ledger timeline (as `GET /v1/subjects/{phone}/history`). */
const HISTORY_ROLES: readonly Role[] = ['admin', 'auditor'];
/** As `POST /v1/subjects/{phone}/opt-out` and `POST /v1/erasures`. */
const ACT_ROLES: readonly Role[] = ['admin', 'operator'];
/** As `GET /v1/subjects/{phone}/export` (it holds the decrypted evidence). */
const EXPORT_ROLES: readonly Role[] = ['admin', 'auditor'];

const ACTIONS = {
  optOut: { path: '/admin/people/opt-out', title: 'opt-outs', roles: ['operator'] },
  erase: { path: '/admin/people/erase', title: 'erasures', roles: ['operator'] },
  export: { path: '/admin/people/export', title: 'the Art. 15 export', roles: ['auditor'] },
} as const satisfies Record<string, PageDef>;

/**
 * Where a linked CRM record opens. Salesforce: the Lightning record page on the org's My Domain
 * (`/lightning/r/{object}/{id}/view`; a UI URL Salesforce does not guarantee, so only when
 * `SALESFORCE_LOGIN_URL` is a My Domain). HubSpot's record URLs need the account id, which the
 * service does not know: the record id is shown without a link.
 */
export function recordUrl(
  config: Pick<Config, 'SALESFORCE_LOGIN_URL'>,
  link: { connector: string; objectType: string; remoteId: string },
) {
  if (link.connector !== 'salesforce') return null;
  const base = new URL(config.SALESFORCE_LOGIN_URL);
  if (!base.hostname.endsWith('.my.salesforce.com')) return null;
  const [object, id] = [link.objectType, link.remoteId].map(encodeURIComponent);
  return `${base.origin}/lightning/r/${object}/${id}/view`;
}

interface PurposeView {
  status: string;
  changedAt: string | null;
  source: string | null;
  doubleOptInAt?: string | null;
  pendingExpiresAt?: string | null;
  textVersion?: string | null;
}
interface SubjectView {
  known: boolean;
  erased?: boolean;
  purposes: Record<string, PurposeView>;
  identifiers?: Array<{ kind: string; masked: string; status: string }>;
}

const KIND_LABEL: Record<string, string> = {
  phone: 'phone number',
  bsuid: 'WhatsApp BSUID',
  parent_bsuid: 'WhatsApp parent BSUID',
};

function identifiers(s: SubjectView) {
  const ids = s.identifiers ?? [];
  if (ids.length === 0) return '';
  return html`<h3>Known by</h3><table class="identifiers"><thead><tr><th>kind</th><th>identifier</th><th>status</th>
    </tr></thead><tbody>${ids.map(
      (
        i,
      ) => html`<tr data-kind="${i.kind}"><td>${KIND_LABEL[i.kind] ?? i.kind}</td><td><code>${i.masked}</code></td>
        <td>${i.status === 'former' ? html`former (changed; never messaged)` : 'active'}</td></tr>`,
    )}</tbody></table>`;
}
interface EventView {
  seq: number;
  purpose: string;
  action: string;
  source: string;
  occurredAt: string;
  recordedAt: string;
  textVersion: string | null;
  textSha256: string | null;
  text: string | null;
  evidence: Record<string, unknown> | null;
  hash: string;
}

function form(c: C, error?: string, typed = '') {
  return html`<section class="card"><form method="post" action="/admin/people">
    ${csrfField(c)}
    <div class="field"><label for="phone">Phone number (E.164 or WhatsApp id) or WhatsApp BSUID</label>
      <input type="text" id="phone" name="phone" autocomplete="off" placeholder="${EXAMPLE_PHONE}"
        aria-describedby="phone-error" value="${typed}" />
      <div id="phone-error" class="issue">${error ?? ''}</div></div>
    <button type="submit">Look up</button></form></section>`;
}

function states(s: SubjectView) {
  return html`<table class="states"><thead><tr><th>purpose</th><th>status</th><th>since</th><th>source</th>
    <th>text version</th><th>double opt-in</th><th>pending until</th></tr></thead><tbody>${Object.entries(
      s.purposes,
    ).map(
      ([
        p,
        v,
      ]) => html`<tr data-purpose="${p}"><td>${p}</td><td>${badge(v.status)}</td><td>${when(v.changedAt)}</td>
        <td>${v.source ?? '–'}</td><td>${v.textVersion ?? '–'}</td><td>${when(v.doubleOptInAt)}</td>
        <td>${when(v.pendingExpiresAt)}</td></tr>`,
    )}</tbody></table>`;
}

function timeline(events: EventView[]) {
  if (events.length === 0) return html`<p class="muted">No ledger events.</p>`;
  return html`<ol class="timeline">${events.map(
    (
      e,
    ) => html`<li data-seq="${e.seq}"><strong>${when(e.occurredAt)}</strong> · ${e.purpose} · ${badge(e.action)}
      · from ${e.source}
      ${
        e.text
          ? html`<div>Wording shown (version <code>${e.textVersion}</code>):<blockquote>${e.text}</blockquote></div>`
          : e.textVersion
            ? html`<div>Text version <code>${e.textVersion}</code></div>`
            : ''
      }
      <dl class="kv">${Object.entries(e.evidence ?? {}).map(
        ([k, v]) => html`<dt>${k}</dt><dd>${typeof v === 'string' ? v : JSON.stringify(v)}</dd>`,
      )}
        ${e.textSha256 ? html`<dt>text SHA-256</dt><dd><code>${e.textSha256}</code></dd>` : ''}
        <dt>recorded</dt><dd>${when(e.recordedAt)} (#${e.seq}, hash <code>${e.hash.slice(0, 16)}…</code>)</dd>
      </dl></li>`,
  )}</ol>`;
}

/**
 * The actions on a person. Their forms name the person by internal id (as the audit log does), never
 * by number: an operator's page holds no full number, not even in a hidden field.
 */
function actions(c: C, subjectId: string, purposes: string[], erased: boolean) {
  const role = c.var.session.actor.role;
  const hidden = html`${csrfField(c)}<input type="hidden" name="subject" value="${subjectId}" />`;
  const parts = [];
  if (ACT_ROLES.includes(role) && !erased) {
    parts.push(html`<form method="post" action="${ACTIONS.optOut.path}" class="action">${hidden}
      <label for="opt-out-purpose">Opt out of</label>
      <select id="opt-out-purpose" name="purpose"><option value="">every purpose</option>${purposes.map(
        (p) => html`<option value="${p}">${p}</option>`,
      )}</select>
      <button type="submit">Opt out</button></form>`);
    parts.push(html`<form method="post" action="${ACTIONS.erase.path}" class="action">${hidden}
      <label><input type="checkbox" name="confirm" value="yes" required /> The person asked to be erased
        (Art. 17): delete them here and in every CRM; this cannot be undone.</label>
      <button class="danger" type="submit">Start the erasure</button></form>`);
  }
  if (EXPORT_ROLES.includes(role)) {
    parts.push(html`<form method="post" action="${ACTIONS.export.path}" class="action">${hidden}
      <button class="secondary" type="submit">Download the Art. 15 export (JSON)</button></form>`);
  }
  return parts.length ? html`<h3>Actions</h3><div class="actions">${parts}</div>` : '';
}

async function crmRecords(c: C, subjectId: string) {
  const { store, config } = c.var.services;
  const links = await store.linksOf(subjectId);
  if (links.length === 0) return html`<h3>CRM records</h3><p class="muted">No CRM record is linked.</p>`;
  return html`<h3>CRM records</h3><ul class="crm-links">${links.map((l) => {
    const url = recordUrl(config, l);
    const name = `${l.connector} ${l.objectType} ${l.remoteId}`;
    return html`<li data-link="${l.connector}">${
      url ? html`<a href="${url}" target="_blank" rel="noopener noreferrer">${name}</a>` : name
    } <span class="muted">(linked ${when(l.linkedAt)})</span></li>`;
  })}</ul>`;
}

type Parsed = { ok: true; value: string; kind: string; input: string } | { ok: false; input: string };

/** The person an action names by internal id: their active number, else their BSUID (null: gone). */
async function readSubject(c: C): Promise<(Parsed & { ok: true }) | null> {
  const id = String((await c.req.parseBody()).subject ?? '').slice(0, 100);
  const { subjects } = c.var.services;
  const s = id ? await subjects.byId(id) : null;
  if (!s) return null;
  const phone = await subjects.phoneOrNull(s);
  const value = phone ?? (await subjects.bsuid(s));
  if (!value) return null;
  return { ok: true, value, kind: phone ? 'phone' : 'bsuid', input: '' };
}

const gone = (c: C) =>
  render(
    c,
    'People',
    html`${form(c)}${notice('That person is no longer known here; nothing changed.', 'alert')}`,
    404,
  );

async function readInput(c: C): Promise<Parsed> {
  const input = String((await c.req.parseBody()).phone ?? '')
    .trim()
    .slice(0, 400);
  const p = parseSubjectRef(input, c.var.services.config.DEFAULT_COUNTRY);
  return p.ok ? { ok: true, value: p.id.value, kind: p.id.kind, input } : { ok: false, input };
}

const UNREADABLE = 'Enter an E.164 number (+49…), a WhatsApp id, or a BSUID (DE.123…).';

/** The person's page (after a lookup or an action), with a notice on top when one is given. */
async function personPage(c: C, api: Api, p: Parsed & { ok: true }, info?: ReturnType<typeof notice>) {
  const path = `/v1/subjects/${encodeURIComponent(p.value)}`;
  const subject = await api<SubjectView & ApiError>(c, 'GET', path);
  if (subject.status !== 200) {
    // the number stays in the field, so a typo can be mended
    return render(c, 'People', html`${form(c, subject.body.error?.message, p.input)}`, 400);
  }
  const role = c.var.session.actor.role;
  const shown = FULL_NUMBER_ROLES.includes(role)
    ? p.value
    : p.kind === 'phone'
      ? maskPhone(p.value)
      : maskIdentifier({ kind: p.kind as 'bsuid', value: p.value });
  let history = html`<p class="muted">The ledger timeline is shown to auditors and admins.</p>`;
  if (HISTORY_ROLES.includes(role)) {
    const h = await api<{ events: EventView[] }>(c, 'GET', `${path}/history`);
    history = timeline(h.body.events ?? []);
  }
  const s = subject.body;
  const found = s.known ? await c.var.services.subjects.findValue(p.value) : null;
  const status = s.erased
    ? html`<p class="alert">This person asked to be erased: nothing is recorded and every send is blocked.</p>`
    : s.known
      ? ''
      : html`<p class="muted">Nobody with this number is known here.</p>`;
  return render(
    c,
    'People',
    html`${info ?? ''}${form(c, undefined, FULL_NUMBER_ROLES.includes(role) ? p.input : '')}
      <section class="card" id="person"><h2>${shown}</h2>${status}
      ${identifiers(s)}<h3>Current consent</h3>${states(s)}${
        found ? actions(c, found.row.id, Object.keys(s.purposes), s.erased === true) : ''
      }${found ? await crmRecords(c, found.row.id) : ''}<h3>Ledger timeline</h3>${history}</section>`,
  );
}

/** Registers the person lookup and the actions on a person. */
export function peoplePages(r: Hono<AdminEnv>, api: Api): void {
  const guard = [requireSession, requirePage(PAGES.people)] as const;
  const action = (page: PageDef) => [requireSession, requirePage(page), requireCsrf] as const;

  r.get('/people', ...guard, (c) => render(c, 'People', form(c)));

  r.post('/people', ...guard, requireCsrf, async (c) => {
    const p = await readInput(c);
    if (!p.ok) return render(c, 'People', form(c, UNREADABLE, p.input), 400);
    return personPage(c, api, p);
  });

  r.post('/people/opt-out', ...action(ACTIONS.optOut), async (c) => {
    const p = await readSubject(c);
    if (!p) return gone(c);
    const purpose = String((await c.req.parseBody()).purpose ?? '');
    const path = `/v1/subjects/${encodeURIComponent(p.value)}/opt-out`;
    const res = await api<ApiError>(c, 'POST', path, purpose ? { purposes: [purpose] } : {});
    const info =
      res.status === 200
        ? notice(`Opted out of ${purpose || 'every purpose'}. Every CRM is told.`)
        : notice(`Nothing changed: ${res.body.error?.message ?? 'the opt-out was refused'}`, 'alert');
    return personPage(c, api, p, info);
  });

  r.post('/people/erase', ...action(ACTIONS.erase), async (c) => {
    const body = await c.req.parseBody();
    const p = await readSubject(c);
    if (!p) return gone(c);
    if (body.confirm !== 'yes') {
      return personPage(
        c,
        api,
        p,
        notice('Tick the confirmation to start the erasure; nothing changed.', 'alert'),
      );
    }
    const res = await api<{ id?: string } & ApiError>(c, 'POST', '/v1/erasures', { phone: p.value });
    const info =
      res.status < 300
        ? html`<p class="notice" role="status">Erasure ${res.body.id?.slice(0, 8) ?? ''} started: follow it on
            <a href="/admin/erasures">Erasures</a>.</p>`
        : notice(`Nothing changed: ${res.body.error?.message ?? 'the erasure was refused'}`, 'alert');
    return personPage(c, api, p, info);
  });

  r.post('/people/export', ...action(ACTIONS.export), async (c) => {
    const p = await readSubject(c);
    if (!p) return gone(c);
    const res = await api<Record<string, unknown> & ApiError>(
      c,
      'GET',
      `/v1/subjects/${encodeURIComponent(p.value)}/export`,
    );
    if (res.status !== 200) return personPage(c, api, p, notice(res.body.error?.message, 'alert'));
    c.header(
      'content-disposition',
      `attachment; filename="art15-export-${c.var.services.clock().toISOString().slice(0, 10)}.json"`,
    );
    return c.json(res.body, 200);
  });
}
