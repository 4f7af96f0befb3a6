/**
 * CPU per outgoing call (issue 17): the platform `fetch` (undici) against the keep-alive `node:http`
 * transport WhatsApp sends use on Node (src/runtime/node-http-fetch.ts). The far side is a small
 * HTTP server in a child process answering like the Graph API's send endpoint, so this process's
 * CPU (`process.cpuUsage`, user + system, all its threads) is the client's alone. Sequential POSTs
 * of a small JSON body; the clients take turns for a few rounds. Prints a table and writes
 * bench/results/http-client-*.json.
 *
 *   npm run bench:http-client                       (3 rounds of 3,000 calls each)
 *   BENCH_CALLS=1000 BENCH_ROUNDS=5 npm run bench:http-client
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { availableParallelism, loadavg } from 'node:os';
import { createNodeHttpFetch } from '../src/runtime/node-http-fetch.ts';
import { writeResult } from './results.ts';

const CALLS = Number(process.env.BENCH_CALLS ?? 3_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

const SERVER = `
const http = require('node:http');
const answer = JSON.stringify({ messaging_product: 'whatsapp', contacts: [{ input: '+16505550101', wa_id: '16505550101' }], messages: [{ id: 'wamid.BENCH' }] });
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(answer); });
});
server.keepAliveTimeout = 10_000;
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;

const child = spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
const url = `http://127.0.0.1:${chunk.toString().trim()}/v23.0/106540352242922/messages`;
// the send the WhatsApp client makes (example number)
const body = JSON.stringify({
  messaging_product: 'whatsapp',
  recipient_type: 'individual',
  to: '+16505550101',
  type: 'text',
  text: { preview_url: false, body: 'You will no longer receive marketing messages. Reply START to undo.' },
});
const headers = { authorization: 'Bearer bench-token', 'content-type': 'application/json' };

const transport = createNodeHttpFetch();
const clients: Record<string, typeof fetch> = { fetch: globalThis.fetch, 'node:http': transport.fetch };

async function run(f: typeof fetch, calls: number): Promise<{ cpuMs: number; wallMs: number }> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < calls; i++) {
    const res = await f(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
    await res.json();
  }
  const used = process.cpuUsage(cpu);
  return { cpuMs: (used.user + used.system) / 1000 / calls, wallMs: (performance.now() - started) / calls };
}

const results: Record<string, Array<{ cpuMs: number; wallMs: number }>> = { fetch: [], 'node:http': [] };
for (const f of Object.values(clients)) await run(f, 500); // warm-up: JIT, sockets
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, f] of Object.entries(clients)) results[name]?.push(await run(f, CALLS));
}
transport.close();
child.kill();

const fmt = (n: number) => n.toFixed(3);
console.log(`${CALLS} sequential POSTs per round, ${ROUNDS} rounds (ms per call, this process only)`);
console.log('client      CPU min  CPU median  CPU max   wall median');
for (const [name, runs] of Object.entries(results)) {
  const cpu = runs.map((r) => r.cpuMs).sort((a, b) => a - b);
  const wall = runs.map((r) => r.wallMs).sort((a, b) => a - b);
  const mid = Math.floor(runs.length / 2);
  console.log(
    `${name.padEnd(10)}  ${fmt(cpu[0] ?? 0)}    ${fmt(cpu[mid] ?? 0)}       ${fmt(cpu.at(-1) ?? 0)}     ${fmt(wall[mid] ?? 0)}`,
  );
}
console.log(
  `sockets opened by node:http: ${transport.stats().sockets} for ${transport.stats().requests} calls`,
);
const result = {
  at: new Date().toISOString(),
  cores: availableParallelism(),
  node: process.version,
  loadAverage1m: loadavg()[0],
  calls: CALLS,
  rounds: ROUNDS,
  cpuMsPerCall: Object.fromEntries(Object.entries(results).map(([n, r]) => [n, r.map((x) => x.cpuMs)])),
  wallMsPerCall: Object.fromEntries(Object.entries(results).map(([n, r]) => [n, r.map((x) => x.wallMs)])),
  transport: transport.stats(),
};
writeResult('http-client', result);
