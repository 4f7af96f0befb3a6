import { describe, expect, it } from 'vitest';
import { capOccurredAt } from './occurred-at.ts';

const RECEIVED = '2026-03-02T09:00:00.000Z';
const SKEW = 300_000;

describe('capOccurredAt (sync rule 4)', () => {
  it('keeps a time up to receipt plus the skew allowance as sent', () => {
    for (const t of [
      '2026-03-02T08:00:00.000Z',
      RECEIVED,
      '2026-03-02T09:05:00.000Z',
      '1970-01-01T00:00:00.000Z',
    ]) {
      expect(capOccurredAt(t, RECEIVED, SKEW)).toEqual({ occurredAt: t, claimed: null });
    }
  });

  it('replaces a later time by the receipt time and keeps the claim', () => {
    expect(capOccurredAt('2026-03-02T09:05:00.001Z', RECEIVED, SKEW)).toEqual({
      occurredAt: RECEIVED,
      claimed: '2026-03-02T09:05:00.001Z',
    });
    expect(capOccurredAt('+275760-09-13T00:00:00.000Z', RECEIVED, SKEW)).toEqual({
      occurredAt: RECEIVED,
      claimed: '+275760-09-13T00:00:00.000Z',
    });
    expect(capOccurredAt('2099-01-01T01:00:00+01:00', RECEIVED, 0).claimed).toBe('2099-01-01T00:00:00.000Z');
  });

  it('replaces an unreadable time by the receipt time, without copying it', () => {
    for (const t of ['', 'yesterday', 'NaN', '2026-13-45T99:00:00Z']) {
      expect(capOccurredAt(t, RECEIVED, SKEW)).toEqual({ occurredAt: RECEIVED, claimed: 'unreadable' });
    }
  });
});
