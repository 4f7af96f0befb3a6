/**
 * Worker benchmark (issue 5): runs the Worker in workerd through wrangler's local runtime
 * (`unstable_dev`, local D1), and sends N signed WhatsApp webhooks (STOP from N
 * distinct numbers, each stored in D1 before the answer), one after another.
 *
 *   npm run bench:worker             (BENCH_REQUESTS=300 by default)
 *
 * Reports wall time per request inside workerd (median, p90), which includes the local D1 round
 * trips: an upper bound of the CPU time the Workers plan counts (I/O waits are not CPU). The local
 * runtime does not expose per-request CPU time, so that figure is not measured here. Also the size
 * of the bundle `npm run build:worker` makes.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { unstable_dev } from 'wrangler';
import { envelope, signedRequest, textMessage } from '../test/helpers/whatsapp.ts';
import { writeResult } from './results.ts';

const ROOT = resolve(import.meta.dirname, '..');
const N = Number(process.env.BENCH_REQUESTS ?? 300);
const SECRET = 'bench-app-secret';
const out = mkdtempSync(join(os.tmpdir(), 'consent-sync-bench-worker-'));
execFileSync(join(ROOT, 'node_modules/.bin/wrangler'), ['deploy', '--dry-run', '--minify', '--outdir', out], {
  cwd: ROOT,
  stdio: 'ignore',
});
const script = join(out, 'worker.js');
const bundle = readFileSync(script);

// wrangler's own local runtime (workerd + local D1), with the repository's wrangler.toml.
const persistTo = join(out, 'state');
const worker = await unstable_dev(join(ROOT, 'src/runtime/worker.ts'), {
  config: join(ROOT, 'wrangler.toml'),
  persistTo,
  logLevel: 'error',
  vars: {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    PII_KEY: Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64'),
    API_KEYS: 'admin:bench-admin-token-0123456789',
    WHATSAPP_APP_SECRET: SECRET,
    WHATSAPP_VERIFY_TOKEN: 'bench',
  },
  experimental: { disableExperimentalWarning: true, testMode: true },
});
const url = `http://${worker.address}:${worker.port}/`;

/** utime + stime of every workerd process below this one (Linux /proc), in ms; null elsewhere. */
function workerdCpuMs(): number | null {
  try {
    const pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
    const parent = new Map<string, string>();
    const name = new Map<string, string>();
    for (const pid of pids) {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        parent.set(pid, fields[1] as string);
        name.set(pid, stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')));
      } catch {}
    }
    const below = (pid: string): boolean => {
      for (let p = parent.get(pid); p && p !== '0'; p = parent.get(p))
        if (p === String(process.pid)) return true;
      return false;
    };
    let ticks = 0;
    for (const pid of pids) {
      if (!name.get(pid)?.includes('workerd') || !below(pid)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    }
    return ticks * 10; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

async function send(i: number): Promise<number> {
  const wa = `49151${String(40_000_000 + i).padStart(8, '0')}`; // fictitious example numbers
  const req = await signedRequest(envelope(textMessage(wa, 'STOP')), SECRET);
  const t0 = performance.now();
  const res = await fetch(`${url}webhooks/whatsapp`, {
    method: 'POST',
    headers: req.headers,
    body: req.body,
  });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`status ${res.status}`);
  return performance.now() - t0;
}

for (let i = 0; i < 20; i++) await send(1_000_000 + i); // warm-up: boot, migrations, JIT
const cpu0 = workerdCpuMs();
const times: number[] = [];
for (let i = 0; i < N; i++) times.push(await send(i));
const cpu1 = workerdCpuMs();
await worker.stop();
const sorted = times.sort((a, b) => a - b);
const q = (p: number) =>
  Math.round((sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0) * 100) / 100;
const result = {
  at: new Date().toISOString(),
  node: process.version,
  cpus: os.cpus().length,
  requests: N,
  msPerSignedWebhookInWorkerd: { median: q(0.5), p90: q(0.9), max: q(1) },
  // CPU of the workerd processes (the Worker, the local D1 and wrangler's proxy all run there) per
  // request: an upper bound of the Worker's own CPU time.
  workerdCpuMsPerRequest: cpu0 === null || cpu1 === null ? null : Math.round(((cpu1 - cpu0) / N) * 100) / 100,
  bundle: {
    minifiedKiB: Math.round(statSync(script).size / 1024),
    gzipKiB: Math.round(gzipSync(bundle).length / 1024),
  },
  note: 'wall time includes local D1 I/O; workerd CPU includes the local D1 and proxy work: both upper bounds of the Worker CPU time',
};
console.log(JSON.stringify(result, null, 2));
writeResult('worker', result);
rmSync(out, { recursive: true, force: true });
