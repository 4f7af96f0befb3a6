import { describe, expect, it } from 'vitest';
import { SlidingWindowLimits } from './rate-limit.ts';

describe('sliding-window limits', () => {
  it('lets `limit` requests through in any window and says when the next one may come', () => {
    const l = new SlidingWindowLimits();
    const t0 = 1_000_000;
    expect(l.take('a', 3, 60_000, t0)).toEqual({ ok: true });
    expect(l.take('a', 3, 60_000, t0 + 10_000)).toEqual({ ok: true });
    expect(l.take('a', 3, 60_000, t0 + 20_000)).toEqual({ ok: true });
    expect(l.take('a', 3, 60_000, t0 + 30_000)).toEqual({ ok: false, retryAfterSeconds: 30 });
    // refused requests are not counted: the first one still decides
    expect(l.take('a', 3, 60_000, t0 + 59_500)).toEqual({ ok: false, retryAfterSeconds: 1 });
    expect(l.take('a', 3, 60_000, t0 + 60_001)).toEqual({ ok: true });
    // no burst of 2 × limit across a window edge: the next slot is 10 s later
    expect(l.take('a', 3, 60_000, t0 + 60_002)).toEqual({ ok: false, retryAfterSeconds: 10 });
    expect(l.take('b', 3, 60_000, t0 + 60_002)).toEqual({ ok: true });
  });

  it('0 is no limit; idle buckets are dropped so memory stays bounded', () => {
    const l = new SlidingWindowLimits();
    for (let i = 0; i < 100; i++) expect(l.take('x', 0, 60_000, i).ok).toBe(true);
    expect(l.size).toBe(0);
    for (let i = 0; i < 10_000; i++) l.take(`n${i}`, 1, 60_000, 0);
    expect(l.size).toBe(10_000);
    l.take('late', 1, 60_000, 120_000);
    expect(l.size).toBe(1);
  });
});
