import type { Log } from './log.ts';

/**
 * Work that runs after the code that started it returned (Node's "dispatch now" after a commit,
 * timers): every task is tracked, its failure is logged by name, and shutdown awaits them all.
 * The Node counterpart of Workers' `ctx.waitUntil`; nothing in `src/` may start a promise and drop
 * it (`void promise` is refused by the lint plugin in lint/no-void-call.grit).
 *
 * @example
 * const background = new BackgroundTasks(log);
 * background.run('dispatch', () => dispatcher.tick());
 * await background.settle(); // at shutdown
 */
export class BackgroundTasks {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly log: Log;

  constructor(log: Log) {
    this.log = log;
  }

  /** Starts `work` now; it is awaited by `settle()`. Failures are logged, never thrown. */
  run(what: string, work: () => Promise<unknown>): void {
    const task: Promise<void> = (async () => {
      try {
        await work();
      } catch (err) {
        this.log.error({ err: (err as Error).name }, `${what} failed`);
      }
    })().finally(() => this.inFlight.delete(task));
    this.inFlight.add(task);
  }

  /** How many tasks are still running. */
  get size(): number {
    return this.inFlight.size;
  }

  /** Waits until no task runs (tasks started meanwhile included). */
  async settle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }
}
