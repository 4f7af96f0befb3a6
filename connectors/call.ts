/**
 * Our own request budget and retries for vendor calls (the SDKs' are off: HubSpot's ignore
 * Retry-After and are process-wide, jsforce never retries writes; API-FACTS 2.6, 3.1).
 *
 * - p-queue with a rolling window (`strict`) keeps us under the vendor's rate limit
 *   (HubSpot: 100 or 190 requests per 10 s per app), with bounded concurrency.
 * - p-retry retries only errors whose `ConnectorError.retryable` is set, with exponential backoff
 *   and jitter, waiting at least the vendor's Retry-After; anything else stops at once.
 * - What is still failing after the in-call retries goes back to the durable dispatcher, which
 *   retries the job later (minutes) or dead-letters it: nothing is dropped.
 */
import PQueue from 'p-queue';
import pRetry, { AbortError } from 'p-retry';
import type { ConnectorError } from './errors.ts';
import { ConnectorFailure } from './types.ts';

export interface BudgetOptions {
  /** Requests allowed per window (e.g. 100). */
  requestsPerWindow: number;
  /** Window length in ms (HubSpot: 10 000). */
  windowMs: number;
  /** Calls in flight at once. */
  concurrency: number;
  /** In-call attempts for a retryable failure, first attempt included (default 4). */
  attempts?: number;
  /** First backoff in ms (default 250); doubles each attempt, randomised ×1–2. */
  minBackoffMs?: number;
  /** Longest single wait in ms, Retry-After included (default 15 000); longer waits go back to the dispatcher. */
  maxWaitMs?: number;
}

export interface CallStats {
  /** Requests that reached the vendor (first attempts and retries). */
  requests: number;
  retries: number;
  /** Failures by ConnectorError code. */
  failures: Record<string, number>;
}

export interface CallBudget {
  /** Runs one vendor request under the budget, retrying what may be retried. */
  run<T>(fn: () => Promise<T>): Promise<T>;
  stats(): CallStats;
  /** Waits until no request is queued or running. */
  idle(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * @example
 * const budget = createCallBudget({ requestsPerWindow: 100, windowMs: 10_000, concurrency: 4 });
 * const records = await budget.run(() => client.search(…)); // throws ConnectorFailure when it gives up
 */
export function createCallBudget(options: BudgetOptions): CallBudget {
  const attempts = options.attempts ?? 4;
  const minBackoffMs = options.minBackoffMs ?? 250;
  const maxWaitMs = options.maxWaitMs ?? 15_000;
  const queue = new PQueue({
    concurrency: options.concurrency,
    intervalCap: options.requestsPerWindow,
    interval: options.windowMs,
    strict: true,
  });
  const stats: CallStats = { requests: 0, retries: 0, failures: {} };

  async function attempt<T>(fn: () => Promise<T>): Promise<T> {
    stats.requests++;
    try {
      return await fn();
    } catch (err) {
      const failure = err instanceof ConnectorFailure ? err : new ConnectorFailure(unexpected(err as Error));
      stats.failures[failure.error.code] = (stats.failures[failure.error.code] ?? 0) + 1;
      const wait = failure.error.retryAfterMs ?? 0;
      // Not retryable, or the vendor asks for a longer pause than one call should hold a slot:
      // hand it back to the dispatcher, which keeps the wait durably.
      if (!failure.error.retryable || wait > maxWaitMs) throw new AbortError(failure);
      throw failure;
    }
  }

  return {
    async run<T>(fn: () => Promise<T>): Promise<T> {
      try {
        return await pRetry(() => queue.add(() => attempt(fn)) as Promise<T>, {
          retries: attempts - 1,
          minTimeout: minBackoffMs,
          maxTimeout: maxWaitMs,
          factor: 2,
          randomize: true,
          onFailedAttempt: async ({ error, retriesLeft }) => {
            if (retriesLeft <= 0) return;
            stats.retries++;
            const wait = error instanceof ConnectorFailure ? (error.error.retryAfterMs ?? 0) : 0;
            if (wait > 0) await sleep(wait);
          },
        });
      } catch (err) {
        if (err instanceof ConnectorFailure) throw err;
        const inner = (err as { originalError?: unknown }).originalError;
        if (inner instanceof ConnectorFailure) throw inner;
        throw new ConnectorFailure(unexpected(err as Error));
      }
    },
    stats: () => ({ ...stats, failures: { ...stats.failures } }),
    idle: () => queue.onIdle(),
  };
}

/** A bug or an SDK surprise: retryable (a later attempt may pass), named but without its message. */
function unexpected(err: Error): ConnectorError {
  return {
    code: 'UNEXPECTED',
    message: `unexpected ${err?.name ?? 'error'} in connector call`,
    retryable: true,
    retryAfterMs: null,
    status: null,
    vendorCode: null,
  };
}
