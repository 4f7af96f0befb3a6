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

export interface DispatcherOptions {
  store: Store;
  handlers: Record<string, JobHandler>;
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
}

/**
 * Runs due outbox jobs. Jobs are leased in the store first, so a crash mid-run leaves them to be
 * leased again after the lease expires: nothing is lost, and handlers write absolute values, so a
 * repeat is harmless. Retry timing is durable (next_attempt_at), not held in memory.
 */
export class Dispatcher {
  private readonly o: Required<Omit<DispatcherOptions, 'handlers' | 'store' | 'clock' | 'log'>> &
    DispatcherOptions;
  private readonly queue: PQueue;
  private running: Promise<number> | null = null;
  private again = false;

  constructor(options: DispatcherOptions) {
    this.o = {
      maxAttempts: 8,
      baseDelayMs: 1_000,
      maxDelayMs: 15 * 60_000,
      leaseMs: 60_000,
      batchSize: 50,
      concurrency: 4,
      random: Math.random,
      ...options,
    };
    this.queue = new PQueue({ concurrency: this.o.concurrency });
  }

  /** Backoff for the n-th failed attempt: exponential with full jitter, at least Retry-After. */
  delayMs(attempt: number, retryAfterMs: number | null | undefined): number {
    const exp = Math.min(this.o.maxDelayMs, this.o.baseDelayMs * 2 ** Math.max(0, attempt - 1));
    const jittered = exp / 2 + this.o.random() * (exp / 2);
    return Math.max(jittered, retryAfterMs ?? 0);
  }

  private stopped = false;

  /** Stops taking new passes and waits for the one in flight (before closing the store). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.again = false;
    while (this.running) await this.running.catch(() => 0);
    await this.queue.onIdle();
  }

  /** Runs one pass over due jobs; concurrent callers share the pass (and trigger one more). */
  tick(): Promise<number> {
    if (this.stopped) return Promise.resolve(0);
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.pass().then(
      (n) => {
        this.running = null;
        // A full batch means more may be due: keep going instead of waiting for the next timer.
        if (this.again || n === this.o.batchSize) {
          this.again = false;
          void this.tick();
        }
        return n;
      },
      (err: unknown) => {
        this.running = null;
        throw err;
      },
    );
    return this.running;
  }

  /** Runs passes until no job is due (tests, CLI). Returns how many jobs ran. */
  async drain(maxPasses = 1_000): Promise<number> {
    let total = 0;
    for (let i = 0; i < maxPasses; i++) {
      const n = await this.tick();
      total += n;
      if (n === 0 && !this.running) return total;
    }
    return total;
  }

  private async pass(): Promise<number> {
    const kinds = Object.keys(this.o.handlers);
    if (kinds.length === 0) return 0;
    const now = this.o.clock();
    const leaseUntil = new Date(now.getTime() + this.o.leaseMs).toISOString();
    const jobs = await this.o.store.leaseJobs(kinds, now.toISOString(), leaseUntil, this.o.batchSize);
    await Promise.all(jobs.map((job) => this.queue.add(() => this.run(job))));
    return jobs.length;
  }

  private async run(job: OutboxJob): Promise<void> {
    const handler = this.o.handlers[job.kind];
    let result: HandlerResult;
    try {
      result = handler
        ? await handler(job)
        : { ok: false, retryable: false, error: `no handler for ${job.kind}` };
    } catch (err) {
      result = { ok: false, retryable: true, error: `${(err as Error).name}: handler threw` };
    }
    const now = this.o.clock();
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
    await this.o.store.finishJob(job.id, outcome, now.toISOString());
    const level = outcome.status === 'dead' ? 'warn' : 'debug';
    this.o.log[level](
      { jobId: job.id, kind: job.kind, attempt, outcome: outcome.status },
      'outbox job finished',
    );
  }
}
