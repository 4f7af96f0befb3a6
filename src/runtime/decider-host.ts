/**
 * The main thread's side of the decider thread (Node): the inbox the webhook route, the send guard
 * and the server use (`Inbox`), with acknowledgement and the send guard here and the decider on a
 * `node:worker_threads` Worker (`decider-thread.ts`) with its own SQLite connection to the same file.
 *
 * What stays on this thread: `accept` (classify, seal, one group-committed inbox append, then the
 * 200), the send guard's look into the inbox, the outbox dispatcher (one sender), every API call.
 * What the worker does: drain the inbox in batches and decide. They meet only in the database file
 * (the store's write lock and the write units' guards) and in small messages:
 *
 * - `kick` (here → worker): rows were appended; coalesced to one per event-loop turn.
 * - `jobs` (worker → here): a commit queued outbox jobs; `onJobs` runs the dispatcher here at once.
 * - `forget` (both ways): a person's data key was shredded; the other thread drops its cached copy.
 * - `drained` (request and reply): the inbox is empty; the decider's tally (tests, benchmarks).
 * - `stats` (worker → here): the decider's counters after each batch.
 * - `log` (worker → here): the worker's log lines, when the server was given its own logger.
 * - `stop` (here → worker): finish the batch in hand, close the connection, exit.
 *
 * A worker that dies (an error, `terminate()`) is logged and started again with a backoff; what it
 * had not decided is still in the inbox table and is decided by the next worker. A worker that cannot
 * even boot three times in a row leaves the decider to this thread (logged as an error), so
 * acknowledged events are never left undecided.
 */
import { threadId as mainThreadId, Worker } from 'node:worker_threads';
import type { PiiCrypto } from '../crypto/pii.ts';
import type { InboundSummary } from '../service/inbound-whatsapp.ts';
import type { Accepted, Inbox, InboxStats } from '../service/inbox/durable-inbox.ts';
import type { Log } from '../service/log.ts';

/** Messages to the worker. */
export type ToDecider =
  | { t: 'kick' }
  | { t: 'drained'; id: number }
  | { t: 'forget'; ids: string[] }
  | { t: 'stop' };

/** Messages from the worker. */
export type FromDecider =
  | { t: 'ready'; threadId: number; stats: InboxStats }
  | { t: 'stats'; stats: InboxStats }
  | { t: 'jobs' }
  | { t: 'forget'; ids: string[] }
  | { t: 'drained'; id: number; summary: InboundSummary; stats: InboxStats }
  | { t: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; obj: object; msg?: string };

/** What the worker is started with (`workerData`). */
export interface DeciderData {
  /** the environment the server's configuration was parsed from (development secrets filled in) */
  env: Record<string, string | undefined>;
  dataDir: string;
  /** send log lines to this thread's logger instead of writing them (a logger was injected) */
  forwardLogs: boolean;
}

export interface DeciderThreadOptions {
  /** this thread's inbox: `accept` and `optOutPending` (and the decider should the thread never boot) */
  local: Inbox;
  env: Record<string, string | undefined>;
  dataDir: string;
  log: Log;
  /** this thread's PII crypto: its cached data keys are dropped when the worker shreds a person */
  pii: PiiCrypto;
  /** runs the dispatcher here (`services.jobsQueued`) */
  onJobs: () => void;
  forwardLogs: boolean;
  /** the worker's module (tests) */
  entry?: URL;
  /** first restart delay; doubled per quick failure up to `maxBackoffMs` */
  backoffMs?: number;
  maxBackoffMs?: number;
}

const ZERO = { decided: 0, dead: 0, batches: 0 };
/** Boot failures in a row (a worker that never said `ready`) before the decider moves to this thread. */
const BOOT_FAILURES = 3;
/** A worker that ran this long before it died is restarted after the first backoff again. */
const HEALTHY_MS = 10_000;
/** How long `stop` waits for the worker to finish its batch and exit before ending it. */
const STOP_WAIT_MS = 15_000;

