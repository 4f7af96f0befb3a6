import PQueue from 'p-queue';
import type { OutboxJob } from '../core/types.ts';
import type { Log } from '../service/log.ts';
import type { JobOutcome, Store } from '../store/port.ts';

/** What a handler reports for one job. Thrown errors count as retryable failures. */
export type HandlerResult =
  | { ok: true }
  | { ok: false; retryable: boolean; error: string; retryAfterMs?: number | null }
  /** the job can never run (person erased, connector removed): cancel it without a dead letter */
  | { ok: false; cancel: true; error: string };

export type JobHandler = (job: OutboxJob) => Promise<HandlerResult>;

/**
 * Runs many jobs of one kind in one go (a CRM batch call). Returns a result per job id; a job
 * missing from the map counts as a retryable failure.
 */
export interface BatchHandler {
  batch: (jobs: OutboxJob[]) => Promise<Map<string, HandlerResult>>;
  /** jobs per call (HubSpot 100, Salesforce 200) */
  maxBatch: number;
  /** batches of this kind in flight at once (default 4) */
  parallel?: number;
  /** lease length for this kind (a batch may wait on the vendor's rate limit); default 5 minutes */
  leaseMs?: number;
}

const isBatch = (h: JobHandler | BatchHandler): h is BatchHandler => typeof h !== 'function';

/**
 * How one batch kind's pumps ran since the last `takeBatchStats()` (tests and benchmarks assert on
 * the shape of a run with these, never on its timing).
 */
export interface BatchKindStats {
  /** lease calls that returned jobs, and the jobs they returned */
  leases: number;
  leasedJobs: number;
  /** batches handed to the handler */
  batches: number;
  /** most batches of this kind in the handler at once (pipelining) */
  maxInFlight: number;
}

export interface DispatcherOptions {
  store: Store;
  handlers: Record<string, JobHandler | BatchHandler>;
  clock: () => Date;
  log: Log;
  /** attempts before a retryable failure becomes a dead letter */
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  leaseMs?: number;
  batchSize?: number;
  concurrency?: number;
  random?: () => number;
  /**
   * How long a run may go unsettled before others stop waiting on it and start their own
   * (default: the single-job lease, 60 s). See `running`.
   */
  runDeadlineMs?: number;
}

/**
 * Runs due outbox jobs. Jobs are leased in the store first, so a crash mid-run leaves them to be
 * leased again after the lease expires: nothing is lost, and handlers write absolute values, so a
 * repeat is harmless. Retry timing is durable (next_attempt_at), not held in memory.
 */
export class Dispatcher {
  private readonly o: Required<Omit<DispatcherOptions, 'handlers' | 'store' | 'clock' | 'log'>> &
    DispatcherOptions;
  private batchStats = new Map<string, BatchKindStats & { inFlight: number }>();
  /**
   * The run in flight in this process or isolate, and when it stops being trusted. On Workers a
   * run belongs to the invocation that started it; if that invocation is cancelled, its promise
   * never settles. Past the deadline a run is abandoned: the next tick starts a new one (the
   * abandoned run's jobs stay leased until their lease expires, then any run leases them again).
   */
  private running: { promise: Promise<number>; deadline: number } | null = null;
  private again = false;

  constructor(options: DispatcherOptions) {
    this.o = {
      maxAttempts: 8,
      baseDelayMs: 1_000,
      maxDelayMs: 15 * 60_000,
      leaseMs: 60_000,
      batchSize: 50,
      concurrency: 32,
      random: Math.random,
      runDeadlineMs: options.leaseMs ?? 60_000,
      ...options,
    };
  }

  /** Backoff for the n-th failed attempt: exponential with full jitter, at least Retry-After. */
  delayMs(attempt: number, retryAfterMs: number | null | undefined): number {
    const exp = Math.min(this.o.maxDelayMs, this.o.baseDelayMs * 2 ** Math.max(0, attempt - 1));
    const jittered = exp / 2 + this.o.random() * (exp / 2);
    return Math.max(jittered, retryAfterMs ?? 0);
  }

  private stopped = false;
  private paused = false;

  /** Holds dispatching (ticks do nothing) until `resume`; jobs keep accumulating in the outbox. */
  pause(): void {
    this.paused = true;
  }

  /** Lets ticks run again and runs one now (await it, or hand it to a background registry). */
  resume(): Promise<number> {
    this.paused = false;
    return this.tick();
  }

