/**
 * The Salesforce simulator, exercised through real jsforce (as the connector uses it) and fetch.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import jsforce, { type Connection } from 'jsforce';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type SalesforceSimulator, startSalesforceSimulator, toId18 } from './salesforce.ts';

const CLIENT = { clientId: 'sim-client', clientSecret: 'sim-secret' };
const ORG = '00D5e000000KQ2eEAG';
const V = '62.0';
/** Example numbers only (UK drama range). */
const PHONE_1 = '+447700900001';
const PHONE_2 = '+447700900002';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

let sf: SalesforceSimulator;
let receiver: { url: string; received: Received[]; status: number; close(): Promise<void> };

beforeAll(async () => {
  receiver = await startReceiver();
  sf = await startSalesforceSimulator({
    ...CLIENT,
    orgId: ORG,
    outboundOnChange: { url: receiver.url, fields: ['WhatsApp_Opted_Out__c'] },
  });
});
afterAll(async () => {
  await sf.close();
  await receiver.close();
});
beforeEach(() => {
  sf.reset();
  receiver.received.length = 0;
  receiver.status = 200;
});

async function connect(): Promise<Connection> {
  const conn = new jsforce.Connection({ oauth2: { loginUrl: sf.url, ...CLIENT }, version: V });
  await conn.authorize({ grant_type: 'client_credentials' });
  return conn;
}

/** A connection that reports every failure as it came (no jsforce retries, no refresh). */
async function plainConnection(): Promise<Connection> {
  const authed = await connect();
  return new jsforce.Connection({
    instanceUrl: authed.instanceUrl,
    accessToken: authed.accessToken as string,
    version: V,
  });
}

const noRetry = { retry: { maxRetries: 0 } };

/** What a jsforce call failed with, or undefined when it succeeded (its thenables type `catch` oddly). */
async function failure(p: PromiseLike<unknown>): Promise<unknown> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return err;
  }
}

/** jsforce types collection errors without Salesforce's `statusCode`. */
const statusOf = (r: { errors: unknown[] } | undefined) =>
  (r?.errors[0] as { statusCode?: string } | undefined)?.statusCode;

describe('Salesforce simulator: OAuth', () => {
  it('issues client-credentials tokens through jsforce and names the org', async () => {
    const conn = new jsforce.Connection({ oauth2: { loginUrl: sf.url, ...CLIENT }, version: V });
    const info = await conn.authorize({ grant_type: 'client_credentials' });
    expect(info.organizationId).toBe(ORG);
    expect(conn.instanceUrl).toBe(sf.url);
    expect(conn.accessToken).toMatch(/^00D5e000000KQ2e!/);
    expect(sf.stats().tokenRequests).toBe(1);
    expect(sf.calls()).toBe(0);
    const tokenRequest = sf.requests[0];
    expect(tokenRequest?.body).toMatchObject({
      grant_type: 'client_credentials',
      client_secret: '[redacted]',
    });
  });

  it('refuses wrong client credentials like Salesforce', async () => {
    const conn = new jsforce.Connection({
      oauth2: { loginUrl: sf.url, clientId: CLIENT.clientId, clientSecret: 'wrong' },
      version: V,
    });
    const err = await conn.authorize({ grant_type: 'client_credentials' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'invalid_client', message: 'invalid client credentials' });
  });

  it('answers 401 INVALID_SESSION_ID once tokens expire, and a re-authorised connection works', async () => {
    const conn = await plainConnection();
    await conn.query("SELECT Id FROM Contact WHERE MobilePhone = 'x'");
    sf.expireTokens();
    const err = await failure(conn.query("SELECT Id FROM Contact WHERE MobilePhone = 'x'"));
    expect(err).toMatchObject({ errorCode: 'INVALID_SESSION_ID', message: 'Session expired or invalid' });
    expect(sf.stats().unauthorized).toBe(1);

    // jsforce's own refresh path works too when given a refresh function.
    const refreshing = new jsforce.Connection({
      oauth2: { loginUrl: sf.url, ...CLIENT },
      version: V,
      refreshFn: (c, callback) => {
        c.authorize({ grant_type: 'client_credentials' }).then(
          () => callback(null, c.accessToken ?? undefined),
          (e: Error) => callback(e),
        );
      },
    });
    await refreshing.authorize({ grant_type: 'client_credentials' });
    sf.expireTokens();
    const result = await refreshing.query("SELECT Id FROM Contact WHERE MobilePhone = 'x'");
    expect(result.totalSize).toBe(0);
  });
});

