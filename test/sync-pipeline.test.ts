/**
 * The shape of CRM sync under load (issue 18), asserted on counters, never on timing: a steady
 * round of a few thousand opt-outs pushed to the HubSpot and Salesforce simulators through the
 * real SDKs and the SQLite store. `npm run bench:sync` measures the speed; this file fails when a
 * change makes batching or pipelining worse (more calls, smaller leases, a commit or fsync per job,
 * fewer batches in flight) or sends the lease query back to a plan that reads every live lease
 * once per due job (the cause of issue 18: 0.9 → 0.34 of the rate-limit ceiling).
 */
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHubSpotConnector } from '../connectors/hubspot/index.ts';
import { createSalesforceConnector } from '../connectors/salesforce/index.ts';
import type { Connector, ConnectorName } from '../connectors/types.ts';
import type { SqliteStore, StoreStats } from '../src/store/sqlite.ts';
import { SELECT_DUE } from '../src/store/sqlite-jobs.ts';
import type { BatchHandler, BatchKindStats } from '../src/sync/dispatcher.ts';
import { type Harness, startHarness } from './helpers/harness.ts';
import { type HubSpotSimulator, startHubSpotSimulator } from './sim/hubspot.ts';
import { type SalesforceSimulator, startSalesforceSimulator } from './sim/salesforce.ts';

const N = 2_000;
// Fictitious example numbers (German mobile range used throughout the tests).
const phoneOf = (i: number) => `+49151${String(30_000_000 + i).padStart(8, '0')}`;
const KINDS = { hubspot: 'sync.hubspot', salesforce: 'sync.salesforce' } as const;

/** Counts a connector's calls and the most write calls handed to it at once. */
interface Meter {
  writes: number;
  finds: number;
  open: number;
  maxOpen: number;
}
const newMeter = (): Meter => ({ writes: 0, finds: 0, open: 0, maxOpen: 0 });

function metered(c: Connector, m: Meter): Connector {
  return new Proxy(c, {
    get(target, p) {
      const v = Reflect.get(target, p, target);
      if (typeof v !== 'function') return v;
      if (p === 'write')
        return async (...args: Parameters<Connector['write']>) => {
          m.writes += 1;
          m.maxOpen = Math.max(m.maxOpen, ++m.open);
          try {
            return await target.write(...args);
          } finally {
            m.open -= 1;
          }
        };
      if (p === 'find')
        return (...args: Parameters<Connector['find']>) => {
          m.finds += 1;
          return target.find(...args);
        };
      return v.bind(target);
    },
  });
}

let h: Harness;
let hubspot: HubSpotSimulator;
let salesforce: SalesforceSimulator;
let store: SqliteStore;
const meters: Record<ConnectorName, Meter> = { hubspot: newMeter(), salesforce: newMeter() };

/** Stores one change per person with dispatching held, then dispatches them all. */
async function round(intent: 'request' | 'opt_out') {
  const d = h.services.dispatcher;
  d.pause();
  const at = h.now().toISOString();
  for (let i = 0; i < N; i += 250) {
    await Promise.all(
      Array.from({ length: Math.min(250, N - i) }, (_, k) =>
        h.services.consent.change({
          identity: { phone: phoneOf(i + k) },
          intent,
          purposes: ['marketing'],
          source: intent === 'request' ? 'form' : 'api',
          occurredAt: at,
          evidence: { reason: 'structure test' },
          create: true,
          reply: null,
        }),
      ),
    );
  }
  for (const m of Object.values(meters)) Object.assign(m, newMeter());
  d.takeBatchStats();
  const before = store.stats();
  await d.resume();
  await d.drain();
  const after = store.stats();
  const delta = Object.fromEntries(
    Object.keys(after).map((k) => [k, after[k as keyof StoreStats] - before[k as keyof StoreStats]]),
  ) as unknown as StoreStats;
  return {
    store: delta,
    batches: d.takeBatchStats() as Record<string, BatchKindStats>,
    calls: { hubspot: { ...meters.hubspot }, salesforce: { ...meters.salesforce } },
    jobs: await store.countJobs(),
  };
}

let cold: Awaited<ReturnType<typeof round>>;
let steady: Awaited<ReturnType<typeof round>>;

