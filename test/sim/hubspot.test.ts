/**
 * The HubSpot simulator, exercised through the real `@hubspot/api-client` (retries and limiter off),
 * so what the connector sees in tests is what the SDK makes of these answers.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Signature } from '@hubspot/api-client';
import { FilterOperatorEnum } from '@hubspot/api-client/lib/codegen/crm/contacts/index.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type HubSpotSimulator,
  type HubSpotWebhookEvent,
  hubspotWebhookRequest,
  inDialect,
  makeHubSpotEvent,
  signHubSpotV3,
  startHubSpotSimulator,
} from './hubspot.ts';

const TOKEN = 'sim-token';
const SECRET = 'sim-client-secret';
// Example numbers only (UK drama range).
const P1 = '+447700900001';
const P2 = '+447700900002';
const P3 = '+447700900003';

interface Received {
  url: string;
  headers: Record<string, string>;
  body: string;
}

let hs: HubSpotSimulator;
let receiver: Server;
let receiverUrl: string;
let received: Received[] = [];
let receiverStatus = 200;

beforeAll(async () => {
  receiver = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
    received.push({
      url: `${receiverUrl.split('/hooks')[0]}${req.url}`,
      headers,
      body: Buffer.concat(chunks).toString(),
    });
    res.writeHead(receiverStatus).end();
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/hubspot?portal=1`;
  hs = await startHubSpotSimulator({ accessToken: TOKEN, clientSecret: SECRET, webhookUrl: receiverUrl });
});
afterAll(async () => {
  await hs.close();
  await new Promise<void>((r) => receiver.close(() => r()));
});
beforeEach(() => {
  hs.reset();
  received = [];
  receiverStatus = 200;
});

const sdk = (token = TOKEN) => new Client({ accessToken: token, basePath: hs.url }).crm.contacts;
const inFilter = (values: string[], propertyName = 'hs_whatsapp_phone_number') => ({
  filters: [{ propertyName, operator: FilterOperatorEnum.In, values }],
});
const eqFilter = (propertyName: string, value: string) => ({
  propertyName,
  operator: FilterOperatorEnum.Eq,
  value,
});
const post = (path: string, body: unknown) =>
  fetch(`${hs.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
/** The parts of a HubSpot error body these tests look at. */
interface ErrorBody {
  status?: string;
  message?: string;
  category?: string;
  policyName?: string;
  errors?: Array<{ code?: string }>;
}
type SdkError = { code: number; body: ErrorBody; headers: Record<string, string> };
async function thrown(p: Promise<unknown>): Promise<SdkError> {
  try {
    await p;
  } catch (err) {
    return err as SdkError;
  }
  throw new Error('expected the call to fail');
}

