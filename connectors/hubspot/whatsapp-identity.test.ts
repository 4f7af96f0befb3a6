/**
 * Issue 15, HubSpot half, against the simulator: contacts found by `hs_whatsapp_phone_number` as
 * well as `mobilephone`/`phone` in the mapping's order (one ORed search per 100 numbers, within
 * HubSpot's filter limits), and subscription statuses through communication preferences v4 with
 * the WhatsApp channel refused (HubSpot today) and accepted (the switch).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type HubSpotSimulator, startHubSpotSimulator } from '../../test/sim/hubspot.ts';
import type { LookupSpec, RecordWrite } from '../types.ts';
import { createHubSpotConnector } from './index.ts';
import { createCommPrefsClient } from './subscriptions.ts';

const TOKEN = 'sim-token';
const P1 = '+447700900001'; // example numbers (UK drama range)
const P2 = '+447700900002';
const P3 = '+447700900003';
const FAST = { minBackoffMs: 5, maxWaitMs: 2_000, timeoutMs: 1_000 } as const;
const FIELDS = ['hs_whatsapp_phone_number', 'mobilephone', 'phone'];
const SPEC: LookupSpec = {
  objectTypes: ['contact'],
  matchField: FIELDS[0] as string,
  matchFields: FIELDS,
  properties: ['whatsapp_marketing_opted_out'],
};

let hs: HubSpotSimulator;
afterEach(async () => {
  await hs?.close();
});

async function setup(whatsappChannel = false) {
  hs = await startHubSpotSimulator({ accessToken: TOKEN, whatsappChannel });
  return createHubSpotConnector({ accessToken: TOKEN, clientSecret: null, baseUrl: hs.url, ...FAST });
}

const searches = () => hs.requests.filter((r) => r.path === '/crm/v3/objects/contacts/search');

describe('matching by several number properties', () => {
  it('finds a contact known only by hs_whatsapp_phone_number, in one search ORing the properties', async () => {
    const connector = await setup();
    const wa = hs.addContact({ hs_whatsapp_phone_number: P1, firstname: 'Example' });
    const mobile = hs.addContact({ mobilephone: P2 });
    const landline = hs.addContact({ phone: P3 });
    const found = await connector.find([P1, P2, P3], SPEC);
    expect(found.map((r) => [r.id, r.matchValue]).sort()).toEqual(
      [
        [wa, P1],
        [mobile, P2],
        [landline, P3],
      ].sort(),
    );
    expect(found.every((r) => !('firstname' in r.properties))).toBe(true);
    expect(searches()).toHaveLength(1);
    const body = searches()[0]?.body as { filterGroups: Array<{ filters: Array<{ propertyName: string }> }> };
    expect(body.filterGroups.map((g) => g.filters.map((f) => f.propertyName))).toEqual(
      FIELDS.map((f) => [f]),
    );
  });

  it('for one number, contacts matched by an earlier property win over those matched by a later one', async () => {
    const connector = await setup();
    const wa = hs.addContact({ hs_whatsapp_phone_number: P1 });
    hs.addContact({ mobilephone: P1 });
    hs.addContact({ phone: P1 });
    const mobile = hs.addContact({ mobilephone: P2 });
    hs.addContact({ phone: P2 });
    const found = await connector.find([P1, P2], SPEC);
    expect(found.map((r) => r.id).sort()).toEqual([wa, mobile].sort());
  });

  it('a contact whose WhatsApp number is another wanted number counts for that number', async () => {
    const connector = await setup();
    const both = hs.addContact({ hs_whatsapp_phone_number: P1, mobilephone: P2 });
    const found = await connector.find([P1, P2], SPEC);
    expect(found).toEqual([expect.objectContaining({ id: both, matchValue: P1 })]);
  });

  it('250 numbers over three properties take three searches (100 values per IN filter, 3 filter groups)', async () => {
    const connector = await setup();
    const numbers = Array.from({ length: 250 }, (_, i) => `+4477009${String(10_000 + i).slice(1)}`);
    hs.addContact({ phone: numbers[249] as string });
    const found = await connector.find(numbers, SPEC);
    expect(found).toHaveLength(1);
    expect(searches()).toHaveLength(3);
    // the simulator enforces HubSpot's limits: none of the three was refused
    expect(hs.stats().byStatus[400]).toBeUndefined();
  });

  it('the single-property form still searches one property', async () => {
    const connector = await setup();
    const id = hs.addContact({ mobilephone: P1 });
    hs.addContact({ hs_whatsapp_phone_number: P1 });
    const found = await connector.find([P1], {
      objectTypes: ['contact'],
      matchField: 'mobilephone',
      properties: [],
    });
    expect(found.map((r) => r.id)).toEqual([id]);
  });

  it('the simulator refuses a sixth filter group, as HubSpot does', async () => {
    await setup();
    const res = await fetch(`${hs.url}/crm/v3/objects/contacts/search`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        filterGroups: Array.from({ length: 6 }, () => ({
          filters: [{ propertyName: 'phone', operator: 'EQ', value: P1 }],
        })),
      }),
    });
    expect(res.status).toBe(400);
  });
});

const statusWrite = (id: string, state: 'SUBSCRIBED' | 'UNSUBSCRIBED'): RecordWrite => ({
  objectType: 'contact',
  id,
  key: `job-1:contact:${id}`,
  properties: { whatsapp_marketing_opted_out: state === 'UNSUBSCRIBED' },
  subscriptions: [
    {
      channel: 'WHATSAPP',
      subscriberFrom: FIELDS,
      subscriptionId: 2001,
      state,
      legalBasis: 'CONSENT_WITH_NOTICE',
    },
  ],
});

describe('communication preferences v4 and the WhatsApp channel', () => {
  it('refused (HubSpot today): the probe says not yet; a write keeps the properties and fails the record, not retryable', async () => {
    const connector = await setup(false);
    const probe = await createCommPrefsClient({ baseUrl: hs.url, accessToken: TOKEN }).probe('WHATSAPP');
    expect(probe.verdict).toBe('rejected');
    const id = hs.addContact({ hs_whatsapp_phone_number: P1 });
    const [outcome] = await connector.write([statusWrite(id, 'UNSUBSCRIBED')]);
    expect(outcome).toMatchObject({ ok: false, error: { code: 'CHANNEL_NOT_SUPPORTED', retryable: false } });
    expect(JSON.stringify(outcome)).not.toContain(P1.slice(1));
    expect(hs.getContact(id)?.whatsapp_marketing_opted_out).toBe('true');
    expect(hs.commPrefs.statuses.size).toBe(0);
  });

  it('accepted (the switch on): the probe lists the WhatsApp types; a write sets the status for the contact number', async () => {
    const connector = await setup(true);
    const probe = await createCommPrefsClient({ baseUrl: hs.url, accessToken: TOKEN }).probe('WHATSAPP');
    expect(probe.verdict).toBe('accepted');
    expect(probe.verdict === 'accepted' && probe.definitions.map((d) => d.name)).toContain(
      'WhatsApp Marketing',
    );
    const id = hs.addContact({ mobilephone: P2 });
    const outcomes = await connector.write([statusWrite(id, 'UNSUBSCRIBED')]);
    expect(outcomes).toEqual([{ ok: true }]);
    expect(hs.commPrefs.statuses.get(`WHATSAPP:${P2}:2001`)).toBe('UNSUBSCRIBED');
    const batch = hs.requests.filter((r) => r.path === '/communication-preferences/v4/statuses/batch/write');
    expect(batch).toHaveLength(1);
  });

  it('writes without subscriptions never call the communication-preferences API', async () => {
    const connector = await setup(true);
    const id = hs.addContact({ mobilephone: P2 });
    const { subscriptions: _, ...plain } = statusWrite(id, 'UNSUBSCRIBED');
    expect(await connector.write([plain])).toEqual([{ ok: true }]);
    expect(hs.requests.some((r) => r.path.startsWith('/communication-preferences'))).toBe(false);
  });
});