describe('Salesforce simulator: SOQL', () => {
  it('answers SELECT … WHERE f IN (…) with attributes and only the selected fields', async () => {
    const a = sf.add('Contact', { LastName: 'Example', MobilePhone: PHONE_1, WhatsApp_Opted_Out__c: false });
    sf.add('Contact', { LastName: 'Other', MobilePhone: PHONE_2 });
    const conn = await connect();
    const res = await conn.query(
      `SELECT Id, MobilePhone, WhatsApp_Opted_Out__c FROM Contact WHERE MobilePhone IN ('${PHONE_1}', '+447700900099')`,
    );
    expect(res).toMatchObject({ totalSize: 1, done: true });
    expect(res.records).toEqual([
      {
        attributes: { type: 'Contact', url: `/services/data/v${V}/sobjects/Contact/${a}` },
        Id: a,
        MobilePhone: PHONE_1,
        WhatsApp_Opted_Out__c: false,
      },
    ]);
  });

  it('reads string escapes, compares text case-insensitively and ids on 15 characters', async () => {
    const quote = sf.add('Lead', { LastName: "O'Example" });
    const slash = sf.add('Lead', { LastName: 'Back\\slash' });
    const conn = await connect();
    const res = await conn.query("SELECT Id FROM Lead WHERE LastName IN ('o\\'example', 'BACK\\\\SLASH')");
    expect(res.records.map((r) => r.Id).sort()).toEqual([quote, slash].sort());
    const byId = await conn.query(`SELECT Id, LastName FROM Lead WHERE Id = '${quote.slice(0, 15)}'`);
    expect(byId.records[0]).toMatchObject({ Id: quote, LastName: "O'Example" });
    // Canonical names in the answer whatever the case in the query.
    const lower = await conn.query(`select id, lastname from lead where id in ('${slash}')`);
    expect(lower.records[0]).toMatchObject({ Id: slash, LastName: 'Back\\slash' });
  });

  it('rejects unknown fields, unknown objects, bad ids and malformed queries with Salesforce codes', async () => {
    const conn = await plainConnection();
    const fail = async (soql: string) =>
      ((await failure(conn.query(soql))) as { errorCode: string }).errorCode;
    expect(await fail("SELECT Id, Shoe_Size__c FROM Contact WHERE MobilePhone = 'x'")).toBe('INVALID_FIELD');
    expect(await fail("SELECT Id FROM Contact WHERE Shoe_Size__c = 'x'")).toBe('INVALID_FIELD');
    expect(await fail("SELECT Id FROM Spaceship__c WHERE Name = 'x'")).toBe('INVALID_TYPE');
    expect(await fail("SELECT Id FROM Contact WHERE Id IN ('nope')")).toBe('INVALID_QUERY_FILTER_OPERATOR');
    expect(await fail("SELECT Id FROM Contact WHERE MobilePhone = 'unterminated")).toBe('MALFORMED_QUERY');
    expect(await fail("SELECT Id FROM Contact WHERE MobilePhone = 'a\\qb'")).toBe('MALFORMED_QUERY');
    expect(await fail('SELECT Id, Id FROM Contact')).toBe('MALFORMED_QUERY');
    expect(await fail('SELECT FROM Contact')).toBe('MALFORMED_QUERY');
  });

  it('pages at 2000 records through nextRecordsUrl', async () => {
    for (let i = 0; i < 2_050; i++) sf.add('Lead', { LastName: 'Example', Email: 'same@example.com' });
    const conn = await connect();
    const first = await conn.request<{
      totalSize: number;
      done: boolean;
      nextRecordsUrl: string;
      records: unknown[];
    }>(`/query?q=${encodeURIComponent("SELECT Id FROM Lead WHERE Email = 'same@example.com'")}`);
    expect(first).toMatchObject({ totalSize: 2_050, done: false });
    expect(first.records).toHaveLength(2_000);
    expect(first.nextRecordsUrl).toMatch(/^\/services\/data\/v62\.0\/query\/[A-Za-z0-9]+-2000$/);
    const second = await conn.request<{ done: boolean; records: unknown[] }>(first.nextRecordsUrl);
    expect(second.done).toBe(true);
    expect(second.records).toHaveLength(50);
    const all = await conn.query("SELECT Id FROM Lead WHERE Email = 'same@example.com'", {
      autoFetch: true,
      maxFetch: 5_000,
    });
    expect(all.records.length).toBe(2_050);
  });
});

