/**
 * Outbox operations for the SQLite store. They run outside the group commit: each is one short
 * synchronous statement or transaction, so nothing can interleave with them on this connection.
 */
import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import type { JobStatus, OutboxJob } from '../core/types.ts';
import { DEFAULT_JOB_LIMIT, zeroCounts } from './defaults.ts';
import type { JobFilter, JobOutcome } from './port.ts';
import { toJob } from './sqlite-rows.ts';

/** What the job functions need from the store. */
export interface JobsContext {
  db: DatabaseSync;
  stmt(sql: string): StatementSync;
}

// Kinds travel as one JSON array parameter so a single cached statement serves every kinds list.
// Two branches so each walks its own index (status, next_attempt_at) / (status, lease_until):
// finished jobs, however many, are never scanned. A person's job waits while another job of the same
// kind for them is leased and live: two pushes for one person never run at once, so a slow older
// write can never land after a newer one. That check must walk outbox_subject (a person has a few
// jobs): the unary `+` keeps status and lease_until out of its index choice, otherwise the planner
// takes outbox_lease and reads every live lease once per candidate job (issue 18: quadratic in the
// jobs leased, 0.9 → 0.34 of the CRMs' rate limit).
export const SELECT_DUE = `SELECT id, next_attempt_at FROM outbox
  WHERE status = 'pending' AND next_attempt_at <= ? AND kind IN (SELECT value FROM json_each(?))
    AND (subject_id IS NULL OR NOT EXISTS (SELECT 1 FROM outbox AS busy WHERE busy.subject_id = outbox.subject_id
      AND busy.kind = outbox.kind AND +busy.status = 'leased' AND +busy.lease_until > ?))
  UNION ALL
  SELECT id, next_attempt_at FROM outbox
  WHERE status = 'leased' AND lease_until <= ? AND kind IN (SELECT value FROM json_each(?))
  ORDER BY next_attempt_at, id LIMIT ?`;
const MARK_LEASED = `UPDATE outbox SET status = 'leased', lease_until = ?, updated_at = ? WHERE id = ?`;
const GET_JOB = 'SELECT * FROM outbox WHERE id = ?';
// Only a leased job can finish: a job cancelled or completed meanwhile keeps its final status.
const FINISH = `UPDATE outbox SET status = ?, attempts = attempts + 1, updated_at = ?, lease_until = NULL,
  next_attempt_at = COALESCE(?, next_attempt_at), last_error = COALESCE(?, last_error)
  WHERE id = ? AND status = 'leased'`;
const REQUEUE = `UPDATE outbox SET status = 'pending', next_attempt_at = ?, lease_until = NULL, updated_at = ?
  WHERE id = ? AND status IN ('dead', 'cancelled')`;
const COUNT = 'SELECT status, COUNT(*) AS n FROM outbox GROUP BY status';

/**
 * Leases due jobs. Call inside an IMMEDIATE transaction (the store's group commit), so two
 * dispatchers (even in two processes) never lease the same job.
 *
 * @example
 * const jobs = leaseJobsIn(ctx, ['whatsapp.send'], now, inFiveMinutes, 10);
 */
export function leaseJobsIn(
  ctx: JobsContext,
  kinds: string[],
  now: string,
  leaseUntil: string,
  limit: number,
): OutboxJob[] {
  const ids = ctx
    .stmt(SELECT_DUE)
    .all(now, JSON.stringify(kinds), now, now, JSON.stringify(kinds), limit)
    .map((r) => String(r.id));
  const jobs: OutboxJob[] = [];
  for (const id of ids) {
    ctx.stmt(MARK_LEASED).run(leaseUntil, now, id);
    const row = ctx.stmt(GET_JOB).get(id);
    if (row) jobs.push(toJob(row));
  }
  return jobs;
}

/** Records a leased job's outcome; attempts + 1 whatever the outcome. */
export function finishJob(ctx: JobsContext, id: string, outcome: JobOutcome, now: string): void {
  const next = outcome.status === 'retry' ? outcome.nextAttemptAt : null;
  const error = outcome.status === 'done' ? null : outcome.error;
  const status: JobStatus = outcome.status === 'retry' ? 'pending' : outcome.status;
  ctx.stmt(FINISH).run(status, now, next, error, id);
}

export function getJob(ctx: JobsContext, id: string): OutboxJob | null {
  const row = ctx.stmt(GET_JOB).get(id);
  return row ? toJob(row) : null;
}

/** Jobs matching the filter, by id ascending (`after` pages through them). */
export function listJobs(ctx: JobsContext, filter: JobFilter): OutboxJob[] {
  const where: string[] = [];
  const params: SQLInputValue[] = [];
  if (filter.status !== undefined) {
    where.push('status = ?');
    params.push(filter.status);
  }
  if (filter.kind !== undefined) {
    where.push('kind = ?');
    params.push(filter.kind);
  }
  if (filter.subjectId !== undefined) {
    where.push('subject_id = ?');
    params.push(filter.subjectId);
  }
  if (filter.after !== undefined) {
    where.push('id > ?');
    params.push(filter.after);
  }
  params.push(Math.max(0, filter.limit ?? DEFAULT_JOB_LIMIT));
  // At most 16 distinct SQL strings (one per filter combination), so the statement cache stays small.
  const sql = `SELECT * FROM outbox${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ?`;
  return ctx
    .stmt(sql)
    .all(...params)
    .map(toJob);
}

/** Back to pending, due now; false unless the job was dead or cancelled. Attempts and last error are kept. */
export function requeueJob(ctx: JobsContext, id: string, now: string): boolean {
  return ctx.stmt(REQUEUE).run(now, now, id).changes > 0;
}

export function countJobs(ctx: JobsContext): Record<JobStatus, number> {
  const counts = zeroCounts();
  for (const r of ctx.stmt(COUNT).all()) {
    const status = String(r.status) as JobStatus;
    if (status in counts) counts[status] = Number(r.n);
  }
  return counts;
}