beforeAll(async () => {
  hubspot = await startHubSpotSimulator({ accessToken: 'test-hubspot-token', requestsPerWindow: 100_000 });
  salesforce = await startSalesforceSimulator({
    clientId: 'test-sf-client-id',
    clientSecret: 'test-sf-client-secret',
    orgId: '00D5e000000KQ2eEAG',
    requestsPerWindow: 100_000,
  });
  for (let i = 0; i < N; i++) {
    hubspot.addContact({ mobilephone: phoneOf(i), firstname: 'Example' });
    salesforce.add('Contact', { MobilePhone: phoneOf(i), LastName: 'Example' });
  }
  h = await startHarness({
    clock: 'real',
    whatsapp: false,
    env: {
      LOG_LEVEL: 'warn',
      HUBSPOT_ACCESS_TOKEN: 'test-hubspot-token',
      HUBSPOT_BASE_URL: hubspot.url,
      SALESFORCE_LOGIN_URL: salesforce.url,
      SALESFORCE_CLIENT_ID: 'test-sf-client-id',
      SALESFORCE_CLIENT_SECRET: 'test-sf-client-secret',
    },
    wrapStore: (s) => {
      store = s as SqliteStore;
      return s;
    },
    connectors: () => ({
      hubspot: metered(
        createHubSpotConnector({
          accessToken: 'test-hubspot-token',
          clientSecret: null,
          baseUrl: hubspot.url,
          requestsPerWindow: 100_000,
          windowMs: 10_000,
          concurrency: 4,
        }),
        meters.hubspot,
      ),
      salesforce: metered(
        createSalesforceConnector({
          loginUrl: salesforce.url,
          clientId: 'test-sf-client-id',
          clientSecret: 'test-sf-client-secret',
          apiVersion: '62.0',
          orgId: null,
          webhookSecret: null,
          requestsPerWindow: 100_000,
          concurrency: 4,
        }),
        meters.salesforce,
      ),
    }),
  });
  cold = await round('request');
  steady = await round('opt_out');
}, 180_000);

afterAll(async () => {
  await h?.close();
  await hubspot?.close();
  await salesforce?.close();
});

const handler = (name: ConnectorName) => h.services.sync.handlers()[KINDS[name]] as BatchHandler;
const batchesOf = (name: ConnectorName) => Math.ceil(N / handler(name).maxBatch);

describe('CRM sync keeps its shape under load (issue 18)', () => {
  it('every record ends in the final state and every job is done', () => {
    expect(steady.jobs).toMatchObject({ pending: 0, leased: 0, dead: 0 });
    expect(hubspot.contacts().filter((c) => c.properties.whatsapp_marketing_consent !== 'withdrawn')).toEqual(
      [],
    );
    expect(salesforce.all('Contact').filter((c) => c.WhatsApp_Marketing_Consent__c !== 'Opted Out')).toEqual(
      [],
    );
  });

  it('one write call per full batch, no lookups once records are linked', () => {
    for (const name of ['hubspot', 'salesforce'] as const) {
      expect(steady.calls[name].writes, name).toBe(batchesOf(name));
      expect(steady.calls[name].finds, name).toBe(0);
      // the cold round: one lookup and one write per batch
      expect(cold.calls[name].finds, name).toBe(batchesOf(name));
      expect(cold.calls[name].writes, name).toBe(batchesOf(name));
    }
  });

  it('each lease takes a full batch, and leases share their transactions', () => {
    for (const name of ['hubspot', 'salesforce'] as const) {
      const s = steady.batches[KINDS[name]];
      expect(s, name).toMatchObject({ leases: batchesOf(name), leasedJobs: N, batches: batchesOf(name) });
    }
    // Lease calls of both kinds (the empty ones that end each pump included) join group commits.
    expect(steady.store.leasedJobs).toBe(2 * N);
    expect(steady.store.leaseFlushes).toBeLessThan(steady.store.leases);
    expect(steady.store.leasedJobs / steady.store.leaseFlushes).toBeGreaterThanOrEqual(
      handler('hubspot').maxBatch,
    );
  });

  it('commits and fsyncs are counted per batch, not per job', () => {
    const batches = batchesOf('hubspot') + batchesOf('salesforce');
    // Besides the leases, a batch writes twice: what it is about to send (echo suppression), then
    // its outcomes; each joins a group commit, one fsync per commit at most.
    expect(steady.store.units - steady.store.leases).toBe(2 * batches);
    expect(steady.store.flushes).toBeLessThanOrEqual(3 * batches);
    expect(steady.store.syncs).toBeGreaterThan(0);
    expect(steady.store.syncs).toBeLessThanOrEqual(steady.store.flushes);
  });

  it('batches of a connector run side by side and keep the connector’s concurrency filled', () => {
    for (const name of ['hubspot', 'salesforce'] as const) {
      const parallel = handler(name).parallel ?? 4;
      // All pumps lease in the same group commit at the start of a pass, so all their batches run at once.
      expect(steady.batches[KINDS[name]]?.maxInFlight, name).toBe(Math.min(parallel, batchesOf(name)));
      // Write calls handed to the connector at once (it holds them to its concurrency of 4 and rate limit).
      expect(steady.calls[name].maxOpen, name).toBeGreaterThanOrEqual(Math.min(4, batchesOf(name)));
    }
  });

  it('the lease query finds a person’s live lease through outbox_subject, never by reading every lease', () => {
    const db = new DatabaseSync(h.dbPath, { readOnly: true });
    try {
      const plan = db
        .prepare(`EXPLAIN QUERY PLAN ${SELECT_DUE}`)
        .all(
          '2026-01-01T00:00:00.000Z',
          '["sync.hubspot"]',
          '2026-01-01T00:00:00.000Z',
          '2026-01-01T00:00:00.000Z',
          '["sync.hubspot"]',
          100,
        )
        .map((r) => String(r.detail));
      expect(plan.filter((d) => / busy /.test(` ${d} `))).toEqual([
        'SEARCH busy USING INDEX outbox_subject (subject_id=?)',
      ]);
      expect(plan.filter((d) => d.startsWith('SCAN outbox'))).toEqual([]);
    } finally {
      db.close();
    }
  });
});
