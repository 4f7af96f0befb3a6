/**
 * `npm run fuzz`: the hostile-input properties with many more cases than `npm test` runs, then the
 * number of cases each property really executed (counted inside the properties), and the total.
 *
 *   npm run fuzz                          FUZZ_RUNS=20000 per parser/verifier property,
 *                                         FUZZ_HTTP_RUNS=2000 per property sent through the app
 *   FUZZ_RUNS=100000 FUZZ_HTTP_RUNS=5000 npm run fuzz
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const FILES = ['connectors/hostile-input.property.test.ts', 'test/e2e/hostile-input.property.test.ts'];
const runs = process.env.FUZZ_RUNS ?? '20000';
const httpRuns = process.env.FUZZ_HTTP_RUNS ?? String(Math.ceil(Number(runs) / 10));

const dir = mkdtempSync(join(tmpdir(), 'consent-sync-fuzz-'));
const report = join(dir, 'counts.ndjson');
console.log(`fuzz: FUZZ_RUNS=${runs} (parsers and verifiers), FUZZ_HTTP_RUNS=${httpRuns} (through the app)`);
const started = Date.now();
const run = spawnSync(
  join(ROOT, 'node_modules', '.bin', 'vitest'),
  ['run', '--project', 'node', '--silent=passed-only', ...FILES],
  {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, FUZZ_RUNS: runs, FUZZ_HTTP_RUNS: httpRuns, FUZZ_REPORT: report },
  },
);

let rows: Array<{ file: string; property: string; cases: number }> = [];
try {
  rows = readFileSync(report, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { file: string; property: string; cases: number });
} catch {
  // no report: the run failed before any file finished
}
rmSync(dir, { recursive: true, force: true });

const width = Math.max(...rows.map((r) => r.property.length), 10);
console.log('\ncases run per property (counted where they ran, shrinking included):');
for (const r of rows) console.log(`  ${String(r.cases).padStart(9)}  ${r.property.padEnd(width)}  ${r.file}`);
const total = rows.reduce((n, r) => n + r.cases, 0);
console.log(
  `  ${String(total).padStart(9)}  total over ${rows.length} properties in ${Math.round((Date.now() - started) / 1000)} s`,
);
process.exit(run.status ?? 1);
