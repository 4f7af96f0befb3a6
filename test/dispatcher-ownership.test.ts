/**
 * Issue 19, item 2: the dispatcher's shared state survives a run that never settles (on Workers, a
 * run whose invocation was cancelled). Later drains stop waiting on it at its deadline and run
 * their own; the jobs it leased are leased again once their lease expired; Node's background tasks
 * are awaited at shutdown. Memory store, a controlled clock.
 */
import { describe, expect, it } from 'vitest';
import type { OutboxJob } from '../src/core/types.ts';
import { BackgroundTasks } from '../src/service/background.ts';
import { silentLog } from '../src/service/log.ts';
import { KeyedMutex } from '../src/service/mutex.ts';
import { createMemoryStore } from '../src/store/memory.ts';
import { Dispatcher } from '../src/sync/dispatcher.ts';
import { at, job, ok } from './store-fixtures.ts';

/** Rejects instead of hanging the test when `p` does not settle in time. */
function within<T>(p: Promise<T>, ms = 3_000): Promise<T> {
  return Promise.race([
    p,
    new Promise<never>((_, fail) => setTimeout(() => fail(new Error(`not settled within ${ms} ms`)), ms)),
  ]);
}

describe('dispatcher ownership with a deadline', () => {
  it('a run that never settles blocks no later drain; its leased job runs again after the lease', async () => {
    const store = createMemoryStore();
    await ok(store, {
      jobs: [job('job-a-stuck', { subjectId: 'sub-1' }), job('job-b-other', { subjectId: 'sub-2' })],
    });
    let now = Date.parse(at(1));
    const ran: string[] = [];
    let first = true;
    const dispatcher = new Dispatcher({
      store,
      clock: () => new Date(now),
      log: silentLog,
      leaseMs: 60_000,
      runDeadlineMs: 30_000,
      batchSize: 1, // the stuck run leases one job; the other stays for the next run
      handlers: {
        'whatsapp.send': (j: OutboxJob) => {
          ran.push(j.id);
          if (first) {
            first = false;
            return new Promise(() => {}); // the invocation that ran it was cancelled: never settles
          }
          return Promise.resolve({ ok: true as const });
        },
      },
    });

    const stuck = dispatcher.tick(); // never settles
    await new Promise((ok) => setTimeout(ok, 20));
    expect(ran).toEqual(['job-a-stuck']);

    // Before the deadline a drain would wait on the stuck run; past it, it runs its own.
    now += 31_000;
    await within(dispatcher.drain());
    expect(ran).toEqual(['job-a-stuck', 'job-b-other']);
    expect((await store.getJob('job-b-other'))?.status).toBe('done');
    expect((await store.getJob('job-a-stuck'))?.status).toBe('leased');

    // The stuck run's lease expires: the job is leased again and done.
    now += 60_000;
    await within(dispatcher.drain());
    expect((await store.getJob('job-a-stuck'))?.status).toBe('done');
    expect(ran).toEqual(['job-a-stuck', 'job-b-other', 'job-a-stuck']);
    expect(await Promise.race([stuck.then(() => 'settled'), Promise.resolve('pending')])).toBe('pending');
  });

  it('within the deadline concurrent callers share one run', async () => {
    const store = createMemoryStore();
    await ok(store, { jobs: [job('job-a', { subjectId: 'sub-1' })] });
    let calls = 0;
    const dispatcher = new Dispatcher({
      store,
      clock: () => new Date(at(1)),
      log: silentLog,
      handlers: {
        'whatsapp.send': async () => {
          calls++;
          await new Promise((ok) => setTimeout(ok, 20));
          return { ok: true as const };
        },
      },
    });
    const [a, b] = await Promise.all([dispatcher.tick(), dispatcher.tick()]);
    expect(a).toBe(b);
    expect(calls).toBe(1);
    expect(await dispatcher.drain()).toBe(0);
  });
});

describe('background tasks (Node)', () => {
  it('settle() waits for every task, those started meanwhile too, and failures are logged, not thrown', async () => {
    const errors: string[] = [];
    const log = { ...silentLog, error: (_o: object, msg: string) => void errors.push(msg) };
    const tasks = new BackgroundTasks(log as typeof silentLog);
    const done: string[] = [];
    tasks.run('first', async () => {
      await new Promise((ok) => setTimeout(ok, 20));
      done.push('first');
      tasks.run('second', async () => {
        await new Promise((ok) => setTimeout(ok, 20));
        done.push('second');
      });
    });
    tasks.run('broken', async () => {
      throw new Error('boom');
    });
    expect(tasks.size).toBe(2);
    await tasks.settle();
    expect(done).toEqual(['first', 'second']);
    expect(errors).toEqual(['broken failed']);
    expect(tasks.size).toBe(0);
  });
});

describe('per-isolate lock (KeyedMutex)', () => {
  it('a holder that never lets go (its invocation was cancelled) is taken over after the bounded wait', async () => {
    const locks = new KeyedMutex(50);
    const held = locks.run('person-1', () => new Promise<never>(() => {}));
    const order: string[] = [];
    const next = locks.run('person-1', async () => {
      order.push('next ran');
      return 'ok';
    });
    expect(await within(next, 1_000)).toBe('ok');
    expect(order).toEqual(['next ran']);
    expect(locks.takeovers).toBe(1);
    // Other keys never waited; a settled holder is not a takeover.
    await locks.run('person-2', async () => undefined);
    await locks.run('person-2', async () => undefined);
    expect(locks.takeovers).toBe(1);
    expect(await Promise.race([held.then(() => 'settled'), Promise.resolve('pending')])).toBe('pending');
  });
});