describe('HubSpot simulator: auth and search', () => {
  it('listens on 127.0.0.1 and answers 401 with a HubSpot error body without the token', async () => {
    expect(hs.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const err = await thrown(sdk('wrong').searchApi.doSearch({ filterGroups: [] }));
    expect(err.code).toBe(401);
    expect(err.body).toMatchObject({ status: 'error', category: 'INVALID_AUTHENTICATION' });
    expect(hs.stats()).toMatchObject({ calls: 1, unauthorised: 1 });
    expect(hs.requests[0]?.headers.authorization).toBe('Bearer wrong');
  });

  it('finds contacts with IN and EQ, ORs groups, ANDs filters, and returns only the asked properties', async () => {
    const a = hs.addContact({
      hs_whatsapp_phone_number: P1,
      firstname: 'Example',
      whatsapp_opted_out: 'true',
    });
    const b = hs.addContact({ hs_whatsapp_phone_number: P2, firstname: 'Example' });
    hs.addContact({ hs_whatsapp_phone_number: P3 });
    const api = sdk().searchApi;
    const byIn = await api.doSearch({
      filterGroups: [inFilter([P1, P2, '+447700900099'])],
      properties: ['hs_whatsapp_phone_number', 'whatsapp_opted_out'],
      limit: 100,
    });
    expect(byIn.total).toBe(2);
    expect(byIn.results.map((r) => r.id)).toEqual([a, b]);
    expect(byIn.results[0]?.properties).toEqual({
      hs_whatsapp_phone_number: P1,
      whatsapp_opted_out: 'true',
      hs_object_id: a,
      createdate: expect.any(String),
      lastmodifieddate: expect.any(String),
    });
    expect(byIn.results[1]?.properties.whatsapp_opted_out).toBeNull();
    expect(byIn.results[0]?.properties).not.toHaveProperty('firstname');

    const anded = await api.doSearch({
      filterGroups: [
        { filters: [eqFilter('hs_whatsapp_phone_number', P1), eqFilter('whatsapp_opted_out', 'true')] },
      ],
    });
    expect(anded.results.map((r) => r.id)).toEqual([a]);
    // No properties asked: HubSpot's default set.
    expect(Object.keys(anded.results[0]?.properties ?? {}).sort()).toEqual(
      ['createdate', 'email', 'firstname', 'hs_object_id', 'lastmodifieddate', 'lastname'].sort(),
    );
    const ored = await api.doSearch({
      filterGroups: [{ filters: [eqFilter('hs_whatsapp_phone_number', P2)] }, inFilter([P3])],
    });
    expect(ored.total).toBe(2);
  });

  it('pages with after', async () => {
    for (let i = 0; i < 5; i++) hs.addContact({ hs_whatsapp_phone_number: `+4477009000${10 + i}` }); // example numbers
    const api = sdk().searchApi;
    const first = await api.doSearch({ filterGroups: [], limit: 2 });
    expect(first.results).toHaveLength(2);
    expect(first.paging?.next?.after).toBe('2');
    const last = await api.doSearch({ filterGroups: [], limit: 2, after: '4' });
    expect(last.results).toHaveLength(1);
    expect(last.paging).toBeUndefined();
  });

  it('enforces the search limits with 400 VALIDATION_ERROR', async () => {
    const api = sdk().searchApi;
    const tooManyValues = Array.from({ length: 101 }, (_, i) => `v${i}`);
    const cases = [
      { filterGroups: [inFilter(tooManyValues)] },
      { filterGroups: Array.from({ length: 6 }, () => inFilter([P1])) },
      { filterGroups: [{ filters: Array.from({ length: 11 }, () => eqFilter('email', 'x')) }] },
      {
        filterGroups: Array.from({ length: 5 }, () => ({
          filters: Array.from({ length: 6 }, () => eqFilter('email', 'x')),
        })),
      },
      { filterGroups: [], limit: 201 },
      { filterGroups: [{ filters: [eqFilter('no_such_property', 'x')] }] },
    ];
    for (const request of cases) {
      const err = await thrown(api.doSearch(request));
      expect(err.code).toBe(400);
      expect(err.body.category).toBe('VALIDATION_ERROR');
    }
    expect((await api.doSearch({ filterGroups: [inFilter(tooManyValues.slice(1))] })).total).toBe(0);
  });
});

describe('HubSpot simulator: batch read, update, get, gdpr-delete, properties', () => {
  it('batch/read answers 207 with OBJECT_NOT_FOUND for missing ids, which the SDK resolves', async () => {
    const a = hs.addContact({ hs_whatsapp_phone_number: P1 });
    const res = await sdk().batchApi.read({
      inputs: [{ id: a }, { id: '999' }],
      properties: ['hs_whatsapp_phone_number'],
      propertiesWithHistory: [],
    });
    expect(res.results.map((r) => r.id)).toEqual([a]);
    expect('errors' in res && res.errors?.[0]).toMatchObject({
      category: 'OBJECT_NOT_FOUND',
      context: { ids: ['999'] },
    });
    expect(hs.stats().byStatus[207]).toBe(1);
  });

  it('batch/update applies values (200), queues API echoes only for real changes, and echoes objectWriteTraceId', async () => {
    const a = hs.addContact({ hs_whatsapp_phone_number: P1 });
    const api = sdk().batchApi;
    const res = await api.update({
      inputs: [
        {
          id: a,
          properties: { whatsapp_opted_out: 'true', whatsapp_consent_source: '' },
          objectWriteTraceId: 'k1',
        },
      ],
    });
    expect(res.results[0]).toMatchObject({ id: a, objectWriteTraceId: 'k1' });
    expect('errors' in res ? res.errors : undefined).toBeUndefined();
    expect(hs.getContact(a)?.whatsapp_opted_out).toBe('true');
    expect(hs.pendingWebhooks()).toEqual([
      expect.objectContaining({
        subscriptionType: 'contact.propertyChange',
        objectId: Number(a),
        propertyName: 'whatsapp_opted_out',
        propertyValue: 'true',
        changeSource: 'API',
        attemptNumber: 0,
      }),
    ]);
    await api.update({ inputs: [{ id: a, properties: { whatsapp_opted_out: 'true' } }] });
    expect(hs.pendingWebhooks()).toHaveLength(1);
    // An empty string clears the value.
    await api.update({ inputs: [{ id: a, properties: { whatsapp_opted_out: '' } }] });
    expect(hs.getContact(a)).not.toHaveProperty('whatsapp_opted_out');
  });

  it('batch/update gives 207 for a missing id and a failing record, applying the rest', async () => {
    const a = hs.addContact({ hs_whatsapp_phone_number: P1 });
    const b = hs.addContact({ hs_whatsapp_phone_number: P2 });
    hs.failRecord(b, 1);
    const props = { whatsapp_marketing_consent: 'granted' };
    const res = await sdk().batchApi.update({
      inputs: [
        { id: a, properties: props, objectWriteTraceId: 'ka' },
        { id: '12345', properties: props, objectWriteTraceId: 'kx' },
        { id: b, properties: props, objectWriteTraceId: 'kb' },
      ],
    });
    expect(res.results.map((r) => r.id)).toEqual([a]);
    const errors = 'errors' in res ? (res.errors ?? []) : [];
    expect(errors).toEqual([
      expect.objectContaining({ category: 'OBJECT_NOT_FOUND', context: { ids: ['12345'] } }),
      expect.objectContaining({
        category: 'VALIDATION_ERROR',
        context: { ids: [b], objectWriteTraceId: ['kb'] },
      }),
    ]);
    expect('numErrors' in res && res.numErrors).toBe(2);
    expect(hs.getContact(b)?.whatsapp_marketing_consent).toBeUndefined();
    // failRecord(b, 1): the next write passes.
    const again = await sdk().batchApi.update({ inputs: [{ id: b, properties: props }] });
    expect(again.results.map((r) => r.id)).toEqual([b]);
  });

  it('batch/update rejects the whole batch with 400 for unknown, read-only or invalid values and oversize batches', async () => {
    const a = hs.addContact({ hs_whatsapp_phone_number: P1 });
    const api = sdk().batchApi;
    const unknown = await thrown(api.update({ inputs: [{ id: a, properties: { no_such_property: 'x' } }] }));
    expect(unknown.code).toBe(400);
    expect(unknown.body).toMatchObject({
      category: 'VALIDATION_ERROR',
      errors: [{ code: 'PROPERTY_DOESNT_EXIST', context: { propertyName: ['no_such_property'] } }],
    });
    const readOnly = await thrown(api.update({ inputs: [{ id: a, properties: { hs_object_id: '1' } }] }));
    expect(readOnly.body.errors?.[0]?.code).toBe('READ_ONLY_VALUE');
    const badBool = await thrown(
      api.update({ inputs: [{ id: a, properties: { whatsapp_opted_out: 'yes' } }] }),
    );
    expect(badBool.body.errors?.[0]?.code).toBe('INVALID_OPTION');
    const badOption = await thrown(
      api.update({ inputs: [{ id: a, properties: { whatsapp_marketing_consent: 'true' } }] }),
    );
    expect(badOption.body.message).toContain('[not_set, pending, granted, withdrawn]');
    const inputs = Array.from({ length: 101 }, (_, i) => ({ id: String(i + 1), properties: { email: 'x' } }));
    expect((await thrown(api.update({ inputs }))).code).toBe(400);
    const dup = await thrown(
      api.update({
        inputs: [
          { id: a, properties: {} },
          { id: a, properties: {} },
        ],
      }),
    );
    expect(dup.body.message).toContain('Duplicate IDs');
    const notString = await post('/crm/v3/objects/contacts/batch/update', {
      inputs: [{ id: a, properties: { whatsapp_opted_out: true } }],
    });
    expect(notString.status).toBe(400);
    expect(hs.getContact(a)?.whatsapp_opted_out).toBeUndefined();
    expect(hs.pendingWebhooks()).toEqual([]);
  });

  it('reads one contact, GDPR-deletes it (204, privacyDeletion + deletion) and answers 404 afterwards', async () => {
    const a = hs.addContact({ hs_whatsapp_phone_number: P1, firstname: 'Example' });
    const api = sdk().basicApi;
    const one = await api.getById(a, ['hs_whatsapp_phone_number']);
    expect(one.properties.hs_whatsapp_phone_number).toBe(P1);
    await api.purge({ objectId: a });
    expect(hs.getContact(a)).toBeNull();
    expect(hs.pendingWebhooks().map((e) => e.subscriptionType)).toEqual([
      'contact.privacyDeletion',
      'contact.deletion',
    ]);
    expect((await thrown(api.purge({ objectId: a }))).code).toBe(404);
    expect((await thrown(api.getById(a))).code).toBe(404);
  });

  it('lists and creates contact properties', async () => {
    const client = new Client({ accessToken: TOKEN, basePath: hs.url });
    const list = await client.crm.properties.coreApi.getAll('contacts');
    expect(list.results.map((p) => p.name)).toContain('whatsapp_opted_out');
    expect(list.results.find((p) => p.name === 'whatsapp_opted_out')?.type).toBe('bool');
    expect(list.results.find((p) => p.name === 'whatsapp_marketing_consent')).toMatchObject({
      type: 'enumeration',
      options: [{ value: 'not_set' }, { value: 'pending' }, { value: 'granted' }, { value: 'withdrawn' }],
    });
    const res = await post('/crm/v3/properties/contacts', {
      name: 'whatsapp_last_keyword',
      label: 'WhatsApp last keyword',
      type: 'string',
      fieldType: 'text',
      groupName: 'whatsapp_consent',
    });
    expect(res.status).toBe(201);
    const again = await post('/crm/v3/properties/contacts', {
      name: 'whatsapp_last_keyword',
      label: 'x',
      type: 'string',
      fieldType: 'text',
      groupName: 'x',
    });
    expect(again.status).toBe(409);
    const a = hs.addContact({ whatsapp_last_keyword: 'STOP' });
    expect(hs.getContact(a)?.whatsapp_last_keyword).toBe('STOP');
  });
});

describe('HubSpot simulator: rate limit and faults', () => {
  it('answers 429 TEN_SECONDLY_ROLLING with Retry-After once the rolling window is full', async () => {
    const small = await startHubSpotSimulator({ accessToken: TOKEN, requestsPerWindow: 3, windowMs: 1_500 });
    try {
      const api = new Client({ accessToken: TOKEN, basePath: small.url }).crm.contacts.searchApi;
      const ok = await api.doSearchWithHttpInfo({ filterGroups: [] });
      expect(ok.headers).toMatchObject({
        'x-hubspot-ratelimit-max': '3',
        'x-hubspot-ratelimit-remaining': '2',
        'x-hubspot-ratelimit-interval-milliseconds': '1500',
      });
      await api.doSearch({ filterGroups: [] });
      await api.doSearch({ filterGroups: [] });
      const err = await thrown(api.doSearch({ filterGroups: [] }));
      expect(err.code).toBe(429);
      expect(err.body).toMatchObject({
        status: 'error',
        message: 'You have reached your ten_secondly_rolling limit.',
        errorType: 'RATE_LIMIT',
        policyName: 'TEN_SECONDLY_ROLLING',
        correlationId: expect.any(String),
      });
      expect(err.headers['retry-after']).toMatch(/^[12]$/);
      expect(err.headers['x-hubspot-ratelimit-remaining']).toBe('0');
      expect(small.stats()).toMatchObject({ calls: 4, rateLimited: 1 });
    } finally {
      await small.close();
    }
  });

  it('injects daily 429s, 500s, HTML 502s, dropped sockets and hangs', async () => {
    const api = sdk().searchApi;
    hs.failNext(1, 'daily');
    hs.failNext(1, '500');
    hs.failNext(1, '502');
    const daily = await thrown(api.doSearch({ filterGroups: [] }));
    expect(daily.code).toBe(429);
    expect(daily.body.policyName).toBe('DAILY');
    expect(daily.headers['retry-after']).toBeUndefined();
    expect((await thrown(api.doSearch({ filterGroups: [] }))).code).toBe(500);
    const gateway = await thrown(api.doSearch({ filterGroups: [] }));
    expect(gateway.code).toBe(502);
    expect(typeof gateway.body).toBe('string');
    hs.failNext(1, 'network');
    const dropped = (await thrown(api.doSearch({ filterGroups: [] }))) as unknown as Error;
    expect(dropped.name).toBe('FetchError');
    hs.failNext(1, 'hang');
    const hung = await fetch(`${hs.url}/crm/v3/objects/contacts/search`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: '{}',
      signal: AbortSignal.timeout(150),
    }).then(
      () => 'answered',
      (e: Error) => e.name,
    );
    expect(hung).toBe('TimeoutError');
    expect(hs.stats()).toMatchObject({ faults: 5, rateLimited: 1 });
    expect((await api.doSearch({ filterGroups: [] })).total).toBe(0);
  });

  it('applies latency', async () => {
    hs.setLatency(80);
    const started = Date.now();
    await sdk().searchApi.doSearch({ filterGroups: [] });
    expect(Date.now() - started).toBeGreaterThanOrEqual(75);
  });
});

