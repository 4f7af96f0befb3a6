/**
 * Store contract, identities (issue 13): identifiers found by hash, linked, retired, moved by a
 * merge; tombstone guards at commit; dead events bounded and purged. Called by `storeContract`.
 * All values are fictitious labels; no identifier is ever hashed here.
 */
import { describe, expect, it } from 'vitest';
import type { DeadEventRow, IdentifierRow } from '../src/core/types.ts';
import type { Store } from '../src/store/port.ts';
import { at, event, job, ok, optedIn, state, subject } from './store-fixtures.ts';

const hash = (label: string) => label.padEnd(64, '0');

function ident(subjectId: string, label: string, over: Partial<IdentifierRow> = {}): IdentifierRow {
  return {
    hash: hash(label),
    subjectId,
    kind: 'bsuid',
    valueEnc: `enc-${label}`,
    status: 'active',
    createdAt: at(1),
    updatedAt: at(1),
    ...over,
  };
}

function dead(id: string, minute: number): DeadEventRow {
  return {
    id,
    source: 'whatsapp',
    kind: 'message',
    reason: 'at messages[0].from: expected a string',
    payloadEnc: `enc-${id}`,
    receivedAt: at(minute),
  };
}

export function identityContract(get: () => Store): void {
  describe('identifiers', () => {
    it("a new subject's own hash is an identifier: the subject is found by it", async () => {
      const store = get();
      const s = subject(1);
      await ok(store, { newSubject: s });
      const [own] = await store.identifiersOf([s.id]);
      expect(own).toMatchObject({
        hash: s.phoneHash,
        subjectId: s.id,
        kind: 'phone',
        valueEnc: s.phoneEnc,
        status: 'active',
      });
      expect((await store.identifiersByHash([s.phoneHash])).map((i) => i.subjectId)).toEqual([s.id]);
    });

    it('links more identifiers, finds the subject by each, and updates status in place', async () => {
      const store = get();
      const s = subject(1);
      await ok(store, {
        newSubject: s,
        identifiers: [ident(s.id, 'b1'), ident(s.id, 'p1', { kind: 'parent_bsuid' })],
      });
      expect((await store.findSubjectByHash(hash('b1')))?.id).toBe(s.id);
      expect((await store.findSubjectByHash(hash('p1')))?.id).toBe(s.id);
      await ok(store, {
        identifiers: [ident(s.id, 'b1', { status: 'former', updatedAt: at(5), createdAt: at(9) })],
      });
      const b1 = (await store.identifiersByHash([hash('b1')]))[0];
      expect(b1).toMatchObject({ status: 'former', updatedAt: at(5), createdAt: at(1) });
      expect((await store.identifiersOf([s.id])).map((i) => i.kind).sort()).toEqual([
        'bsuid',
        'parent_bsuid',
        'phone',
      ]);
    });

    it('refuses an identifier that belongs to another person and writes nothing of that unit', async () => {
      const store = get();
      await ok(store, { newSubject: subject(1), identifiers: [ident('sub-1', 'b1')] });
      await ok(store, { newSubject: subject(2) });
      const r = await store.commit({
        identifiers: [ident('sub-2', 'b1')],
        events: [event('ev-x', 'sub-2')],
        jobs: [job('job-x')],
      });
      expect(r).toMatchObject({ status: 'conflict', reason: 'identifier_taken' });
      expect((await store.findSubjectByHash(hash('b1')))?.id).toBe('sub-1');
      expect(await store.ledgerHead()).toBeNull();
      expect(await store.getJob('job-x')).toBeNull();
    });

    it('refuses a new subject whose hash is already an identifier of someone else', async () => {
      const store = get();
      await ok(store, { newSubject: subject(1), identifiers: [ident('sub-1', 'b1')] });
      const r = await store.commit({ newSubject: { ...subject(2), phoneHash: hash('b1') } });
      expect(r).toMatchObject({ status: 'conflict', reason: 'subject_exists' });
      expect(await store.getSubject('sub-2')).toBeNull();
    });

    it('merges a subject into another: identifiers, links and sent ids move, states go, jobs are cancelled', async () => {
      const store = get();
      await ok(store, { newSubject: subject(1), states: [optedIn('sub-1', 'marketing')] });
      await ok(store, {
        newSubject: subject(2),
        identifiers: [ident('sub-2', 'b2')],
        states: [
          state('sub-2', 'marketing', {
            status: 'opted_out',
            pendingExpiresAt: null,
            statusBeforePending: null,
          }),
        ],
        links: [
          {
            connector: 'hubspot',
            objectType: 'contact',
            remoteId: '42',
            subjectId: 'sub-2',
            linkedAt: at(1),
          },
        ],
        sentMessages: [
          { waMessageId: 'wamid.two', subjectId: 'sub-2', purpose: null, kind: 'reply', sentAt: at(1) },
        ],
        jobs: [job('job-2', { subjectId: 'sub-2' })],
      });
      await ok(store, { newSubject: subject(3) });
      await ok(store, { merges: [{ from: 'sub-3', into: 'sub-2' }] });
      const merged = state('sub-1', 'marketing', {
        status: 'opted_out',
        pendingExpiresAt: null,
        statusBeforePending: null,
      });
      await ok(store, {
        merges: [{ from: 'sub-2', into: 'sub-1' }],
        // the caller re-encrypts the moved identifiers under the kept person's key
        identifiers: [ident('sub-1', 'b2', { valueEnc: 'enc-b2-under-sub-1' })],
        states: [merged],
        events: [event('ev-merge', 'sub-1', { action: 'merged' })],
      });
      expect((await store.findSubjectByHash(hash('b2')))?.id).toBe('sub-1');
      expect((await store.findSubjectByHash(subject(2).phoneHash))?.id).toBe('sub-1');
      expect((await store.identifiersByHash([hash('b2')]))[0]?.valueEnc).toBe('enc-b2-under-sub-1');
      expect(await store.identifiersOf(['sub-2'])).toEqual([]);
      expect(await store.getStates('sub-2')).toEqual([]);
      expect((await store.getStates('sub-1'))[0]?.status).toBe('opted_out');
      expect((await store.findLink('hubspot', 'contact', '42'))?.subjectId).toBe('sub-1');
      expect((await store.findSentMessage('wamid.two'))?.subjectId).toBe('sub-1');
      expect((await store.getJob('job-2'))?.status).toBe('cancelled');
      expect((await store.getSubject('sub-2'))?.mergedInto).toBe('sub-1');
      // sub-3 was merged into sub-2 before: it now points at the record that stays
      expect((await store.mergedInto('sub-1')).map((r) => r.id).sort()).toEqual(['sub-2', 'sub-3']);
      expect((await store.getSubject('sub-1'))?.mergedInto).toBeUndefined();
    });

    it('shredding empties every identifier value but keeps the hashes (a comeback is recognised)', async () => {
      const store = get();
      await ok(store, { newSubject: subject(1), identifiers: [ident('sub-1', 'b1')] });
      await ok(store, { shred: ['sub-1'] });
      const ids = await store.identifiersOf(['sub-1']);
      expect(ids).toHaveLength(2);
      expect(ids.every((i) => i.valueEnc === null)).toBe(true);
      expect((await store.findSubjectByHash(hash('b1')))?.dekWrapped).toBeNull();
    });
  });

  describe('tombstone guard', () => {
    it('writes nothing when any guarded hash has a tombstone', async () => {
      const store = get();
      await ok(store, { newSubject: subject(1) });
      await ok(store, { tombstones: [{ subjectHash: hash('b9'), erasureId: 'er-1', createdAt: at(2) }] });
      const r = await store.commit({
        guardTombstones: [subject(1).phoneHash, hash('b9')],
        dedupeKeys: ['k-guard'],
        events: [event('ev-g', 'sub-1')],
      });
      expect(r).toMatchObject({ status: 'conflict', reason: 'erased' });
      expect(await store.ledgerHead()).toBeNull();
      // the dedupe key was not kept either: a later delivery is judged again
      expect((await store.commit({ dedupeKeys: ['k-guard'] })).status).toBe('committed');
      await ok(store, { guardTombstones: [subject(1).phoneHash], events: [event('ev-ok', 'sub-1')] });
    });
  });

  describe('dead events', () => {
    it('keeps them newest first, counts them, and purges by age', async () => {
      const store = get();
      await ok(store, { deadEvents: [dead('d1', 1), dead('d2', 3)] });
      await ok(store, { deadEvents: [dead('d3', 2)] });
      expect((await store.listDeadEvents(10)).map((d) => d.id)).toEqual(['d2', 'd3', 'd1']);
      expect(await store.listDeadEvents(1)).toEqual([dead('d2', 3)]);
      expect(await store.countDeadEvents()).toBe(3);
      const purged = await store.purge({
        finishedJobs: null,
        deadLetters: null,
        inboundDedupe: null,
        sentMessages: null,
        syncWrites: null,
        deadEvents: at(2),
        audit: null,
      });
      expect(purged.deadEvents).toBe(1);
      expect((await store.listDeadEvents(10)).map((d) => d.id)).toEqual(['d2', 'd3']);
    });
  });
}
