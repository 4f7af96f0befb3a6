import { describe, expect, it } from 'vitest';
import { decide, type IntentInput, isPersonsOwn, registersOf, statusOf } from './consent.ts';
import { capOccurredAt } from './occurred-at.ts';
import type { PurposeState } from './types.ts';

const H = 3_600_000;
const base = { purpose: 'marketing', subjectId: 's1', source: 'form' as const, byPerson: false };
const at = (h: number) => new Date(Date.UTC(2026, 0, 1) + h * H).toISOString();

type Step = Omit<IntentInput, 'purpose' | 'subjectId' | 'byPerson'>;

function run(steps: Step[], from?: PurposeState) {
  let s: PurposeState | undefined = from;
  const actions: Array<string | null> = [];
  for (const step of steps) {
    const d = decide(s, { ...base, ...step, byPerson: isPersonsOwn(step.source) });
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
      { intent: 'opt_out', occurredAt: at(2), source: 'salesforce' },
      { intent: 'grant', occurredAt: at(1), source: 'salesforce' },
    ]);
    expect(actions).toEqual(['granted', 'evidence:already_opted_in', 'opted_out', 'evidence:superseded']);
    expect(s?.status).toBe('opted_out');
    expect(s?.doubleOptInAt).toBeNull();
  });

  it("a CRM opt-in later than a CRM's opt-out applies (rule 4)", () => {
    const { s, actions } = run([
      { intent: 'opt_out', occurredAt: at(2), source: 'salesforce' },
      { intent: 'grant', occurredAt: at(3), source: 'hubspot' },
    ]);
    expect(actions).toEqual(['opted_out', 'granted']);
    expect(s?.status).toBe('opted_in');
  });

  it("a grant at the same second as a CRM's opt-out loses the tie", () => {
    const { s, actions } = run([
      { intent: 'opt_out', occurredAt: at(0), source: 'hubspot' },
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
      byPerson: true,
      occurredAt: '2026-01-01T00:00:00.000Z',
    });
    expect(stop.action).toBe('opted_out');
  });
});

