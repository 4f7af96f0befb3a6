/**
 * The HubSpot connector against the simulator through the real SDK: the shared contract, then what
 * is HubSpot's own (207s, whole-batch 400s, DAILY limits, the rate-limit window, gdpr-delete).
 */
import { Client } from '@hubspot/api-client';
import { afterEach, describe, expect, it } from 'vitest';
import { type ConnectorFixture, connectorContract, HUBSPOT_SPEC } from '../../test/connector-contract.ts';
import {
  contractWebhook,
  type HubSpotSimulator,
  hubspotWebhookRequest,
  startHubSpotSimulator,
} from '../../test/sim/hubspot.ts';
import { ConnectorFailure, type RemoteValue } from '../types.ts';
import { createHubSpotConnector, type HubSpotConnectorOptions } from './index.ts';

const TOKEN = 'sim-token';
const SECRET = 'sim-client-secret';
const WEBHOOK_URL = 'https://consent.example.com/webhooks/hubspot?portal=12345678';
const P1 = '+447700900001'; // example number (UK drama range)
const P2 = '+447700900002'; // example number (UK drama range)
/** Example numbers +447700900100 … +447700900999 (UK drama range). */
const examplePhone = (i: number) => `${P1.slice(0, 10)}${String(100 + i)}`;
const FAST = { minBackoffMs: 5, maxWaitMs: 2_000, timeoutMs: 1_000 } as const;

const strings = (props: Record<string, RemoteValue>) =>
  Object.fromEntries(Object.entries(props).map(([k, v]) => [k, v === null ? '' : String(v)]));

async function setup(
  sim: Partial<Parameters<typeof startHubSpotSimulator>[0]> = {},
  conn: Partial<HubSpotConnectorOptions> = {},
) {
  const hs = await startHubSpotSimulator({
    accessToken: TOKEN,
    clientSecret: SECRET,
    faultRetryAfterSeconds: 1,
    ...sim,
  });
  const connector = createHubSpotConnector({
    accessToken: TOKEN,
    clientSecret: SECRET,
    baseUrl: hs.url,
    ...FAST,
    ...conn,
  });
  return { hs, connector };
}

connectorContract('hubspot', async (): Promise<ConnectorFixture> => {
  const { hs, connector } = await setup();
  return {
    connector,
    spec: HUBSPOT_SPEC,
    seed: async (_type, matchValue, properties) => ({
      objectType: 'contact',
      id: hs.addContact({ hs_whatsapp_phone_number: matchValue, ...strings(properties) }),
    }),
    remote: (ref) => hs.getContact(ref.id),
    writable: { property: 'whatsapp_opted_out', value: 'true', other: 'false' },
    secretProperty: 'firstname',
    unknownProperty: 'no_such_property',
    webhook: contractWebhook(WEBHOOK_URL, SECRET),
    forge: (req) => ({ ...req, rawBody: req.rawBody.replace('"attemptNumber":0', '"attemptNumber":1') }),
    failNext: (n, kind) => hs.failNext(n, kind === 'rate_limit' ? '429' : '500'),
    calls: () => hs.calls(),
    close: () => hs.close(),
  };
});

