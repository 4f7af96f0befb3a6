/**
 * Sync health: queue depth and the age of the oldest waiting job per kind (one per connector,
 * erasure task and WhatsApp sending), recent failures being retried, and dead letters, each naming
 * the person (masked), the error in words and the likely fix, with Retry (and Retry all) going
 * through `POST /v1/sync/jobs/{id}/retry`; after a retry the page says how it ended.
 */
import type { Context, Hono } from 'hono';
import { html } from 'hono/html';
import { maskIdentifier } from '../../core/identity.ts';
import type { DeadEventView } from '../../service/dead-events.ts';
import type { Api, ApiError } from '../api.ts';
import { explain } from '../dead-letter-help.ts';
import { type AdminEnv, requireCsrf, requirePage, requireSession } from '../guard.ts';
import { age, csrfField, maskPhone, notice, PAGES, render, when } from '../layout.ts';

type C = Context<AdminEnv>;

/** How long a retry waits for the dispatcher's pass before the page reports the job's state. */
const RETRY_WAIT_MS = 5_000;

interface JobView {
  id: string;
  kind: string;
  subjectId: string | null;
  status: string;
  attempts: number;
  nextAttemptAt: string;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
}
interface JobList {
  counts: Record<string, number>;
  jobs: JobView[];
}
interface DeadEventList {
  total: number;
  events: DeadEventView[];
}

/** The person a job concerns, masked (the first active identifier), or a dash. */
async function personOf(c: C, subjectId: string | null): Promise<string> {
  if (!subjectId) return '–';
  const { subjects } = c.var.services;
  const s = await subjects.byId(subjectId);
  if (!s) return 'erased person';
  const ids = await subjects.identifiers(s);
  const id = ids.find((i) => i.status === 'active') ?? ids[0];
  // as the People page shows it to operators
  return id ? (id.kind === 'phone' ? maskPhone(id.value) : maskIdentifier(id)) : '–';
}

const explained = (lastError: string | null) => {
  const e = explain(lastError);
  return html`<div class="explain" data-cause="${e.cause}"><strong>${e.what}</strong>
    <div>Fix: ${e.fix}</div><details><summary>error as reported</summary><code>${lastError ?? '–'}</code></details></div>`;
};

/** Runs the dispatcher once (bounded), so a retry's outcome can be shown right away. */
async function runQueued(c: C): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    c.var.services.dispatcher.tick().catch(() => 0),
    new Promise((resolve) => {
      timer = setTimeout(resolve, RETRY_WAIT_MS);
    }),
  ]);
  clearTimeout(timer);
}

/** What became of a retried job, as a notice. */
async function retryOutcome(c: C, id: string) {
  const job = await c.var.services.store.getJob(id);
  if (!job) return notice('That job no longer exists.', 'alert');
  if (job.status === 'done')
    return html`<p class="notice" role="status" data-outcome="done">Retried: done, the change was delivered.</p>`;
  if (job.status === 'dead') {
    return html`<div class="alert" role="alert" data-outcome="dead"><p>Retried, and it failed again: ${
      explain(job.lastError).what
    }</p><code>${job.lastError ?? ''}</code></div>`;
  }
  return html`<p class="notice" role="status" data-outcome="queued">Queued again (${job.status}${
    job.lastError ? `, last error ${job.lastError}` : ''
  }); next attempt ${when(job.nextAttemptAt)}.</p>`;
}

