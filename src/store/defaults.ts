/** Small values both Node stores (SQLite, memory) must agree on, so they stay twins. */
import type { JobStatus } from '../core/types.ts';

/** Page size of `listJobs` when the filter names none. */
export const DEFAULT_JOB_LIMIT = 100;

/** Every job status with a zero count, so `countJobs` always returns all keys. */
export function zeroCounts(): Record<JobStatus, number> {
  return { pending: 0, leased: 0, done: 0, dead: 0, cancelled: 0 };
}
