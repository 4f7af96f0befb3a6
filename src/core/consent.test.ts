import { describe, expect, it } from 'vitest';
import { decide, type IntentInput } from './consent.ts';
import type { PurposeState } from './types.ts';

const H = 3_600_000;
const base = { purpose: 'marketing', subjectId: 's1', source: 'form' as const };
const at = (h: number) => new Date(Date.UTC(2026, 0, 1) + h * H).toISOString();

function run(steps: Array<Omit<IntentInput, 'purpose' | 'subjectId'>>) {
  let s: PurposeState | undefined;
  const actions: Array<string | null> = [];
  for (const step of steps) {
    const d = decide(s, { ...base, ...step });
    actions.push(d.action === 'evidence' ? `evidence:${d.reason}` : d.action);
    if (d.next) s = d.next;
  }
  return { s, actions };
}

describe('decide', () => {
  it('double opt-in: request then confirm within the window', () => {
    const { s, actions } = run([
      { intent: 'request', occurredAt: at(0), ttlMs: 72 * H, textVersion: 'marketing-de-1', source: 'form' },
      { intent: 'confirm', occurredAt: at(1), source: 'whatsapp' },
    ]);
    expect(actions).toEqual(['requested', 'confirmed']);
    expect(s?.status).toBe('opted_in');
    expect(s?.doubleOptInAt).toBe(at(1));
    expect(s?.textVersion).toBe('marketing-de-1');
  });

  it('a trusted CRM grant opts in at once, without a double opt-in timestamp, and loses to a later opt-out', () => {
    const { s, actions } = run([
      { intent: 'grant', occurredAt: at(0), source: 'hubspot' },
      { intent: 'grant', occurredAt: at(1), source: 'hubspot' },
      { intent: 'opt_out', occurredAt: at(2), source: 'whatsapp' },
      { intent: 'grant', occurredAt: at(1), source: 'salesforce' },
    ]);
    expect(actions).toEqual(['granted', 'evidence:already_opted_in', 'opted_out', 'evidence:superseded']);
    expect(s?.status).toBe('opted_out');
    expect(s?.doubleOptInAt).toBeNull();
  });

  it('a grant at the same second as an opt-out loses the tie', () => {
    const { s, actions } = run([
      { intent: 'opt_out', occurredAt: at(0), source: 'whatsapp' },
      { intent: 'grant', occurredAt: at(0), source: 'salesforce' },
    ]);
    expect(actions).toEqual(['opted_out', 'evidence:superseded']);
    expect(s?.status).toBe('opted_out');
  });

  it('a late confirmation is evidence only', () => {
    const { s, actions } = run([
      { intent: 'request', occurredAt: at(0), ttlMs: 72 * H, source: 'form' },
      { intent: 'confirm', occurredAt: at(73), source: 'whatsapp' },
    ]);
    expect(actions).toEqual(['requested', 'evidence:expired_before_confirmation']);
    expect(s?.status).toBe('pending');
  });

  it('expiry returns to the status held before the request', () => {
    const { s, actions } = run([
      { intent: 'opt_out', occurredAt: at(0), source: 'whatsapp' },
      { intent: 'request', occurredAt: at(1), ttlMs: 72 * H, source: 'whatsapp' },
      { intent: 'expire', occurredAt: at(100), source: 'system' },
    ]);
    expect(actions).toEqual(['opted_out', 'requested', 'expired']);
    expect(s?.status).toBe('opted_out');
    expect(s?.statusBeforePending).toBeNull();
  });

  it('expire before the deadline does nothing', () => {
    const { actions } = run([
      { intent: 'request', occurredAt: at(0), ttlMs: 72 * H, source: 'form' },
      { intent: 'expire', occurredAt: at(10), source: 'system' },
    ]);
    expect(actions).toEqual(['requested', null]);
  });

  it('opt-out applies from any state and a repeat is evidence', () => {
    const { s, actions } = run([
      { intent: 'request', occurredAt: at(0), ttlMs: H, source: 'form' },
      { intent: 'confirm', occurredAt: at(0.5), source: 'whatsapp' },
      { intent: 'opt_out', occurredAt: at(2), source: 'whatsapp' },
      { intent: 'opt_out', occurredAt: at(3), source: 'api' },
    ]);
    expect(actions).toEqual(['requested', 'confirmed', 'opted_out', 'evidence:already_opted_out']);
    expect(s?.status).toBe('opted_out');
  });

  it('a confirmation without a request records nothing for an unknown purpose state', () => {
    expect(decide(undefined, { ...base, intent: 'confirm', occurredAt: at(0) })).toEqual({
      action: null,
      next: null,
      reason: null,
    });
  });

  it('an older change is superseded by a newer one (rule 4)', () => {
    const { s, actions } = run([
      { intent: 'opt_out', occurredAt: at(5), source: 'hubspot' },
      { intent: 'request', occurredAt: at(4), ttlMs: H, source: 'salesforce' },
    ]);
    expect(actions).toEqual(['opted_out', 'evidence:superseded']);
    expect(s?.status).toBe('opted_out');
  });

  it('a tie goes to the less permissive state (rule 4)', () => {
    const { s, actions } = run([
      { intent: 'opt_out', occurredAt: at(5), source: 'hubspot' },
      { intent: 'request', occurredAt: at(5), ttlMs: H, source: 'salesforce' },
    ]);
    expect(actions).toEqual(['opted_out', 'evidence:superseded']);
    expect(s?.status).toBe('opted_out');
    const tie = run([
      { intent: 'request', occurredAt: at(5), ttlMs: H, source: 'salesforce' },
      { intent: 'opt_out', occurredAt: at(5), source: 'hubspot' },
    ]);
    expect(tie.s?.status).toBe('opted_out');
  });

  it('a request while opted in is evidence only', () => {
    const { actions } = run([
      { intent: 'request', occurredAt: at(0), ttlMs: H, source: 'form' },
      { intent: 'confirm', occurredAt: at(0.1), source: 'whatsapp' },
      { intent: 'request', occurredAt: at(1), ttlMs: H, source: 'form' },
    ]);
    expect(actions.at(-1)).toBe('evidence:already_opted_in');
  });
});

describe('same-second timing', () => {
  it('a YES in the same second as the request confirms', () => {
    const req = decide(undefined, {
      ...base,
      intent: 'request',
      occurredAt: '2026-01-01T00:00:00.700Z',
      ttlMs: H,
    });
    const yes = decide(req.next!, {
      ...base,
      intent: 'confirm',
      source: 'whatsapp',
      occurredAt: '2026-01-01T00:00:00.000Z',
    });
    expect(yes.action).toBe('confirmed');
  });

  it('a STOP stamped in the same second as a later form request still opts out', () => {
    const req = decide(undefined, {
      ...base,
      intent: 'request',
      occurredAt: '2026-01-01T00:00:00.700Z',
      ttlMs: H,
    });
    const stop = decide(req.next!, {
      ...base,
      intent: 'opt_out',
      source: 'whatsapp',
      occurredAt: '2026-01-01T00:00:00.000Z',
    });
    expect(stop.action).toBe('opted_out');
  });
});
