/**
 * Person lookup: the current state per purpose and, for auditors and admins, the ledger timeline
 * with evidence and the exact wording shown. The number is asked for in a POST form (never in a
 * URL, where it would reach browser history and proxy logs) and masked for operators.
 */
import type { Context, Hono } from 'hono';
import { html } from 'hono/html';
import type { Role } from '../../config.ts';
import { maskIdentifier, parseSubjectRef } from '../../core/identity.ts';
import type { Api, ApiError } from '../api.ts';
import { type AdminEnv, requireCsrf, requirePage, requireSession } from '../guard.ts';
import { badge, csrfField, EXAMPLE_PHONE, maskPhone, notice, PAGES, render, when } from '../layout.ts';

type C = Context<AdminEnv>;

/** Roles that see full numbers; the others (operator) see them masked. */
export const FULL_NUMBER_ROLES: readonly Role[] = ['admin', 'auditor'];
/** Roles that see the ledger timeline (as `GET /v1/subjects/{phone}/history`). */
const HISTORY_ROLES: readonly Role[] = ['admin', 'auditor'];

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

/** Registers the person lookup. */
export function peoplePages(r: Hono<AdminEnv>, api: Api): void {
  const guard = [requireSession, requirePage(PAGES.people)] as const;

  r.get('/people', ...guard, (c) => render(c, 'People', form(c)));

  r.post('/people', ...guard, requireCsrf, async (c) => {
    const input = String((await c.req.parseBody()).phone ?? '')
      .trim()
      .slice(0, 400);
    const p = parseSubjectRef(input, c.var.services.config.DEFAULT_COUNTRY);
    if (!p.ok)
      return render(
        c,
        'People',
        form(c, 'Enter an E.164 number (+49…), a WhatsApp id, or a BSUID (DE.123…).', input),
        400,
      );
    const path = `/v1/subjects/${encodeURIComponent(p.id.value)}`;
    const subject = await api<SubjectView & ApiError>(c, 'GET', path);
    if (subject.status !== 200) {
      return render(c, 'People', html`${form(c)}${notice(subject.body.error?.message, 'alert')}`, 400);
    }
    const role = c.var.session.actor.role;
    const shown = FULL_NUMBER_ROLES.includes(role)
      ? p.id.value
      : p.id.kind === 'phone'
        ? maskPhone(p.id.value)
        : maskIdentifier(p.id);
    let history = html`<p class="muted">The ledger timeline is shown to auditors and admins.</p>`;
    if (HISTORY_ROLES.includes(role)) {
      const h = await api<{ events: EventView[] }>(c, 'GET', `${path}/history`);
      history = timeline(h.body.events ?? []);
    }
    const s = subject.body;
    const status = s.erased
      ? html`<p class="alert">This person asked to be erased: nothing is recorded and every send is blocked.</p>`
      : s.known
        ? ''
        : html`<p class="muted">Nobody with this number is known here.</p>`;
    return render(
      c,
      'People',
      html`${form(c)}<section class="card" id="person"><h2>${shown}</h2>${status}
        ${identifiers(s)}<h3>Current consent</h3>${states(s)}<h3>Ledger timeline</h3>${history}</section>`,
    );
  });
}
