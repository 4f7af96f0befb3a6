/**
 * Throttling of failed authentication (console sign-in and bearer tokens): a sliding window per
 * client address and per key prefix. A client over either limit gets 429 with `Retry-After` before
 * its credential is even checked, so a right guess during the wait is refused like a wrong one.
 *
 * Only failures count: a client whose keys work is never throttled. The state is in memory, per
 * process on Node and per isolate on Workers (where a guesser spread over many isolates meets one
 * window per isolate; see docs/SECURITY.md for the platform's own rate limiting rules).
 */

/** The sliding window: one minute. */
export const WINDOW_MS = 60_000;
/** How many characters of a presented token make its prefix (`csk_` and 4 more for stored keys). */
export const KEY_PREFIX_LENGTH = 8;

/**
 * A sliding-window log: the times of the last `limit` failures per key. A key may fail again once
 * the oldest of them is a window old. Memory stays bounded: past `maxKeys` keys, those with no
 * failure in the window are dropped, then the oldest.
 *
 * @example
 * const w = new SlidingWindow(3, 60_000);
 * w.add('a', 0); w.add('a', 1); w.add('a', 2);
 * w.wait('a', 10); // 59_990: the failure at 0 leaves the window at 60_000
 */
export class SlidingWindow {
  private readonly hits = new Map<string, number[]>();
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly maxKeys: number;

  constructor(limit: number, windowMs: number, maxKeys = 50_000) {
    this.limit = limit;
    this.windowMs = windowMs;
    this.maxKeys = maxKeys;
  }

  /** Milliseconds until `key` may fail again (0: now). A limit of 0 never waits. */
  wait(key: string, now: number): number {
    const h = this.hits.get(key);
    if (this.limit <= 0 || !h || h.length < this.limit) return 0;
    return Math.max(0, (h[0] as number) + this.windowMs - now);
  }

  add(key: string, now: number): void {
    if (this.limit <= 0) return;
    let h = this.hits.get(key);
    if (!h) {
      if (this.hits.size >= this.maxKeys) this.prune(now);
      h = [];
      this.hits.set(key, h);
    }
    h.push(now);
    if (h.length > this.limit) h.shift();
  }

  /** Keys being tracked (tests, and a bound on memory). */
  get size(): number {
    return this.hits.size;
  }

  private prune(now: number): void {
    for (const [k, h] of this.hits) if ((h.at(-1) ?? 0) <= now - this.windowMs) this.hits.delete(k);
    for (const k of this.hits.keys()) {
      if (this.hits.size < this.maxKeys) break;
      this.hits.delete(k);
    }
  }
}

/**
 * Failed-authentication limits per client address and per key prefix.
 *
 * @example
 * const t = new AuthThrottle({ perAddress: 10, perKeyPrefix: 30 }, () => new Date());
 * if (t.wait('203.0.113.7', token) > 0) return 429;
 * if (!valid) t.failed('203.0.113.7', token);
 */
export class AuthThrottle {
  private readonly byAddress: SlidingWindow;
  private readonly byPrefix: SlidingWindow;
  private readonly clock: () => Date;

  constructor(limits: { perAddress: number; perKeyPrefix: number }, clock: () => Date) {
    this.byAddress = new SlidingWindow(limits.perAddress, WINDOW_MS);
    this.byPrefix = new SlidingWindow(limits.perKeyPrefix, WINDOW_MS);
    this.clock = clock;
  }

  /** Milliseconds the client must wait before this credential is checked (0: check it now). */
  wait(address: string, credential: string): number {
    const now = this.clock().getTime();
    return Math.max(this.byAddress.wait(address, now), this.byPrefix.wait(prefixOf(credential), now));
  }

  /** Counts a failure against the address and the credential's prefix. */
  failed(address: string, credential: string): void {
    const now = this.clock().getTime();
    this.byAddress.add(address, now);
    this.byPrefix.add(prefixOf(credential), now);
  }
}

/** Kept in memory only, never logged or stored. */
const prefixOf = (credential: string) => credential.slice(0, KEY_PREFIX_LENGTH);
