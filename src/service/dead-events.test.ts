import { describe, expect, it } from 'vitest';
import { bounded } from './dead-events.ts';

describe('bounded', () => {
  it('cuts a hostile nesting depth and width, keeping the shape above the cut', () => {
    let deep: unknown = { eventId: 1 };
    for (let i = 0; i < 20_000; i++) deep = [deep];
    expect(() => JSON.stringify(deep)).toThrow(RangeError);
    const kept = bounded(deep, 32);
    expect(JSON.stringify(kept)).toContain('[nested deeper than kept]');
    expect(JSON.stringify(kept).length).toBeLessThan(200);
    expect(bounded({ a: [1, { b: 'x' }] }, 32)).toEqual({ a: [1, { b: 'x' }] });
    expect(
      (
        bounded(
          Array.from({ length: 5000 }, (_, i) => i),
          32,
        ) as unknown[]
      ).length,
    ).toBe(1000);
  });
});
