/**
 * The Salesforce connector against the simulator (test/sim/salesforce.ts) through real jsforce:
 * the shared contract, then what is particular to Salesforce.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type ConnectorFixture, connectorContract, SALESFORCE_SPEC } from '../../test/connector-contract.ts';
import {
  contractFlowWebhook,
  type SalesforceSimOptions,
  type SalesforceSimulator,
  startSalesforceSimulator,
  toId18,
} from '../../test/sim/salesforce.ts';
import { ConnectorFailure, type InboundChange, type WebhookRequest } from '../types.ts';
import { createSalesforceConnector, type SalesforceConnectorOptions } from './index.ts';

const CLIENT = { clientId: 'sim-client', clientSecret: 'sim-secret' };
const ORG = '00D5e000000KQ2eEAG';
const OTHER_ORG = '00D5e000000XY9zEAC';
const SECRET = 'flow-secret-for-tests';
const PHONE_1 = '+447700900001'; // example number (UK drama range)
const PHONE_2 = '+447700900002'; // example number (UK drama range)

type Overrides = Partial<SalesforceConnectorOptions>;

async function setup(simOpts: Partial<SalesforceSimOptions> = {}, overrides: Overrides = {}) {
  const sim = await startSalesforceSimulator({ ...CLIENT, orgId: ORG, ...simOpts });
  const connector = createSalesforceConnector({
    loginUrl: sim.url,
    ...CLIENT,
    apiVersion: '62.0',
    orgId: ORG,
    webhookSecret: SECRET,
    requestsPerWindow: 1_000,
    minBackoffMs: 5,
    maxWaitMs: 2_000,
    rateLimitWaitMs: 10,
    ...overrides,
  });
  return { sim, connector };
}

function soapRequest(rawBody: string, now = Date.now()): WebhookRequest {
  return {
    method: 'POST',
    url: 'https://consent-sync.example/webhooks/salesforce',
    headers: new Headers({ 'content-type': 'text/xml; charset=utf-8', soapaction: '""' }),
    rawBody,
    now,
  };
}

async function makeFixture(): Promise<ConnectorFixture> {
  const { sim, connector } = await setup();
  return {
    connector,
    spec: SALESFORCE_SPEC,
    seed: async (objectType, matchValue, properties) => ({
      objectType,
      id: sim.add(objectType, { ...properties, MobilePhone: matchValue }),
    }),
    remote: (ref) => sim.get(ref.objectType, ref.id),
    writable: { property: 'WhatsApp_Opted_Out__c', value: true, other: false },
    secretProperty: 'LastName',
    unknownProperty: 'Shoe_Size__c',
    ...contractFlowWebhook('https://consent-sync.example/webhooks/salesforce', SECRET),
    failNext: (n, kind) => sim.failNext(n, kind === 'rate_limit' ? 'limit' : '500'),
    calls: () => sim.calls(),
    close: () => sim.close(),
    native: {
      add: async (type, fields) => sim.add(type, fields),
      get: async (type, id) => sim.get(type, id),
    },
  };
}

connectorContract('salesforce', makeFixture, { native: true });

describe('Salesforce connector', () => {
  let sim: SalesforceSimulator;
  let connector: ReturnType<typeof createSalesforceConnector>;
  const closers: Array<() => Promise<void>> = [];

  async function start(simOpts: Partial<SalesforceSimOptions> = {}, overrides: Overrides = {}) {
    ({ sim, connector } = await setup(simOpts, overrides));
    const s = sim;
    closers.push(() => s.close());
  }

  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  const queries = () =>
    sim.requests
      .filter((r) => r.path.includes('/query?q='))
      .map((r) => new URL(r.path, 'http://x').searchParams.get('q') ?? '');

  describe('find and read', () => {
    it('escapes quotes and backslashes in SOQL values instead of rejecting them', async () => {
      await start();
      const odd = "it's \\ an example";
      const id = sim.add('Contact', { MobilePhone: odd });
      const found = await connector.find([odd, "' OR Id != '", PHONE_1], {
        ...SALESFORCE_SPEC,
        objectTypes: ['Contact'],
      });
      expect(found.map((r) => r.id)).toEqual([id]);
      expect(found[0]?.matchValue).toBe(odd);
      expect(queries()[0]).toBe(
        `SELECT Id, MobilePhone, WhatsApp_Marketing_Consent__c, WhatsApp_Marketing_Consent_Date__c, WhatsApp_Opted_Out__c, WhatsApp_Consent_Source__c, WhatsApp_BSUID__c FROM Contact WHERE MobilePhone IN ('it\\'s \\\\ an example', '\\' OR Id != \\'', '${PHONE_1}')`,
      );
    });

    it('asks nothing for no values and de-duplicates values', async () => {
      await start();
      expect(await connector.find([], SALESFORCE_SPEC)).toEqual([]);
      expect(sim.stats().tokenRequests).toBe(0);
      sim.add('Lead', { MobilePhone: PHONE_1 });
      expect(await connector.find([PHONE_1, PHONE_1], SALESFORCE_SPEC)).toHaveLength(1);
      expect(queries().every((q) => q.split(PHONE_1).length === 2)).toBe(true);
    });

    it('follows nextRecordsUrl past 2000 records', async () => {
      await start();
      for (let i = 0; i < 2_010; i++) sim.add('Lead', { MobilePhone: PHONE_2 });
      const found = await connector.find([PHONE_2], SALESFORCE_SPEC);
      expect(found).toHaveLength(2_010);
      expect(sim.requests.filter((r) => r.path.includes('/query/')).length).toBe(1);
    });

    it('leaves out a whitelisted field one object type lacks, and remembers it', async () => {
      const contact = [
        'MobilePhone',
        'LastName',
        'WhatsApp_Opted_Out__c',
        'WhatsApp_Marketing_Consent__c',
        'WhatsApp_Marketing_Consent_Date__c',
        'WhatsApp_Consent_Source__c',
      ];
      await start({
        fields: { Contact: contact, Lead: ['MobilePhone', 'LastName', 'WhatsApp_Opted_Out__c'] },
      });
      sim.add('Contact', { MobilePhone: PHONE_1, WhatsApp_Consent_Source__c: 'web' });
      sim.add('Lead', { MobilePhone: PHONE_1, WhatsApp_Opted_Out__c: true });
      // Three chunks per type run at once and all meet the missing field.
      const many = Array.from({ length: 2 * 200 + 1 }, (_, i) => `value-${i}`);
      const found = await connector.find([...many, PHONE_1], SALESFORCE_SPEC);
      const byType = Object.fromEntries(found.map((r) => [r.objectType, r.properties]));
      expect(byType.Contact).toMatchObject({ WhatsApp_Consent_Source__c: 'web' });
      expect(byType.Lead).toEqual({ WhatsApp_Opted_Out__c: true });
      const before = sim.calls();
      await connector.find([PHONE_1], SALESFORCE_SPEC);
      expect(sim.calls() - before).toBe(2); // no failing query again
      // The match field missing is a configuration error, not something to drop.
      const err = await connector
        .find([PHONE_1], { ...SALESFORCE_SPEC, objectTypes: ['Lead'], matchField: 'Phone' })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectorFailure);
      expect((err as ConnectorFailure).error).toMatchObject({
        code: 'INVALID_REQUEST',
        retryable: false,
        vendorCode: 'INVALID_FIELD',
      });
      expect((err as ConnectorFailure).message).not.toContain('+44');
    });

    it('reads by 15- or 18-character id and never puts a malformed id into SOQL', async () => {
      await start();
      const a = sim.add('Contact', { MobilePhone: PHONE_1, WhatsApp_Opted_Out__c: true });
      const l = sim.add('Lead', { MobilePhone: PHONE_2 });
      const read = await connector.read(
        [
          { objectType: 'Contact', id: a.slice(0, 15) },
          { objectType: 'Lead', id: l },
          { objectType: 'Contact', id: "x') OR Id != ('" },
          { objectType: 'Contact', id: a },
        ],
        SALESFORCE_SPEC,
      );
      expect(read.map((r) => r.id).sort()).toEqual([a, l].sort());
      expect(read.find((r) => r.id === a)).toEqual({
        objectType: 'Contact',
        id: a,
        matchValue: PHONE_1,
        bsuid: null,
        properties: {
          WhatsApp_Marketing_Consent__c: null,
          WhatsApp_Marketing_Consent_Date__c: null,
          WhatsApp_Opted_Out__c: true,
          WhatsApp_Consent_Source__c: null,
        },
      });
      expect(queries().join('\n')).not.toContain('OR Id');
    });
  });

  describe('session', () => {
    it('authenticates lazily, once, and re-authorises a single time when the token expires under concurrency', async () => {
      await start({}, { concurrency: 4 });
      expect(sim.stats().tokenRequests).toBe(0);
      sim.add('Contact', { MobilePhone: PHONE_1 });
      await Promise.all([
        connector.find([PHONE_1], SALESFORCE_SPEC),
        connector.find([PHONE_1], SALESFORCE_SPEC),
      ]);
      expect(sim.stats().tokenRequests).toBe(1);
      sim.expireTokens();
      const results = await Promise.all(
        Array.from({ length: 6 }, () => connector.find([PHONE_1], SALESFORCE_SPEC)),
      );
      expect(results.every((r) => r.length === 1)).toBe(true);
      expect(sim.stats().tokenRequests).toBe(2);
      expect(connector.tokenRequests()).toBe(2);
      expect(sim.stats().unauthorized).toBeGreaterThanOrEqual(1);
      expect(connector.apiUsage()).toEqual({ used: sim.stats().apiUsage, limit: 100_000 });
    });

    it('gives up with UNAUTHORIZED (not retryable) when a fresh token is refused too', async () => {
      await start();
      sim.expireTokens({ refuseNew: true });
      const err = await connector.find([PHONE_1], SALESFORCE_SPEC).catch((e: unknown) => e);
      expect((err as ConnectorFailure).error).toMatchObject({
        code: 'UNAUTHORIZED',
        retryable: false,
        status: 401,
      });
      expect(sim.stats().tokenRequests).toBe(2);
    });

    it('reports refused client credentials as AUTH_FAILED without the secret', async () => {
      await start({}, { clientSecret: 'wrong-secret' });
      const err = await connector.find([PHONE_1], SALESFORCE_SPEC).catch((e: unknown) => e);
      expect((err as ConnectorFailure).error).toMatchObject({
        code: 'AUTH_FAILED',
        retryable: false,
        vendorCode: 'invalid_client',
      });
      expect((err as ConnectorFailure).message).not.toContain('wrong-secret');
      expect(sim.stats().tokenRequests).toBe(1);
    });

    it('refuses a token issued for another org', async () => {
      await start({}, { orgId: OTHER_ORG });
      const err = await connector.find([PHONE_1], SALESFORCE_SPEC).catch((e: unknown) => e);
      expect((err as ConnectorFailure).error).toMatchObject({ code: 'ORG_MISMATCH', retryable: false });
      expect(sim.calls()).toBe(0);
    });
  });

  describe('write', () => {
    it('retries records Salesforce reports UNABLE_TO_LOCK_ROW, alone, until they go through', async () => {
      await start();
      const a = sim.add('Contact', { MobilePhone: PHONE_1 });
      const b = sim.add('Contact', { MobilePhone: PHONE_2 });
      sim.lockRecord(a, 2);
      const out = await connector.write([
        { objectType: 'Contact', id: a, key: 'k-a', properties: { WhatsApp_Opted_Out__c: true } },
        { objectType: 'Contact', id: b, key: 'k-b', properties: { WhatsApp_Opted_Out__c: true } },
      ]);
      expect(out).toEqual([{ ok: true }, { ok: true }]);
      const patches = sim.requests.filter((r) => r.method === 'PATCH');
      expect(patches.map((r) => (r.body as { records: unknown[] }).records.length)).toEqual([2, 1, 1]);
      expect(sim.get('Contact', a)?.WhatsApp_Opted_Out__c).toBe(true);
    });

    it('returns a record that stays locked as retryable LOCKED', async () => {
      await start({}, { attempts: 3 });
      const a = sim.add('Contact', {});
      sim.lockRecord(a, 10);
      const out = await connector.write([
        { objectType: 'Contact', id: a, key: 'k', properties: { Email: null } },
      ]);
      expect(out).toEqual([
        {
          ok: false,
          error: {
            code: 'LOCKED',
            message: 'UNABLE_TO_LOCK_ROW',
            retryable: true,
            retryAfterMs: null,
            status: null,
            vendorCode: 'UNABLE_TO_LOCK_ROW',
          },
        },
      ]);
      expect(sim.requests.filter((r) => r.method === 'PATCH')).toHaveLength(3);
    });

    it('fails a permanently rejected record alone, without Salesforce message text', async () => {
      await start();
      const ids = [PHONE_1, PHONE_2, PHONE_1].map((p) => sim.add('Lead', { MobilePhone: p }));
      sim.failRecord(ids[1] as string);
      const out = await connector.write(
        ids.map((id, i) => ({
          objectType: 'Lead',
          id,
          key: `k${i}`,
          properties: { WhatsApp_Opted_Out__c: true },
        })),
      );
      expect(out[0]).toEqual({ ok: true });
      expect(out[2]).toEqual({ ok: true });
      expect(out[1]).toEqual({
        ok: false,
        error: {
          code: 'RECORD_REJECTED',
          message: 'FIELD_CUSTOM_VALIDATION_EXCEPTION',
          retryable: false,
          retryAfterMs: null,
          status: null,
          vendorCode: 'FIELD_CUSTOM_VALIDATION_EXCEPTION',
        },
      });
      expect(JSON.stringify(out)).not.toContain('+44');
      expect(sim.requests.filter((r) => r.method === 'PATCH')).toHaveLength(1);
    });

    it('rejects only the records carrying a field Salesforce does not know, and writes the rest', async () => {
      await start();
      const a = sim.add('Contact', {});
      const b = sim.add('Contact', {});
      const out = await connector.write([
        {
          objectType: 'Contact',
          id: a,
          key: 'k-a',
          properties: { Shoe_Size__c: '42', WhatsApp_Opted_Out__c: true },
        },
        { objectType: 'Contact', id: b, key: 'k-b', properties: { WhatsApp_Opted_Out__c: true } },
      ]);
      expect(out[0]).toMatchObject({
        ok: false,
        error: { code: 'RECORD_REJECTED', vendorCode: 'INVALID_FIELD' },
      });
      expect(out[1]).toEqual({ ok: true });
      expect(sim.get('Contact', a)?.WhatsApp_Opted_Out__c).toBeNull();
      expect(sim.get('Contact', b)?.WhatsApp_Opted_Out__c).toBe(true);
    });

    it('sends JSON values as they are, mixes types in one call and splits at 200', async () => {
      await start();
      const contacts = Array.from({ length: 201 }, () => sim.add('Contact', { WhatsApp_Opted_Out__c: true }));
      const lead = sim.add('Lead', {});
      const out = await connector.write([
        { objectType: 'Lead', id: lead, key: 'l', properties: { WhatsApp_Marketing_Consent__c: false } },
        ...contacts.map((id, i) => ({
          objectType: 'Contact',
          id,
          key: `c${i}`,
          properties: { WhatsApp_Opted_Out__c: null, WhatsApp_Consent_Text_Version__c: 3 },
        })),
      ]);
      expect(out.every((o) => o.ok)).toBe(true);
      const patches = sim.requests.filter((r) => r.method === 'PATCH');
      const sizes = patches.map((r) => (r.body as { records: unknown[] }).records.length);
      expect(sizes).toEqual([200, 2]);
      const first =
        (patches[0]?.body as { allOrNone: boolean; records: Array<Record<string, unknown>> }) ?? {};
      expect(first.allOrNone).toBe(false);
      expect(first.records[0]).toEqual({
        attributes: { type: 'Lead' },
        id: lead,
        WhatsApp_Marketing_Consent__c: false,
      });
      expect(sim.get('Lead', lead)?.WhatsApp_Marketing_Consent__c).toBe(false);
      expect(sim.get('Contact', contacts[0] as string)).toMatchObject({
        WhatsApp_Opted_Out__c: null,
        WhatsApp_Consent_Text_Version__c: 3,
      });
    });

    it('classifies whole-call failures: rate limit retried, outage retryable, malformed ids not sent', async () => {
      await start({}, { attempts: 2 });
      const a = sim.add('Contact', { MobilePhone: PHONE_1 });
      sim.failNext(1, 'limit');
      expect(await connector.write([{ objectType: 'Contact', id: a, key: 'k', properties: {} }])).toEqual([
        { ok: true },
      ]);
      sim.failNext(2, '503');
      const err = await connector
        .write([{ objectType: 'Contact', id: a, key: 'k', properties: { WhatsApp_Opted_Out__c: true } }])
        .catch((e: unknown) => e);
      expect((err as ConnectorFailure).error).toMatchObject({
        code: 'SERVER_ERROR',
        retryable: true,
        status: 503,
        vendorCode: 'SERVER_UNAVAILABLE',
      });
      const before = sim.calls();
      const out = await connector.write([
        { objectType: 'Contact', id: 'not-an-id', key: 'k', properties: {} },
      ]);
      expect(out[0]).toMatchObject({ ok: false, error: { code: 'NOT_FOUND', retryable: false } });
      expect(sim.calls()).toBe(before);
      expect(connector.budget.stats().failures).toMatchObject({ RATE_LIMITED: 1, SERVER_ERROR: 2 });
    });

    it('times out a hung request and drops the socket, retryable as NETWORK', async () => {
      await start({}, { attempts: 2, timeoutMs: 150 });
      sim.add('Contact', { MobilePhone: PHONE_1 });
      sim.failNext(1, 'hang');
      sim.failNext(1, 'network');
      const err = await connector
        .find([PHONE_1], { ...SALESFORCE_SPEC, objectTypes: ['Contact'] })
        .catch((e: unknown) => e);
      expect((err as ConnectorFailure).error).toMatchObject({
        code: 'NETWORK',
        retryable: true,
        status: null,
      });
      expect(connector.budget.stats().failures.NETWORK).toBe(2);
    });
  });

  describe('erase', () => {
    it('deletes in calls of at most 200 ids, each id once', async () => {
      await start();
      const ids = Array.from({ length: 201 }, () => sim.add('Contact', {}));
      const refs = ids.map((id) => ({ objectType: 'Contact', id }));
      const out = await connector.erase([...refs, refs[0] as { objectType: string; id: string }]);
      expect(out.every((o) => o.status === 'done')).toBe(true);
      expect(out).toHaveLength(202);
      expect(sim.all('Contact')).toEqual([]);
      expect(sim.requests.filter((r) => r.method === 'DELETE')).toHaveLength(2);
    });

    it('retries locked deletes and reports a lasting rejection as failed', async () => {
      await start();
      const a = sim.add('Lead', {});
      const b = sim.add('Lead', {});
      sim.lockRecord(a, 1);
      sim.failRecord(b, 'DELETE_FAILED');
      const out = await connector.erase([
        { objectType: 'Lead', id: a },
        { objectType: 'Lead', id: b },
        { objectType: 'Lead', id: 'bogus' },
      ]);
      expect(out).toEqual([
        { status: 'done' },
        {
          status: 'failed',
          error: expect.objectContaining({ code: 'RECORD_REJECTED', vendorCode: 'DELETE_FAILED' }),
        },
        { status: 'not_found' },
      ]);
    });

    it('flags the Individual with ShouldForget in should_forget mode', async () => {
      await start({}, { eraseMode: 'should_forget' });
      const individual = sim.add('Individual', { ShouldForget: false });
      const withIndividual = sim.add('Contact', { IndividualId: individual });
      const lead = sim.add('Lead', { IndividualId: individual });
      const without = sim.add('Contact', {});
      const out = await connector.erase([
        { objectType: 'Contact', id: withIndividual },
        { objectType: 'Lead', id: lead },
        { objectType: 'Contact', id: without },
        { objectType: 'Contact', id: toId18('003000000000000') },
        { objectType: 'Individual', id: toId18('0PK000000000000') },
      ]);
      expect(out).toEqual([
        { status: 'done' },
        { status: 'done' },
        { status: 'failed', error: expect.objectContaining({ code: 'NO_INDIVIDUAL', retryable: false }) },
        { status: 'not_found' },
        { status: 'not_found' },
      ]);
      expect(sim.get('Individual', individual)?.ShouldForget).toBe(true);
      expect(sim.get('Contact', withIndividual)).not.toBeNull();
      const patches = sim.requests.filter((r) => r.method === 'PATCH');
      expect(patches).toHaveLength(1);
      expect((patches[0]?.body as { records: unknown[] } | undefined)?.records).toHaveLength(2);
    });
  });

  describe('echo of our own writes', () => {
    async function listen(): Promise<{ url: string; received: InboundChange[]; statuses: number[] }> {
      const received: InboundChange[] = [];
      const statuses: number[] = [];
      const hook = createServer(async (req, res) => {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        const request: WebhookRequest = {
          method: req.method ?? 'POST',
          url: 'https://consent-sync.example/webhooks/salesforce',
          headers: new Headers(req.headers as Record<string, string>),
          rawBody: Buffer.concat(chunks).toString('utf8'),
          now: Date.now(),
        };
        const verdict = await connector.verifyWebhook(request);
        if (!verdict.ok) {
          statuses.push(verdict.status);
          res.writeHead(verdict.status, { 'content-type': verdict.reply?.contentType ?? 'text/plain' });
          res.end(verdict.reply?.body ?? verdict.code);
          return;
        }
        const parsed = connector.parseWebhook(request, SALESFORCE_SPEC);
        const reply = parsed.ok ? parsed.ack : parsed.reply;
        if (parsed.ok) received.push(...parsed.changes);
        statuses.push(reply.status);
        res.writeHead(reply.status, { 'content-type': reply.contentType }).end(reply.body);
      });
      await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
      closers.push(() => new Promise<void>((resolve) => hook.close(() => resolve())));
      const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/webhooks/salesforce`;
      return { url, received, statuses };
    }

    it('comes back as an Outbound Message: acknowledged, a value-free signal received at delivery time', async () => {
      const hook = await listen();
      await start(
        { outboundOnChange: { url: hook.url, fields: ['WhatsApp_Opted_Out__c'] } },
        { outboundMessages: true },
      );

      const a = sim.add('Contact', {
        MobilePhone: PHONE_1,
        LastName: 'Example Person',
        WhatsApp_Opted_Out__c: false,
      });
      await connector.write([
        { objectType: 'Contact', id: a, key: 'k', properties: { WhatsApp_Opted_Out__c: true } },
      ]);
      const before = Date.now();
      expect(await sim.flushOutbound()).toEqual([200]);
      expect(sim.pendingOutbound()).toBe(0);
      expect(hook.received).toEqual([
        {
          eventId: expect.stringMatching(/^04l/),
          type: 'property_change',
          ref: { objectType: 'Contact', id: a },
          occurredAt: expect.any(String),
          properties: {},
          matchValue: null,
          changeSource: null,
          signal: true,
        },
      ]);
      // The receipt time, not the record's LastModifiedDate, and no value of the message anywhere.
      const at = Date.parse(hook.received[0]?.occurredAt ?? '');
      expect(at).toBeGreaterThanOrEqual(before - 5);
      expect(at).toBeLessThanOrEqual(Date.now());
      expect(JSON.stringify(hook.received)).not.toContain(PHONE_1);
    });

    it('is refused with 403 and a SOAP Fault while Outbound Messages are off (the default), and stays queued', async () => {
      const hook = await listen();
      await start({ outboundOnChange: { url: hook.url, fields: ['WhatsApp_Opted_Out__c'] } });
      const a = sim.add('Contact', { MobilePhone: PHONE_1, WhatsApp_Opted_Out__c: false });
      await connector.write([
        { objectType: 'Contact', id: a, key: 'k', properties: { WhatsApp_Opted_Out__c: true } },
      ]);
      expect(await sim.flushOutbound()).toEqual([403]);
      expect(sim.pendingOutbound()).toBe(1);
      expect(hook.received).toEqual([]);
      const verdict = await connector.verifyWebhook(
        soapRequest(sim.outboundMessage([{ objectType: 'Contact', id: a, fields: {} }])),
      );
      expect(verdict).toMatchObject({ ok: false, status: 403, code: 'OUTBOUND_MESSAGES_DISABLED' });
      expect(!verdict.ok && verdict.reply?.body).toContain('<faultcode>soapenv:Client</faultcode>');
    });
  });
});
