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

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const result = prev.then(fn, fn);
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
}
