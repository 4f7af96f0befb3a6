/**
 * Runs the real `consent-sync ledger export --out <file>` (src/cli/main.ts, as bin/consent-sync.js
 * does) in this process and samples its RSS meanwhile. bench/store.ts starts it as a child process so
 * the peak RSS printed belongs to the export alone, not to the build that came before.
 *
 *   DATA_DIR=<dir holding consent-sync.db> node bench/store-export.ts <output file>
 *
 * Prints one JSON line: `{ code, events, bytes, ms, rssStartMiB, rssPeakSampledMiB, maxRssMiB }`.
 */
import { createReadStream, statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const MiB = 1024 * 1024;
const [outPath] = process.argv.slice(2);
if (!outPath || !process.env.DATA_DIR) throw new Error('usage: DATA_DIR=<dir> store-export.ts <output file>');

const rss = () => process.memoryUsage.rss();
const rssStart = rss();
let peak = rssStart;
const timer = setInterval(() => {
  peak = Math.max(peak, rss());
}, 10);

// Loaded here, not statically: what the command loads is part of what it costs.
const { main } = await import('../src/cli/main.ts');
const { processIo } = await import('../src/cli/output.ts');
const t0 = performance.now();
const code = await main(['ledger', 'export', '--out', outPath], processIo, process.env);
const ms = performance.now() - t0;
clearInterval(timer);
peak = Math.max(peak, rss());
// ru_maxrss (KiB on Linux): the true peak of this process, between samples included. Read before
// the lines are counted below, so counting adds nothing to it.
const maxRss = process.resourceUsage().maxRSS * 1024;

// Lines, less the end line the export closes with (`{ "end": … }`, for `ledger verify --file`).
let lines = 0;
for await (const chunk of createReadStream(outPath) as AsyncIterable<Buffer>) {
  for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines += 1;
}
const events = Math.max(0, lines - 1);
const bytes = statSync(outPath).size;

const mib = (b: number) => Math.round((b / MiB) * 10) / 10;
console.log(
  JSON.stringify({
    code,
    events,
    bytes,
    ms: Math.round(ms),
    rssStartMiB: mib(rssStart),
    rssPeakSampledMiB: mib(peak),
    maxRssMiB: mib(maxRss),
  }),
);