  /** Stops taking new passes and waits for the one in flight (before closing the store). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.again = false;
    await this.settled();
  }

  /**
   * Runs passes over due jobs until none came back full and no caller asked for another;
   * concurrent callers share the run (and ask for one more pass). Resolves with the jobs leased.
   */
  tick(): Promise<number> {
    if (this.stopped || this.paused) return Promise.resolve(0);
    const now = this.o.clock().getTime();
    if (this.running) {
      if (now < this.running.deadline) {
        this.again = true;
        return this.running.promise;
      }
      this.o.log.warn(
        { overdueMs: now - this.running.deadline },
        'a dispatcher run passed its deadline unsettled (its invocation was cancelled?); starting another',
      );
    }
    const run = { promise: Promise.resolve(0), deadline: now + this.o.runDeadlineMs };
    run.promise = this.passes().finally(() => {
      if (this.running === run) this.running = null;
    });
    this.running = run;
    return run.promise;
  }

  private async passes(): Promise<number> {
    // One queue per run: work of a run whose invocation was cancelled never settles, and must not
    // hold concurrency slots of the runs after it.
    const queue = new PQueue({ concurrency: this.o.concurrency });
    let total = 0;
    for (;;) {
      this.again = false;
      const n = await this.pass(queue);
      total += n;
      // A full batch means more may be due: keep going instead of waiting for the next timer.
      if (this.stopped || this.paused || !(this.again || n === this.o.batchSize)) return total;
    }
  }

  /** Waits for the run in flight to settle, but never past its deadline. */
  private async settled(): Promise<void> {
    for (;;) {
      const run = this.running;
      if (!run) return;
      const left = run.deadline - this.o.clock().getTime();
      if (left <= 0) return;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const expired = new Promise<void>((ok) => {
        timer = setTimeout(ok, left);
      });
      await Promise.race([
        run.promise.then(
          () => undefined,
          () => undefined,
        ),
        expired,
      ]);
      clearTimeout(timer);
      if (this.running === run) return; // still running past its deadline: abandoned
    }
  }

  /** Runs passes until no job is due (tests, CLI, Workers' queue and cron). Returns how many jobs ran. */
  async drain(maxPasses = 1_000): Promise<number> {
    let total = 0;
    for (let i = 0; i < maxPasses; i++) {
      // Let a run already going finish (at most until its deadline), then run one of our own:
      // calling tick() while a run goes would only ask it for one more pass.
      await this.settled();
      const n = await this.tick();
      total += n;
      if (n === 0) return total;
    }
    return total;
  }

  /**
   * Puts every leased job back to pending, due now, counting the lost attempt. For the Node server
   * at start only: a job still leased then was leased by a process that died (SIGKILL, power loss),
   * and would otherwise wait out its lease (up to 5 minutes for CRM batches). Not for runtimes
   * where other dispatchers may be running (Workers' queue consumers). Returns how many.
   */
  async reclaimLeases(): Promise<number> {
    const now = this.o.clock().toISOString();
    let n = 0;
    for (;;) {
      const jobs = await this.o.store.listJobs({ status: 'leased', limit: 500 });
      for (const job of jobs) {
        const outcome: JobOutcome = {
          status: 'retry',
          error: 'lease of a stopped process',
          nextAttemptAt: now,
        };
        await this.o.store.finishJob(job.id, outcome, now);
      }
      n += jobs.length;
      if (jobs.length < 500) break;
    }
    if (n > 0) this.o.log.warn({ jobs: n }, 'leases of a stopped process released');
    return n;
  }

  /** The batch kinds' counters since the last call (see `BatchKindStats`), then starts them afresh. */
  takeBatchStats(): Record<string, BatchKindStats> {
    const out: Record<string, BatchKindStats> = {};
    for (const [kind, { leases, leasedJobs, batches, maxInFlight }] of this.batchStats)
      out[kind] = { leases, leasedJobs, batches, maxInFlight };
    this.batchStats = new Map();
    return out;
  }

  private statsOf(kind: string): BatchKindStats & { inFlight: number } {
    let s = this.batchStats.get(kind);
    if (!s) {
      s = { leases: 0, leasedJobs: 0, batches: 0, maxInFlight: 0, inFlight: 0 };
      this.batchStats.set(kind, s);
    }
    return s;
  }

  /** Adds or replaces a handler (connectors enabled after start, tests). */
  setHandler(kind: string, handler: JobHandler | BatchHandler): void {
    this.o.handlers[kind] = handler;
  }