describe('HubSpot simulator: webhooks', () => {
  it('signs v3 like the SDK and v1 as well', () => {
    const req = hubspotWebhookRequest({
      url: receiverUrl,
      secret: SECRET,
      events: [],
      now: 1_708_986_599_647,
    });
    const timestamp = Number(req.headers.get('x-hubspot-request-timestamp'));
    expect(timestamp).toBe(1_708_986_599_647);
    // One clock reading for both sides: two Date.now() calls may fall in different milliseconds.
    const at = Date.now();
    expect(
      Signature.isValid({
        signatureVersion: 'v3',
        method: 'POST',
        clientSecret: SECRET,
        requestBody: req.rawBody,
        url: receiverUrl,
        timestamp: at,
        signature: signHubSpotV3({
          method: 'POST',
          url: receiverUrl,
          body: req.rawBody,
          timestamp: at,
          secret: SECRET,
        }),
      }),
    ).toBe(true);
    expect(
      Signature.getSignature('POST', 'v3', {
        signature: '',
        clientSecret: SECRET,
        requestBody: '[]',
        url: receiverUrl,
        timestamp,
      }),
    ).toBe(req.headers.get('x-hubspot-signature-v3'));
    expect(
      Signature.isValid({
        signatureVersion: 'v1',
        clientSecret: SECRET,
        requestBody: '[]',
        signature: req.headers.get('x-hubspot-signature') ?? '',
      }),
    ).toBe(true);
    expect(req.headers.get('x-hubspot-signature-version')).toBe('v1');
  });

  it('delivers UI edits and API echoes as signed JSON arrays of up to 100 events', async () => {
    const a = hs.addContact({ hs_whatsapp_phone_number: P1 });
    hs.updateFromUi(a, { whatsapp_opted_out: 'true' }, 1_708_986_598_741);
    for (let i = 0; i < 120; i++) hs.updateFromUi(a, { whatsapp_consent_text_version: `v${i}` });
    expect(hs.pendingWebhooks()).toHaveLength(121);
    expect(await hs.flushWebhooks()).toEqual([200, 200]);
    expect(hs.pendingWebhooks()).toEqual([]);
    expect(received).toHaveLength(2);
    const first = received[0] as Received;
    const events = JSON.parse(first.body) as HubSpotWebhookEvent[];
    expect(events).toHaveLength(100);
    expect(JSON.parse((received[1] as Received).body)).toHaveLength(21);
    expect(events[0]).toEqual({
      eventId: expect.any(Number),
      subscriptionId: expect.any(Number),
      portalId: hs.portalId,
      appId: hs.appId,
      occurredAt: 1_708_986_598_741,
      subscriptionType: 'contact.propertyChange',
      attemptNumber: 0,
      objectId: Number(a),
      propertyName: 'whatsapp_opted_out',
      propertyValue: 'true',
      changeSource: 'CRM_UI',
      sourceId: 'userId:45678',
    });
    expect(first.url).toBe(receiverUrl);
    expect(first.headers['content-type']).toBe('application/json');
    expect(first.headers['x-hubspot-signature-v3']).toBe(
      signHubSpotV3({
        method: 'POST',
        url: receiverUrl,
        body: first.body,
        timestamp: first.headers['x-hubspot-request-timestamp'] as string,
        secret: SECRET,
      }),
    );
  });

  it('queues a failed delivery again with attemptNumber + 1', async () => {
    const a = hs.addContact({ hs_whatsapp_phone_number: P1 });
    hs.gdprDeleteFromUi(a);
    receiverStatus = 503;
    expect(await hs.flushWebhooks()).toEqual([503]);
    expect(hs.pendingWebhooks().map((e) => e.attemptNumber)).toEqual([1, 1]);
    receiverStatus = 200;
    expect(await hs.flushWebhooks()).toEqual([200]);
    expect(hs.deliveries.map((d) => d.status)).toEqual([503, 200]);
    // Lost webhooks: the queue is live.
    hs.updateFromUi(hs.addContact({}), { whatsapp_opted_out: 'true' });
    hs.pendingWebhooks().length = 0;
    expect(await hs.flushWebhooks()).toEqual([]);
  });

  it('speaks the generic (object.*) and legacy (eventType) dialects when asked', async () => {
    for (const dialect of ['generic', 'legacy'] as const) {
      const sim = await startHubSpotSimulator({
        accessToken: TOKEN,
        clientSecret: SECRET,
        webhookUrl: receiverUrl,
        webhookDialect: dialect,
      });
      try {
        received = [];
        const a = sim.addContact({ hs_whatsapp_phone_number: P1 });
        sim.updateFromUi(a, { whatsapp_opted_out: 'true' });
        sim.gdprDeleteFromUi(a);
        expect(await sim.flushWebhooks()).toEqual([200]);
        const events = JSON.parse((received[0] as Received).body) as Array<Record<string, unknown>>;
        const types = events.map((e) => [e.subscriptionType, e.eventType, e.objectTypeId]);
        expect(types).toEqual(
          dialect === 'generic'
            ? [
                ['object.propertyChange', undefined, '0-1'],
                // A privacy deletion has no generic form (docs/crm-webhook-facts.md).
                ['contact.privacyDeletion', undefined, undefined],
                ['object.deletion', undefined, '0-1'],
              ]
            : [
                [undefined, 'contact.propertyChange', undefined],
                [undefined, 'contact.privacyDeletion', undefined],
                [undefined, 'contact.deletion', undefined],
              ],
        );
        expect(events[0]).toMatchObject({ objectId: Number(a), propertyName: 'whatsapp_opted_out' });
      } finally {
        await sim.close();
      }
    }
    const e = makeHubSpotEvent({ subscriptionType: 'contact.propertyChange', objectId: 512 });
    expect(inDialect(e, 'classic')).toEqual(e);
    expect(inDialect({ ...e, subscriptionType: 'company.deletion' }, 'generic')).toMatchObject({
      subscriptionType: 'company.deletion',
    });
  });

  it('builds events with HubSpot field names', () => {
    const e = makeHubSpotEvent({ subscriptionType: 'contact.deletion', objectId: 512 });
    expect(Object.keys(e).sort()).toEqual(
      [
        'appId',
        'attemptNumber',
        'eventId',
        'objectId',
        'occurredAt',
        'portalId',
        'subscriptionId',
        'subscriptionType',
      ].sort(),
    );
  });
});
