/**
 * Store contract, PII key rotation (issue 14): finds by several hashes (one value under each key),
 * former dedupe keys, rehash (identifiers, subjects, erasures, tombstones copied), compare-and-set
 * rewraps and reseals, archived lookup keys and the rotation's progress. Called by `storeContract`.
 * All values are fictitious labels; nothing is hashed or encrypted here.
 */
import { describe, expect, it } from 'vitest';
import type { DeadEventRow, ErasureRow, IdentifierRow } from '../src/core/types.ts';
import type { KeyRotationRow } from '../src/store/key-rotation-sql.ts';
import type { Store } from '../src/store/port.ts';
import { at, ok, subject } from './store-fixtures.ts';

/** `old-…` and `new-…` hashes of one label: what key A and key B would give. */
const oldH = (label: string) => `a${label}`.padEnd(64, '0');
const newH = (label: string) => `b${label}`.padEnd(64, '0');

const ident = (subjectId: string, hash: string, over: Partial<IdentifierRow> = {}): IdentifierRow => ({
  hash,
  subjectId,
  kind: 'bsuid',
  valueEnc: `enc-${hash.slice(0, 4)}`,
  status: 'active',
  createdAt: at(1),
  updatedAt: at(1),
  ...over,
});

const erasure = (id: string, subjectHash: string, over: Partial<ErasureRow> = {}): ErasureRow => ({
  id,
  subjectHash,
  subjectId: 'sub-1',
  status: 'open',
  source: 'api',
  receivedAt: at(0),
  dueAt: at(60),
  completedAt: null,
  receipt: null,
  ...over,
});

const dead = (id: string): DeadEventRow => ({
  id,
  source: 'whatsapp',
  kind: 'message',
  reason: 'at messages[0]: fixture',
  payloadEnc: `sealed-a-${id}`,
  receivedAt: at(1),
});

const progress = (over: Partial<KeyRotationRow> = {}): KeyRotationRow => ({
  keyId: 'key-b',
  fromKeys: 'key-a',
  phase: 'subjects',
  cursor: '',
  subjects: 0,
  rewrapped: 0,
  rehashed: 0,
  resealed: 0,
  startedAt: at(0),
  updatedAt: at(0),
  finishedAt: null,
  ...over,
});