  /**
   * One pass. Returns the jobs leased, or `batchSize` when some lease came back full (more may
   * be due, so `tick` goes on at once).
   */
  private async pass(queue: PQueue): Promise<number> {
    const entries = Object.entries(this.o.handlers);
    if (entries.length === 0) return 0;
    const now = this.o.clock();
    const at = (ms: number) => new Date(now.getTime() + ms).toISOString();
    const single = entries.filter(([, h]) => !isBatch(h)).map(([k]) => k);
    const work: Array<Promise<void>> = [];
    let leased = 0;
    let full = false;
    if (single.length > 0) {
      const jobs = await this.o.store.leaseJobs(
        single,
        now.toISOString(),
        at(this.o.leaseMs),
        this.o.batchSize,
      );
      leased += jobs.length;
      full ||= jobs.length === this.o.batchSize;
      for (const job of jobs) work.push(queue.add(() => this.run(job)));
    }
    // Batch kinds: a few pumps per kind, each leasing one batch as soon as its last one is done,
    // so calls flow steadily at the connector's rate instead of in bursts per pass.
    for (const [kind, h] of entries) {
      if (!isBatch(h)) continue;
      for (let p = 0; p < (h.parallel ?? 4); p++) {
        work.push(
          (async () => {
            for (;;) {
              if (this.stopped) return;
              const t = this.o.clock();
              const until = new Date(t.getTime() + (h.leaseMs ?? 300_000)).toISOString();
              const jobs = await this.o.store.leaseJobs([kind], t.toISOString(), until, h.maxBatch);
              leased += jobs.length;
              if (jobs.length === 0) return;
              const stats = this.statsOf(kind);
              stats.leases += 1;
              stats.leasedJobs += jobs.length;
              await queue.add(async () => {
                stats.batches += 1;
                stats.maxInFlight = Math.max(stats.maxInFlight, ++stats.inFlight);
                try {
                  await this.runBatch(h, jobs);
                } finally {
                  stats.inFlight -= 1;
                }
              });
            }
          })(),
        );
      }
    }
    await Promise.all(work);
    return full ? Math.max(leased, this.o.batchSize) : Math.min(leased, this.o.batchSize - 1);
  }

  private async runBatch(h: BatchHandler, jobs: OutboxJob[]): Promise<void> {
    let results: Map<string, HandlerResult>;
    try {
      results = await h.batch(jobs);
    } catch (err) {
      const failed: HandlerResult = {
        ok: false,
        retryable: true,
        error: `${(err as Error).name}: handler threw`,
      };
      results = new Map(jobs.map((j) => [j.id, failed]));
    }
    const now = this.o.clock();
    const missing: HandlerResult = { ok: false, retryable: true, error: 'no result for job' };
    const items = jobs.map((job) => ({
      id: job.id,
      job,
      outcome: this.outcome(job, results.get(job.id) ?? missing, now),
    }));
    // One transaction for the whole batch.
    await this.o.store.finishJobs(items, now.toISOString());
    for (const i of items) this.logged(i.job, i.outcome);
  }

  private async run(job: OutboxJob): Promise<void> {
    const handler = this.o.handlers[job.kind];
    let result: HandlerResult;
    try {
      result =
        handler && !isBatch(handler)
          ? await handler(job)
          : { ok: false, retryable: false, error: `no handler for ${job.kind}` };
    } catch (err) {
      result = { ok: false, retryable: true, error: `${(err as Error).name}: handler threw` };
    }
    await this.finish(job, result);
  }

  private async finish(job: OutboxJob, result: HandlerResult): Promise<void> {
    const now = this.o.clock();
    const outcome = this.outcome(job, result, now);
    await this.o.store.finishJob(job.id, outcome, now.toISOString());
    this.logged(job, outcome);
  }

  private outcome(job: OutboxJob, result: HandlerResult, now: Date): JobOutcome {
    const attempt = job.attempts + 1;
    let outcome: JobOutcome;
    if (result.ok) outcome = { status: 'done' };
    else if ('cancel' in result) outcome = { status: 'dead', error: `cancelled: ${result.error}` };
    else if (!result.retryable || attempt >= this.o.maxAttempts)
      outcome = { status: 'dead', error: result.error };
    else {
      const at = new Date(now.getTime() + this.delayMs(attempt, result.retryAfterMs)).toISOString();
      outcome = { status: 'retry', error: result.error, nextAttemptAt: at };
    }
    return outcome;
  }

  private logged(job: OutboxJob, outcome: JobOutcome): void {
    const level = outcome.status === 'dead' ? 'warn' : 'debug';
    this.o.log[level](
      { jobId: job.id, kind: job.kind, attempt: job.attempts + 1, outcome: outcome.status },
      'outbox job finished',
    );
  }
}
