/**
 * Worker benchmark (issue 5): production bundles (`wrangler deploy --dry-run --minify`) in workerd,
 * through the Miniflare that wrangler itself uses, and N signed WhatsApp webhooks (STOP from N
 * distinct numbers, each stored before the answer), one after another. Two runs:
 *
 * - `d1`: the real Worker (src/runtime/worker.ts) over local D1 and the outbox queue's producer, without
 *   the INBOX binding: each STOP decided before its answer (the configuration before issue 17).
 * - `d1Inbox`: the same with the INBOX producer (the default wrangler.toml): each STOP acknowledged once
 *   its opt-out marker is in D1 and its event in the queue. No consumer runs during this loop, so the
 *   figure is the acknowledgement alone.
 * - `memory`: the same app over the in-memory store (bench/worker-memory.ts).
 *
 * Then `decide`: the Worker with the inbox queue's consumer as wrangler.toml configures it (batches of
 * 10, 1 s timeout): single STOPs one after another, each timed from its 200 until its state reads
 * `opted_out` (the acknowledged → decided delay), and one delivery of 1,000 STOPs from new numbers,
 * timed until every event is decided, with the D1 statements of each consumer invocation (from the
 * consumer's own `inbox batch decided` log lines, which count every statement, also inside a batch).
 *
 *   npm run bench:worker             (BENCH_REQUESTS=300 by default)
 *
 * CPU is read from Linux /proc: the utime + stime of the workerd process over the measured requests,
 * divided by N (a mean; /proc ticks are 10 ms, so N must be large). Locally, D1 is SQLite inside the
 * same workerd process, plus workerd's own HTTP handling of each request: the `d1` figure is an
 * upper bound of what Cloudflare bills as the Worker's CPU (there, D1 runs elsewhere and waiting on
 * it is not CPU). The `memory` figure is the Worker's own code path plus workerd's request handling;
 * the Worker's D1 client work (building queries, parsing results) lies between the two. Local
 * workerd reports no per-request CPU (tail events say 0), and its V8 profiler does not mark the
 * isolate idle while it waits, so neither can split the figure further.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { envelope, signedRequest, textMessage } from '../test/helpers/whatsapp.ts';
import { writeResult } from './results.ts';

// wrangler's own Miniflare (and so its workerd), as `wrangler dev` runs it.
interface LocalWorkerd {
  ready: Promise<URL>;
  dispatchFetch(url: URL, init: RequestInit): Promise<Response>;
  dispose(): Promise<void>;
}
const requireFromWrangler = createRequire(createRequire(import.meta.url).resolve('wrangler/package.json'));
const { Miniflare } = requireFromWrangler('miniflare') as {
  Miniflare: new (options: Record<string, unknown>) => LocalWorkerd;
};

const ROOT = resolve(import.meta.dirname, '..');
const N = Number(process.env.BENCH_REQUESTS ?? 300);
const WARMUP = 30;
const SECRET = 'bench-app-secret';
const GOAL_CPU_MS = 5;
const out = mkdtempSync(join(os.tmpdir(), 'consent-sync-bench-worker-'));

function build(dir: string, entry?: string): string {
  const args = ['deploy', '--dry-run', '--minify', '--outdir', join(out, dir), ...(entry ? [entry] : [])];
  execFileSync(join(ROOT, 'node_modules/.bin/wrangler'), args, { cwd: ROOT, stdio: 'ignore' });
  return join(out, dir, entry ? 'worker-memory.js' : 'worker.js');
}

/** utime + stime of every workerd process below this one (Linux /proc), in ms. */
function workerdCpuMs(): number {
  const pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  const stat = (pid: string) => {
    try {
      const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      return {
        name: s.slice(s.indexOf('(') + 1, s.lastIndexOf(')')),
        parent: f[1] ?? '',
        ticks: Number(f[11]) + Number(f[12]),
      };
    } catch {
      return null;
    }
  };
  const all = new Map(pids.map((p) => [p, stat(p)]));
  const below = (pid: string): boolean => {
    for (let p = all.get(pid)?.parent; p && p !== '0'; p = all.get(p)?.parent)
      if (p === String(process.pid)) return true;
    return false;
  };
  let ticks = 0;
  for (const [pid, s] of all) if (s?.name.includes('workerd') && below(pid)) ticks += s.ticks;
  return ticks * 10; // USER_HZ is 100 on Linux
}

const graph = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"messaging_product":"whatsapp","contacts":[],"messages":[{"id":"wamid.bench"}]}');
  });
});
await new Promise<void>((ok) => graph.listen(0, '127.0.0.1', () => ok()));
const graphPort = (graph.address() as { port: number }).port;

