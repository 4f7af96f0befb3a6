/**
 * Sliding-window rate limits kept in memory (issue 14, finding 3: double opt-in spam through the
 * public web-form key). Exact over any window: a bucket remembers the times of the requests it let
 * through (at most `limit` of them), so "N per rolling hour" means N in any 60 minutes, not 2N
 * across a window boundary.
 *
 * In memory on purpose: on Node one process holds every counter; on Workers each isolate holds
 * its own (README, Security → API policy says why that is accepted). Bucket names are what the
 * caller passes: a key id, or the keyed lookup hash of a number, never a number in clear.
 */

export type Taken = { ok: true } | { ok: false; retryAfterSeconds: number };

/** Buckets whose newest request left the window are dropped once the map grows past this. */
const SWEEP_ABOVE = 10_000;

/**
 * @example
 * const limits = new SlidingWindowLimits();
 * limits.take('key:3f2a…', 30, 60_000, Date.now()); // { ok: true }, … then { ok: false, retryAfterSeconds: 12 }
 */
export class SlidingWindowLimits {
  private readonly buckets = new Map<string, number[]>();
  private readonly windows = new Map<string, number>();
  /** the size at which the next sweep runs (doubles with the live buckets: amortised O(1)) */
  private sweepAt = SWEEP_ABOVE;

  /**
   * Counts one request in `bucket` when fewer than `limit` were let through in the last
   * `windowMs`; otherwise says how long until the oldest of them leaves the window. A refused
   * request is not counted. `limit` 0 means no limit.
   */
  take(bucket: string, limit: number, windowMs: number, now: number): Taken {
    if (limit <= 0) return { ok: true };
    const since = now - windowMs;
    const times = (this.buckets.get(bucket) ?? []).filter((t) => t > since);
    if (times.length >= limit) {
      this.buckets.set(bucket, times);
      const oldest = times[times.length - limit] as number;
      return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((oldest + windowMs - now) / 1000)) };
    }
    times.push(now);
    this.buckets.set(bucket, times);
    this.windows.set(bucket, windowMs);
    if (this.buckets.size > this.sweepAt) this.sweep(now);
    return { ok: true };
  }

  /** How many buckets are held (tests; memory stays bounded by the sweep). */
  get size(): number {
    return this.buckets.size;
  }

  private sweep(now: number): void {
    for (const [bucket, times] of this.buckets) {
      const windowMs = this.windows.get(bucket) ?? 0;
      const newest = times[times.length - 1] ?? Number.NEGATIVE_INFINITY;
      if (newest <= now - windowMs) {
        this.buckets.delete(bucket);
        this.windows.delete(bucket);
      }
    }
    this.sweepAt = Math.max(SWEEP_ABOVE, this.buckets.size * 2);
  }
}