describe('HubSpot connector', () => {
  let hs: HubSpotSimulator | undefined;
  afterEach(async () => {
    await hs?.close();
    hs = undefined;
  });

  it('searches with IN on the match field, asks only for whitelisted properties and pages past 200', async () => {
    const env = await setup();
    hs = env.hs;
    for (let i = 0; i < 205; i++) hs.addContact({ hs_whatsapp_phone_number: P1, firstname: 'Example' });
    hs.addContact({ hs_whatsapp_phone_number: P2 });
    const found = await env.connector.find([P1, P1, ''], HUBSPOT_SPEC);
    expect(found).toHaveLength(205);
    expect(hs.calls()).toBe(2);
    const first = hs.requests[0]?.body as Record<string, unknown>;
    expect(first).toEqual({
      filterGroups: [{ filters: [{ propertyName: HUBSPOT_SPEC.matchField, operator: 'IN', values: [P1] }] }],
      properties: [HUBSPOT_SPEC.matchField, HUBSPOT_SPEC.bsuidField, ...HUBSPOT_SPEC.properties],
      limit: 200,
    });
    expect(hs.requests[1]?.body).toMatchObject({ after: '200' });
    for (const r of found) {
      expect(r).toMatchObject({ objectType: 'contact', matchValue: P1 });
      // HubSpot adds hs_object_id, createdate and lastmodifieddate: they are dropped too.
      expect(Object.keys(r.properties).sort()).toEqual([...HUBSPOT_SPEC.properties].sort());
    }
  });

  it('writes strings (booleans, numbers, null as "") with objectWriteTraceId = key', async () => {
    const env = await setup();
    hs = env.hs;
    const a = hs.addContact({ hs_whatsapp_phone_number: P1, whatsapp_consent_source: 'import' });
    const out = await env.connector.write([
      {
        objectType: 'contact',
        id: a,
        key: 'job-1:contact:a',
        properties: {
          whatsapp_opted_out: true,
          whatsapp_consent_text_version: 3,
          whatsapp_consent_source: null,
        },
      },
    ]);
    expect(out).toEqual([{ ok: true }]);
    expect(hs.requests[0]?.body).toEqual({
      inputs: [
        {
          id: a,
          objectWriteTraceId: 'job-1:contact:a',
          properties: {
            whatsapp_opted_out: 'true',
            whatsapp_consent_text_version: '3',
            whatsapp_consent_source: '',
          },
        },
      ],
    });
    expect(hs.getContact(a)).toMatchObject({
      whatsapp_opted_out: 'true',
      whatsapp_consent_text_version: '3',
    });
    expect(hs.getContact(a)).not.toHaveProperty('whatsapp_consent_source');
    // The echoes the sync layer has to recognise.
    expect(hs.pendingWebhooks().map((e) => [e.propertyName, e.propertyValue, e.changeSource])).toEqual([
      ['whatsapp_opted_out', 'true', 'API'],
      ['whatsapp_consent_text_version', '3', 'API'],
      ['whatsapp_consent_source', '', 'API'],
    ]);
  });

  it('fails one record of a 207 alone (RECORD_REJECTED) and reports unknown ids as NOT_FOUND', async () => {
    const env = await setup();
    hs = env.hs;
    const a = hs.addContact({ hs_whatsapp_phone_number: P1 });
    const b = hs.addContact({ hs_whatsapp_phone_number: P2 });
    hs.failRecord(b);
    const props = { whatsapp_marketing_consent: 'granted' };
    const out = await env.connector.write([
      { objectType: 'contact', id: a, key: 'k-a', properties: props },
      { objectType: 'contact', id: b, key: 'k-b', properties: props },
      { objectType: 'contact', id: '1', key: 'k-1', properties: props },
      { objectType: 'Lead', id: '2', key: 'k-2', properties: props },
      {
        objectType: 'contact',
        id: a,
        key: 'k-nan',
        properties: { whatsapp_consent_text_version: Number.NaN },
      },
    ]);
    expect(out[0]).toEqual({ ok: true });
    expect(out[1]).toMatchObject({
      ok: false,
      error: { code: 'RECORD_REJECTED', retryable: false, vendorCode: 'VALIDATION_ERROR', status: 207 },
    });
    expect(out[2]).toMatchObject({ ok: false, error: { code: 'NOT_FOUND', retryable: false } });
    expect(out[3]).toMatchObject({ ok: false, error: { code: 'UNSUPPORTED_OBJECT_TYPE', retryable: false } });
    expect(out[4]).toMatchObject({ ok: false, error: { code: 'INVALID_VALUE', retryable: false } });
    expect(hs.calls()).toBe(1);
  });

  it('fails a whole batch rejected with 400 without retrying and without quoting values', async () => {
    const env = await setup();
    hs = env.hs;
    const a = hs.addContact({ hs_whatsapp_phone_number: P1 });
    const err = await env.connector
      .write([{ objectType: 'contact', id: a, key: 'k', properties: { whatsapp_opted_out: P2 } }])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectorFailure);
    const { error } = err as ConnectorFailure;
    expect(error).toMatchObject({
      code: 'INVALID_REQUEST',
      retryable: false,
      status: 400,
      vendorCode: 'VALIDATION_ERROR',
    });
    expect(error.message).toContain('INVALID_OPTION whatsapp_opted_out');
    // HubSpot's own message quotes the value; ours must not.
    expect(hs.calls()).toBe(1);
    expect(`${error.message} ${(err as Error).message}`).not.toContain(P2);
  });

  it('writes one record twice in order, in two batches', async () => {
    const env = await setup();
    hs = env.hs;
    const a = hs.addContact({ hs_whatsapp_phone_number: P1 });
    const out = await env.connector.write([
      { objectType: 'contact', id: a, key: 'k1', properties: { whatsapp_consent_source: 'first' } },
      { objectType: 'contact', id: a, key: 'k2', properties: { whatsapp_consent_source: 'second' } },
    ]);
    expect(out).toEqual([{ ok: true }, { ok: true }]);
    expect(hs.calls()).toBe(2);
    expect(hs.getContact(a)?.whatsapp_consent_source).toBe('second');
  });

  it('reads by id in batches of 100, leaving out missing ids', async () => {
    const env = await setup();
    hs = env.hs;
    const ids = Array.from(
      { length: 150 },
      (_, i) =>
        hs?.addContact({
          hs_whatsapp_phone_number: examplePhone(i),
          whatsapp_opted_out: 'false',
        }) as string,
    );
    const refs = [...ids, '77'].map((id) => ({ objectType: 'contact', id }));
    const read = await env.connector.read(refs, HUBSPOT_SPEC);
    expect(read.map((r) => r.id)).toEqual(ids);
    expect(read[0]?.properties).toEqual({
      whatsapp_opted_out: 'false',
      whatsapp_marketing_consent: null,
      whatsapp_consent_source: null,
    });
    expect(hs.calls()).toBe(2);
  });

  it('hands a DAILY limit straight back with a long retryAfterMs', async () => {
    const env = await setup();
    hs = env.hs;
    hs.failNext(1, 'daily');
    const err = (await env.connector.find([P1], HUBSPOT_SPEC).catch((e: unknown) => e)) as ConnectorFailure;
    expect(err).toBeInstanceOf(ConnectorFailure);
    expect(err.error).toMatchObject({
      code: 'RATE_LIMITED',
      retryable: true,
      vendorCode: 'DAILY',
      status: 429,
    });
    expect(err.error.retryAfterMs).toBeGreaterThan(60_000);
    expect(err.error.retryAfterMs).toBeLessThanOrEqual(3_660_000);
    expect(hs.calls()).toBe(1);
  });

  it('retries HTML 502s, dropped sockets and hung requests', async () => {
    const env = await setup({}, { timeoutMs: 200, attempts: 5 });
    hs = env.hs;
    const a = hs.addContact({ hs_whatsapp_phone_number: P1 });
    hs.failNext(1, '502');
    hs.failNext(1, 'network');
    hs.failNext(1, 'hang');
    const found = await env.connector.find([P1], HUBSPOT_SPEC);
    expect(found.map((r) => r.id)).toEqual([a]);
    expect(hs.calls()).toBe(4);
    expect(env.connector.budget.stats().failures).toEqual({ SERVER_ERROR: 1, NETWORK: 2 });
  });

  it('does not retry a rejected token', async () => {
    hs = await startHubSpotSimulator({ accessToken: TOKEN });
    const connector = createHubSpotConnector({
      accessToken: 'wrong',
      clientSecret: null,
      baseUrl: hs.url,
      ...FAST,
    });
    const err = (await connector.find([P1], HUBSPOT_SPEC).catch((e: unknown) => e)) as ConnectorFailure;
    expect(err.error).toMatchObject({ code: 'UNAUTHORIZED', retryable: false, status: 401 });
    expect(hs.calls()).toBe(1);
  });

  it('keeps the SDK retries off even when another Client turns them on later', async () => {
    const env = await setup({}, { attempts: 1 });
    hs = env.hs;
    new Client({ accessToken: TOKEN, basePath: hs.url, numberOfApiCallRetries: 3 });
    hs.failNext(1, '500');
    await expect(env.connector.find([P1], HUBSPOT_SPEC)).rejects.toBeInstanceOf(ConnectorFailure);
    expect(hs.calls()).toBe(1);
  });

  it('erases with gdpr-delete: done, not_found, or failed after retries', async () => {
    const env = await setup({}, { attempts: 2 });
    hs = env.hs;
    const a = hs.addContact({ hs_whatsapp_phone_number: P1 });
    const b = hs.addContact({ hs_whatsapp_phone_number: P2 });
    expect(
      await env.connector.erase([
        { objectType: 'contact', id: a },
        { objectType: 'contact', id: '5' },
      ]),
    ).toEqual([{ status: 'done' }, { status: 'not_found' }]);
    expect(hs.requests.map((r) => r.body)).toEqual([{ objectId: a }, { objectId: '5' }]);
    expect(hs.pendingWebhooks().map((e) => e.subscriptionType)).toEqual([
      'contact.privacyDeletion',
      'contact.deletion',
    ]);
    hs.failNext(2, '500');
    const [failed] = await env.connector.erase([{ objectType: 'contact', id: b }]);
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'SERVER_ERROR', retryable: true } });
    expect(hs.getContact(b)).not.toBeNull();
  });

  it('verifies and parses what the simulator delivers', async () => {
    const env = await setup();
    hs = env.hs;
    const a = hs.addContact({ hs_whatsapp_phone_number: P1 });
    hs.updateFromUi(a, { whatsapp_opted_out: 'true', firstname: 'Example' });
    const events = hs.pendingWebhooks();
    const req = hubspotWebhookRequest({ url: WEBHOOK_URL, secret: SECRET, events });
    expect(await env.connector.verifyWebhook(req)).toEqual({ ok: true });
    const parsed = env.connector.parseWebhook(req, HUBSPOT_SPEC);
    expect(parsed).toMatchObject({
      ok: true,
      changes: [
        {
          type: 'property_change',
          ref: { objectType: 'contact', id: a },
          properties: { whatsapp_opted_out: 'true' },
          changeSource: 'CRM_UI',
          matchValue: null,
        },
      ],
      ack: { status: 200 },
    });
  });
});