describe("sync rule 4a: the person's own withdrawal is final", () => {
  const FUTURE = '2099-01-01T00:00:00.000Z';

  it('a future-dated CRM opt-in, then the STOP: opted out (the STOP applies whatever the time before it)', () => {
    const { s, actions } = run([
      { intent: 'grant', occurredAt: FUTURE, source: 'salesforce' },
      { intent: 'opt_out', occurredAt: at(1), source: 'whatsapp' },
    ]);
    expect(actions).toEqual(['granted', 'opted_out']);
    expect(s?.status).toBe('opted_out');
    expect(s?.withdrawnAt).toBe(at(1));
  });

  it("each of the person's own sources withdraws against a future-dated opt-in; a CRM's opt-out does not", () => {
    for (const source of ['whatsapp', 'meta_preferences', 'meta_status', 'api'] as const) {
      const { s } = run([
        { intent: 'grant', occurredAt: FUTURE, source: 'hubspot' },
        { intent: 'opt_out', occurredAt: at(1), source },
      ]);
      expect(s?.status, source).toBe('opted_out');
    }
    const crm = run([
      { intent: 'grant', occurredAt: FUTURE, source: 'hubspot' },
      { intent: 'opt_out', occurredAt: at(1), source: 'salesforce' },
    ]);
    expect(crm.actions).toEqual(['granted', 'evidence:superseded']);
    expect(crm.s?.status).toBe('opted_in');
  });

  it('the STOP, then a stale CRM opt-in: stays opted out', () => {
    const { s, actions } = run([
      { intent: 'opt_out', occurredAt: at(5), source: 'whatsapp' },
      { intent: 'grant', occurredAt: at(1), source: 'hubspot' },
    ]);
    expect(actions).toEqual(['opted_out', 'evidence:withdrawn_by_person']);
    expect(s?.status).toBe('opted_out');
  });

  it('the STOP, then a CRM opt-in dated 2099: stays opted out', () => {
    const { s, actions } = run([
      { intent: 'opt_out', occurredAt: at(5), source: 'api' },
      { intent: 'grant', occurredAt: FUTURE, source: 'salesforce' },
      { intent: 'grant', occurredAt: at(6), source: 'hubspot' },
    ]);
    expect(actions).toEqual(['opted_out', 'evidence:withdrawn_by_person', 'evidence:withdrawn_by_person']);
    expect(s?.status).toBe('opted_out');
  });

  it('a double opt-in requested after the STOP and confirmed lifts it; a STOP dated before that request is superseded', () => {
    const { s, actions } = run([
      { intent: 'opt_out', occurredAt: at(1), source: 'whatsapp' },
      { intent: 'request', occurredAt: at(2), ttlMs: 72 * H, source: 'form' },
      { intent: 'confirm', occurredAt: at(3), source: 'whatsapp' },
      { intent: 'opt_out', occurredAt: at(1.5), source: 'meta_preferences' },
    ]);
    expect(actions).toEqual(['opted_out', 'requested', 'confirmed', 'evidence:superseded']);
    expect(s?.status).toBe('opted_in');
    expect(s?.requestedAt).toBe(at(2));
  });

  it('a STOP after the double opt-in was requested applies, even dated before the confirmation', () => {
    const { s, actions } = run([
      { intent: 'request', occurredAt: at(0), ttlMs: 72 * H, source: 'form' },
      { intent: 'confirm', occurredAt: at(3), source: 'whatsapp' },
      { intent: 'opt_out', occurredAt: at(2), source: 'whatsapp' },
    ]);
    expect(actions).toEqual(['requested', 'confirmed', 'opted_out']);
    expect(s?.status).toBe('opted_out');
  });

  it('pending, a STOP at t and a YES at t+1 end opted out in either delivery order', () => {
    const request: Step = { intent: 'request', occurredAt: at(0), ttlMs: 72 * H, source: 'form' };
    const stop: Step = { intent: 'opt_out', occurredAt: at(5), source: 'whatsapp' };
    const yes: Step = { intent: 'confirm', occurredAt: at(5 + 1 / 3600), source: 'whatsapp' };
    const stopFirst = run([request, stop, yes]);
    const yesFirst = run([request, yes, stop]);
    expect(stopFirst.actions).toEqual(['requested', 'opted_out', 'evidence:no_pending_request']);
    expect(yesFirst.actions).toEqual(['requested', 'confirmed', 'opted_out']);
    expect(stopFirst.s?.status).toBe('opted_out');
    expect(yesFirst.s?.status).toBe('opted_out');
  });

  it('a STOP dated before a pending request keeps the request; its expiry returns to opted out', () => {
    const { s, actions } = run([
      { intent: 'request', occurredAt: at(2), ttlMs: 72 * H, source: 'form' },
      { intent: 'opt_out', occurredAt: at(1), source: 'whatsapp' },
    ]);
    expect(actions).toEqual(['requested', 'evidence:superseded']);
    expect(s).toMatchObject({ status: 'pending', statusBeforePending: 'opted_out', withdrawnAt: at(1) });
    const later = run([{ intent: 'expire', occurredAt: at(80), source: 'system' }], s);
    expect(later.actions).toEqual(['expired']);
    expect(later.s?.status).toBe('opted_out');
  });

  it('a CRM opt-in never lifts the withdrawal, not even after a later double opt-in and a CRM opt-out', () => {
    const { s, actions } = run([
      { intent: 'opt_out', occurredAt: at(1), source: 'whatsapp' },
      { intent: 'request', occurredAt: at(2), ttlMs: 72 * H, source: 'form' },
      { intent: 'confirm', occurredAt: at(3), source: 'whatsapp' },
      { intent: 'opt_out', occurredAt: at(4), source: 'hubspot' },
      { intent: 'grant', occurredAt: at(5), source: 'hubspot' },
    ]);
    expect(actions).toEqual([
      'opted_out',
      'requested',
      'confirmed',
      'opted_out',
      'evidence:withdrawn_by_person',
    ]);
    expect(s?.status).toBe('opted_out');
  });
});

