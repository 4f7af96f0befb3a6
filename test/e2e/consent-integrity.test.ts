/**
 * Sync rules 4 and 4a through the app (issues 14 and 19): no sender's `occurredAt` is trusted beyond
 * receipt time plus `CLOCK_SKEW_SECONDS`; a pending request dated in the future expires like any
 * other; one confirmation message per pending request; a STOP and a YES end the same in either
 * delivery order. The core's rules: src/core/consent.test.ts; the order property:
 * test/e2e/consent-order.property.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type CrmHarness, SALESFORCE, startCrmHarness } from '../helpers/crm.ts';
import { type Harness, json, NO_INTAKE_LIMITS, startHarness } from '../helpers/harness.ts';
import { textMessage } from '../helpers/whatsapp.ts';

// Fictitious numbers only.
const PHONE = '+4915123400201';
const WA = PHONE.slice(1);

let h: Harness | CrmHarness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

type Purposes = Record<string, { status: string; pendingExpiresAt?: string | null }>;
const purposes = async (x: Harness, phone = PHONE) =>
  (
    await json<{ purposes: Purposes }>(
      await x.request(`/v1/subjects/${encodeURIComponent(phone)}`, { role: 'operator' }),
    )
  ).purposes;
type HistoryEvent = {
  purpose: string;
  action: string;
  occurredAt: string;
  evidence: Record<string, unknown> | null;
};
/** The person's ledger events for `marketing`. */
const history = async (x: Harness, phone = PHONE) =>
  (
    await json<{ events: HistoryEvent[] }>(
      await x.request(`/v1/subjects/${encodeURIComponent(phone)}/history`, { role: 'auditor' }),
    )
  ).events.filter((e) => e.purpose === 'marketing');
const seconds = (d: Date) => String(Math.floor(d.getTime() / 1000));

describe('sync rule 4: occurredAt capped at receipt time plus the clock-skew allowance', () => {
  it('a Salesforce opt-in dated 2099 starts a double opt-in dated at receipt, which expires after DOI_TTL_HOURS', async () => {
    const crm = await startCrmHarness({ enable: ['salesforce'], env: { DOI_TTL_HOURS: '1' } });
    h = crm;
    const record = crm.salesforce.add('Contact', { MobilePhone: PHONE, LastName: 'Example' });
    const received = crm.now().getTime();
    const body = {
      events: [
        {
          id: 'flow-future-1',
          objectType: 'Contact',
          recordId: record,
          occurredAt: '2099-01-01T00:00:00.000Z',
          fields: { MobilePhone: PHONE, WhatsApp_Marketing_Consent__c: 'Opted In' },
        },
      ],
    };
    const res = await crm.salesforce.flowCallout(
      `${crm.url}/webhooks/salesforce`,
      SALESFORCE.webhookSecret,
      body,
    );
    expect(res.status).toBe(200);
    const pending = (await purposes(crm)).marketing;
    expect(pending?.status).toBe('pending');
    // Without the cap the request would run out in 2099, i.e. never.
    const expires = Date.parse(pending?.pendingExpiresAt ?? '');
    expect(expires - received).toBeGreaterThanOrEqual(3_600_000);
    expect(expires - received).toBeLessThan(3_600_000 + 60_000);
    const [requested] = await history(crm);
    expect(requested?.action).toBe('requested');
    expect(Date.parse(requested?.occurredAt ?? '')).toBeLessThan(received + 60_000);
    expect(requested?.evidence).toMatchObject({ claimedOccurredAt: '2099-01-01T00:00:00.000Z' });

    crm.advance(3_600_000 + 61_000);
    expect(await crm.services.expirePending()).toBe(1);
    expect((await purposes(crm)).marketing?.status).toBe('none');
  });

  it('a WhatsApp YES stamped in the future confirms at receipt time; a time within the skew is kept', async () => {
    h = await startHarness({ env: { CLOCK_SKEW_SECONDS: '60' } });
    const x = h;
    const res = await x.request('/v1/consents', {
      method: 'POST',
      role: 'intake',
      json: { phone: PHONE, purposes: ['marketing'] },
    });
    expect(res.status).toBe(202);
    x.advance(10_000);
    const within = new Date(x.now().getTime() + 30_000);
    const future = new Date(x.now().getTime() + 3_600_000);
    expect((await x.webhook(textMessage(WA, 'JA', { timestamp: seconds(future) }))).status).toBe(200);
    expect((await x.webhook(textMessage(WA, 'STOP', { timestamp: seconds(within) }))).status).toBe(200);
    const events = await history(x);
    expect(events.map((e) => e.action)).toEqual(['requested', 'confirmed', 'opted_out']);
    expect(events[1]).toMatchObject({
      occurredAt: x.now().toISOString(),
      evidence: expect.objectContaining({ claimedOccurredAt: future.toISOString() }),
    });
    // The STOP 30 s ahead is within the 60 s allowance: kept as sent, and later than the YES.
    expect(events[2]?.occurredAt).toBe(within.toISOString());
    expect(events[2]?.evidence).not.toHaveProperty('claimedOccurredAt');
    expect((await purposes(x)).marketing?.status).toBe('opted_out');
  });
});

describe('one confirmation message per pending request', () => {
  it('five POST /v1/consents for a pending number send one confirmation; the others are evidence', async () => {
    // Rate limits off: this is about the core refusing a second confirmation, not the limiter.
    h = await startHarness({ env: NO_INTAKE_LIMITS });
    const x = h;
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await x.request('/v1/consents', {
        method: 'POST',
        // An admin key gets the answer that names the state (an intake key gets 202 whatever it is).
        role: 'admin',
        json: { phone: PHONE, purposes: ['marketing'] },
      });
      statuses.push(res.status);
      x.advance(60_000);
    }
    await x.drain();
    // 202: a confirmation was queued; 200: nothing new to confirm (the one already sent stands).
    expect(statuses).toEqual([202, 200, 200, 200, 200]);
    expect(x.graph.sent().filter((m) => m.to === PHONE)).toHaveLength(1);
    const events = await history(x);
    expect(events.map((e) => [e.action, e.evidence?.reason ?? null])).toEqual([
      ['requested', null],
      ...Array.from({ length: 4 }, () => ['evidence', 'already_pending']),
    ]);
    expect((await purposes(x)).marketing?.status).toBe('pending');
  });
});

describe('delivery order (Meta does not keep it)', () => {
  it('pending, then a STOP at t and a YES at t+1: opted out whichever arrives first', async () => {
    const outcomes: string[] = [];
    for (const stopFirst of [true, false]) {
      h = await startHarness();
      const x = h;
      await x.request('/v1/consents', {
        method: 'POST',
        role: 'intake',
        json: { phone: PHONE, purposes: ['marketing'] },
      });
      x.advance(60_000);
      const t = x.now();
      const stop = textMessage(WA, 'STOP', { timestamp: seconds(t) });
      const yes = textMessage(WA, 'JA', { timestamp: seconds(new Date(t.getTime() + 1000)) });
      x.advance(5_000);
      for (const change of stopFirst ? [stop, yes] : [yes, stop])
        expect((await x.webhook(change)).status).toBe(200);
      outcomes.push((await purposes(x)).marketing?.status ?? 'none');
      await x.close();
      h = null;
    }
    expect(outcomes).toEqual(['opted_out', 'opted_out']);
  });
});