describe('HubSpot connector: rate-limit window', () => {
  let hs: HubSpotSimulator | undefined;
  afterEach(async () => {
    await hs?.close();
    hs = undefined;
  });

  it('gets through a 429 storm with every write applied', async () => {
    // The connector believes in 100 per window; the simulator allows 8 per second.
    const env = await setup({ requestsPerWindow: 8, windowMs: 1_000 }, { attempts: 6, concurrency: 6 });
    hs = env.hs;
    const ids = Array.from({ length: 14 }, () => hs?.addContact({ hs_whatsapp_phone_number: P1 }) as string);
    const outcomes = await Promise.all(
      ids.map((id, i) =>
        env.connector.write([
          { objectType: 'contact', id, key: `k${i}`, properties: { whatsapp_consent_source: `s${i}` } },
        ]),
      ),
    );
    expect(outcomes.flat()).toEqual(ids.map(() => ({ ok: true })));
    ids.forEach((id, i) => {
      expect(hs?.getContact(id)?.whatsapp_consent_source).toBe(`s${i}`);
    });
    expect(hs.stats().rateLimited).toBeGreaterThan(0);
    expect(env.connector.budget.stats().failures.RATE_LIMITED).toBe(hs.stats().rateLimited);
  });

  it('never exceeds the window when its budget matches the simulator', async () => {
    const window = { requestsPerWindow: 10, windowMs: 400 };
    const env = await setup(window, { ...window, concurrency: 4 });
    hs = env.hs;
    hs.addContact({ hs_whatsapp_phone_number: P1 });
    const started = Date.now();
    // One call first, as in a running process: opening the first connections can take longer than
    // the budget's margin of a test-sized window (10 %, 40 ms here); kept-alive ones do not.
    await env.connector.find([P1], HUBSPOT_SPEC);
    const results = await Promise.all(
      Array.from({ length: 24 }, () => env.connector.find([P1], HUBSPOT_SPEC)),
    );
    expect(results.every((r) => r.length === 1)).toBe(true);
    expect(hs.stats()).toMatchObject({ calls: 25, rateLimited: 0 });
    // 25 calls at 10 per window need two further windows.
    expect(Date.now() - started).toBeGreaterThanOrEqual(800);
  });
});
