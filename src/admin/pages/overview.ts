/**
 * The overview at `/admin`: status at a glance, one tile per concern, each linking to the page that
 * deals with it and shown only to the roles that may open that page. Every number comes from a
 * cheap grouped query (`store.stateCounts`, `queueStats`, `ledgerDaily`) or a bounded list, so the
 * page costs the same on SQLite and D1 however large the ledger is; the ledger's own verification
 * is not run here (it walks the whole chain) but read from the audit log, where
 * `GET /v1/ledger/verify` records each run, with a button to run it now.
 */
import type { Context, Hono } from 'hono';
import { html } from 'hono/html';
import { buildChecklist } from '../../compliance/checklist.ts';
import type { Facts } from '../../compliance/record.ts';
import type { AuditEntry } from '../../core/types.ts';
import type { Api, ApiError } from '../api.ts';
import { type AdminEnv, requireCsrf, requirePage, requireSession } from '../guard.ts';
import { age, allowed, csrfField, notice, PAGES, type PageDef, render, when } from '../layout.ts';

type C = Context<AdminEnv>;
type Tone = 'good' | 'warn' | 'bad' | 'plain';

const DAY_MS = 86_400_000;

/** Roles that may run the ledger verification (as `GET /v1/ledger/verify`). */
const VERIFY_ROLES = ['auditor'] as const;

const tile = (page: PageDef, title: string, tone: Tone, big: string, body: unknown, id: string) =>
  html`<a class="tile ${tone}" href="${page.path}" data-tile="${id}"><span class="tile-title">${title}</span>
    <span class="big">${big}</span><span class="tile-body">${body}</span></a>`;

async function peopleTile(c: C) {
  const counts = await c.var.services.store.stateCounts();
  const byStatus: Record<string, number> = {};
  for (const s of counts) byStatus[s.status] = (byStatus[s.status] ?? 0) + s.count;
  const purposes = [...new Set(counts.map((s) => s.purpose))];
  const optedIn = byStatus.opted_in ?? 0;
  return tile(
    PAGES.people,
    'People per state',
    'plain',
    `${optedIn} opted in`,
    purposes.length
      ? html`<table class="mini"><thead><tr><th>purpose</th><th>in</th><th>pending</th><th>out</th><th>none</th></tr>
        </thead><tbody>${purposes.map((p) => {
          const n = (status: string) =>
            counts.find((s) => s.purpose === p && s.status === status)?.count ?? 0;
          return html`<tr data-purpose="${p}"><td>${p}</td><td>${n('opted_in')}</td><td>${n('pending')}</td>
            <td>${n('opted_out')}</td><td>${n('none')}</td></tr>`;
        })}</tbody></table>`
      : html`<span class="muted">Nobody recorded yet.</span>`,
    'people',
  );
}

async function optOutTile(c: C) {
  const now = c.var.services.clock();
  const today = now.toISOString().slice(0, 10);
  const since = new Date(Date.parse(`${today}T00:00:00.000Z`) - 6 * DAY_MS).toISOString();
  const days = await c.var.services.store.ledgerDaily(since);
  const outs = days.filter((d) => d.action === 'opted_out');
  const todayCount = outs.filter((d) => d.day === today).reduce((n, d) => n + d.count, 0);
  const week = outs.reduce((n, d) => n + d.count, 0);
  return tile(
    PAGES.activity,
    'Opt-outs',
    'plain',
    `${todayCount} today`,
    html`${week} in the last 7 days (UTC)`,
    'opt-outs',
  );
}

async function queueTiles(c: C) {
  const { store, sync, clock } = c.var.services;
  const now = clock().getTime();
  const stats = await store.queueStats();
  const kinds = [...new Set([...sync.enabled().map((n) => `sync.${n}`), ...stats.map((s) => s.kind)])].sort();
  const pending = (k: string) => stats.find((s) => s.kind === k && s.status === 'pending');
  const oldest = Math.min(
    ...stats.filter((s) => s.status === 'pending').map((s) => Date.parse(s.oldestCreatedAt)),
  );
  const waiting = stats.filter((s) => s.status === 'pending').reduce((n, s) => n + s.count, 0);
  const dead = stats.filter((s) => s.status === 'dead').reduce((n, s) => n + s.count, 0);
  const stale = Number.isFinite(oldest) && now - oldest > 3_600_000;
  return html`${tile(
    PAGES.sync,
    'Queues',
    stale ? 'warn' : 'good',
    `${waiting} waiting`,
    kinds.length
      ? html`<table class="mini"><thead><tr><th>queue</th><th>waiting</th><th>oldest</th></tr></thead><tbody>${kinds.map(
          (k) => {
            const p = pending(k);
            return html`<tr data-kind="${k}"><td>${k}</td><td>${p?.count ?? 0}</td>
              <td>${p ? age(now - Date.parse(p.oldestCreatedAt)) : '–'}</td></tr>`;
          },
        )}</tbody></table>`
      : html`<span class="muted">No connector enabled.</span>`,
    'queues',
  )}${tile(
    PAGES.sync,
    'Dead letters',
    dead ? 'bad' : 'good',
    String(dead),
    dead ? 'jobs that stopped; each says why and how to fix it' : 'none',
    'dead-letters',
  )}`;
}

