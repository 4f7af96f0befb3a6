/**
 * `npm run reconcile`: compares every enabled CRM with the ledger for every known person, repairs
 * drift under the sync rules, sends the resulting writes, and prints what it changed (counts only,
 * never a person). Uses the same configuration as `npm start` (environment, DATA_DIR, MAPPINGS_DIR);
 * safe to run while the server runs (jobs are leased, so each is sent once).
 *
 * Options: `--connector hubspot|salesforce` (default: all enabled), `--no-send` (queue the writes
 * for the server instead of sending them here).
 */
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import type { ConnectorName } from '../connectors/types.ts';
import { createLogger } from '../src/runtime/logger.ts';
import { bootNode } from '../src/runtime/node.ts';

const { values } = parseArgs({
  options: { connector: { type: 'string' }, 'no-send': { type: 'boolean', default: false } },
});
// Logs go to stderr at warn, so the progress bar and the summary stay readable.
const log = createLogger('warn', process.stderr);
const { services, store } = await bootNode({ env: process.env, log });
const enabled = services.sync.enabled();
if (enabled.length === 0) {
  console.error('No CRM is configured (set HUBSPOT_ACCESS_TOKEN or SALESFORCE_CLIENT_ID/SECRET).');
  await store.close();
  process.exit(1);
}
const connectors = values.connector ? [values.connector as ConnectorName] : enabled;
const total = (await store.listSubjects('', 1_000_000)).length;
const reports = [];
for (const connector of connectors) {
  const bar = new cliProgress.SingleBar(
    { format: ` ${connector.padEnd(10)} [{bar}] {value}/{total} people`, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  reports.push(
    ...(await services.reconcile({ connectors: [connector], onProgress: (_c, done) => bar.update(done) })),
  );
  bar.update(total);
  bar.stop();
}
let sent = 0;
if (!values['no-send']) sent = await services.dispatcher.drain();
console.table(
  reports.map((r) => ({
    connector: r.connector,
    people: r.people,
    records: r.records,
    'in sync': r.inSync,
    drift: r.drift,
    'opt-outs taken': r.optOutsApplied,
    'opt-ins taken': r.optInsApplied,
    'written back': r.pushed,
    linked: r.linked,
    'not in CRM': r.absent,
    failed: r.failed,
  })),
);
console.log(values['no-send'] ? 'Writes are queued for the server.' : `Sent ${sent} queued job(s).`);
await services.dispatcher.stop();
await store.close();
