import { describe, expect, it } from 'vitest';
import { fromBase64, portableFromBase64, portableToBase64, toBase64 } from './encoding.ts';

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 131 + seed) & 0xff);

describe('base64 on Node (Buffer) and the portable path agree', () => {
  it('encodes every length 0..70 and a view into a larger buffer the same way', () => {
    for (let n = 0; n <= 70; n++) {
      const b = bytes(n, n);
      expect(toBase64(b)).toBe(portableToBase64(b));
      expect(fromBase64(toBase64(b))).toEqual(b);
    }
    const big = bytes(100, 7);
    const view = big.subarray(13, 61);
    expect(toBase64(view)).toBe(portableToBase64(view));
    expect(toBase64(view)).toBe(portableToBase64(Uint8Array.from(view)));
  });

  it('decodes what atob decodes (whitespace, missing padding) and refuses what atob refuses', () => {
    expect(fromBase64('AQI=')).toEqual(new Uint8Array([1, 2]));
    for (const s of ['AQI', ' AQI= ', 'AQ\nI=', 'AAEC', ''])
      expect(fromBase64(s)).toEqual(portableFromBase64(s));
    for (const s of ['A', 'AQI==', 'AQ*I', 'AQI=AQI=', '-_8=']) {
      expect(() => portableFromBase64(s)).toThrow();
      expect(() => fromBase64(s)).toThrow();
    }
  });

  it('returns a copy the caller owns (not a view into a pooled Buffer)', () => {
    const out = fromBase64(toBase64(bytes(12, 3)));
    expect(out.byteOffset).toBe(0);
    expect(out.buffer.byteLength).toBe(12);
  });
});
