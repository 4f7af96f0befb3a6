/**
 * Store benchmark (issue 6): a SQLite store holding 1,000,000 ledger events over 200,000 people.
 *
 *   npm run bench:store                    (STORE_EVENTS=1000000 by default)
 *   STORE_EVENTS=100000 npm run bench:store   (a quick run: 20,000 people)
 *
 * Build: every person goes through the real ConsentService (keyed phone hash, a fresh data key,
 * encrypted number and evidence, the core's decisions, hash-chained events committed with the
 * derived states as one unit): a web-form request for both purposes (2 events), a WhatsApp YES
 * (2 events, with its inbound dedupe key) and a WhatsApp STOP for marketing (1 event) = 5 events
 * per person. BUILD_CONCURRENCY people are in flight at once, so the store's group commit puts many
 * people's units in one transaction (one fsync); each unit is still one person's change.
 *
 * Then it measures: bytes per event on disk (database + WAL + shm after a TRUNCATE checkpoint, over
 * the events); current-state lookups by phone hash (store: subject by hash + states; service: the
 * GET /v1/subjects path with the keyed hash, tombstone check and data-key unwrap); ledger
 * verification (History.verify, as GET /v1/ledger/verify); and the RSS of streaming the whole
 * ledger as NDJSON with the real `consent-sync ledger export` in a process of its own
 * (bench/store-export.ts; the command reads `store.readLedger` pages).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DatabaseSync } from 'node:sqlite';
import { benchServices, ROOT, writeResult } from './setup.ts';

const EVENTS = Number(process.env.STORE_EVENTS ?? 1_000_000);
const PER_PERSON = 5;
if (!Number.isInteger(EVENTS) || EVENTS < 1_000 || EVENTS % PER_PERSON !== 0 || EVENTS > 10_000_000)
  throw new Error(`STORE_EVENTS must be a multiple of ${PER_PERSON} between 1000 and 10000000`);
const PEOPLE = EVENTS / PER_PERSON;
const CONCURRENCY = Number(process.env.BUILD_CONCURRENCY ?? 256);
const LOOKUPS = Number(process.env.STORE_LOOKUPS ?? 20_000);
const GOALS = { lookupP99Ms: 1, exportRssMiB: 256 };
const MiB = 1024 * 1024;
const LOAD_AT_START = Math.round((os.loadavg()[0] ?? 0) * 100) / 100;

/** Fictitious German mobile numbers (example range +49 151 2xxxxxxx). */
const phoneOf = (i: number) => `+49151${String(20_000_000 + i).padStart(8, '0')}`; // example numbers

const progress = (msg: string) => console.error(`[bench:store] ${msg}`);
const round = (n: number, d = 3) => Math.round(n * 10 ** d) / 10 ** d;

const { services, store, dbPath, close } = await benchServices('store', {});
const { consent } = services;
const T0 = Date.parse('2026-01-05T08:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

/** One person's life: form request → WhatsApp YES → WhatsApp STOP for marketing (5 events). */
async function person(i: number): Promise<void> {
  const e164 = phoneOf(i);
  const at = T0 + i * 10;
  const applied = (r: Awaited<ReturnType<typeof consent.change>>, what: string) => {
    if (r.status !== 'applied') throw new Error(`${what} for person ${i}: ${r.status}`);
  };
  applied(
    await consent.change({
      identity: { phone: e164 },
      intent: 'request',
      purposes: ['marketing', 'transactional'],
      source: 'form',
      occurredAt: iso(at),
      evidence: { actor: 'intake', formUrl: 'https://shop.example.com/newsletter', reference: `form-${i}` },
      locale: 'de',
      create: true,
      reply: null,
    }),
    'request',
  );
  const yesKey = `wa:${await consent.hashOf(`wa:msg:wamid.bench-yes-${i}`)}`;
  applied(
    await consent.change({
      identity: { phone: e164 },
      intent: 'confirm',
      purposes: ['marketing', 'transactional'],
      source: 'whatsapp',
      occurredAt: iso(at + 60_000),
      evidence: { waMessageId: `wamid.bench-yes-${i}`, matched: 'JA' },
      dedupeKeys: [yesKey],
      create: false,
      reply: null,
    }),
    'confirm',
  );
  const stopKey = `wa:${await consent.hashOf(`wa:msg:wamid.bench-stop-${i}`)}`;
  applied(
    await consent.change({
      identity: { phone: e164 },
      intent: 'opt_out',
      purposes: ['marketing'],
      source: 'whatsapp',
      occurredAt: iso(at + 86_400_000),
      evidence: { waMessageId: `wamid.bench-stop-${i}`, matched: 'STOP' },
      dedupeKeys: [stopKey],
      create: false,
      reply: null,
    }),
    'opt-out',
  );
}

// ---- build ------------------------------------------------------------------------------------
progress(`building ${EVENTS} events over ${PEOPLE} people (concurrency ${CONCURRENCY})`);
const flushesBefore = store.stats();
const buildStart = performance.now();
let next = 0;
let lastReport = buildStart;
await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    for (let i = next++; i < PEOPLE; i = next++) {
      await person(i);
      const now = performance.now();
      if (now - lastReport > 10_000) {
        lastReport = now;
        progress(`${i} people, ${Math.round((i * PER_PERSON) / ((now - buildStart) / 1000))} events/s`);
      }
    }
  }),
);
const buildMs = performance.now() - buildStart;
const stats = store.stats();
const head = await store.ledgerHead();
if (head?.seq !== EVENTS) throw new Error(`expected ${EVENTS} events, the ledger head says ${head?.seq}`);
progress(`built in ${Math.round(buildMs / 1000)} s`);

