import { describe, expect, inject, it } from 'vitest';
import { createHubSpotConnector } from '../../connectors/hubspot/index.ts';
import { createSalesforceConnector } from '../../connectors/salesforce/index.ts';
import {
  type Connector,
  ConnectorFailure,
  type RecordRef,
  type RemoteValue,
} from '../../connectors/types.ts';
import {
  type ConnectorFixture,
  connectorContract,
  HUBSPOT_SPEC,
  SALESFORCE_SPEC,
} from '../connector-contract.ts';
import { contractWebhook } from '../sim/hubspot.ts';
import { contractFlowWebhook } from '../sim/salesforce.ts';
import { HUBSPOT, type RemoteSim, SALESFORCE, startRemoteSim } from './sim-control.ts';

const CONTROL = inject('simControl');
const FAST = { minBackoffMs: 5, maxWaitMs: 2_000, timeoutMs: 2_000 } as const;

// Fictitious German mobiles.
const P1 = '+4915123400901';

const strings = (props: Record<string, RemoteValue>) =>
  Object.fromEntries(Object.entries(props).map(([k, v]) => [k, v === null ? '' : String(v)]));
const refKey = (r: RecordRef) => `${r.objectType}/${r.id}`;

/** The synchronous half of the fixture over a remote simulator (see the file comment). */
function mirror(sim: RemoteSim, read: (ref: RecordRef) => Promise<Record<string, unknown> | null>) {
  const seeded: RecordRef[] = [];
  const records = new Map<string, Record<string, unknown> | null>();
  let calls = 0;
  let pending: Array<[number, string]> = [];
  const flush = async () => {
    for (const [n, kind] of pending.splice(0)) await sim.call('failNext', n, kind);
  };
  const refresh = async () => {
    calls = await sim.call<number>('calls');
    for (const ref of seeded) records.set(refKey(ref), await read(ref));
  };
  return {
    seeded,
    refresh,
    failNext: (n: number, kind: string) => {
      pending.push([n, kind]);
    },
    calls: () => calls,
    remote: (ref: RecordRef) => records.get(refKey(ref)) ?? null,
    /** The connector, with every async method flushing faults first and refreshing afterwards. */
    wrap<C extends Connector>(connector: C): C {
      return new Proxy(connector, {
        get(target, prop, receiver) {
          const value = Reflect.get(target, prop, receiver);
          if (typeof value !== 'function' || !['find', 'read', 'write', 'erase'].includes(String(prop)))
            return value;
          return async (...args: unknown[]) => {
            await flush();
            try {
              return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
            } finally {
              await refresh();
            }
          };
        },
      });
    },
    close: async () => {
      pending = [];
      await sim.close();
    },
  };
}

async function hubspotFixture(): Promise<ConnectorFixture & { sim: RemoteSim }> {
  const sim = await startRemoteSim(CONTROL, 'hubspot');
  const m = mirror(sim, (ref) => sim.call('getContact', ref.id));
  const connector = m.wrap(
    createHubSpotConnector({
      accessToken: HUBSPOT.sim.accessToken,
      clientSecret: HUBSPOT.sim.clientSecret,
      baseUrl: sim.url,
      ...FAST,
    }),
  );
  return {
    sim,
    connector,
    spec: HUBSPOT_SPEC,
    seed: async (_type, matchValue, properties) => {
      const id = await sim.call<string>('addContact', {
        hs_whatsapp_phone_number: matchValue,
        ...strings(properties),
      });
      const ref = { objectType: 'contact', id };
      m.seeded.push(ref);
      await m.refresh();
      return ref;
    },
    remote: m.remote,
    writable: { property: 'whatsapp_opted_out', value: 'true', other: 'false' },
    secretProperty: 'firstname',
    unknownProperty: 'no_such_property',
    webhook: contractWebhook(HUBSPOT.webhookUrl, HUBSPOT.sim.clientSecret),
    forge: (req) => ({ ...req, rawBody: req.rawBody.replace('"attemptNumber":0', '"attemptNumber":1') }),
    failNext: (n, kind) => m.failNext(n, kind === 'rate_limit' ? '429' : '500'),
    calls: m.calls,
    close: m.close,
  };
}

async function salesforceFixture(
  overrides: Partial<Parameters<typeof createSalesforceConnector>[0]> = {},
): Promise<ConnectorFixture & { sim: RemoteSim; tokenRequests(): number }> {
  const sim = await startRemoteSim(CONTROL, 'salesforce');
  const m = mirror(sim, (ref) => sim.call('get', ref.objectType, ref.id));
  const raw = createSalesforceConnector({
    loginUrl: sim.url,
    clientId: SALESFORCE.sim.clientId,
    clientSecret: SALESFORCE.sim.clientSecret,
    apiVersion: '62.0',
    orgId: SALESFORCE.sim.orgId,
    webhookSecret: SALESFORCE.webhookSecret,
    requestsPerWindow: 1_000,
    minBackoffMs: 5,
    maxWaitMs: 2_000,
    rateLimitWaitMs: 10,
    ...overrides,
  });
  const connector = m.wrap(raw);
  return {
    sim,
    tokenRequests: () => raw.tokenRequests(),
    connector,
    spec: SALESFORCE_SPEC,
    seed: async (objectType, matchValue, properties) => {
      const id = await sim.call<string>('add', objectType, { ...properties, MobilePhone: matchValue });
      const ref = { objectType, id };
      m.seeded.push(ref);
      await m.refresh();
      return ref;
    },
    remote: m.remote,
    writable: { property: 'WhatsApp_Opted_Out__c', value: true, other: false },
    secretProperty: 'LastName',
    unknownProperty: 'Shoe_Size__c',
    // The Flow callout: Outbound Messages are value-free signals (sync rule 7).
    ...contractFlowWebhook('https://consent-sync.example/webhooks/salesforce', SALESFORCE.webhookSecret),
    failNext: (n, kind) => m.failNext(n, kind === 'rate_limit' ? 'limit' : '500'),
    calls: m.calls,
    close: m.close,
    native: {
      add: (type, fields) => sim.call<string>('add', type, fields),
      get: (type, id) => sim.call<Record<string, unknown> | null>('get', type, id),
    },
  };
}