describe('Salesforce simulator: sObject Collections', () => {
  it('updates per record in request order, through jsforce', async () => {
    const a = sf.add('Contact', { MobilePhone: PHONE_1 });
    const b = sf.add('Contact', { MobilePhone: PHONE_2 });
    const gone = sf.add('Contact', { LastName: 'Example' });
    const locked = sf.add('Contact', { LastName: 'Example' });
    const rejected = sf.add('Contact', { MobilePhone: PHONE_2 });
    const conn = await connect();
    await conn.sobject('Contact').destroy(gone);
    sf.lockRecord(locked, 1);
    sf.failRecord(rejected);
    const never = toId18('003000000000000');
    const results = await conn.sobject('Contact').update(
      [a, gone, never, locked, rejected, b].map((Id) => ({ Id, WhatsApp_Opted_Out__c: true })),
      { allOrNone: false },
    );
    expect(results.map((r) => (r.success ? 'ok' : statusOf(r)))).toEqual([
      'ok',
      'ENTITY_IS_DELETED',
      'INVALID_CROSS_REFERENCE_KEY',
      'UNABLE_TO_LOCK_ROW',
      'FIELD_CUSTOM_VALIDATION_EXCEPTION',
      'ok',
    ]);
    expect(sf.get('Contact', a)?.WhatsApp_Opted_Out__c).toBe(true);
    expect(sf.get('Contact', locked)?.WhatsApp_Opted_Out__c).toBeNull();
    // The lock was for one write only; the validation failure lasts.
    const again = await conn.sobject('Contact').update(
      [locked, rejected].map((Id) => ({ Id, WhatsApp_Opted_Out__c: true })),
      { allOrNone: false },
    );
    expect(again.map((r) => r.success)).toEqual([true, false]);
    // Read-only fields fail per record; null clears.
    const ro = await conn.sobject('Contact').update([{ Id: a, LastModifiedDate: '2020-01-01T00:00:00Z' }], {
      allOrNone: false,
    });
    expect(statusOf(ro[0])).toBe('INVALID_FIELD_FOR_INSERT_UPDATE');
    await conn.sobject('Contact').update([{ Id: a, WhatsApp_Opted_Out__c: null }], { allOrNone: false });
    expect(sf.get('Contact', a)?.WhatsApp_Opted_Out__c).toBeNull();
  });

  it('rolls everything back with allOrNone when one record fails', async () => {
    const a = sf.add('Contact', {});
    const b = sf.add('Contact', {});
    sf.failRecord(b, 'FIELD_CUSTOM_VALIDATION_EXCEPTION', 1);
    const conn = await connect();
    const results = await conn.sobject('Contact').update(
      [a, b].map((Id) => ({ Id, WhatsApp_Opted_Out__c: true })),
      { allOrNone: true },
    );
    expect(results.map(statusOf)).toEqual([
      'ALL_OR_NONE_OPERATION_ROLLED_BACK',
      'FIELD_CUSTOM_VALIDATION_EXCEPTION',
    ]);
    expect(sf.get('Contact', a)?.WhatsApp_Opted_Out__c).toBeNull();
  });

  it('fails the whole call for an unknown field or more than 200 records', async () => {
    const a = sf.add('Contact', {});
    const conn = await connect();
    const unknown = await conn
      .sobject('Contact')
      .update([{ Id: a, Shoe_Size__c: '42' }], { allOrNone: false })
      .catch((e: unknown) => e);
    expect(unknown).toMatchObject({ errorCode: 'INVALID_FIELD' });
    expect((unknown as Error).message).toContain("No such column 'Shoe_Size__c' on sobject of type Contact");
    const many = Array.from({ length: 201 }, () => ({ Id: a, WhatsApp_Opted_Out__c: true }));
    const tooMany = await conn
      .sobject('Contact')
      .update(many, { allOrNone: false })
      .catch((e: unknown) => e);
    expect(tooMany).toMatchObject({ errorCode: 'EXCEEDED_ID_LIMIT' });
  });

  it('deletes per record and reports unknown ids as ENTITY_IS_DELETED', async () => {
    const a = sf.add('Contact', {});
    const l = sf.add('Lead', {});
    const conn = await connect();
    const res = await conn.request<
      Array<{ id: string; success: boolean; errors: Array<{ statusCode: string }> }>
    >({
      method: 'DELETE',
      url: `/composite/sobjects?ids=${a},${toId18('003000000000000')},${l}&allOrNone=false`,
    });
    expect(res.map((r) => (r.success ? 'ok' : statusOf(r)))).toEqual(['ok', 'ENTITY_IS_DELETED', 'ok']);
    expect(sf.get('Contact', a)).toBeNull();
    expect(sf.all('Lead')).toEqual([]);
  });

  it('serves single records: retrieve, update and destroy', async () => {
    const a = sf.add('Lead', { LastName: 'Example', MobilePhone: PHONE_1 });
    const conn = await connect();
    expect(await conn.sobject('Lead').retrieve(a)).toMatchObject({ Id: a, LastName: 'Example' });
    expect(await conn.sobject('Lead').update({ Id: a, WhatsApp_Opted_Out__c: true })).toMatchObject({
      success: true,
    });
    expect(sf.get('Lead', a)?.WhatsApp_Opted_Out__c).toBe(true);
    await conn.sobject('Lead').destroy(a);
    const err = await conn
      .sobject('Lead')
      .retrieve(a)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ errorCode: 'ENTITY_IS_DELETED' });
  });
});

