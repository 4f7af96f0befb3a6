/**
 * The sync part of the Store contract: coalescing jobs, CRM links, recorded writes, paging
 * subjects. Called by `storeContract`, never on its own.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../src/store/port.ts';
import { at, job, ok, subject } from './store-fixtures.ts';

export function syncContract(get: () => Store): void {
  describe('sync', () => {
    let store: Store;
    beforeEach(() => {
      store = get();
    });

    it('adds a coalescing job only while none with its key waits to run', async () => {
      const sync = (id: string) =>
        job(id, { kind: 'hubspot.sync', idempotencyKey: `key-${id}`, coalesceKey: 'hubspot:sub-1' });
      await ok(store, { jobs: [sync('j1')] });
      await ok(store, { jobs: [sync('j2')] });
      expect(await store.getJob('j2')).toBeNull();
      // Once the first is leased (it may have read the old state), a new change queues a new job.
      await store.leaseJobs(['hubspot.sync'], at(10), at(20), 10);
      await ok(store, { jobs: [sync('j3')] });
      expect((await store.getJob('j3'))?.status).toBe('pending');
      await ok(store, { jobs: [sync('j4')] });
      expect(await store.getJob('j4')).toBeNull();
      // Another person, or a job without a key, is never held back.
      await ok(store, {
        jobs: [
          job('j5', { kind: 'hubspot.sync', idempotencyKey: 'key-j5', coalesceKey: 'hubspot:sub-2' }),
          job('j6', { kind: 'hubspot.sync', idempotencyKey: 'key-j6' }),
        ],
      });
      expect(await store.getJob('j5')).not.toBeNull();
      expect(await store.getJob('j6')).not.toBeNull();
    });

    it('links CRM records to people, relinks and unlinks them', async () => {
      await ok(store, { newSubject: subject(1) });
      await ok(store, { newSubject: subject(2) });
      const link = {
        connector: 'hubspot',
        objectType: 'contact',
        remoteId: '501',
        subjectId: 'sub-1',
        linkedAt: at(0),
      };
      await ok(store, {
        links: [link, { ...link, connector: 'salesforce', objectType: 'Lead', remoteId: '00Q1' }],
      });
      expect(await store.findLink('hubspot', 'contact', '501')).toEqual(link);
      expect(await store.findLink('hubspot', 'contact', '502')).toBeNull();
      expect((await store.linksOf('sub-1')).map((l) => l.remoteId)).toEqual(['501', '00Q1']);
      await ok(store, { links: [{ ...link, subjectId: 'sub-2', linkedAt: at(5) }] });
      expect(await store.findLink('hubspot', 'contact', '501')).toMatchObject({ subjectId: 'sub-2' });
      await ok(store, { unlinks: [{ connector: 'salesforce', objectType: 'Lead', remoteId: '00Q1' }] });
      expect(await store.linksOf('sub-1')).toEqual([]);
    });

    it('keeps the last value written per CRM property', async () => {
      const w = {
        connector: 'hubspot',
        objectType: 'contact',
        remoteId: '501',
        property: 'whatsapp_opted_out',
        value: 'true',
        writtenAt: at(0),
      };
      await ok(store, {
        syncWrites: [w, { ...w, property: 'whatsapp_marketing_consent', value: '"withdrawn"' }],
      });
      await ok(store, { syncWrites: [{ ...w, value: 'false', writtenAt: at(3) }] });
      expect(await store.syncWritesOf('hubspot', 'contact', '501')).toEqual([
        { ...w, property: 'whatsapp_marketing_consent', value: '"withdrawn"' },
        { ...w, value: 'false', writtenAt: at(3) },
      ]);
      expect(await store.syncWritesOf('hubspot', 'contact', '999')).toEqual([]);
    });

    it('pages through subjects in id order', async () => {
      for (const n of [3, 1, 2]) await ok(store, { newSubject: subject(n) });
      expect((await store.listSubjects('', 2)).map((s) => s.id)).toEqual(['sub-1', 'sub-2']);
      expect((await store.listSubjects('sub-2', 2)).map((s) => s.id)).toEqual(['sub-3']);
    });
  });
}