/** Registers the sync health page and the retry action. */
export function syncPages(r: Hono<AdminEnv>, api: Api): void {
  const guard = [requireSession, requirePage(PAGES.sync)] as const;

  r.get('/sync', ...guard, async (c) => {
    const { store, sync, clock } = c.var.services;
    const now = clock().getTime();
    const stats = await store.queueStats();
    const kinds = [
      ...new Set([...sync.enabled().map((n) => `sync.${n}`), ...stats.map((s) => s.kind)]),
    ].sort();
    const stat = (kind: string, status: string) => stats.find((s) => s.kind === kind && s.status === status);
    const dead = await api<JobList>(c, 'GET', '/v1/sync/jobs?status=dead&limit=100');
    const pending = await api<JobList>(c, 'GET', '/v1/sync/jobs?status=pending&limit=500');
    const failing = (pending.body.jobs ?? [])
      .filter((j) => j.lastError)
      .sort((a, b) => (a.updatedAt < b.updatedAt ? 1 : -1))
      .slice(0, 20);
    const deadEvents = await api<DeadEventList>(c, 'GET', '/v1/dead-events?limit=50');
    const retried = c.req.query('retried');
    const all = c.req.query('retried_all');
    const summary = all
      ? notice(
          `Retried ${all} dead letter(s): ${c.req.query('done') ?? 0} done, ${c.req.query('dead') ?? 0} failed again, the rest queued.`,
        )
      : '';
    const deadJobs = dead.body.jobs ?? [];
    const people = await Promise.all(deadJobs.map((j) => personOf(c, j.subjectId)));
    return render(
      c,
      'Sync health',
      html`${retried ? await retryOutcome(c, retried) : ''}${summary}
      <section class="card"><h2>Queues</h2>
      <table class="queues"><thead><tr><th>queue</th><th>waiting</th><th>oldest waiting</th><th>running</th>
        <th>dead letters</th></tr></thead><tbody>${kinds.map((k) => {
          const p = stat(k, 'pending');
          const d = stat(k, 'dead');
          return html`<tr data-kind="${k}"><td><code>${k}</code></td><td>${p?.count ?? 0}</td>
            <td>${p ? `${age(now - Date.parse(p.oldestCreatedAt))} (since ${when(p.oldestCreatedAt)})` : '–'}</td>
            <td>${stat(k, 'leased')?.count ?? 0}</td><td>${d?.count ?? 0}</td></tr>`;
        })}</tbody></table></section>
      <section class="card"><h2>Recent failures being retried</h2>${
        failing.length
          ? html`<table><thead><tr><th>queue</th><th>attempts</th><th>last error</th><th>next attempt</th></tr></thead>
          <tbody>${failing.map(
            (j) => html`<tr><td><code>${j.kind}</code></td><td>${j.attempts}</td><td>${j.lastError}</td>
              <td>${when(j.nextAttemptAt)}</td></tr>`,
          )}</tbody></table>`
          : html`<p class="muted">None.</p>`
      }</section>
      <section class="card"><h2>Dead letters (${deadJobs.length})</h2>${
        deadJobs.length
          ? html`<form method="post" action="/admin/sync/retry-all" class="retry-all">${csrfField(c)}
              <button type="submit">Retry all</button></form>
            <table class="dead"><thead><tr><th>person</th><th>queue</th><th>what happened, and the fix</th>
            <th>attempts</th><th>since</th><th></th></tr></thead><tbody>${deadJobs.map(
              (
                j,
                i,
              ) => html`<tr data-job="${j.id}"><td class="person">${people[i]}</td><td><code>${j.kind}</code></td>
              <td>${explained(j.lastError)}</td><td>${j.attempts}</td><td>${when(j.updatedAt)}</td>
              <td><form class="inline" method="post" action="/admin/sync/jobs/${j.id}/retry">${csrfField(c)}
                <button type="submit">Retry</button></form></td></tr>`,
            )}</tbody></table>`
          : html`<p class="muted">None.</p>`
      }</section>
      <section class="card dead-events"><h2>Unreadable webhook events</h2>
      <p class="muted">Events inside signed deliveries that could not be read. They were skipped, never the reason
        a delivery was refused: every readable event of the same delivery was stored. Kept encrypted, the newest
        10,000, until retention removes them.</p>${
          deadEvents.status === 200 && (deadEvents.body.events ?? []).length
            ? html`<p>${deadEvents.body.total} kept.</p>
            <table class="dead-events"><thead><tr><th>received</th><th>from</th><th>kind</th><th>why it could not be read</th>
            </tr></thead><tbody>${deadEvents.body.events.map(
              (e) => html`<tr data-dead-event="${e.id}"><td>${when(e.receivedAt)}</td><td>${e.source}</td>
                <td>${e.kind}</td><td>${e.reason}${
                  e.raw === undefined
                    ? ''
                    : html`<details><summary>event as received</summary><pre>${JSON.stringify(e.raw, null, 2)}</pre></details>`
                }</td></tr>`,
            )}</tbody></table>`
            : html`<p class="muted">None.</p>`
        }</section>`,
    );
  });

  r.post('/sync/jobs/:id/retry', ...guard, requireCsrf, async (c) => {
    const id = c.req.param('id');
    const res = await api<ApiError>(c, 'POST', `/v1/sync/jobs/${encodeURIComponent(id)}/retry`);
    if (res.status === 200) {
      await runQueued(c);
      return c.redirect(`/admin/sync?retried=${encodeURIComponent(id)}`, 303);
    }
    const message = res.body.error?.message ?? 'the job could not be retried';
    return render(
      c,
      'Sync health',
      html`${notice(message, 'alert')}<p><a href="/admin/sync">Back to sync health</a></p>`,
      res.status === 404 ? 404 : 409,
    );
  });

  r.post('/sync/retry-all', ...guard, requireCsrf, async (c) => {
    const dead = await api<JobList>(c, 'GET', '/v1/sync/jobs?status=dead&limit=100');
    const ids: string[] = [];
    for (const j of dead.body.jobs ?? []) {
      const res = await api<ApiError>(c, 'POST', `/v1/sync/jobs/${encodeURIComponent(j.id)}/retry`);
      if (res.status === 200) ids.push(j.id);
    }
    if (ids.length) await runQueued(c);
    const { store } = c.var.services;
    const after = await Promise.all(ids.map((id) => store.getJob(id)));
    const done = after.filter((j) => j?.status === 'done').length;
    const again = after.filter((j) => j?.status === 'dead').length;
    return c.redirect(`/admin/sync?retried_all=${ids.length}&done=${done}&dead=${again}`, 303);
  });
}