describe('Salesforce simulator: limits and faults', () => {
  it('sends Sforce-Limit-Info on every answer and jsforce reads it', async () => {
    const conn = await connect();
    await conn.query("SELECT Id FROM Contact WHERE MobilePhone = 'x'");
    await conn.query("SELECT Id FROM Contact WHERE MobilePhone = 'x'");
    expect(conn.limitInfo.apiUsage).toEqual({ used: 2, limit: 100_000 });
  });

  it('answers REQUEST_LIMIT_EXCEEDED (403, no Retry-After) past the window', async () => {
    const limited = await startSalesforceSimulator({
      ...CLIENT,
      orgId: ORG,
      requestsPerWindow: 2,
      windowMs: 60_000,
    });
    try {
      const conn = new jsforce.Connection({ oauth2: { loginUrl: limited.url, ...CLIENT }, version: V });
      await conn.authorize({ grant_type: 'client_credentials' });
      const q = async () =>
        (
          (await failure(conn.query("SELECT Id FROM Contact WHERE MobilePhone = 'x'"))) as {
            errorCode?: string;
          }
        )?.errorCode ?? 'ok';
      expect([await q(), await q(), await q()]).toEqual(['ok', 'ok', 'REQUEST_LIMIT_EXCEEDED']);
      const last = limited.requests.at(-1);
      expect(last?.status).toBe(403);
      expect(last?.headers).not.toHaveProperty('retry-after');
      expect(limited.stats()).toMatchObject({ calls: 3, limited: 1 });
    } finally {
      await limited.close();
    }
  });

  it('injects limit, 500, 503, network and hang faults', async () => {
    const conn = await plainConnection();
    const code = (p: Promise<unknown>) =>
      p.then(
        () => 'ok',
        (e: { errorCode?: string; name: string }) => e.errorCode ?? e.name,
      );
    const q = (timeout?: number) =>
      conn.request(`/query?q=${encodeURIComponent("SELECT Id FROM Contact WHERE MobilePhone = 'x'")}`, {
        ...noRetry,
        ...(timeout ? { timeout } : {}),
      });
    sf.failNext(1, 'limit');
    sf.failNext(1, '500');
    sf.failNext(1, '503');
    sf.failNext(1, 'network');
    sf.failNext(1, 'hang');
    expect(await code(q())).toBe('REQUEST_LIMIT_EXCEEDED');
    expect(await code(q())).toBe('UNKNOWN_EXCEPTION');
    expect(await code(q())).toBe('SERVER_UNAVAILABLE');
    expect(await code(q())).toBe('FetchError');
    expect(await code(q(200))).toBe('AbortError');
    expect(await code(q())).toBe('ok');
    expect(sf.stats()).toMatchObject({ faults: 5, limited: 1 });
  });

  it('adds latency when asked', async () => {
    const conn = await connect();
    sf.setLatency(60);
    const started = Date.now();
    await conn.query("SELECT Id FROM Contact WHERE MobilePhone = 'x'");
    expect(Date.now() - started).toBeGreaterThanOrEqual(55);
  });
});