// ---- size on disk -----------------------------------------------------------------------------
const sizeOf = () =>
  ['', '-wal', '-shm']
    .map((s) => `${dbPath}${s}`)
    .filter((f) => existsSync(f))
    .reduce((sum, f) => sum + statSync(f).size, 0);
const bytesBeforeCheckpoint = sizeOf();
const side = new DatabaseSync(dbPath);
const checkpoint = side.prepare('PRAGMA wal_checkpoint(TRUNCATE)').get();
const counts = Object.fromEntries(
  ['subjects', 'ledger', 'consent_state', 'inbound_dedupe', 'consent_texts', 'outbox'].map((t) => [
    t,
    Number(side.prepare(`SELECT count(*) AS n FROM ${t}`).get()?.n),
  ]),
);
side.close();
const bytesOnDisk = sizeOf();

// ---- current-state lookups ----------------------------------------------------------------------
const quantiles = (ms: number[]) => {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => round(s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? 0, 4);
  return {
    p50: q(0.5),
    p90: q(0.9),
    p99: q(0.99),
    max: q(1),
    mean: round(s.reduce((a, b) => a + b, 0) / s.length, 4),
  };
};
// A fixed-seed LCG, so every run looks up the same people.
let seed = 42;
const rand = () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
  return seed / 2_147_483_648;
};
const sample = Array.from({ length: LOOKUPS }, () => phoneOf(Math.floor(rand() * PEOPLE)));
const hashes = await Promise.all(sample.map((p) => services.subjects.hash(p)));
progress(`${LOOKUPS} lookups by phone hash`);
const storeTimes: number[] = [];
for (const h of hashes) {
  const t = performance.now();
  const row = await store.findSubjectByHash(h);
  const states = row ? await store.getStates(row.id) : [];
  storeTimes.push(performance.now() - t);
  if (states.length !== 2) throw new Error('a looked-up person lacks their two states');
}
// The GET /v1/subjects/{phone} path below the HTTP layer: keyed hash, tombstone, subject (data key), states.
const serviceTimes: number[] = [];
for (const p of sample) {
  const t = performance.now();
  const h = await services.subjects.hash(p);
  const [tomb] = await store.tombstonesFor([h]);
  const subject = tomb ? null : await services.subjects.find(h);
  const states = subject ? await store.getStates(subject.row.id) : [];
  serviceTimes.push(performance.now() - t);
  if (states.length !== 2) throw new Error('a looked-up person lacks their two states');
}
const lookupStore = quantiles(storeTimes);
const lookupService = quantiles(serviceTimes);

// ---- ledger verification ------------------------------------------------------------------------
progress('verifying the ledger');
const verifyStart = performance.now();
const verified = await services.history.verify();
const verifyMs = performance.now() - verifyStart;
if (!verified.ok || verified.events !== EVENTS)
  throw new Error(`verification failed: ${JSON.stringify(verified)}`);

