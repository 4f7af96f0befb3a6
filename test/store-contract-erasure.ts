/**
 * The erasure part of the Store contract: one open request per person, tasks, tombstones,
 * crypto-shredding. Called by `storeContract`, never on its own.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { ErasureRow } from '../src/core/types.ts';
import type { Store } from '../src/store/port.ts';
import { at, job, ok, subject } from './store-fixtures.ts';

const erasure = (id: string, over: Partial<ErasureRow> = {}): ErasureRow => ({
  id,
  subjectHash: 'hash-1',
  subjectId: 'sub-1',
  status: 'open',
  source: 'api',
  receivedAt: at(0),
  dueAt: at(60 * 24 * 30),
  completedAt: null,
  receipt: null,
  ...over,
});

export function erasureContract(get: () => Store): void {
  describe('erasure', () => {
    let store: Store;
    beforeEach(() => {
      store = get();
    });

    it('keeps one open request per person, and any number of finished ones', async () => {
      await ok(store, { erasures: [erasure('e1')] });
      const second = await store.commit({ erasures: [erasure('e2')] });
      expect(second).toMatchObject({ status: 'conflict', reason: 'erasure_open' });
      expect(await store.getErasure('e2')).toBeNull();
      expect((await store.findOpenErasure('hash-1'))?.id).toBe('e1');
      const receipt = { systems: ['local'], ok: true };
      await ok(store, { erasures: [erasure('e1', { status: 'completed', completedAt: at(5), receipt })] });
      expect(await store.findOpenErasure('hash-1')).toBeNull();
      expect(await store.getErasure('e1')).toMatchObject({
        status: 'completed',
        completedAt: at(5),
        receipt,
      });
      await ok(store, { erasures: [erasure('e3', { receivedAt: at(10) })] });
      expect((await store.erasuresOf('hash-1')).map((e) => e.id)).toEqual(['e1', 'e3']);
      expect((await store.listErasures({ limit: 10 })).map((e) => e.id)).toEqual(['e3', 'e1']);
      expect((await store.listErasures({ status: 'open', limit: 10 })).map((e) => e.id)).toEqual(['e3']);
      expect(await store.listErasures({ overdueAt: at(60 * 24 * 30), limit: 10 })).toEqual([]);
      expect((await store.listErasures({ overdueAt: at(60 * 24 * 31), limit: 10 })).map((e) => e.id)).toEqual(
        ['e3'],
      );
    });

    it('records tasks, tombstones and erased records', async () => {
      const task = {
        erasureId: 'e1',
        system: 'hubspot',
        status: 'pending' as const,
        attempts: 0,
        records: 0,
        lastError: null,
        updatedAt: at(0),
        finishedAt: null,
      };
      await ok(store, {
        erasures: [erasure('e1')],
        erasureTasks: [task, { ...task, system: 'local' }],
        tombstones: [{ subjectHash: 'hash-1', erasureId: 'e1', createdAt: at(0) }],
        erasedRecords: [
          { connector: 'hubspot', objectType: 'contact', remoteId: '7', erasureId: 'e1', erasedAt: at(1) },
        ],
      });
      await ok(store, {
        erasureTasks: [{ ...task, status: 'done', attempts: 1, records: 2, finishedAt: at(2) }],
      });
      expect(await store.erasureTasks('e1')).toEqual([
        { ...task, status: 'done', attempts: 1, records: 2, finishedAt: at(2) },
        { ...task, system: 'local' },
      ]);
      await ok(store, { tombstones: [{ subjectHash: 'hash-1', erasureId: 'e9', createdAt: at(9) }] });
      expect(await store.tombstonesFor(['hash-1', 'hash-2'])).toEqual([
        { subjectHash: 'hash-1', erasureId: 'e1', createdAt: at(0) },
      ]);
      expect(await store.findErasedRecord('hubspot', 'contact', '7')).toMatchObject({ erasureId: 'e1' });
      expect(await store.findErasedRecord('hubspot', 'contact', '8')).toBeNull();
    });

    it('shreds a person: key and number gone, states, links and jobs too; the ledger stays', async () => {
      await ok(store, { newSubject: subject(1) });
      const events = await ok(store, {
        events: [
          {
            id: 'ev-1',
            subjectId: 'sub-1',
            purpose: 'marketing',
            action: 'opted_out',
            source: 'api',
            occurredAt: at(0),
            recordedAt: at(0),
            textVersion: null,
            textSha256: null,
            evidenceEnc: 'ciphertext',
          },
        ],
        states: [
          {
            subjectId: 'sub-1',
            purpose: 'marketing',
            status: 'opted_out',
            changedAt: at(0),
            source: 'api',
            statusBeforePending: null,
            pendingExpiresAt: null,
            doubleOptInAt: null,
            textVersion: null,
            occurredAt: at(0),
            withdrawnAt: at(0),
            crmOptedOutAt: null,
            crmGrantedAt: null,
            requestedAt: null,
          },
        ],
        links: [
          { connector: 'hubspot', objectType: 'contact', remoteId: '7', subjectId: 'sub-1', linkedAt: at(0) },
        ],
        jobs: [job('j-sync', { kind: 'sync.hubspot' }), job('j-erase', { kind: 'erasure.hubspot' })],
      });
      expect(events).toHaveLength(1);
      await ok(store, { shred: ['sub-1'] });
      expect(await store.getSubject('sub-1')).toMatchObject({ phoneEnc: null, dekWrapped: null });
      expect(await store.getStates('sub-1')).toEqual([]);
      expect(await store.linksOf('sub-1')).toEqual([]);
      expect((await store.getJob('j-sync'))?.status).toBe('cancelled');
      expect((await store.getJob('j-erase'))?.status).toBe('pending');
      expect((await store.listEvents('sub-1')).map((e) => e.id)).toEqual(['ev-1']);
    });
  });
}
