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
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { createHubSpotConnector } from '../connectors/hubspot/index.ts';
import { createSalesforceConnector } from '../connectors/salesforce/index.ts';
import { benchServices, startSims, writeResult } from './setup.ts';

const N = Number(process.env.BENCH_ERASURES ?? 100);
if (!Number.isInteger(N) || N < 1 || N > 10_000) throw new Error('BENCH_ERASURES must be 1..10000');
const LIMITS = {
  hubspot: { requests: 1_000, windowMs: 1_000 },
  salesforce: { requests: 1_000, windowMs: 1_000 },
};
const LATENCY_MS = 15;
const phoneOf = (i: number) => `+49151${String(30_000_000 + i).padStart(8, '0')}`; // fictitious example numbers

const phones = Array.from({ length: N }, (_, i) => phoneOf(i));
const sims = await startSims(phones, LIMITS, LATENCY_MS);
const { services, store, close } = await benchServices('erasure', {
  hubspot: createHubSpotConnector({
    accessToken: 'bench-hs',
    clientSecret: null,
    baseUrl: sims.urls.hubspot,
    requestsPerWindow: LIMITS.hubspot.requests,
    windowMs: LIMITS.hubspot.windowMs,
  }),
  salesforce: createSalesforceConnector({
    loginUrl: sims.urls.salesforce,
    clientId: 'bench-sf',
    clientSecret: 'bench-sf-secret',
    apiVersion: '62.0',
    orgId: null,
    webhookSecret: null,
    requestsPerWindow: LIMITS.salesforce.requests,
    windowMs: LIMITS.salesforce.windowMs,
  }),
});
// Everyone known locally (an opt-out), and synced once, so their CRM records are linked.
for (const e164 of phones) {
  await services.consent.change({
    identity: { phone: e164 },
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
const remaining = await sims.ask<{ hubspot: number; salesforce: number }>({ cmd: 'remaining' });
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
writeResult('erasure', result);
await close();
await sims.close();