describe('one confirmation while pending', () => {
  it('a second request while one is pending is evidence (already_pending): no new request, the window runs from the latest', () => {
    const { s, actions } = run([
      { intent: 'request', occurredAt: at(0), ttlMs: 72 * H, source: 'form' },
      { intent: 'request', occurredAt: at(1), ttlMs: 72 * H, source: 'form' },
      { intent: 'request', occurredAt: at(2), ttlMs: 72 * H, source: 'hubspot' },
      { intent: 'request', occurredAt: at(0.5), ttlMs: 72 * H, source: 'form' },
    ]);
    expect(actions).toEqual([
      'requested',
      'evidence:already_pending',
      'evidence:already_pending',
      'evidence:already_pending',
    ]);
    expect(s).toMatchObject({ status: 'pending', requestedAt: at(0), pendingExpiresAt: at(74) });
    // The confirmation answers the message sent for the first request, until the latest one's TTL.
    const yes = run([{ intent: 'confirm', occurredAt: at(73), source: 'whatsapp' }], s);
    expect(yes.actions).toEqual(['confirmed']);
  });

  it('evidence moves only the times: status, dates, source and text version (what CRMs are sent) stay', () => {
    const first = run([
      { intent: 'request', occurredAt: at(0), ttlMs: 72 * H, source: 'form', textVersion: 'marketing-de-1' },
    ]);
    const again = run(
      [
        {
          intent: 'request',
          occurredAt: at(5),
          ttlMs: 72 * H,
          source: 'hubspot',
          textVersion: 'marketing-en-1',
        },
      ],
      first.s,
    );
    expect(again.actions).toEqual(['evidence:already_pending']);
    expect(again.s).toEqual({ ...first.s, pendingExpiresAt: at(77) });
  });

  it("a confirmation while a trusted CRM's opt-in holds is recorded as the person's confirmation", () => {
    const { s, actions } = run([
      { intent: 'grant', occurredAt: at(0), source: 'hubspot' },
      { intent: 'request', occurredAt: at(1), ttlMs: 72 * H, source: 'form' },
      { intent: 'confirm', occurredAt: at(2), source: 'whatsapp' },
      { intent: 'opt_out', occurredAt: at(0.5), source: 'whatsapp' },
    ]);
    // The STOP, dated before the confirmed request, voids the CRM's opt-in but not the double opt-in.
    expect(actions).toEqual(['granted', 'evidence:already_opted_in', 'confirmed', 'evidence:superseded']);
    expect(s).toMatchObject({ status: 'opted_in', doubleOptInAt: at(2), source: 'whatsapp' });
  });

  it('a request after the pending one ran out (before the sweep) starts a new one', () => {
    const { s, actions } = run([
      { intent: 'request', occurredAt: at(0), ttlMs: 72 * H, source: 'form' },
      { intent: 'request', occurredAt: at(73), ttlMs: 72 * H, source: 'form' },
    ]);
    expect(actions).toEqual(['requested', 'requested']);
    expect(s?.pendingExpiresAt).toBe(at(145));
  });

  it('a request dated in the future is still a request: capped at receipt (capOccurredAt), it expires', () => {
    const capped = capOccurredAt('2099-01-01T00:00:00.000Z', at(10), 300_000);
    expect(capped).toEqual({ occurredAt: at(10), claimed: '2099-01-01T00:00:00.000Z' });
    const { s, actions } = run([
      { intent: 'request', occurredAt: capped.occurredAt, ttlMs: 72 * H, source: 'hubspot' },
      { intent: 'expire', occurredAt: at(81), source: 'system' },
      { intent: 'expire', occurredAt: at(82), source: 'system' },
    ]);
    expect(actions).toEqual(['requested', null, 'expired']);
    expect(s?.status).toBe('none');
    expect(s?.requestedAt).toBeNull();
  });
});

describe('rows stored before the times of rules 4 and 4a were kept (all four null)', () => {
  const legacy = (over: Partial<PurposeState>): PurposeState => ({
    subjectId: 's1',
    purpose: 'marketing',
    status: 'opted_out',
    changedAt: at(1),
    source: 'whatsapp',
    statusBeforePending: null,
    pendingExpiresAt: null,
    doubleOptInAt: null,
    textVersion: null,
    occurredAt: at(1),
    withdrawnAt: null,
    crmOptedOutAt: null,
    crmGrantedAt: null,
    requestedAt: null,
    ...over,
  });

  it('are read from their status and source, giving back the same status', () => {
    const rows = [
      legacy({}),
      legacy({ source: 'hubspot' }),
      legacy({ status: 'opted_in', doubleOptInAt: at(1) }),
      legacy({ status: 'opted_in', source: 'salesforce' }),
      legacy({
        status: 'pending',
        source: 'form',
        statusBeforePending: 'opted_out',
        pendingExpiresAt: at(73),
      }),
      legacy({ status: 'pending', source: 'form', statusBeforePending: 'none', pendingExpiresAt: at(73) }),
      legacy({ status: 'none', source: 'system' }),
    ];
    for (const row of rows) expect(statusOf(registersOf(row)), JSON.stringify(row)).toBe(row.status);
  });

  it("an old STOP stays the person's: a CRM opt-in is refused; an old CRM opt-out still loses to a later one", () => {
    const grant: Step = { intent: 'grant', occurredAt: at(2), source: 'hubspot' };
    expect(run([grant], legacy({})).actions).toEqual(['evidence:withdrawn_by_person']);
    expect(run([grant], legacy({ source: 'hubspot' })).actions).toEqual(['granted']);
    const pendingAfterStop = legacy({ status: 'pending', source: 'form', statusBeforePending: 'opted_out' });
    expect(run([grant], pendingAfterStop).s?.status).toBe('pending');
  });

  it('an old confirmed double opt-in loses to a STOP after it, and the first change writes the times', () => {
    const { s, actions } = run(
      [{ intent: 'opt_out', occurredAt: at(2), source: 'whatsapp' }],
      legacy({ status: 'opted_in', doubleOptInAt: at(1) }),
    );
    expect(actions).toEqual(['opted_out']);
    expect(s).toMatchObject({ status: 'opted_out', withdrawnAt: at(2), requestedAt: at(1) });
  });
});
