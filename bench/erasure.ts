/**
 * Erasure benchmark (issue 4): time from an erasure request to every task done (HubSpot GDPR
 * delete, Salesforce delete of Contacts and Leads, local crypto-shredding, receipt), against
 * healthy simulators, for N requests made one after another; prints the median, p90 and max.
 *
 *   npm run bench:erasure            (BENCH_ERASURES=100 by default)
 *
 * The simulators run in a worker thread (bench/sync-sims.ts) with 15 ms latency and rate limits
 * far above what N requests need (a healthy vendor). Only 127.0.0.1 is used.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { createHubSpotConnector } from '../connectors/hubspot/index.ts';
import { createSalesforceConnector } from '../connectors/salesforce/index.ts';
import { parseConfig } from '../src/config.ts';
import { toBase64 } from '../src/crypto/encoding.ts';
import { defaultMappings, fileMappingStorage } from '../src/runtime/mappings.node.ts';
import { Catalog } from '../src/service/catalog-service.ts';
import { silentLog } from '../src/service/log.ts';
import { buildServices } from '../src/service/services.ts';
import { openSqliteStore } from '../src/store/sqlite.ts';

const ROOT = resolve(import.meta.dirname, '..');
const N = Number(process.env.BENCH_ERASURES ?? 100);
if (!Number.isInteger(N) || N < 1 || N > 10_000) throw new Error('BENCH_ERASURES must be 1..10000');
const LIMITS = {
  hubspot: { requests: 1_000, windowMs: 1_000 },
  salesforce: { requests: 1_000, windowMs: 1_000 },
};
const LATENCY_MS = 15;
const readJson = (f: string) => JSON.parse(readFileSync(join(ROOT, 'catalog', f), 'utf8'));
const phoneOf = (i: number) => `+49151${String(30_000_000 + i).padStart(8, '0')}`; // fictitious example numbers

const dir = mkdtempSync(join(os.tmpdir(), 'consent-sync-bench-erasure-'));
const phones = Array.from({ length: N }, (_, i) => phoneOf(i));
const worker = new Worker(new URL('./sync-sims.ts', import.meta.url), {
  workerData: { n: N, limits: LIMITS, latencyMs: LATENCY_MS, phones },
});
const ask = <T>(msg: unknown): Promise<T> =>
  new Promise((ok) => {
    worker.once('message', ok);
    if (msg) worker.postMessage(msg);
  });
const urls = await ask<{ hubspot: string; salesforce: string }>(null);

const store = openSqliteStore({ path: join(dir, 'bench.db') });
await store.migrate();
const services = await buildServices({
  config: parseConfig({
    NODE_ENV: 'test',
    PII_KEY: toBase64(crypto.getRandomValues(new Uint8Array(32))),
    API_KEYS: 'admin:bench-admin-token-0123456789',
    WHATSAPP_APP_SECRET: 'bench',
    WHATSAPP_VERIFY_TOKEN: 'bench',
  }),
  store,
  catalog: Catalog.load({
    texts: readJson('texts.json'),
    keywords: readJson('keywords.json'),
    templates: readJson('templates.json'),
  }),
  log: silentLog,
  mappings: { storage: fileMappingStorage(join(dir, 'mappings')), defaults: defaultMappings() },
  connectors: {
    hubspot: createHubSpotConnector({
      accessToken: 'bench-hs',
      clientSecret: null,
      baseUrl: urls.hubspot,
      requestsPerWindow: LIMITS.hubspot.requests,
      windowMs: LIMITS.hubspot.windowMs,
    }),
    salesforce: createSalesforceConnector({
      loginUrl: urls.salesforce,
      clientId: 'bench-sf',
      clientSecret: 'bench-sf-secret',
      apiVersion: '62.0',
      orgId: null,
      webhookSecret: null,
      requestsPerWindow: LIMITS.salesforce.requests,
      windowMs: LIMITS.salesforce.windowMs,
    }),
  },
});
// Everyone known locally (an opt-out), and synced once, so their CRM records are linked.
for (const e164 of phones) {
  await services.consent.change({
    e164,
    intent: 'opt_out',
    purposes: 'all',
    source: 'api',
    occurredAt: new Date().toISOString(),
    evidence: { reason: 'bench' },
    create: true,
    reply: null,
  });
}
await services.dispatcher.drain();

const times: number[] = [];
for (const e164 of phones) {
  const t0 = performance.now();
  const { erasure } = await services.erasure.request({ e164, source: 'api' });
  for (;;) {
    const e = await store.getErasure(erasure.id);
    if (e?.status === 'completed') break;
    await new Promise((r) => setTimeout(r, 1));
  }
  times.push(performance.now() - t0);
}
const remaining = await ask<{ hubspot: number; salesforce: number }>({ cmd: 'remaining' });
const sorted = [...times].sort((a, b) => a - b);
const q = (p: number) =>
  Math.round((sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0) * 10) / 10;
const completed = await store.listErasures({ status: 'completed', limit: N + 1 });
const result = {
  at: new Date().toISOString(),
  node: process.version,
  cpus: os.cpus().length,
  requests: N,
  latencyMs: LATENCY_MS,
  msFromRequestToAllTasksDone: { median: q(0.5), p90: q(0.9), max: q(1) },
  completed: completed.length,
  allWithinDeadline: completed.every(
    (e) => (e.receipt as { withinDeadline?: boolean } | null)?.withinDeadline,
  ),
  recordsLeftInCrms: remaining,
};
console.log(JSON.stringify(result, null, 2));
const RESULTS = join(ROOT, 'bench', 'results');
mkdirSync(RESULTS, { recursive: true });
const json = `${JSON.stringify(result, null, 2)}\n`;
writeFileSync(join(RESULTS, `erasure-${result.at.replaceAll(':', '-')}.json`), json);
writeFileSync(join(RESULTS, 'erasure-latest.json'), json);
await services.dispatcher.stop();
await store.close();
await ask({ cmd: 'close' });
await worker.terminate();
rmSync(dir, { recursive: true, force: true });