export class DeciderThread implements Inbox {
  private readonly o: DeciderThreadOptions;
  private worker: Worker | null = null;
  private workerThreadId = 0;
  private stopping = true;
  /** decided by the running worker (its counters start at zero) and by the workers before it */
  private current = { ...ZERO };
  private carried = { ...ZERO };
  private restarts = 0;
  private bootFailures = 0;
  private quickFailures = 0;
  private startedAt = 0;
  private booted = false;
  private local = false;
  private restartTimer: ReturnType<typeof setTimeout> | null = null;
  private kickQueued = false;
  private nextId = 1;
  private readonly waiting = new Map<number, (summary: InboundSummary) => void>();
  private readonly forgetHere: (id: string) => void;
  /** settles when the current worker says `ready` (or the decider moved to this thread) */
  private ready: Promise<void> = Promise.resolve();
  private onReady: (() => void) | null = null;
  private exited: Promise<void> = Promise.resolve();

  constructor(options: DeciderThreadOptions) {
    this.o = options;
    // A person shredded here (an erasure, retention) is forgotten by the worker's key cache too.
    const pii = options.pii;
    const forget = pii.forget.bind(pii);
    this.forgetHere = forget;
    pii.forget = (id: string) => {
      forget(id);
      this.post({ t: 'forget', ids: [id] });
    };
  }

  get stats(): InboxStats {
    const own = this.o.local.stats;
    return {
      acknowledged: own.acknowledged,
      decided: this.carried.decided + this.current.decided + own.decided,
      dead: this.carried.dead + this.current.dead + own.dead,
      batches: this.carried.batches + this.current.batches + own.batches,
      threadId: this.local ? mainThreadId : this.workerThreadId,
      restarts: this.restarts,
    };
  }

  /** Acknowledges on this thread (the inbox append), then wakes the worker. */
  async accept(events: Parameters<Inbox['accept']>[0]): Promise<Accepted> {
    const accepted = await this.o.local.accept(events);
    if (accepted.stored > 0) this.kick();
    return accepted;
  }

  optOutPending(hashes: string[], purpose: string): Promise<boolean> {
    return this.o.local.optOutPending(hashes, purpose);
  }

  start(): void {
    if (!this.stopping) return;
    this.stopping = false;
    if (this.local) this.o.local.start();
    else this.spawn();
  }

  /** Resolves once a worker is deciding (or the decider moved to this thread). */
  started(): Promise<void> {
    return this.ready;
  }

  /** True while a worker thread exists (started and not yet exited). */
  get running(): boolean {
    return this.worker !== null;
  }

  private readied(): void {
    this.onReady?.();
    this.onReady = null;
  }

  /** Stops the worker after its batch in hand and waits for it to exit. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const worker = this.worker;
    if (worker) {
      worker.postMessage({ t: 'stop' } satisfies ToDecider);
      const timer = setTimeout(() => {
        this.o.log.error({ thread: 'decider' }, 'decider thread did not stop in time; ending it');
        worker.terminate().catch(() => undefined); // its exit is awaited below
      }, STOP_WAIT_MS);
      await this.exited;
      clearTimeout(timer);
    }
    await this.o.local.stop();
  }

  /** Resolves once the inbox is empty, with what the decider did since the last call. */
  drained(): Promise<InboundSummary> {
    if (this.local) return this.o.local.drained();
    const id = this.nextId++;
    return new Promise((ok) => {
      this.waiting.set(id, ok);
      this.post({ t: 'drained', id });
    });
  }

  /**
   * Ends the worker as a crash would (`worker.terminate()`), for tests of the restart; resolves once
   * it is gone (the restart follows after the backoff).
   */
  async crashForTest(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    const gone = this.exited;
    await worker.terminate();
    await gone;
  }

  private post(m: ToDecider): void {
    this.worker?.postMessage(m);
  }

  /** One `kick` per event-loop turn, however many deliveries were appended in it. */
  private kick(): void {
    if (this.kickQueued || this.local) return;
    this.kickQueued = true;
    setImmediate(() => {
      this.kickQueued = false;
      this.post({ t: 'kick' });
    });
  }