const PII_KEY = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64');
const ADMIN = 'bench-admin-token-0123456789';

/** The Worker in wrangler's workerd; `inbox`: 'producer' binds INBOX, 'consumer' also consumes it. */
function workerd(label: string, script: string, inbox: 'none' | 'producer' | 'consumer', extra = {}) {
  return new Miniflare({
    modules: true,
    scriptPath: script,
    modulesRoot: join(script, '..'),
    compatibilityDate: '2026-05-01',
    compatibilityFlags: ['nodejs_compat'],
    d1Databases: ['DB'],
    d1Persist: join(out, `${label}-d1`),
    // producers but no outbox consumer: the replies wait in D1 (not measured here)
    queueProducers: {
      OUTBOX: 'consent-sync-outbox',
      ...(inbox === 'none' ? {} : { INBOX: 'consent-sync-inbox' }),
    },
    ...(inbox === 'consumer'
      ? {
          queueConsumers: {
            'consent-sync-inbox': { maxBatchSize: 10, maxBatchTimeout: 1, maxRetries: 5 },
          },
        }
      : {}),
    ...extra,
    bindings: {
      NODE_ENV: 'production',
      LOG_LEVEL: inbox === 'consumer' ? 'info' : 'warn',
      PII_KEY,
      API_KEYS: `admin:${ADMIN}`,
      WHATSAPP_APP_SECRET: SECRET,
      WHATSAPP_VERIFY_TOKEN: 'bench',
      WHATSAPP_ACCESS_TOKEN: 'bench-token',
      WHATSAPP_PHONE_NUMBER_ID: '106540352242922',
      WHATSAPP_GRAPH_URL: `http://127.0.0.1:${graphPort}/v23.0`,
    },
  });
}

async function run(label: string, script: string, inbox: 'none' | 'producer' = 'none') {
  const mf = workerd(label, script, inbox);
  const base = await mf.ready;
  // Signed ahead, so signing costs nothing in the measured loop.
  const requests = await Promise.all(
    Array.from({ length: WARMUP + N }, (_, i) =>
      // fictitious example numbers, one person per request
      signedRequest(envelope(textMessage(`49151${String(40_000_000 + i).padStart(8, '0')}`, 'STOP')), SECRET),
    ),
  );
  const send = async (i: number) => {
    const req = requests[i];
    if (!req) throw new Error('no request');
    const t0 = performance.now();
    const res = await mf.dispatchFetch(new URL('/webhooks/whatsapp', base), {
      method: 'POST',
      headers: req.headers,
      body: req.body,
    });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`${label}: status ${res.status}`);
    return performance.now() - t0;
  };
  for (let i = 0; i < WARMUP; i++) await send(i); // boot, migrations, JIT
  const cpu0 = workerdCpuMs();
  const times: number[] = [];
  for (let i = WARMUP; i < WARMUP + N; i++) times.push(await send(i));
  const cpuMs = workerdCpuMs() - cpu0;
  await mf.dispose();
  const sorted = times.sort((a, b) => a - b);
  const q = (p: number) =>
    Math.round((sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0) * 100) / 100;
  return {
    workerdCpuMsPerRequest: Math.round((cpuMs / N) * 100) / 100,
    wallMsPerRequest: { median: q(0.5), p90: q(0.9), max: q(1) },
  };
}

/**
 * The inbox consumer at work: acknowledged → decided for single STOPs, and the largest delivery
 * (1,000 STOPs from new numbers in one webhook) with the D1 statements of each consumer invocation.
 */
