/**
 * The Store contract: every adapter (SQLite, memory, later D1) runs this one suite.
 * All data is fictitious: phone hashes are made-up hex strings, ids are labels.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ChainBreak, ChainVerifier, canonicalEvent, GENESIS_HASH } from '../src/core/ledger.ts';
import type { CommitResult, Store } from '../src/store/port.ts';
import { erasureContract } from './store-contract-erasure.ts';
import { identityContract } from './store-contract-identity.ts';
import { inboxContract } from './store-contract-inbox.ts';
import { apiKeysContract } from './store-contract-keys.ts';
import { outboxContract } from './store-contract-outbox.ts';
import { rotationContract } from './store-contract-rotation.ts';
import { statsContract } from './store-contract-stats.ts';
import { syncContract } from './store-contract-sync.ts';
import { at, event, job, ok, optedIn, state, subject, text } from './store-fixtures.ts';

/** SHA-256 hex through Web Crypto: what ChainVerifier and the Workers runtime use. */
export async function webDigest(s: string): Promise<string> {
  const buf = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(s));
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Verifies the whole ledger in small pages (to exercise paging) against the stored head. */
export async function verifyChain(store: Store): Promise<{ broken: ChainBreak | null; count: number }> {
  const v = new ChainVerifier(webDigest);
  let after = 0;
  for (;;) {
    const page = await store.readLedger(after, 2);
    for (const r of page) await v.add(r);
    const last = page.at(-1);
    if (!last) break;
    after = last.seq;
  }
  return { broken: v.finish(await store.ledgerHead()), count: v.count };
}

