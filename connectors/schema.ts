/** Shared by the CRMs' data-model clients (`CrmSchema`, used by `consent-sync doctor`). */
import { type CallBudget, createCallBudget } from './call.ts';

export interface SchemaCallOptions {
  attempts?: number;
  minBackoffMs?: number;
  maxWaitMs?: number;
}

/** A small budget: doctor makes a handful of calls, well inside any vendor's limits. */
export function schemaBudget(opts: SchemaCallOptions): CallBudget {
  return createCallBudget({
    requestsPerWindow: 10,
    windowMs: 1_000,
    concurrency: 2,
    attempts: opts.attempts ?? 4,
    minBackoffMs: opts.minBackoffMs ?? 250,
    maxWaitMs: opts.maxWaitMs ?? 15_000,
  });
}