async function decide(script: string, singles = 20, largest = 1_000) {
  const decided: Array<{ applied: number; duplicates: number; ignored: number; queries: number }> = [];
  let pendingLine = '';
  const mf = workerd('decide', script, 'consumer', {
    handleRuntimeStdio(stdout: NodeJS.ReadableStream, stderr: NodeJS.ReadableStream) {
      stdout.on('data', (chunk: Buffer) => {
        const lines = (pendingLine + chunk.toString()).split('\n');
        pendingLine = lines.pop() ?? '';
        for (const line of lines) {
          if (!line.includes('inbox batch decided')) continue;
          try {
            decided.push(JSON.parse(line.slice(line.indexOf('{'))));
          } catch {}
        }
      });
      stderr.resume();
    },
  });
  const base = await mf.ready;
  const post = async (body: object) => {
    const req = await signedRequest(body, SECRET);
    const res = await mf.dispatchFetch(new URL('/webhooks/whatsapp', base), {
      method: 'POST',
      headers: req.headers,
      body: req.body,
    });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`decide: status ${res.status}`);
  };
  const status = async (wa: string) => {
    const res = await mf.dispatchFetch(new URL(`/v1/subjects/${wa}`, base), {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    const body = (await res.json()) as { purposes?: Record<string, { status: string }> };
    return body.purposes?.marketing?.status;
  };
  const until = async (what: string, done: () => Promise<boolean>, ms = 60_000) => {
    const t0 = performance.now();
    while (!(await done())) {
      if (performance.now() - t0 > ms) throw new Error(`decide: ${what} not done within ${ms} ms`);
      await new Promise((ok) => setTimeout(ok, 10));
    }
    return performance.now() - t0;
  };
  // fictitious example numbers
  await post(envelope(textMessage('4915150000000', 'STOP'))); // boot and migrations
  await until('warm-up', async () => (await status('4915150000000')) === 'opted_out');
  const delays: number[] = [];
  for (let i = 1; i <= singles; i++) {
    const wa = `49151500${String(i).padStart(5, '0')}`;
    await post(envelope(textMessage(wa, 'STOP')));
    delays.push(await until(`STOP ${i}`, async () => (await status(wa)) === 'opted_out'));
  }
  const change = textMessage('4915160000000', 'STOP');
  const messages = change.value.messages as unknown[];
  const contacts = change.value.contacts as unknown[];
  for (let i = 1; i < largest; i++) {
    const one = textMessage(`49151600${String(i).padStart(5, '0')}`, 'STOP');
    messages.push(...(one.value.messages as unknown[]));
    contacts.push(...(one.value.contacts as unknown[]));
  }
  const before = decided.length;
  const t0 = performance.now();
  await post(envelope(change));
  const ackMs = performance.now() - t0;
  const count = () => decided.slice(before).reduce((n, d) => n + d.applied + d.duplicates + d.ignored, 0);
  await until('the largest delivery', async () => count() >= largest, 300_000);
  const allMs = performance.now() - t0;
  const invocations = decided.slice(before);
  await mf.dispose();
  const sorted = delays.sort((a, b) => a - b);
  const r = (x: number) => Math.round(x);
  return {
    consumer: { maxBatchSize: 10, maxBatchTimeoutSeconds: 1 },
    singleStop: {
      n: singles,
      acknowledgedToDecidedMs: {
        median: r(sorted[Math.floor(singles / 2)] ?? 0),
        max: r(sorted[sorted.length - 1] ?? 0),
      },
    },
    largestDelivery: {
      events: largest,
      acknowledgedMs: r(ackMs),
      allDecidedMs: r(allMs),
      invocations: invocations.length,
      maxD1StatementsPerInvocation: Math.max(...invocations.map((d) => d.queries)),
      totalD1Statements: invocations.reduce((n, d) => n + d.queries, 0),
    },
  };
}

const script = build('d1');
const d1 = await run('d1', script);
const d1Inbox = await run('d1-inbox', script, 'producer');
const memory = await run('memory', build('memory', 'bench/worker-memory.ts'));
const inbox = await decide(script);
graph.close();
const bundle = readFileSync(script);
const result = {
  at: new Date().toISOString(),
  node: process.version,
  cpus: os.cpus().length,
  loadAverage1m: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
  commit: execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim(),
  requests: N,
  d1,
  d1Inbox,
  memory,
  inbox,
  goal: {
    cpuMsPerRequest: GOAL_CPU_MS,
    workerOwnCodeMet: memory.workerdCpuMsPerRequest <= GOAL_CPU_MS,
    withLocalD1Met: d1.workerdCpuMsPerRequest <= GOAL_CPU_MS,
  },
  bundle: {
    minifiedKiB: Math.round(statSync(script).size / 1024),
    gzipKiB: Math.round(gzipSync(bundle).length / 1024),
  },
  note:
    'workerd process CPU (/proc) per request, a mean. d1: Worker + local D1 (SQLite in the same process) + request ' +
    'handling, each STOP decided before the answer: an upper bound. d1Inbox: the same, acknowledged on the INBOX ' +
    "queue (marker in D1 + queue send; no consumer running). memory: the Worker's own code path + request handling, " +
    'without D1. inbox: the consumer as configured in wrangler.toml (local Miniflare queue).',
};
console.log(JSON.stringify(result, null, 2));
writeResult('worker', result);
rmSync(out, { recursive: true, force: true });
