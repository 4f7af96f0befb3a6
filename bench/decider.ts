/**
 * The inbox decider alone (issue 17): fills the durable inbox with a STOP storm while the decider
 * is stopped, then starts it and times the drain. It measures what `bench:ingest` cannot separate
 * from the acknowledgement path: decided events per second and the CPU each decided event costs.
 * In process (the test harness: real SQLite file, real PII crypto, the Graph API simulator);
 * fictitious numbers only. Figures go to bench/results/decider-*.json.
 *
 *   npm run bench:decider                          (5,000 people, then 10,000 repeated STOPs)
 *   BENCH_PEOPLE=2000 BENCH_EVENTS=4000 npm run bench:decider
 *   BENCH_CPU_PROF=1 npm run bench:decider         (node --cpu-prof; profile under bench/results/profiles)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { cpus } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { startHarness } from '../test/helpers/harness.ts';
import { textMessage } from '../test/helpers/whatsapp.ts';
import { writeResult } from './results.ts';

const PEOPLE = Number(process.env.BENCH_PEOPLE ?? 5_000);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 10_000);
const PER_DELIVERY = 50;
const PROFILE = process.env.BENCH_CPU_PROF === '1';

// +49 151 2300 0000 …: a fictitious block (German mobile prefix, 0000-range subscriber numbers)
const wa = (n: number) => `491512300${String(n).padStart(4, '0')}`;

const h = await startHarness({ env: { LOG_LEVEL: 'warn' } });
const inbox = h.services.inbox;
if (!inbox) throw new Error('no durable inbox in the service graph');
const ts = () => String(Math.floor(h.now().getTime() / 1000));

/** Acknowledges `count` STOPs (person n % PEOPLE), PER_DELIVERY per webhook, with the decider stopped. */
async function fill(from: number, count: number): Promise<void> {
  await inbox?.stop();
  for (let i = from; i < from + count; i += PER_DELIVERY) {
    const changes = [];
    for (let k = i; k < Math.min(from + count, i + PER_DELIVERY); k++)
      changes.push(textMessage(wa(k % PEOPLE), 'STOP', { timestamp: ts() }));
    const res = await h.acknowledge(...changes);
    if (res.status !== 200) throw new Error(`webhook answered ${res.status}`);
  }
}

/**
 * Starts the decider and waits for the inbox to drain: wall time, CPU of this process (all threads),
 * and how long the event loop was held (what a webhook arriving meanwhile would wait for its turn).
 */
async function drain(): Promise<{ ms: number; cpuMs: number; loop: object; summary: object }> {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  inbox?.start();
  const summary = await h.drained();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  delay.disable();
  const loop = {
    p50Ms: Number((delay.percentile(50) / 1e6).toFixed(1)),
    p99Ms: Number((delay.percentile(99) / 1e6).toFixed(1)),
    maxMs: Number((delay.max / 1e6).toFixed(1)),
  };
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000, loop, summary };
}

// Warm-up: every person's first STOP (creates them), then the outbox's confirmations sent.
await fill(0, PEOPLE);
const warm = await drain();
await h.drain();
h.advance(60_000);

await fill(PEOPLE, EVENTS);
const session = PROFILE ? new Session() : null;
if (session) {
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
}
const run = await drain();
let profilePath: string | null = null;
if (session) {
  const { profile } = await session.post('Profiler.stop');
  mkdirSync(new URL('./results/profiles/', import.meta.url), { recursive: true });
  profilePath = new URL(`./results/profiles/decider-${Date.now()}.cpuprofile`, import.meta.url).pathname;
  writeFileSync(profilePath, JSON.stringify(profile));
}
const verify = await h.services.store.readLedger(0, 1);
await h.close();

const figures = {
  cores: cpus().length,
  node: process.version,
  people: PEOPLE,
  warmUp: { events: PEOPLE, perSecond: Math.round(PEOPLE / (warm.ms / 1000)), ...warm.summary },
  events: EVENTS,
  decidedPerSecond: Math.round(EVENTS / (run.ms / 1000)),
  cpuMsPerEvent: Number((run.cpuMs / EVENTS).toFixed(3)),
  drainMs: Math.round(run.ms),
  eventLoopDelay: run.loop,
  summary: run.summary,
  ledgerNonEmpty: verify.length > 0,
  profile: profilePath,
};
console.log(JSON.stringify(figures, null, 2));
if (!PROFILE) writeResult('decider', { at: new Date().toISOString(), ...figures });
