/**
 * `consent-sync reconcile`: compares every enabled CRM with the ledger for every known person,
 * repairs drift under the sync rules, sends the resulting writes, and prints what it changed (counts
 * only, never a person). Safe to run while the server runs (jobs are leased, so each is sent once).
 */
import type { ConnectorName } from '../../connectors/types.ts';
import type { ReconcileReport } from '../sync/reconcile.ts';
import { bootCli, type Env } from './boot.ts';
import { pickConnectors } from './connectors.ts';
import { type Io, table } from './output.ts';
import { progressBar } from './progress.ts';

export interface ReconcileArgs {
  connector: string | undefined;
  send: boolean;
}

export async function reconcileCommand(io: Io, env: Env, args: ReconcileArgs): Promise<number> {
  const { services, close } = await bootCli(env, { existingData: true });
  try {
    const connectors = pickConnectors(services.sync.enabled(), args.connector);
    const total = (await services.store.listSubjects('', 1_000_000)).length;
    const reports: ReconcileReport[] = [];
    for (const connector of connectors) {
      const bar = progressBar(io, connector, 'people', total);
      reports.push(
        ...(await services.reconcile({
          connectors: [connector as ConnectorName],
          onProgress: (_c, done) => bar.update(done),
        })),
      );
      bar.stop();
    }
    const sent = args.send ? await services.dispatcher.drain() : 0;
    io.out(
      table(
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
      ),
    );
    io.out(args.send ? `Sent ${sent} queued job(s).` : 'Writes are queued for the server.');
    return reports.some((r) => r.failed > 0) ? 1 : 0;
  } finally {
    await close();
  }
}
