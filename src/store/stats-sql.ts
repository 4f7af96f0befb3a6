/**
 * Read-only summaries for the admin console (queue health, ledger activity), shared by the SQLite
 * and D1 adapters so both answer with the same SQL. The in-memory store computes the same shapes.
 */
import type { JobStatus } from '../core/types.ts';

/** How many jobs of one kind are in one open status, and when the oldest of them was created. */
export interface QueueStat {
  kind: string;
  status: Extract<JobStatus, 'pending' | 'leased' | 'dead'>;
  count: number;
  oldestCreatedAt: string;
}

/** Ledger events of one UTC day (by `occurredAt`), source and action. */
export interface LedgerDay {
  day: string;
  source: string;
  action: string;
  count: number;
}

// Walks the (status, next_attempt_at) index: finished jobs, however many, are never scanned.
export const QUEUE_STATS = `SELECT kind, status, COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox
  WHERE status IN ('pending', 'leased', 'dead') GROUP BY kind, status ORDER BY kind, status`;

export const LEDGER_DAILY = `SELECT substr(occurred_at, 1, 10) AS day, source, action, COUNT(*) AS n
  FROM ledger WHERE occurred_at >= ? GROUP BY day, source, action ORDER BY day, source, action`;

type Row = Record<string, unknown>;

export const toQueueStat = (r: Row): QueueStat => ({
  kind: String(r.kind),
  status: String(r.status) as QueueStat['status'],
  count: Number(r.n),
  oldestCreatedAt: String(r.oldest),
});

export const toLedgerDay = (r: Row): LedgerDay => ({
  day: String(r.day),
  source: String(r.source),
  action: String(r.action),
  count: Number(r.n),
});

/** Orders summaries the way the SQL does (for the in-memory store). */
export const byKeys =
  <T>(...keys: Array<keyof T>) =>
  (a: T, b: T): number => {
    for (const k of keys) {
      const x = String(a[k]);
      const y = String(b[k]);
      if (x !== y) return x < y ? -1 : 1;
    }
    return 0;
  };
