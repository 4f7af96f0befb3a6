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

/** How many people are in one status for one purpose (console overview). */
export interface StateCount {
  purpose: string;
  status: string;
  count: number;
}

// One pass over consent_state (a row per person and purpose); no personal data is read.
export const STATE_COUNTS = `SELECT purpose, status, COUNT(*) AS n FROM consent_state
  GROUP BY purpose, status ORDER BY purpose, status`;

export const toStateCount = (r: Row): StateCount => ({
  purpose: String(r.purpose),
  status: String(r.status),
  count: Number(r.n),
});

/** Narrows the audit log (console filters): exact actor key id and action, `at` within [since, until). */
export interface AuditFilter {
  actor?: string;
  action?: string;
  since?: string;
  until?: string;
}

/** The audit log query for a filter, newest first, with its parameters (the limit last). */
export function auditQuery(f: AuditFilter = {}): { sql: string; params: string[] } {
  const conditions: Array<[string, string | undefined]> = [
    ['actor = ?', f.actor],
    ['action = ?', f.action],
    ['at >= ?', f.since],
    ['at < ?', f.until],
  ];
  const used = conditions.filter((x): x is [string, string] => Boolean(x[1]));
  const clause = used.length ? ` WHERE ${used.map(([sql]) => sql).join(' AND ')}` : '';
  return {
    sql: `SELECT * FROM audit_log${clause} ORDER BY at DESC, id DESC LIMIT ?`,
    params: used.map(([, v]) => v),
  };
}

/** The same filter on one entry (the in-memory store). */
export const auditMatches = (
  e: { actor: string; action: string; at: string },
  f: AuditFilter = {},
): boolean =>
  (!f.actor || e.actor === f.actor) &&
  (!f.action || e.action === f.action) &&
  (!f.since || e.at >= f.since) &&
  (!f.until || e.at < f.until);