// ---- streaming export: the real `consent-sync ledger export`, in a process of its own -----------
progress('consent-sync ledger export in a child process');
const exportPath = join(dirname(dbPath), 'ledger.ndjson');
const exportOut = execFileSync(
  process.execPath,
  ['--disable-warning=ExperimentalWarning', join(ROOT, 'bench', 'store-export.ts'), exportPath],
  {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    // Development mode: the export decrypts nothing, so the generated keys do not matter.
    env: { ...process.env, DATA_DIR: dirname(dbPath), NODE_ENV: 'development', LOG_LEVEL: 'error' },
  },
);
const exported = JSON.parse(exportOut.trim().split('\n').at(-1) ?? '{}') as {
  code: number;
  events: number;
  bytes: number;
  ms: number;
  rssStartMiB: number;
  rssPeakSampledMiB: number;
  maxRssMiB: number;
};
if (exported.code !== 0 || exported.events !== EVENTS)
  throw new Error(`the export wrote ${exported.events} events (exit code ${exported.code}), not ${EVENTS}`);
rmSync(exportPath, { force: true });

const result = {
  at: new Date().toISOString(),
  node: process.version,
  cpus: os.cpus().length,
  cpu: os.cpus()[0]?.model ?? 'unknown',
  platform: `${os.platform()} ${os.release()}`,
  /** other work on the machine skews absolute times: the 1-minute load average at the start and the end */
  loadAverage1m: { start: LOAD_AT_START, end: round(os.loadavg()[0] ?? 0, 2) },
  events: EVENTS,
  people: PEOPLE,
  eventsPerPerson: 'form request (2) + WhatsApp YES (2) + WhatsApp STOP for marketing (1)',
  build: {
    ms: Math.round(buildMs),
    eventsPerSecond: Math.round(EVENTS / (buildMs / 1000)),
    changesPerSecond: Math.round((PEOPLE * 3) / (buildMs / 1000)),
    concurrency: CONCURRENCY,
    units: stats.units - flushesBefore.units,
    transactions: stats.flushes - flushesBefore.flushes,
    unitsPerTransaction: round(
      (stats.units - flushesBefore.units) / (stats.flushes - flushesBefore.flushes),
      1,
    ),
    note: "each unit is one person's change through ConsentService; group commit batches concurrent units per transaction",
  },
  rows: counts,
  disk: {
    bytesBeforeCheckpoint,
    bytesAfterCheckpoint: bytesOnDisk,
    checkpoint,
    bytesPerEvent: Math.round(bytesOnDisk / EVENTS),
    mib: round(bytesOnDisk / MiB, 1),
  },
  lookupMs: {
    lookups: LOOKUPS,
    store: lookupStore,
    service: lookupService,
    note: 'store: findSubjectByHash + getStates; service: + keyed hash, tombstone check, data-key unwrap (LRU of 10,000)',
  },
  verify: {
    ms: Math.round(verifyMs),
    events: verified.events,
    eventsPerSecond: Math.round(EVENTS / (verifyMs / 1000)),
  },
  export: {
    events: exported.events,
    mib: round(exported.bytes / MiB, 1),
    ms: exported.ms,
    command: 'consent-sync ledger export --out <file> (default page size)',
    rssStartMiB: exported.rssStartMiB,
    rssPeakSampledMiB: exported.rssPeakSampledMiB,
    maxRssMiB: exported.maxRssMiB,
  },
  goals: {
    lookupP99: `${lookupStore.p99} ms ≤ ${GOALS.lookupP99Ms} ms: ${lookupStore.p99 <= GOALS.lookupP99Ms}`,
    lookupP99Service: `${lookupService.p99} ms ≤ ${GOALS.lookupP99Ms} ms: ${lookupService.p99 <= GOALS.lookupP99Ms}`,
    exportRss: `${exported.maxRssMiB} MiB < ${GOALS.exportRssMiB} MiB: ${exported.maxRssMiB < GOALS.exportRssMiB}`,
  },
};
console.log(JSON.stringify(result, null, 2));
writeResult('store', result);
await close();
