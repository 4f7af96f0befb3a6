/**
 * The console's read-only summaries in the Store contract (queue health per job kind, ledger
 * activity per day, people per state, the filtered audit log). Called by `storeContract`, never on its own.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../src/store/port.ts';
import { at, event, job, ok, optedIn, state } from './store-fixtures.ts';

/** Registers the summary tests; `get` returns the store the enclosing suite made for this test. */
export function statsContract(get: () => Store): void {
  describe('console summaries', () => {
    let store: Store;
    beforeEach(() => {
      store = get();
    });

    it('counts open jobs per kind and status with the oldest creation time; finished ones are left out', async () => {
      expect(await store.queueStats()).toEqual([]);
      await ok(store, { jobs: [job('job-a', { kind: 'sync.hubspot' })] });
      const first = (await store.getJob('job-a'))!.createdAt;
      await ok(store, {
        jobs: [
          job('job-b', { kind: 'sync.hubspot' }),
          job('job-c', { kind: 'sync.salesforce' }),
          job('job-d', { kind: 'sync.salesforce' }),
          job('job-e', { kind: 'whatsapp.send' }),
        ],
      });
      const leased = await store.leaseJobs(['sync.salesforce'], at(1), at(10), 2);
      expect(leased).toHaveLength(2);
      await store.finishJob('job-c', { status: 'dead', error: 'RECORD_REJECTED' }, at(2));
      await store.finishJob('job-d', { status: 'done' }, at(2));
      const stats = await store.queueStats();
      expect(stats.map(({ oldestCreatedAt: _o, ...s }) => s)).toEqual([
        { kind: 'sync.hubspot', status: 'pending', count: 2 },
        { kind: 'sync.salesforce', status: 'dead', count: 1 },
        { kind: 'whatsapp.send', status: 'pending', count: 1 },
      ]);
      expect(stats[0]?.oldestCreatedAt).toBe(first);
      for (const s of stats) expect(Number.isNaN(Date.parse(s.oldestCreatedAt))).toBe(false);
    });

    it('counts ledger events per UTC day, source and action since a cutoff', async () => {
      const day = (d: number, h = 0) => new Date(Date.UTC(2026, 0, d, h)).toISOString();
      await ok(store, {
        events: [
          event('ev-old', 'sub-1', { occurredAt: day(1, 23), source: 'form' }),
          event('ev-1', 'sub-1', { occurredAt: day(2, 0), source: 'form' }),
          event('ev-2', 'sub-2', { occurredAt: day(2, 23), source: 'form' }),
          event('ev-3', 'sub-1', { occurredAt: day(2, 12), source: 'whatsapp', action: 'confirmed' }),
          event('ev-4', 'sub-2', { occurredAt: day(4, 8), source: 'hubspot', action: 'opted_out' }),
        ],
      });
      expect(await store.ledgerDaily(day(2))).toEqual([
        { day: '2026-01-02', source: 'form', action: 'requested', count: 2 },
        { day: '2026-01-02', source: 'whatsapp', action: 'confirmed', count: 1 },
        { day: '2026-01-04', source: 'hubspot', action: 'opted_out', count: 1 },
      ]);
      expect(await store.ledgerDaily(day(5))).toEqual([]);
    });
    it('counts people per purpose and status', async () => {
      expect(await store.stateCounts()).toEqual([]);
      await ok(store, {
        states: [
          optedIn('sub-1', 'marketing'),
          optedIn('sub-2', 'marketing'),
          state('sub-3', 'marketing'),
          state('sub-1', 'service', { status: 'opted_out' }),
        ],
      });
      expect(await store.stateCounts()).toEqual([
        { purpose: 'marketing', status: 'opted_in', count: 2 },
        { purpose: 'marketing', status: 'pending', count: 1 },
        { purpose: 'service', status: 'opted_out', count: 1 },
      ]);
    });

    it('filters the audit log by actor, action and time, newest first', async () => {
      const entry = (id: string, minute: number, actor: string, action: string) => ({
        id,
        at: at(minute),
        actor,
        role: 'admin',
        action,
        target: null,
        details: {},
      });
      await ok(store, {
        audit: [
          entry('au-1', 1, 'key-a', 'console.sign_in'),
          entry('au-2', 2, 'key-b', 'console.sign_in'),
          entry('au-3', 3, 'key-a', 'job.retry'),
          entry('au-4', 4, 'key-a', 'console.sign_in'),
        ],
      });
      const ids = async (f: Parameters<Store['listAudit']>[1]) =>
        (await store.listAudit(10, f)).map((a) => a.id);
      expect(await ids({ actor: 'key-a' })).toEqual(['au-4', 'au-3', 'au-1']);
      expect(await ids({ action: 'console.sign_in' })).toEqual(['au-4', 'au-2', 'au-1']);
      expect(await ids({ actor: 'key-a', action: 'console.sign_in', since: at(2) })).toEqual(['au-4']);
      expect(await ids({ since: at(2), until: at(4) })).toEqual(['au-3', 'au-2']);
      expect(await ids({})).toEqual(['au-4', 'au-3', 'au-2', 'au-1']);
      expect((await store.listAudit(1, { actor: 'key-a' })).map((a) => a.id)).toEqual(['au-4']);
    });
  });
}
