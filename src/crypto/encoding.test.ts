import { validate, version } from 'uuid';
import { describe, expect, it } from 'vitest';
import {
  fromBase64,
  newId,
  newRandomId,
  portableFromBase64,
  portableToBase64,
  toBase64,
} from './encoding.ts';

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

describe('ids', () => {
  /** The Unix milliseconds a UUID v7 carries in its first 48 bits. */
  const millisOf = (id: string) => Number.parseInt(id.replaceAll('-', '').slice(0, 12), 16);

  it('newId: UUID v7 (RFC 9562) carrying the time it was made, unique, ordered from one millisecond to the next', async () => {
    const before = Date.now();
    const ids = Array.from({ length: 20_000 }, () => newId());
    const after = Date.now();
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids.slice(0, 50)) {
      expect(validate(id)).toBe(true);
      expect(version(id)).toBe(7);
      expect(id[19]).toMatch(/[89ab]/); // the RFC 9562 variant
    }
    for (const id of [ids[0] as string, ids.at(-1) as string]) {
      expect(millisOf(id)).toBeGreaterThanOrEqual(before);
      expect(millisOf(id)).toBeLessThanOrEqual(after);
    }
    // Ids made in a later millisecond sort after every id of an earlier one (the index-locality promise).
    const first = newId();
    await new Promise((ok) => setTimeout(ok, 3));
    const later = newId();
    expect(later > first).toBe(true);
    const millis = ids.map(millisOf);
    expect(millis).toEqual([...millis].sort((a, b) => a - b));
    // 74 random bits: two ids of the same millisecond still differ in their random part.
    const sameMs = ids.filter((id) => millisOf(id) === millisOf(ids[0] as string));
    expect(new Set(sameMs.map((id) => id.slice(15))).size).toBe(sameMs.length);
  });

  it('newRandomId: UUID v4, which tells nothing of when it was made', () => {
    const ids = Array.from({ length: 1_000 }, () => newRandomId());
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids.slice(0, 50)) expect(version(id)).toBe(4);
    const millis = ids.map(millisOf);
    expect(millis).not.toEqual([...millis].sort((a, b) => a - b));
  });
});
