/**
 * The outbox part of the Store contract (insert, lease, finish, requeue, list, count), split from
 * `store-contract.ts` to keep files small. Called by `storeContract`, never on its own.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../src/store/port.ts';
import { at, job, ok } from './store-fixtures.ts';

/** Registers the outbox tests; `get` returns the store the enclosing suite made for this test. */
export function outboxContract(get: () => Store): void {
  describe('outbox', () => {
    let store: Store;
    beforeEach(() => {
      store = get();
    });

    it('inserts jobs as pending and skips a repeated idempotency key', async () => {
      await ok(store, { jobs: [job('job-1', { payload: { to: 'sub-1', nested: { n: 1 } } })] });
      await ok(store, { jobs: [job('job-2', { idempotencyKey: 'key-job-1' })] });
      expect(await store.getJob('job-2')).toBeNull();
      expect(await store.getJob('job-1')).toMatchObject({
        id: 'job-1',
        kind: 'whatsapp.send',
        idempotencyKey: 'key-job-1',
        payload: { to: 'sub-1', nested: { n: 1 } },
        status: 'pending',
        attempts: 0,
        nextAttemptAt: at(0),
        leaseUntil: null,
        lastError: null,
      });
      expect(await store.getJob('job-missing')).toBeNull();
    });

    it('leases due jobs only, oldest first, filtered by kind, up to the limit', async () => {
      await ok(store, {
        jobs: [
          // one person each: a person's jobs of one kind never run at once (the next test)
          job('job-late', { subjectId: 'sub-l', nextAttemptAt: at(60) }),
          job('job-b', { subjectId: 'sub-b', nextAttemptAt: at(2) }),
          job('job-a', { subjectId: 'sub-a', nextAttemptAt: at(1) }),
          job('job-hs', { kind: 'hubspot.sync', nextAttemptAt: at(0) }),
          job('job-c', { subjectId: 'sub-c', nextAttemptAt: at(3) }),
        ],
      });
      const leased = await store.leaseJobs(['whatsapp.send'], at(10), at(15), 2);
      expect(leased.map((j) => j.id)).toEqual(['job-a', 'job-b']);
      expect(leased[0]).toMatchObject({ status: 'leased', leaseUntil: at(15), attempts: 0 });
      expect((await store.getJob('job-a'))?.status).toBe('leased');
      const rest = await store.leaseJobs(['whatsapp.send'], at(10), at(15), 10);
      expect(rest.map((j) => j.id)).toEqual(['job-c']);
      expect(await store.leaseJobs([], at(10), at(15), 10)).toEqual([]);
      const both = await store.leaseJobs(['whatsapp.send', 'hubspot.sync'], at(10), at(15), 10);
      expect(both.map((j) => j.id)).toEqual(['job-hs']);
    });

    it("holds a person's next job of a kind while another for them is leased and live", async () => {
      await ok(store, { jobs: [job('job-1', { subjectId: 'sub-1' }), job('job-x', { subjectId: 'sub-2' })] });
      expect((await store.leaseJobs(['whatsapp.send'], at(1), at(6), 10)).map((j) => j.id)).toEqual([
        'job-1',
        'job-x',
      ]);
      // a change arrives while job-1 runs: its job waits; another kind for the same person does not
      await ok(store, {
        jobs: [
          job('job-2', { subjectId: 'sub-1', nextAttemptAt: at(2) }),
          job('job-hs', { kind: 'hubspot.sync', subjectId: 'sub-1', nextAttemptAt: at(2) }),
          job('job-free', { subjectId: null, nextAttemptAt: at(2) }),
        ],
      });
      const kinds = ['whatsapp.send', 'hubspot.sync'];
      expect((await store.leaseJobs(kinds, at(3), at(8), 10)).map((j) => j.id).sort()).toEqual([
        'job-free',
        'job-hs',
      ]);
      await store.finishJob('job-1', { status: 'done' }, at(4));
      expect((await store.leaseJobs(kinds, at(4), at(9), 10)).map((j) => j.id)).toEqual(['job-2']);
      // an expired lease no longer holds anyone back
      await ok(store, { jobs: [job('job-3', { subjectId: 'sub-2', nextAttemptAt: at(5) })] });
      expect((await store.leaseJobs(kinds, at(7), at(12), 10)).map((j) => j.id).sort()).toEqual([
        'job-3',
        'job-x',
      ]);
    });

    it('does not re-lease a job while its lease holds, and re-leases it once expired', async () => {
      await ok(store, { jobs: [job('job-1')] });
      expect(await store.leaseJobs(['whatsapp.send'], at(1), at(6), 10)).toHaveLength(1);
      expect(await store.leaseJobs(['whatsapp.send'], at(5), at(10), 10)).toEqual([]);
      const again = await store.leaseJobs(['whatsapp.send'], at(6), at(11), 10);
      expect(again).toMatchObject([{ id: 'job-1', status: 'leased', leaseUntil: at(11) }]);
    });

    it('records done, retry and dead outcomes, counting attempts', async () => {
      await ok(store, { jobs: [job('job-done'), job('job-retry'), job('job-dead')] });
      await store.leaseJobs(['whatsapp.send'], at(1), at(5), 10);
      await store.finishJob('job-done', { status: 'done' }, at(2));
      await store.finishJob(
        'job-retry',
        { status: 'retry', error: 'http_503', nextAttemptAt: at(30) },
        at(2),
      );
      await store.finishJob('job-dead', { status: 'dead', error: 'http_400' }, at(2));
      expect(await store.getJob('job-done')).toMatchObject({
        status: 'done',
        attempts: 1,
        updatedAt: at(2),
      });
      expect(await store.getJob('job-retry')).toMatchObject({
        status: 'pending',
        attempts: 1,
        nextAttemptAt: at(30),
        lastError: 'http_503',
        leaseUntil: null,
      });
      expect(await store.getJob('job-dead')).toMatchObject({
        status: 'dead',
        attempts: 1,
        lastError: 'http_400',
      });
      // The retried job is due again at its new time, not before.
      expect(await store.leaseJobs(['whatsapp.send'], at(29), at(40), 10)).toEqual([]);
      await store.leaseJobs(['whatsapp.send'], at(30), at(40), 10);
      await store.finishJob('job-retry', { status: 'done' }, at(31));
      expect(await store.getJob('job-retry')).toMatchObject({
        status: 'done',
        attempts: 2,
        lastError: 'http_503',
      });
    });

    it('ignores finishing a job that is not leased', async () => {
      await ok(store, { jobs: [job('job-1')] });
      await store.finishJob('job-1', { status: 'done' }, at(1));
      expect(await store.getJob('job-1')).toMatchObject({ status: 'pending', attempts: 0 });
    });

    it('requeues dead jobs only', async () => {
      await ok(store, { jobs: [job('job-dead'), job('job-pending')] });
      await store.leaseJobs(['whatsapp.send'], at(1), at(5), 1);
      await store.finishJob('job-dead', { status: 'dead', error: 'http_400' }, at(2));
      expect(await store.requeueJob('job-pending', at(3))).toBe(false);
      expect(await store.requeueJob('job-missing', at(3))).toBe(false);
      expect(await store.requeueJob('job-dead', at(3))).toBe(true);
      expect(await store.getJob('job-dead')).toMatchObject({
        status: 'pending',
        nextAttemptAt: at(3),
        lastError: 'http_400',
        attempts: 1,
      });
      expect(await store.requeueJob('job-dead', at(4))).toBe(false);
    });

    it('lists jobs by filter with paging, and counts them by status', async () => {
      await ok(store, {
        jobs: [
          job('job-1', { subjectId: 'sub-1' }),
          job('job-2', { subjectId: 'sub-2', kind: 'hubspot.sync' }),
          job('job-3', { subjectId: 'sub-1' }),
          job('job-4', { subjectId: 'sub-1', kind: 'hubspot.sync' }),
          job('job-5', { subjectId: null }),
        ],
      });
      await store.leaseJobs(['whatsapp.send'], at(1), at(5), 1);
      await store.finishJob('job-1', { status: 'dead', error: 'http_400' }, at(2));
      const ids = (jobs: Array<{ id: string }>) => jobs.map((j) => j.id);
      expect(ids(await store.listJobs({}))).toEqual(['job-1', 'job-2', 'job-3', 'job-4', 'job-5']);
      expect(ids(await store.listJobs({ limit: 2 }))).toEqual(['job-1', 'job-2']);
      expect(ids(await store.listJobs({ limit: 2, after: 'job-2' }))).toEqual(['job-3', 'job-4']);
      expect(ids(await store.listJobs({ limit: 2, after: 'job-4' }))).toEqual(['job-5']);
      expect(ids(await store.listJobs({ status: 'dead' }))).toEqual(['job-1']);
      expect(ids(await store.listJobs({ kind: 'hubspot.sync' }))).toEqual(['job-2', 'job-4']);
      expect(ids(await store.listJobs({ subjectId: 'sub-1', kind: 'whatsapp.send' }))).toEqual([
        'job-1',
        'job-3',
      ]);
      expect(ids(await store.listJobs({ subjectId: 'sub-1', status: 'pending', after: 'job-3' }))).toEqual([
        'job-4',
      ]);
      expect(await store.countJobs()).toEqual({ pending: 4, leased: 0, done: 0, dead: 1, cancelled: 0 });
    });
  });
}