async function erasureTile(c: C) {
  const { store, clock } = c.var.services;
  const overdue = await store.listErasures({ overdueAt: clock().toISOString(), limit: 1000 });
  const open = await store.listErasures({ status: 'open', limit: 1000 });
  return tile(
    PAGES.erasures,
    'Overdue erasures',
    overdue.length ? 'bad' : 'good',
    String(overdue.length),
    html`${open.length} open; Art. 12(3) allows one month`,
    'erasures',
  );
}

/** The newest recorded run of `GET /v1/ledger/verify`, or null. */
async function lastVerification(c: C): Promise<AuditEntry | null> {
  const [last] = await c.var.services.store.listAudit(1, { action: 'ledger.verify' });
  return last ?? null;
}

function ledgerTile(c: C, last: AuditEntry | null) {
  const now = c.var.services.clock().getTime();
  const ok = last?.details.ok === true;
  const canVerify = allowed(c.var.session.actor.role, { ...PAGES.compliance, roles: VERIFY_ROLES });
  const body = last
    ? html`${ok ? `${String(last.details.events)} events verified` : `broken at event #${String(last.details.brokenAtSeq)}`}
      ${when(last.at)} (${age(now - Date.parse(last.at))} ago)`
    : html`never verified from the API or the console`;
  return html`<div class="tile-wrap">${tile(
    PAGES.compliance,
    'Ledger verified',
    !last ? 'warn' : ok ? 'good' : 'bad',
    !last ? 'not yet' : ok ? 'intact' : 'BROKEN',
    body,
    'ledger',
  )}${
    canVerify
      ? html`<form method="post" action="/admin/ledger/verify">${csrfField(c)}
          <button class="secondary" type="submit">Verify the ledger now</button></form>`
      : ''
  }</div>`;
}

async function complianceTile(c: C, last: AuditEntry | null) {
  const s = c.var.services;
  const keys = await s.store.listApiKeys();
  const revoked = keys.filter((k) => k.revokedAt !== null).length;
  const facts: Facts = {
    connectors: s.sync.enabled(),
    // as last verified: the overview never walks the chain itself
    ledger: {
      ok: last ? last.details.ok === true : true,
      events: Number(last?.details.events ?? 0),
      reason: last && last.details.ok !== true ? 'broken at the last verification' : null,
    },
    storedKeys: { active: keys.length - revoked, revoked },
  };
  const items = await buildChecklist(s, facts);
  const fail = items.filter((i) => i.status === 'fail');
  const warn = items.filter((i) => i.status === 'warn').length;
  return tile(
    PAGES.compliance,
    'GDPR checklist',
    fail.length ? 'bad' : warn ? 'warn' : 'good',
    `${fail.length} failing`,
    fail.length ? html`${fail.map((i) => i.duty).join('; ')}` : html`${warn} warning(s), the rest ok`,
    'checklist',
  );
}

/** Registers the overview and the "verify the ledger now" action. */
export function overviewPages(r: Hono<AdminEnv>, api: Api): void {
  r.get('/', requireSession, requirePage(PAGES.overview), async (c) => {
    const s = c.var.session;
    const may = (p: PageDef) => allowed(s.actor.role, p);
    const last = may(PAGES.compliance) ? await lastVerification(c) : null;
    const tiles = [
      may(PAGES.people) ? await peopleTile(c) : '',
      may(PAGES.activity) ? await optOutTile(c) : '',
      may(PAGES.sync) ? await queueTiles(c) : '',
      may(PAGES.erasures) ? await erasureTile(c) : '',
      may(PAGES.compliance) ? ledgerTile(c, last) : '',
      may(PAGES.compliance) ? await complianceTile(c, last) : '',
    ].filter((t) => t !== '');
    const verified = c.req.query('verified');
    const pages = Object.values(PAGES).filter((p) => p !== PAGES.overview && may(p));
    return render(
      c,
      'Overview',
      html`${verified === 'ok' ? notice('The ledger verifies.') : ''}${
        verified === 'broken' ? notice('The ledger chain is broken: see the compliance page.', 'alert') : ''
      }
      ${tiles.length ? html`<div class="tiles">${tiles}</div>` : ''}
      ${
        pages.length
          ? html`<p class="pages-line">Pages: ${pages.map((p, i) => html`${i ? ' · ' : ''}<a href="${p.path}">${p.title}</a>`)}</p>`
          : html`<p>The ${s.actor.role} role has no console pages: its key is for the API.</p>`
      }
      <section class="card"><dl class="kv"><dt>role</dt><dd>${s.actor.role}</dd>
        <dt>key id</dt><dd><code>${s.actor.keyId}</code></dd>
        <dt>signed in until</dt><dd>${when(new Date(s.expiresAt).toISOString())}</dd></dl></section>`,
    );
  });

  r.post(
    '/ledger/verify',
    requireSession,
    requirePage({ ...PAGES.compliance, title: 'the ledger verification', roles: VERIFY_ROLES }),
    requireCsrf,
    async (c) => {
      const res = await api<{ ok: boolean } & ApiError>(c, 'GET', '/v1/ledger/verify');
      if (res.status !== 200) {
        return render(c, 'Overview', notice(res.body.error?.message ?? 'verification failed', 'alert'), 502);
      }
      return c.redirect(`/admin?verified=${res.body.ok ? 'ok' : 'broken'}`, 303);
    },
  );
}
