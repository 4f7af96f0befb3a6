/**
 * `consent-sync backfill`: pushes the ledger's current state to every CRM (or one) for everyone, or
 * only for the people not linked to a record there yet, through the same path as any change: one
 * `sync.<crm>` outbox job per person, run by the dispatcher in vendor-sized batches. People the CRM
 * lacks are left alone (rule 6); erased people are skipped. Prints counts only.
 */
import type { ConnectorName } from '../../connectors/types.ts';
import type { Services } from '../app/services.ts';
import type { NewOutboxJob } from '../core/types.ts';
import { newId } from '../crypto/encoding.ts';
import { syncKind } from '../sync/sync-service.ts';
import { bootCli, type Env } from './boot.ts';
import { pickConnectors } from './connectors.ts';
import { type Io, table } from './output.ts';
import { progressBar } from './progress.ts';

export interface BackfillArgs {
  connector: string | undefined;
  dryRun: boolean;
  /** only people with no linked record in that CRM yet */
  unlinked: boolean;
}

interface Plan {
  connector: ConnectorName;
  people: number;
  erased: number;
  linked: number;
  jobs: NewOutboxJob[];
}

const PAGE = 500;

/** Everyone, page by page: which jobs to queue per connector, and who is skipped. */
async function planBackfill(
  services: Services,
  connectors: ConnectorName[],
  onlyUnlinked: boolean,
  cause: string,
): Promise<Plan[]> {
  const { store, sync, clock } = services;
  const now = clock().toISOString();
  const plans = connectors.map((connector) => ({ connector, people: 0, erased: 0, linked: 0, jobs: [] }));
  let after = '';
  for (;;) {
    const page = await store.listSubjects(after, PAGE);
    if (page.length === 0) break;
    after = page.at(-1)?.id ?? after;
    const tombs = new Set(
      (await store.tombstonesFor(page.map((s) => s.phoneHash))).map((t) => t.subjectHash),
    );
    const links = await store.linksFor(page.map((s) => s.id));
    for (const plan of plans as Plan[]) {
      const linked = new Set(links.filter((l) => l.connector === plan.connector).map((l) => l.subjectId));
      for (const row of page) {
        plan.people++;
        if (row.dekWrapped === null || tombs.has(row.phoneHash)) {
          plan.erased++;
          continue;
        }
        if (onlyUnlinked && linked.has(row.id)) {
          plan.linked++;
          continue;
        }
        plan.jobs.push(
          ...sync.jobsFor(row.id, cause, now).filter((j) => j.kind === syncKind(plan.connector)),
        );
      }
    }
  }
  return plans as Plan[];
}

/** Runs the outbox until nothing is due, moving the bar by the jobs each pass took. */
async function send(services: Services, io: Io, total: number): Promise<void> {
  const bar = progressBar(io, 'sending', 'jobs', total);
  let done = 0;
  for (let pass = 0; pass < 100_000; pass++) {
    const n = await services.dispatcher.drain(1);
    if (n === 0) break;
    done += n;
    bar.update(done);
  }
  bar.stop();
}

/** How each queued job ended, and how many of the people now have a record in the CRM. */
async function outcome(services: Services, plan: Plan) {
  const { store } = services;
  const counts = { sent: 0, failed: 0, waiting: 0, merged: 0, inCrm: 0 };
  for (const job of plan.jobs) {
    const row = await store.getJob(job.id);
    if (!row) counts.merged++;
    else if (row.status === 'done') counts.sent++;
    else if (row.status === 'dead' || row.status === 'cancelled') counts.failed++;
    else counts.waiting++;
  }
  const ids = plan.jobs.flatMap((j) => (j.subjectId ? [j.subjectId] : []));
  for (let i = 0; i < ids.length; i += PAGE) {
    const links = await store.linksFor(ids.slice(i, i + PAGE));
    counts.inCrm += new Set(links.filter((l) => l.connector === plan.connector).map((l) => l.subjectId)).size;
  }
  return counts;
}

export async function backfillCommand(io: Io, env: Env, args: BackfillArgs): Promise<number> {
  const { services, close } = await bootCli(env, { existingData: true });
  try {
    const connectors = pickConnectors(services.sync.enabled(), args.connector);
    const plans = await planBackfill(services, connectors, args.unlinked, `backfill:${newId()}`);
    const skipped = (p: Plan) => ({
      connector: p.connector,
      people: p.people,
      'skipped (erased)': p.erased,
      ...(args.unlinked ? { 'skipped (linked)': p.linked } : {}),
    });
    if (args.dryRun) {
      io.out(table(plans.map((p) => ({ ...skipped(p), 'would queue': p.jobs.length }))));
      io.out('Dry run: nothing was queued or sent.');
      return 0;
    }
    const jobs = plans.flatMap((p) => p.jobs);
    for (let i = 0; i < jobs.length; i += PAGE)
      await services.store.commit({ jobs: jobs.slice(i, i + PAGE) });
    await send(services, io, jobs.length);
    const rows = [];
    let problems = 0;
    for (const p of plans) {
      const o = await outcome(services, p);
      problems += o.failed + o.waiting;
      rows.push({
        ...skipped(p),
        queued: p.jobs.length - o.merged,
        'joined a waiting job': o.merged,
        sent: o.sent,
        'in CRM': o.inCrm,
        'not in CRM': p.jobs.length - o.inCrm,
        failed: o.failed,
        'will retry': o.waiting,
      });
    }
    io.out(table(rows));
    io.out(
      problems > 0
        ? `${problems} job(s) did not go through: see consent-sync's GET /v1/sync/jobs (dead letters) and run again later.`
        : 'Backfill complete.',
    );
    return problems > 0 ? 1 : 0;
  } finally {
    await close();
  }
}
