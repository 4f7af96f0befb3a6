import { settledWithin } from '../core/settled-within.ts';

/**
 * Serialises async work per key (one person's read-decide-write), so two webhooks about the same
 * person cannot interleave between reading the state and committing the decision.
 *
 * @example
 * const locks = new KeyedMutex();
 * await locks.run(phoneHash, async () => { … });
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();
  /** waits that ran out and took the key over (tests, logs) */
  takeovers = 0;

  /**
   * @param waitMs how long to wait for the holder before taking the key over. The lock is shared
   *   by the requests of one isolate; a holder whose invocation was cancelled never lets go. Taking
   *   over is as safe as a second isolate writing the same person: the store's commit re-reads and
   *   retries on a conflicting write (D1) or serialises writes (SQLite).
   */
  constructor(waitMs = 10_000) {
    this.waitMs = waitMs;
  }
  private readonly waitMs: number;

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key);
    const start = prev
      ? settledWithin(prev, this.waitMs).then((settled) => {
          if (!settled) this.takeovers++;
        })
      : Promise.resolve();
    const result = start.then(fn);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    try {
      return await result;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  /**
   * Runs `fn` holding every key (one person known by several identifiers). Keys are taken in
   * sorted order, so two callers that share keys can never wait on each other in a circle.
   */
  runAll<T>(keys: string[], fn: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort();
    const step = (i: number): Promise<T> => {
      const key = sorted[i];
      return key === undefined ? fn() : this.run(key, () => step(i + 1));
    };
    return step(0);
  }
}