  private spawn(): void {
    const data: DeciderData = { env: this.o.env, dataDir: this.o.dataDir, forwardLogs: this.o.forwardLogs };
    const worker = new Worker(this.o.entry ?? new URL('./decider-thread.ts', import.meta.url), {
      workerData: data,
      // node:sqlite and type stripping warn once per thread; of the server's own flags only the CPU
      // profiler's apply here (`BENCH_CPU_PROF=1 npm run bench:ingest` profiles both threads).
      execArgv: [
        ...process.execArgv.filter((a) => a.startsWith('--cpu-prof')),
        '--disable-warning=ExperimentalWarning',
      ],
    });
    // The HTTP server keeps the process alive; `stop` waits for the thread.
    worker.unref();
    this.worker = worker;
    if (!this.onReady) {
      this.ready = new Promise((ok) => {
        this.onReady = ok;
      });
    }
    this.booted = false;
    this.startedAt = Date.now();
    this.current = { ...ZERO };
    const log = this.o.log;
    worker.on('message', (m: FromDecider) => this.onMessage(m));
    worker.on('error', (err) => {
      // The name only: an error's message may quote data.
      log.error({ thread: 'decider', err: err?.name ?? 'Error' }, 'decider thread failed');
    });
    this.exited = new Promise((ok) => {
      worker.once('exit', (code) => {
        this.onExit(worker, code);
        ok();
      });
    });
  }

  private onMessage(m: FromDecider): void {
    switch (m.t) {
      case 'ready':
        this.booted = true;
        this.bootFailures = 0;
        this.workerThreadId = m.threadId;
        this.current = { decided: m.stats.decided, dead: m.stats.dead, batches: m.stats.batches };
        // Requests made while no worker was there (a restart) are asked again.
        for (const id of this.waiting.keys()) this.post({ t: 'drained', id });
        this.readied();
        return;
      case 'stats':
        this.current = { decided: m.stats.decided, dead: m.stats.dead, batches: m.stats.batches };
        return;
      case 'jobs':
        this.o.onJobs();
        return;
      case 'forget':
        for (const id of m.ids) this.forgetHere(id);
        return;
      case 'drained': {
        this.current = { decided: m.stats.decided, dead: m.stats.dead, batches: m.stats.batches };
        const ok = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        ok?.(m.summary);
        return;
      }
      case 'log':
        this.o.log.child({ thread: 'decider' })[m.level](m.obj, m.msg);
        return;
    }
  }

  private onExit(worker: Worker, code: number): void {
    if (this.worker !== worker) return;
    this.worker = null;
    this.carried = {
      decided: this.carried.decided + this.current.decided,
      dead: this.carried.dead + this.current.dead,
      batches: this.carried.batches + this.current.batches,
    };
    this.current = { ...ZERO };
    if (this.stopping) return;
    // Undecided rows stay in the inbox table: the next decider takes them.
    if (!this.booted) this.bootFailures++;
    if (this.bootFailures >= BOOT_FAILURES) {
      this.o.log.error(
        { thread: 'decider', failures: this.bootFailures },
        'the decider thread does not start; deciding on the main thread instead',
      );
      this.local = true;
      this.o.local.start();
      this.answerLocally();
      this.readied();
      return;
    }
    this.quickFailures = Date.now() - this.startedAt < HEALTHY_MS ? this.quickFailures + 1 : 1;
    const base = this.o.backoffMs ?? 100;
    const delay = Math.min(this.o.maxBackoffMs ?? 5_000, base * 2 ** (this.quickFailures - 1));
    this.restarts++;
    this.o.log.error(
      { thread: 'decider', code, restarts: this.restarts, inMs: delay },
      'decider thread exited; starting it again',
    );
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (!this.stopping) this.spawn();
    }, delay);
  }

  /** `drained` requests made of a worker that never came: answered by this thread's decider. */
  private answerLocally(): void {
    for (const [id, ok] of this.waiting) {
      this.waiting.delete(id);
      this.o.local.drained().then(ok, () => undefined);
    }
  }
}
