/**
 * Outbox operations on D1, with the semantics of `sqlite-jobs.ts`. D1 has no interactive
 * transactions, so each operation is one statement or one batch: leasing is a single
 * `UPDATE … RETURNING`, which SQLite runs atomically, so two Workers never lease the same job.
 */
import type { D1Database } from '@cloudflare/workers-types/index.ts';
import type { JobStatus, OutboxJob } from '../core/types.ts';
import { DEFAULT_JOB_LIMIT, zeroCounts } from './defaults.ts';
import type { JobFilter, JobOutcome } from './port.ts';
import { type Row, toJob } from './sqlite-rows.ts';

// Picks the due jobs (same two index-walking branches as the SQLite adapter) and marks them in one
// statement (and, as there, skips a person whose job of that kind is leased and live, through
// outbox_subject: see the unary `+` in sqlite-jobs.ts). The outer condition re-checks "still due" on the row being updated: redundant inside
// one SQLite statement, but it keeps the rule local should the statement ever be split.
export const LEASE = `UPDATE outbox SET status = 'leased', lease_until = ?1, updated_at = ?2
  WHERE id IN (SELECT id FROM (
      SELECT id, next_attempt_at FROM outbox
      WHERE status = 'pending' AND next_attempt_at <= ?2 AND kind IN (SELECT value FROM json_each(?3))
        AND (subject_id IS NULL OR NOT EXISTS (SELECT 1 FROM outbox AS busy WHERE busy.subject_id = outbox.subject_id
          AND busy.kind = outbox.kind AND +busy.status = 'leased' AND +busy.lease_until > ?2))
      UNION ALL
      SELECT id, next_attempt_at FROM outbox
      WHERE status = 'leased' AND lease_until <= ?2 AND kind IN (SELECT value FROM json_each(?3))
      ORDER BY next_attempt_at, id LIMIT ?4))
    AND ((status = 'pending' AND next_attempt_at <= ?2) OR (status = 'leased' AND lease_until <= ?2))
  RETURNING *`;
const GET_JOB = 'SELECT * FROM outbox WHERE id = ?';
// Only a leased job can finish: a job cancelled or completed meanwhile keeps its final status.
const FINISH = `UPDATE outbox SET status = ?, attempts = attempts + 1, updated_at = ?, lease_until = NULL,
  next_attempt_at = COALESCE(?, next_attempt_at), last_error = COALESCE(?, last_error)
  WHERE id = ? AND status = 'leased'`;
const REQUEUE = `UPDATE outbox SET status = 'pending', next_attempt_at = ?, lease_until = NULL, updated_at = ?
  WHERE id = ? AND status IN ('dead', 'cancelled')`;
const COUNT = 'SELECT status, COUNT(*) AS n FROM outbox GROUP BY status';

const byDue = (a: OutboxJob, b: OutboxJob): number =>
  a.nextAttemptAt < b.nextAttemptAt
    ? -1
    : a.nextAttemptAt > b.nextAttemptAt
      ? 1
      : a.id < b.id
        ? -1
        : a.id > b.id
          ? 1
          : 0;

/**
 * Leases up to `limit` due jobs of the given kinds, oldest first, in one atomic statement.
 *
 * @example
 * const jobs = await leaseJobs(env.DB, ['whatsapp.send'], now, inFiveMinutes, 10);
 */
export async function leaseJobs(
  db: D1Database,
  kinds: string[],
  now: string,
  leaseUntil: string,
  limit: number,
): Promise<OutboxJob[]> {
  if (kinds.length === 0 || limit <= 0) return [];
  const { results } = await db.prepare(LEASE).bind(leaseUntil, now, JSON.stringify(kinds), limit).all<Row>();
  // RETURNING gives rows in no promised order.
  return results.map(toJob).sort(byDue);
}

function finishStatement(db: D1Database, id: string, outcome: JobOutcome, now: string) {
  const next = outcome.status === 'retry' ? outcome.nextAttemptAt : null;
  const error = outcome.status === 'done' ? null : outcome.error;
  const status: JobStatus = outcome.status === 'retry' ? 'pending' : outcome.status;
  return db.prepare(FINISH).bind(status, now, next, error, id);
}

/** Records a leased job's outcome; attempts + 1 whatever the outcome. */
export async function finishJob(db: D1Database, id: string, outcome: JobOutcome, now: string): Promise<void> {
  await finishStatement(db, id, outcome, now).run();
}

/** Finishes many jobs in one batch (one transaction). */
export async function finishJobs(
  db: D1Database,
  items: Array<{ id: string; outcome: JobOutcome }>,
  now: string,
): Promise<void> {
  if (items.length === 0) return;
  await db.batch(items.map(({ id, outcome }) => finishStatement(db, id, outcome, now)));
}

export async function getJob(db: D1Database, id: string): Promise<OutboxJob | null> {
  const row = await db.prepare(GET_JOB).bind(id).first<Row>();
  return row ? toJob(row) : null;
}

/** Jobs matching the filter, by id ascending (`after` pages through them). */
export async function listJobs(db: D1Database, filter: JobFilter): Promise<OutboxJob[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const when = (sql: string, value: string | undefined) => {
    if (value === undefined) return;
    where.push(sql);
    params.push(value);
  };
  when('status = ?', filter.status);
  when('kind = ?', filter.kind);
  when('subject_id = ?', filter.subjectId);
  when('id > ?', filter.after);
  params.push(Math.max(0, filter.limit ?? DEFAULT_JOB_LIMIT));
  const sql = `SELECT * FROM outbox${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ?`;
  const { results } = await db
    .prepare(sql)
    .bind(...params)
    .all<Row>();
  return results.map(toJob);
}

/** Back to pending, due now; false unless the job was dead or cancelled. Attempts and last error are kept. */
export async function requeueJob(db: D1Database, id: string, now: string): Promise<boolean> {
  const r = await db.prepare(REQUEUE).bind(now, now, id).run();
  return r.meta.changes > 0;
}

export async function countJobs(db: D1Database): Promise<Record<JobStatus, number>> {
  const counts = zeroCounts();
  const { results } = await db.prepare(COUNT).all<Row>();
  for (const r of results) {
    const status = String(r.status) as JobStatus;
    if (status in counts) counts[status] = Number(r.n);
  }
  return counts;
}
