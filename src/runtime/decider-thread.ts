/**
 * The decider thread (Node, a `node:worker_threads` Worker started by `decider-host.ts`): its own
 * services on its own SQLite connections to `DATA_DIR`'s database file and inbox file (`inbox.db`:
 * read, and decided rows deleted; the main thread appends), and only the inbox decider:
 * no HTTP server, no dispatcher, no timers but the decider's backstop. It drains the inbox in
 * batches like the in-thread decider; the main thread acknowledges meanwhile on the other core.
 *
 * Two connections write the same file: each write batch takes the write lock (`BEGIN IMMEDIATE`,
 * retried every millisecond with the event loop free), reads the ledger head under it, and every
 * unit carries the state it was decided from, so a decision that raced the main thread's API call
 * writes nothing and is decided again (see docs/operations.md, _The decider thread_).
 */
import { isMainThread, parentPort, threadId, workerData } from 'node:worker_threads';
import { parseConfig } from '../config.ts';
import { DurableInbox, type InboxStats } from '../service/inbox/durable-inbox.ts';
import type { Log } from '../service/log.ts';
import type { DeciderData, FromDecider, ToDecider } from './decider-host.ts';
import { createNodeLogger, logFormat } from './logger.ts';
import { openNodeServices } from './node.ts';
import { nameThread, niceThread } from './thread-os.ts';

/** A logger that hands each line to the main thread's logger (the server was given its own logger). */
function forwardingLog(post: (m: FromDecider) => void, bindings: Record<string, unknown> = {}): Log {
  const at =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (obj: object, msg?: string): void => {
      try {
        post({ t: 'log', level, obj: { ...bindings, ...obj }, ...(msg === undefined ? {} : { msg }) });
      } catch {
        // a field that cannot be cloned: the line is dropped, never the decision
      }
    };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => forwardingLog(post, { ...bindings, ...more }),
  };
}

async function run(port: NonNullable<typeof parentPort>, data: DeciderData): Promise<void> {
  const post = (m: FromDecider) => port.postMessage(m);
  const config = parseConfig(data.env);
  // Acknowledgements first on a contended machine, when the operator asks for it (DECIDER_NICE).
  const niced = config.DECIDER_NICE > 0 && niceThread(config.DECIDER_NICE);
  const log = data.forwardLogs
    ? forwardingLog(post)
    : (await createNodeLogger(config.LOG_LEVEL, logFormat(config))).child({ thread: 'decider' });
  if (config.DECIDER_NICE > 0 && !niced)
    log.warn(
      { nice: config.DECIDER_NICE },
      'DECIDER_NICE could not be applied on this system; the decider runs at normal priority',
    );

  // Jobs committed here are sent by the main thread's dispatcher: one message per turn, however many.
  let jobsQueued = false;
  const onJobs = () => {
    if (jobsQueued) return;
    jobsQueued = true;
    setImmediate(() => {
      jobsQueued = false;
      post({ t: 'jobs' });
    });
  };
  // No migration: the server migrated before it started this thread (and booting needs no write lock).
  const { services, store } = await openNodeServices({
    config,
    log,
    dataDir: data.dataDir,
    inbox: 'inline',
    inboxFile: true,
    onJobs,
    migrate: false,
  });
  if (!services.inboxStore) throw new Error('the decider thread opened no inbox file');
  const inboxStore = services.inboxStore;
  // A person shredded here (an erasure confirmed on WhatsApp) is forgotten by the main thread too.
  const pii = services.pii;
  const forget = pii.forget.bind(pii);
  pii.forget = (id: string) => {
    forget(id);
    post({ t: 'forget', ids: [id] });
  };
  const snapshot = (s: InboxStats): InboxStats => ({ ...s, threadId });
  const inbox = new DurableInbox({
    inbox: inboxStore,
    pii,
    inbound: services.inbound,
    deadEvents: services.deadEvents,
    clock: services.clock,
    log,
    onBatch: (s) => post({ t: 'stats', stats: snapshot(s) }),
  });

  let stopping = false;
  port.on('message', (m: ToDecider) => {
    switch (m.t) {
      case 'kick':
        inbox.kick();
        return;
      case 'forget':
        for (const id of m.ids) forget(id);
        return;
      case 'drained':
        inbox.drained().then(
          (summary) => post({ t: 'drained', id: m.id, summary, stats: snapshot(inbox.stats) }),
          (e: Error) => log.error({ err: e?.name ?? 'Error' }, 'inbox drain failed'),
        );
        return;
      case 'stop':
        if (stopping) return;
        stopping = true;
        // The batch in hand is finished; undecided rows stay for the next start. Then the thread ends.
        inbox
          .stop()
          .then(() => services.background.settle())
          .then(() => store.close())
          .then(() => inboxStore.close())
          .then(
            () => process.exit(0),
            (e: Error) => {
              log.error({ err: e?.name ?? 'Error' }, 'decider thread stop failed');
              process.exit(1);
            },
          );
        return;
    }
  });
  // What a previous run left undecided first, then each kick (and the backstop every second).
  inbox.start();
  post({ t: 'ready', threadId, stats: snapshot(inbox.stats) });
}

if (!isMainThread && parentPort && (workerData as DeciderData | null)?.dataDir) {
  // `top -H` and `ps -L` tell the decider from the main thread and V8's helpers (all `node` otherwise).
  nameThread('consent-decider');
  await run(parentPort, workerData as DeciderData);
}