describe('Salesforce simulator: Outbound Messages and Flow callouts', () => {
  it('builds the SOAP envelope of API-FACTS 3.4', () => {
    const xml = sf.outboundMessage([
      {
        notificationId: '04l5e00000Gx7QzAAJ',
        objectType: 'Contact',
        id: '0035e00000ZkM3hAAF',
        fields: { WhatsApp_Opted_Out__c: true, WhatsApp_Consent_Source__c: 'a & b', Email: null },
      },
    ]);
    expect(xml).toContain('<notifications xmlns="http://soap.sforce.com/2005/09/outbound">');
    expect(xml).toContain(`<OrganizationId>${ORG}</OrganizationId>`);
    expect(xml).toContain('<SessionId xsi:nil="true"/>');
    expect(xml).toContain('<Id>04l5e00000Gx7QzAAJ</Id>');
    expect(xml).toContain(
      '<sObject xsi:type="sf:Contact" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">',
    );
    expect(xml).toContain('<sf:Id>0035e00000ZkM3hAAF</sf:Id>');
    expect(xml).toContain('<sf:WhatsApp_Opted_Out__c>true</sf:WhatsApp_Opted_Out__c>');
    expect(xml).toContain('<sf:WhatsApp_Consent_Source__c>a &amp; b</sf:WhatsApp_Consent_Source__c>');
    expect(xml).toContain('<sf:Email xsi:nil="true"/>');
    expect(sf.outboundMessage([], { orgId: '00D000000000001AAA' })).toContain('00D000000000001AAA');
    const many = Array.from({ length: 101 }, () => ({
      objectType: 'Contact',
      id: '0035e00000ZkM3hAAF',
      fields: {},
    }));
    expect(() => sf.outboundMessage(many)).toThrow(RangeError);
    expect(sf.outboundMessage(many, { allowOverLimit: true }).match(/<Notification>/g)).toHaveLength(101);
  });

  it('POSTs Outbound Messages as Salesforce does', async () => {
    const xml = sf.outboundMessage([{ objectType: 'Lead', id: '00Q5e00000AbCdEFGH', fields: {} }]);
    const out = await sf.sendOutbound(receiver.url, xml);
    expect(out.status).toBe(200);
    expect(receiver.received[0]?.headers).toMatchObject({
      'content-type': 'text/xml; charset=utf-8',
      soapaction: '""',
    });
    expect(receiver.received[0]?.body).toBe(xml);
  });

  it('queues a notification when an API write or UI edit changes a watched field, and flushes it', async () => {
    const a = sf.add('Contact', { MobilePhone: PHONE_1, WhatsApp_Opted_Out__c: false });
    const conn = await connect();
    await conn.sobject('Contact').update([{ Id: a, WhatsApp_Opted_Out__c: false }], { allOrNone: false });
    expect(sf.pendingOutbound()).toBe(0); // no change, no rule
    await conn.sobject('Contact').update([{ Id: a, WhatsApp_Opted_Out__c: true }], { allOrNone: false });
    sf.updateFromUi('Contact', a, { LastName: 'Example' }); // not a watched field
    expect(sf.pendingOutbound()).toBe(1);
    receiver.status = 500;
    expect(await sf.flushOutbound()).toEqual([500]);
    expect(sf.pendingOutbound()).toBe(1); // Salesforce keeps retrying
    receiver.status = 200;
    sf.updateFromUi('Contact', a, { WhatsApp_Opted_Out__c: false });
    expect(await sf.flushOutbound()).toEqual([200]);
    expect(sf.pendingOutbound()).toBe(0);
    const last = receiver.received.at(-1)?.body ?? '';
    expect(last.match(/<Notification>/g)).toHaveLength(2);
    // Only the latest data is sent, in both notifications.
    expect(last).not.toContain('<sf:WhatsApp_Opted_Out__c>true');
    expect(last).toContain(`<sf:Id>${a}</sf:Id>`);
    expect(last).toContain(`<sf:MobilePhone>${PHONE_1}</sf:MobilePhone>`);
    expect(sf.stats().outboundDelivered).toBe(1);
  });

  it('sends Flow callouts with the shared-secret header', async () => {
    const out = await sf.flowCallout(receiver.url, 's3cret', { events: [] });
    expect(out.status).toBe(200);
    expect(receiver.received[0]?.headers['x-consent-sync-secret']).toBe('s3cret');
    expect(receiver.received[0]?.headers['content-type']).toBe('application/json');
    expect(JSON.parse(receiver.received[0]?.body ?? '')).toEqual({ events: [] });
  });
});