// The HubSpot connector gives the SDK a `fetch`-based HTTP layer (connectors/hubspot/http.ts):
// the SDK's own node-fetch sent header arrays that workerd's node:http rejects.
connectorContract('hubspot (workerd)', hubspotFixture);
connectorContract('salesforce (workerd)', () => salesforceFixture(), { native: true });

describe('HubSpot in workerd: rate limits and server errors', () => {
  it('HubSpot: a 429 with Retry-After is waited out once, then the search goes through', async () => {
    const f = await hubspotFixture();
    try {
      const a = await f.seed('contact', P1, {});
      await f.sim.call('failNext', 1, '429'); // Retry-After: 1 (sim-control.ts)
      const started = Date.now();
      const found = await f.connector.find([P1], HUBSPOT_SPEC);
      const waited = Date.now() - started;
      expect(found.map((r) => r.id)).toEqual([a.id]);
      expect(waited).toBeGreaterThanOrEqual(900);
      const stats = await f.sim.call<{ rateLimited: number; byStatus: Record<string, number> }>('stats');
      expect(stats.byStatus['429']).toBe(1);
      expect(stats.byStatus['200']).toBe(1);
    } finally {
      await f.close();
    }
  });

  it('HubSpot: a 500 then a 502 HTML page are retried inside the call', async () => {
    const f = await hubspotFixture();
    try {
      const a = await f.seed('contact', P1, {});
      await f.sim.call('failNext', 1, '500');
      await f.sim.call('failNext', 1, '502');
      const found = await f.connector.find([P1], HUBSPOT_SPEC);
      expect(found.map((r) => r.id)).toEqual([a.id]);
      expect(f.calls()).toBe(3);
    } finally {
      await f.close();
    }
  });
});

describe('Salesforce in workerd: what the contract does not cover', () => {
  it('Salesforce: client-credentials token once, one re-auth after the tokens expire (401)', async () => {
    const f = await salesforceFixture({ concurrency: 4 });
    try {
      await f.seed('Contact', P1, {});
      type Stats = { tokenRequests: number; unauthorized: number };
      expect((await f.sim.call<Stats>('stats')).tokenRequests).toBe(0);
      await Promise.all([f.connector.find([P1], SALESFORCE_SPEC), f.connector.find([P1], SALESFORCE_SPEC)]);
      expect((await f.sim.call<Stats>('stats')).tokenRequests).toBe(1);
      await f.sim.call('expireTokens');
      const results = await Promise.all(
        Array.from({ length: 4 }, () => f.connector.find([P1], SALESFORCE_SPEC)),
      );
      expect(results.every((r) => r.length === 1)).toBe(true);
      const stats = await f.sim.call<Stats>('stats');
      expect(stats.tokenRequests).toBe(2);
      expect(f.tokenRequests()).toBe(2);
      expect(stats.unauthorized).toBeGreaterThanOrEqual(1);
    } finally {
      await f.close();
    }
  });

  it('Salesforce: a refused fresh token ends as UNAUTHORIZED, not retried forever', async () => {
    const f = await salesforceFixture();
    try {
      await f.sim.call('expireTokens', { refuseNew: true });
      const err = await f.connector.find([P1], SALESFORCE_SPEC).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectorFailure);
      expect((err as ConnectorFailure).error).toMatchObject({ code: 'UNAUTHORIZED', retryable: false });
      expect((await f.sim.call<{ tokenRequests: number }>('stats')).tokenRequests).toBe(2);
    } finally {
      await f.close();
    }
  });

  it('Salesforce: REQUEST_LIMIT_EXCEEDED and a 503 are retried, and a write goes through', async () => {
    const f = await salesforceFixture();
    try {
      const a = await f.seed('Contact', P1, { WhatsApp_Opted_Out__c: false });
      f.failNext(1, 'rate_limit');
      await f.sim.call('failNext', 1, '503');
      const out = await f.connector.write([
        { ...a, key: 'k-a', properties: { WhatsApp_Opted_Out__c: true } },
      ]);
      expect(out).toEqual([{ ok: true }]);
      expect(f.remote(a)?.WhatsApp_Opted_Out__c).toBe(true);
      expect((await f.sim.call<{ limited: number; faults: number }>('stats')).faults).toBe(2);
    } finally {
      await f.close();
    }
  });
});