/** Runs the shared Store contract against stores made by `make` (a fresh, empty store each test). */
export function storeContract(name: string, make: () => Promise<Store>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await make();
      await store.migrate();
    });
    afterEach(async () => {
      await store.close();
    });

    describe('subjects', () => {
      it('inserts and finds by hash and id', async () => {
        const s = subject(1);
        await ok(store, { newSubject: s });
        expect(await store.findSubjectByHash(s.phoneHash)).toEqual(s);
        expect(await store.getSubject(s.id)).toEqual(s);
        expect(await store.findSubjectByHash(subject(2).phoneHash)).toBeNull();
        expect(await store.getSubject('sub-missing')).toBeNull();
      });

      it('refuses a second subject with the same phone hash and writes nothing of that unit', async () => {
        await ok(store, { newSubject: subject(1) });
        const clash = { ...subject(2), phoneHash: subject(1).phoneHash };
        const r = await store.commit({
          newSubject: clash,
          events: [event('ev-clash', clash.id)],
          jobs: [job('job-clash')],
        });
        expect(r).toMatchObject({ status: 'conflict', reason: 'subject_exists' });
        expect(await store.getSubject(clash.id)).toBeNull();
        expect(await store.ledgerHead()).toBeNull();
        expect(await store.getJob('job-clash')).toBeNull();
      });

      it('applies partial subject updates', async () => {
        const s = subject(1);
        await ok(store, { newSubject: s });
        await ok(store, { subjectUpdates: [{ id: s.id, locale: 'de' }] });
        expect(await store.getSubject(s.id)).toEqual({ ...s, locale: 'de' });
        await ok(store, { subjectUpdates: [{ id: s.id, privacyNoticeAt: at(5) }] });
        expect(await store.getSubject(s.id)).toEqual({ ...s, locale: 'de', privacyNoticeAt: at(5) });
        await ok(store, { subjectUpdates: [{ id: s.id, locale: null }] });
        expect(await store.getSubject(s.id)).toEqual({ ...s, locale: null, privacyNoticeAt: at(5) });
      });
    });

    describe('ledger', () => {
      it('starts empty', async () => {
        expect(await store.ledgerHead()).toBeNull();
        expect(await store.readLedger(0, 10)).toEqual([]);
        expect(await verifyChain(store)).toEqual({ broken: null, count: 0 });
      });

      it('chains events within and across units with Web Crypto-compatible hashes', async () => {
        const first = await ok(store, {
          newSubject: subject(1),
          events: [event('ev-1', 'sub-1'), event('ev-2', 'sub-1', { action: 'confirmed' })],
        });
        const second = await ok(store, { events: [event('ev-3', 'sub-1', { action: 'opted_out' })] });
        const all = [...first, ...second];
        expect(all.map((r) => r.seq)).toEqual([1, 2, 3]);
        expect(all[0]?.prevHash).toBe(GENESIS_HASH);
        for (const [i, r] of all.entries()) {
          if (i > 0) expect(r.prevHash).toBe(all[i - 1]?.hash);
          expect(r.hash).toBe(await webDigest(canonicalEvent(r.seq, r.prevHash, r)));
        }
        expect(await store.readLedger(0, 10)).toEqual(all);
        expect(await store.ledgerHead()).toEqual({ seq: 3, hash: all[2]?.hash });
        expect(await verifyChain(store)).toEqual({ broken: null, count: 3 });
      });

      it('hashes non-ASCII values as UTF-8, like Web Crypto', async () => {
        const [r] = await ok(store, {
          events: [event('ev-ü', 'sub-1', { purpose: 'marketing-ü', evidenceEnc: 'Zürich € 😀 中文' })],
        });
        expect(r?.hash).toBe(await webDigest(canonicalEvent(1, GENESIS_HASH, r!)));
        expect((await verifyChain(store)).broken).toBeNull();
      });

      it("lists one subject's events in seq order and pages the ledger", async () => {
        await ok(store, { events: [event('ev-1', 'sub-1'), event('ev-2', 'sub-2'), event('ev-3', 'sub-1')] });
        expect((await store.listEvents('sub-1')).map((r) => r.id)).toEqual(['ev-1', 'ev-3']);
        expect(await store.listEvents('sub-none')).toEqual([]);
        expect((await store.readLedger(1, 1)).map((r) => r.seq)).toEqual([2]);
        expect((await store.readLedger(3, 10)).length).toBe(0);
      });

      it('keeps the head when a unit has no events', async () => {
        await ok(store, { events: [event('ev-1', 'sub-1')] });
        const head = await store.ledgerHead();
        await ok(store, { audit: [] });
        expect(await store.ledgerHead()).toEqual(head);
      });
    });

    describe('dedupe', () => {
      it('makes a repeated unit a no-op (no events, no jobs)', async () => {
        await ok(store, { dedupeKeys: ['wamid.A'], events: [event('ev-1', 'sub-1')], jobs: [job('job-1')] });
        const r = await store.commit({
          dedupeKeys: ['wamid.A'],
          events: [event('ev-2', 'sub-1')],
          jobs: [job('job-2')],
        });
        expect(r).toEqual({ status: 'duplicate' });
        expect((await store.ledgerHead())?.seq).toBe(1);
        expect(await store.getJob('job-2')).toBeNull();
        expect((await store.countJobs()).pending).toBe(1);
      });

      it('does not record the unseen keys of a duplicate unit', async () => {
        await ok(store, { dedupeKeys: ['k-old'] });
        expect(await store.commit({ dedupeKeys: ['k-new', 'k-old'] })).toEqual({ status: 'duplicate' });
        await ok(store, { dedupeKeys: ['k-new'] });
      });

      it('treats a key repeated inside one unit as one key', async () => {
        await ok(store, { dedupeKeys: ['k', 'k'], events: [event('ev-1', 'sub-1')] });
      });
    });

    describe('group commit isolation', () => {
      it('a failing unit does not affect the others in the same flush', async () => {
        const pending: Array<Promise<CommitResult>> = [
          store.commit({ newSubject: subject(1), events: [event('ev-a', 'sub-1')], jobs: [job('job-a')] }),
          store.commit({ newSubject: { ...subject(2), phoneHash: subject(1).phoneHash } }),
          // Fails on the second event (duplicate id) after writing a subject, a job and one event.
          store.commit({
            newSubject: subject(3),
            jobs: [job('job-c')],
            events: [event('ev-c', 'sub-3'), event('ev-a', 'sub-3')],
          }),
          store.commit({ newSubject: subject(4), events: [event('ev-d', 'sub-4')], jobs: [job('job-d')] }),
        ];
        const [a, b, c, d] = await Promise.allSettled(pending);
        expect(a).toMatchObject({ status: 'fulfilled', value: { status: 'committed' } });
        expect(b).toMatchObject({
          status: 'fulfilled',
          value: { status: 'conflict', reason: 'subject_exists' },
        });
        expect(c?.status).toBe('rejected');
        expect(d).toMatchObject({ status: 'fulfilled', value: { status: 'committed' } });
        const events = await store.readLedger(0, 10);
        expect(events.map((r) => [r.seq, r.id])).toEqual([
          [1, 'ev-a'],
          [2, 'ev-d'],
        ]);
        expect(await store.getSubject('sub-3')).toBeNull();
        expect(await store.getJob('job-c')).toBeNull();
        expect(await store.getJob('job-d')).not.toBeNull();
        expect(await verifyChain(store)).toEqual({ broken: null, count: 2 });
      });
    });

    describe('consent state', () => {
      it('upserts by subject and purpose', async () => {
        await ok(store, { states: [state('sub-1', 'transactional'), state('sub-1', 'marketing')] });
        const confirmed = optedIn('sub-1', 'marketing');
        await ok(store, { states: [confirmed] });
        expect(await store.getStates('sub-1')).toEqual([confirmed, state('sub-1', 'transactional')]);
        expect(await store.getStates('sub-none')).toEqual([]);
      });

      it('commits a decision only while the states it was made from are still stored (stale_state)', async () => {
        const pending = state('sub-1', 'marketing');
        const confirmed = optedIn('sub-1', 'marketing');
        const optedOut = state('sub-1', 'marketing', {
          status: 'opted_out',
          pendingExpiresAt: null,
          statusBeforePending: null,
          changedAt: at(4),
          occurredAt: at(4),
          crmOptedOutAt: at(4),
          crmGrantedAt: at(2),
        });
        // Decided from "no row": fine while there is none.
        await ok(store, {
          expectStates: [{ subjectId: 'sub-1', purpose: 'marketing', state: null }],
          states: [pending],
          events: [event('ev-a', 'sub-1')],
        });
        // Decided from "no row" again, but there is one now: nothing is written, not even the key.
        const stale = await store.commit({
          dedupeKeys: ['wamid.stale'],
          expectStates: [{ subjectId: 'sub-1', purpose: 'marketing', state: null }],
          states: [optedOut],
          events: [event('ev-b', 'sub-1', { action: 'opted_out' })],
        });
        expect(stale).toMatchObject({ status: 'conflict', reason: 'stale_state' });
        // Decided from the pending row as stored: committed.
        await ok(store, {
          expectStates: [{ subjectId: 'sub-1', purpose: 'marketing', state: pending }],
          states: [confirmed],
          events: [event('ev-c', 'sub-1', { action: 'confirmed' })],
        });
        // Decided from the pending row, which another writer has confirmed meanwhile: refused.
        // One column differing is enough (here the whole row, then one column each, the times of
        // sync rules 4 and 4a included), a purpose not expected is not read.
        for (const moved of [
          pending,
          { ...confirmed, source: 'whatsapp' as const },
          { ...confirmed, withdrawnAt: null },
          { ...confirmed, crmOptedOutAt: at(2) },
          { ...confirmed, crmGrantedAt: at(2) },
          { ...confirmed, requestedAt: at(2) },
        ]) {
          const r = await store.commit({
            dedupeKeys: ['wamid.stale'],
            expectStates: [
              { subjectId: 'sub-1', purpose: 'marketing', state: moved },
              { subjectId: 'sub-1', purpose: 'transactional', state: null },
            ],
            states: [optedOut],
            events: [event('ev-d', 'sub-1', { action: 'opted_out' })],
          });
          expect(r).toMatchObject({ status: 'conflict', reason: 'stale_state' });
        }
        expect(await store.getStates('sub-1')).toEqual([confirmed]);
        expect((await store.listEvents('sub-1')).map((e) => e.id)).toEqual(['ev-a', 'ev-c']);
        // The refused units left their dedupe key unrecorded: the same delivery can still be applied.
        await ok(store, {
          dedupeKeys: ['wamid.stale'],
          expectStates: [{ subjectId: 'sub-1', purpose: 'marketing', state: confirmed }],
          states: [optedOut],
          events: [event('ev-e', 'sub-1', { action: 'opted_out' })],
        });
        expect(await store.getStates('sub-1')).toEqual([optedOut]);
        expect(await verifyChain(store)).toEqual({ broken: null, count: 3 });
      });

      it('finds expired pending states, oldest first, limited', async () => {
        await ok(store, {
          states: [
            state('sub-1', 'marketing', { pendingExpiresAt: at(10) }),
            state('sub-2', 'marketing', { pendingExpiresAt: at(5) }),
            state('sub-3', 'marketing', { pendingExpiresAt: at(100) }),
            state('sub-4', 'marketing', { status: 'opted_in', pendingExpiresAt: at(1) }),
          ],
        });
        const due = await store.findExpiredPending(at(10), 10);
        expect(due.map((s) => s.subjectId)).toEqual(['sub-2', 'sub-1']);
        expect((await store.findExpiredPending(at(10), 1)).map((s) => s.subjectId)).toEqual(['sub-2']);
        expect(await store.findExpiredPending(at(0), 10)).toEqual([]);
      });
    });

    describe('consent texts', () => {
      it('inserts new versions and ignores identical repeats', async () => {
        await ok(store, { texts: [text('v1'), text('v2')] });
        await ok(store, { texts: [text('v1')] });
        expect(await store.getTexts(['v1', 'v-missing'])).toEqual([text('v1')]);
        expect(await store.getTexts([])).toEqual([]);
        expect(await store.allTexts()).toEqual([text('v1'), text('v2')]);
      });

      it('refuses a changed wording under a used version, writing nothing of that unit', async () => {
        await ok(store, { texts: [text('v1')] });
        const r = await store.commit({
          texts: [{ ...text('v1'), text: 'edited wording', sha256: 'f'.repeat(64) }],
          events: [event('ev-1', 'sub-1')],
        });
        expect(r).toMatchObject({ status: 'conflict', reason: 'text_version_changed' });
        expect(await store.getTexts(['v1'])).toEqual([text('v1')]);
        expect(await store.ledgerHead()).toBeNull();
      });
    });

    outboxContract(() => store);
    syncContract(() => store);
    erasureContract(() => store);
    apiKeysContract(() => store);
    statsContract(() => store);
    inboxContract(() => store);
    identityContract(() => store);
    rotationContract(() => store);

    describe('sent messages and audit', () => {
      it('records sent messages once and finds them by id', async () => {
        const m = {
          waMessageId: 'wamid.sent-1',
          subjectId: 'sub-1',
          purpose: 'marketing',
          kind: 'confirm',
          sentAt: at(1),
        };
        await ok(store, { sentMessages: [m] });
        await ok(store, { sentMessages: [{ ...m, kind: 'other', sentAt: at(2) }] });
        expect(await store.findSentMessage('wamid.sent-1')).toEqual(m);
        expect(await store.findSentMessage('wamid.none')).toBeNull();
        await ok(store, { sentMessages: [{ ...m, waMessageId: 'wamid.sent-2', purpose: null }] });
        expect((await store.findSentMessage('wamid.sent-2'))?.purpose).toBeNull();
      });

      it('lists audit entries newest first, with details as JSON', async () => {
        const entry = (id: string, minute: number) => ({
          id,
          at: at(minute),
          actor: 'key-1a2b',
          role: 'admin',
          action: 'mapping.replace',
          target: id === 'au-1' ? null : 'hubspot',
          details: { fields: ['consent'], count: minute },
        });
        await ok(store, { audit: [entry('au-1', 1), entry('au-3', 3)] });
        await ok(store, { audit: [entry('au-2', 2)] });
        expect(await store.listAudit(10)).toEqual([entry('au-3', 3), entry('au-2', 2), entry('au-1', 1)]);
        expect((await store.listAudit(1)).map((a) => a.id)).toEqual(['au-3']);
      });

      it('counts a repeated event in one audit row (auditCounts): first `at` kept, count and lastAt grow', async () => {
        const failed = (id: string, minute: number, count = 1) => ({
          id,
          at: at(minute),
          actor: 'anonymous',
          role: 'none',
          action: 'api.auth_failed',
          target: 'client:0a1b2c3d4e5f',
          details: { count, lastAt: at(minute), network: '203.0.113.0/24' },
        });
        await ok(store, { auditCounts: [failed('af-1', 1)] });
        await ok(store, { auditCounts: [failed('af-1', 2)] });
        await ok(store, { auditCounts: [failed('af-1', 3, 2), failed('af-2', 4)] });
        expect(await store.listAudit(10)).toEqual([
          failed('af-2', 4),
          { ...failed('af-1', 1), details: { count: 4, lastAt: at(3), network: '203.0.113.0/24' } },
        ]);
      });

      it('purges audit entries older than the audit cutoff, and none without one', async () => {
        const entry = (id: string, minute: number) => ({
          id,
          at: at(minute),
          actor: 'key-1a2b',
          role: 'admin',
          action: 'job.retry',
          target: null,
          details: {},
        });
        await ok(store, { audit: [entry('au-1', 1), entry('au-2', 2), entry('au-5', 5)] });
        const none = {
          finishedJobs: null,
          deadLetters: null,
          inboundDedupe: null,
          sentMessages: null,
          syncWrites: null,
          deadEvents: null,
        };
        expect((await store.purge({ ...none, audit: null })).audit).toBe(0);
        expect(await store.purge({ ...none, audit: at(3) })).toEqual({
          finishedJobs: 0,
          deadLetters: 0,
          inboundDedupe: 0,
          sentMessages: 0,
          syncWrites: 0,
          deadEvents: 0,
          audit: 2,
        });
        expect((await store.listAudit(10)).map((a) => a.id)).toEqual(['au-5']);
      });
    });

    describe('lifecycle', () => {
      it('migrating twice is a no-op', async () => {
        await ok(store, { newSubject: subject(1), events: [event('ev-1', 'sub-1')] });
        await store.migrate();
        expect(await store.getSubject('sub-1')).not.toBeNull();
        await ok(store, { events: [event('ev-2', 'sub-1')] });
        expect(await verifyChain(store)).toEqual({ broken: null, count: 2 });
      });

      it('rejects commits after close', async () => {
        await store.close();
        await expect(store.commit({})).rejects.toThrow(/closed/);
      });
    });
  });
}