export function rotationContract(get: () => Store): void {
  describe('key rotation', () => {
    it('finds by several hashes: the first found in list order', async () => {
      const store = get();
      const s1 = { ...subject(1), phoneHash: oldH('1') };
      const s2 = { ...subject(2), phoneHash: newH('2') };
      await ok(store, { newSubject: s1 });
      await ok(store, { newSubject: s2 });
      expect((await store.findSubjectByHash([newH('1'), oldH('1')]))?.id).toBe('sub-1');
      expect((await store.findSubjectByHash([newH('2'), oldH('1')]))?.id).toBe('sub-2');
      expect((await store.findSubjectByHash([oldH('1'), newH('2')]))?.id).toBe('sub-1');
      expect(await store.findSubjectByHash([newH('9'), oldH('9')])).toBeNull();
      await ok(store, {
        erasures: [
          erasure('e1', oldH('1')),
          erasure('e2', newH('3'), { status: 'completed', receivedAt: at(5) }),
        ],
        sentMessages: [
          { waMessageId: oldH('m'), subjectId: 'sub-1', purpose: null, kind: 'reply:x', sentAt: at(1) },
        ],
      });
      expect((await store.findOpenErasure([newH('1'), oldH('1')]))?.id).toBe('e1');
      expect(await store.findOpenErasure([newH('3'), oldH('3')])).toBeNull();
      expect((await store.erasuresOf([oldH('1'), newH('3')])).map((e) => e.id)).toEqual(['e1', 'e2']);
      expect((await store.findSentMessage([newH('m'), oldH('m')]))?.subjectId).toBe('sub-1');
      expect(await store.findSentMessage([newH('x')])).toBeNull();
    });

    it('former dedupe keys make a unit a duplicate and are never written', async () => {
      const store = get();
      await ok(store, { dedupeKeys: ['wa:old-1'] });
      const again = await store.commit({
        dedupeKeys: ['wa:new-1'],
        formerDedupeKeys: ['wa:old-1'],
        newSubject: subject(1),
      });
      expect(again).toEqual({ status: 'duplicate' });
      expect(await store.getSubject('sub-1')).toBeNull();
      // The current key was not recorded by the duplicate: a unit with only it still commits.
      await ok(store, { dedupeKeys: ['wa:new-1'], formerDedupeKeys: ['wa:old-2'] });
      expect(await store.commit({ dedupeKeys: ['wa:new-1'] })).toEqual({ status: 'duplicate' });
      // …and the former key was never written.
      await ok(store, { dedupeKeys: ['wa:old-2'] });
    });

    it('rehash moves identifiers, subjects and erasures to the new hash and copies tombstones', async () => {
      const store = get();
      const s = { ...subject(1), phoneHash: oldH('p') };
      await ok(store, {
        newSubject: s,
        identifiers: [ident('sub-1', oldH('p'), { kind: 'phone' }), ident('sub-1', oldH('b'))],
      });
      await ok(store, {
        erasures: [erasure('e1', oldH('p'))],
        tombstones: [{ subjectHash: oldH('b'), erasureId: 'e1', createdAt: at(2) }],
      });
      await ok(store, {
        rehash: [
          { from: oldH('p'), to: newH('p') },
          { from: oldH('b'), to: newH('b') },
        ],
      });
      expect((await store.identifiersOf(['sub-1'])).map((i) => i.hash).sort()).toEqual([
        newH('b'),
        newH('p'),
      ]);
      expect(await store.identifiersByHash([oldH('p'), oldH('b')])).toEqual([]);
      expect((await store.identifiersByHash([newH('p')]))[0]).toMatchObject({
        kind: 'phone',
        valueEnc: 'enc-ap00',
      });
      expect((await store.getSubject('sub-1'))?.phoneHash).toBe(newH('p'));
      expect((await store.findSubjectByHash(newH('b')))?.id).toBe('sub-1');
      expect((await store.getErasure('e1'))?.subjectHash).toBe(newH('p'));
      expect((await store.tombstonesFor([oldH('b'), newH('b')])).map((t) => t.subjectHash).sort()).toEqual([
        oldH('b'),
        newH('b'),
      ]);
      // A second identical rehash finds nothing to move.
      await ok(store, { rehash: [{ from: oldH('p'), to: newH('p') }] });
      expect(await store.identifiersOf(['sub-1'])).toHaveLength(2);
    });

    it('rehash keeps a row already written under the new hash and drops the old one', async () => {
      const store = get();
      await ok(store, {
        newSubject: subject(1),
        identifiers: [ident('sub-1', oldH('b')), ident('sub-1', newH('b'), { valueEnc: 'fresh' })],
      });
      await ok(store, { rehash: [{ from: oldH('b'), to: newH('b') }] });
      const rows = (await store.identifiersOf(['sub-1'])).filter((i) => i.hash !== subject(1).phoneHash);
      expect(rows).toEqual([expect.objectContaining({ hash: newH('b'), valueEnc: 'fresh' })]);
    });

    it('rewraps and reseals only what still holds the old value (a shredded key stays shredded)', async () => {
      const store = get();
      await ok(store, { newSubject: subject(1) });
      await ok(store, { newSubject: subject(2) });
      await ok(store, { shred: ['sub-2'], deadEvents: [dead('d1'), dead('d2')] });
      await ok(store, {
        rewrap: [
          { id: 'sub-1', from: 'dek-1', to: 'dek-1-b' },
          { id: 'sub-2', from: 'dek-2', to: 'dek-2-b' },
        ],
        reseal: [
          { id: 'd1', from: 'sealed-a-d1', to: 'sealed-b-d1' },
          { id: 'd2', from: 'something else', to: 'sealed-b-d2' },
        ],
      });
      expect((await store.getSubject('sub-1'))?.dekWrapped).toBe('dek-1-b');
      expect((await store.getSubject('sub-2'))?.dekWrapped).toBeNull();
      const events = await store.deadEventsAfter('', 10);
      expect(events.map((d) => [d.id, d.payloadEnc])).toEqual([
        ['d1', 'sealed-b-d1'],
        ['d2', 'sealed-a-d2'],
      ]);
      expect((await store.deadEventsAfter('d1', 10)).map((d) => d.id)).toEqual(['d2']);
      expect(await store.deadEventsAfter('d1', 0)).toEqual([]);
      expect(await store.countSubjects('')).toBe(2);
      expect(await store.countSubjects('sub-1')).toBe(1);
    });

    it('keeps archived lookup keys (upsert by id) and moves progress only from the position expected', async () => {
      const store = get();
      const k = {
        id: 'key-a',
        wrapped: 'wrapped-under-b',
        wrappedBy: 'key-b',
        createdAt: at(0),
        updatedAt: at(0),
      };
      await ok(store, { lookupKeys: [k], keyRotation: { row: progress(), expect: null } });
      await ok(store, {
        lookupKeys: [
          { ...k, wrapped: 'wrapped-under-c', wrappedBy: 'key-c', createdAt: at(9), updatedAt: at(9) },
        ],
      });
      expect(await store.listLookupKeys()).toEqual([
        { ...k, wrapped: 'wrapped-under-c', wrappedBy: 'key-c', updatedAt: at(9) },
      ]);
      expect(await store.getKeyRotation('key-b')).toEqual(progress());
      expect(await store.getKeyRotation('key-x')).toBeNull();
      // A second insert, and a move from a position no longer stored, change nothing (and do not fail).
      await ok(store, { keyRotation: { row: progress({ cursor: 'sub-9' }), expect: null } });
      const at5 = progress({ cursor: 'sub-5', subjects: 5, updatedAt: at(1) });
      await ok(store, {
        keyRotation: { row: at5, expect: { phase: 'subjects', cursor: '', fromKeys: 'key-a' } },
      });
      await ok(store, {
        keyRotation: {
          row: progress({ cursor: 'sub-7', subjects: 7 }),
          expect: { phase: 'subjects', cursor: '', fromKeys: 'key-a' },
        },
      });
      expect(await store.getKeyRotation('key-b')).toEqual(at5);
    });
  });
}