describe('Salesforce simulator: records', () => {
  it('issues realistic 18-character ids per object and resets', () => {
    const c = sf.add('Contact', { LastName: 'Example' });
    const l = sf.add('Lead', {});
    const i = sf.add('Individual', { ShouldForget: false });
    expect(c).toMatch(/^003[A-Za-z0-9]{15}$/);
    expect(l).toMatch(/^00Q[A-Za-z0-9]{15}$/);
    expect(i).toMatch(/^0PK[A-Za-z0-9]{15}$/);
    expect(toId18(c.slice(0, 15))).toBe(c);
    expect(toId18('001000000000001')).toBe('001000000000001AAA');
    expect(sf.get('Contact', c.slice(0, 15))).toMatchObject({ Id: c, LastName: 'Example', Email: null });
    expect(() => sf.add('Contact', { Shoe_Size__c: 1 })).toThrow(TypeError);
    sf.reset();
    expect(sf.all('Contact')).toEqual([]);
    expect(sf.calls()).toBe(0);
  });
});

async function startReceiver() {
  const received: Received[] = [];
  const state = { status: 200 };
  const ack =
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>';
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
    res.writeHead(state.status, { 'content-type': 'text/xml; charset=utf-8' });
    res.end(state.status === 200 ? ack : 'error');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/salesforce`,
    received,
    get status() {
      return state.status;
    },
    set status(v: number) {
      state.status = v;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('native consent objects (issue 15)', () => {
  type Item = { id?: string; success: boolean; created?: boolean; errors: Array<{ statusCode: string }> };
  const save = (conn: Connection, url: string, method: 'POST' | 'PATCH', records: unknown[]) =>
    conn.request<Item[]>({
      method,
      url,
      body: JSON.stringify({ allOrNone: false, records }),
      headers: { 'content-type': 'application/json' },
    });

  it('creates records with the fields the object reference requires and refuses restricted picklist values', async () => {
    const conn = await plainConnection();
    const party = sf.add('Individual', { LastName: 'Example' });
    const base = {
      attributes: { type: 'ContactPointTypeConsent' },
      PartyId: party,
      CaptureDate: '2026-03-01T10:00:00.000Z',
      CaptureSource: 'whatsapp',
      CaptureContactPointType: 'Phone',
    };
    const out = await save(conn, '/composite/sobjects', 'POST', [
      { ...base, PrivacyConsentStatus: 'OptOut' },
      { ...base, CaptureSource: null },
      { ...base, PrivacyConsentStatus: 'Withdrawn' },
      { attributes: { type: 'Individual' }, FirstName: 'No last name' },
    ]);
    expect(out.map((r) => r.success)).toEqual([true, false, false, false]);
    expect(out.map((r) => r.errors[0]?.statusCode)).toEqual([
      undefined,
      'REQUIRED_FIELD_MISSING',
      'INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST',
      'REQUIRED_FIELD_MISSING',
    ]);
    expect(sf.get('ContactPointTypeConsent', out[0]?.id as string)).toMatchObject({
      PrivacyConsentStatus: 'OptOut',
    });
  });

  it('upserts on an External ID field only, and computes IsFullyOptedIn (read only)', async () => {
    await sf.close();
    sf = await startSalesforceSimulator({
      ...CLIENT,
      orgId: ORG,
      externalIds: { ContactPointTypeConsent: ['Consent_Sync_Key__c'] },
    });
    const conn = await plainConnection();
    const party = sf.add('Individual', { LastName: 'Example' });
    const rec = {
      attributes: { type: 'ContactPointTypeConsent' },
      Consent_Sync_Key__c: 'k1',
      PartyId: party,
      CaptureDate: '2026-03-01T10:00:00.000Z',
      CaptureSource: 'whatsapp',
      CaptureContactPointType: 'Phone',
      PrivacyConsentStatus: 'OptIn',
    };
    const url = '/composite/sobjects/ContactPointTypeConsent/Consent_Sync_Key__c';
    const first = await save(conn, url, 'PATCH', [rec]);
    const second = await save(conn, url, 'PATCH', [{ ...rec, PrivacyConsentStatus: 'OptOut' }]);
    expect([first[0]?.created, second[0]?.created]).toEqual([true, false]);
    expect(second[0]?.id).toBe(first[0]?.id);
    expect(sf.all('ContactPointTypeConsent')).toHaveLength(1);
    expect(
      await failure(save(conn, '/composite/sobjects/ContactPointTypeConsent/Name', 'PATCH', [rec])),
    ).toMatchObject({
      errorCode: 'INVALID_FIELD',
    });
    const meu = sf.add('MessagingEndUser', {
      Name: 'x',
      MessageType: 'WhatsApp',
      MessagingConsentStatus: 'OptedOut',
    });
    sf.updateFromUi('MessagingEndUser', meu, { MessagingConsentStatus: 'DoublyOptedIn' });
    expect(sf.get('MessagingEndUser', meu)?.IsFullyOptedIn).toBe(true);
    const ro = await conn.request<Item[]>({
      method: 'PATCH',
      url: '/composite/sobjects',
      body: JSON.stringify({
        records: [{ attributes: { type: 'MessagingEndUser' }, id: meu, IsFullyOptedIn: false }],
      }),
      headers: { 'content-type': 'application/json' },
    });
    expect(ro[0]?.errors[0]?.statusCode).toBe('INVALID_FIELD_FOR_INSERT_UPDATE');
  });

  it('an org without the feature answers INVALID_TYPE; a read-only object fails per record', async () => {
    await sf.close();
    sf = await startSalesforceSimulator({
      ...CLIENT,
      orgId: ORG,
      features: { messaging: false },
      readOnlyObjects: ['ContactPointTypeConsent'],
    });
    const conn = await plainConnection();
    expect(await failure(conn.query('SELECT Id FROM MessagingEndUser LIMIT 1'))).toMatchObject({
      errorCode: 'INVALID_TYPE',
    });
    const party = sf.add('Individual', { LastName: 'Example' });
    const out = await save(conn, '/composite/sobjects', 'POST', [
      {
        attributes: { type: 'ContactPointTypeConsent' },
        PartyId: party,
        CaptureDate: '2026-03-01T10:00:00.000Z',
        CaptureSource: 'whatsapp',
        CaptureContactPointType: 'Phone',
      },
    ]);
    expect(out[0]?.errors[0]?.statusCode).toBe('INSUFFICIENT_ACCESS_OR_READONLY');
  });
});
