/**
 * What only the D1 adapter has to prove: its Web Crypto chaining gives the SQLite adapter's hashes,
 * and two stores on one database (as two Workers isolates would be) never break the chain, double a
 * dedupe key, a subject or an open erasure, nor let two decisions from the same state both land, nor
 * lease a job twice.
 */

import { reset } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import type { D1Database } from '@cloudflare/workers-types/index.ts';
import { beforeEach, describe, expect, it } from 'vitest';
import { openD1Store } from '../../src/store/d1.ts';
import { LEASE } from '../../src/store/d1-jobs.ts';
import type { CommitResult, Store, WriteUnit } from '../../src/store/port.ts';
import { verifyChain } from '../store-contract.ts';
import { at, event, job, state, subject } from '../store-fixtures.ts';

/** `env.DB` with a count of failed batches, to show the race guards really fired. */
function countingDb(db: D1Database): { db: D1Database; failedBatches: () => number } {
  let failed = 0;
  const wrapped = new Proxy(db, {
    get(target, prop) {
      if (prop === 'batch') {
        return async (statements: Parameters<D1Database['batch']>[0]) => {
          try {
            return await target.batch(statements);
          } catch (err) {
            failed += 1;
            throw err;
          }
        };
      }
      const value: unknown = Reflect.get(target, prop);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { db: wrapped, failedBatches: () => failed };
}

const open = (db: D1Database = env.DB): Store => openD1Store({ db, migrations: env.TEST_MIGRATIONS });

/** Starts the same kind of commit on two stores at once; returns both results. */
async function race(a: Store, b: Store, unit: (side: 'a' | 'b') => WriteUnit): Promise<CommitResult[]> {
  const settled = await Promise.allSettled([a.commit(unit('a')), b.commit(unit('b'))]);
  return settled.map((s) => {
    if (s.status === 'rejected') throw s.reason;
    return s.value;
  });
}

describe('D1 store on workerd', () => {
  beforeEach(async () => {
    await reset();
    await open().migrate();
  });

  it('chains with the same hashes as the SQLite adapter (golden values from node:sqlite)', async () => {
    const store = open();
    const first = await store.commit({
      events: [
        event('ev-1', 'sub-1'),
        event('ev-2', 'sub-1', { action: 'confirmed', evidenceEnc: 'Zürich € 😀 中文' }),
      ],
    });
    const second = await store.commit({
      events: [event('ev-3', 'sub-2', { purpose: 'marketing-ü', textVersion: null, textSha256: null })],
    });
    const hashes = [first, second].flatMap((r) =>
      r.status === 'committed' ? r.events.map((e) => e.hash) : [],
    );
    // Printed by openSqliteStore({ path: ':memory:' }) for the same two units.
    expect(hashes).toEqual([
      '290ed3373db01d5e642deef1609bdbc514876463750a729de98f22f2f0fdcdca',
      '760b1b2d718dad801b9e71d51c83b80a97a9a20a88f5feb20fdf857db7131e31',
      'ebfc6f2300e88e9234a27883944cce32fdb1653a51ea43ed1a5f54cd7882886e',
    ]);
    expect(await verifyChain(store)).toEqual({ broken: null, count: 3 });
  });

  it('keeps one dense, verifiable chain when two stores append at once', async () => {
    const counted = countingDb(env.DB);
    const a = open(counted.db);
    const b = open(counted.db);
    const n = 12;
    // allSettled: a failure must not leave commits running into the next test.
    const settled = await Promise.allSettled(
      Array.from({ length: n }, (_, i) => {
        const store = i % 2 === 0 ? a : b;
        return store.commit({
          events: [event(`ev-${i}-x`, `sub-${i}`), event(`ev-${i}-y`, `sub-${i}`)],
          jobs: [job(`job-${i}`)],
        });
      }),
    );
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value.status : String(s.reason)))).toEqual(
      Array.from({ length: n }, () => 'committed'),
    );
    const ledger = await a.readLedger(0, 100);
    expect(ledger.map((r) => r.seq)).toEqual(Array.from({ length: 2 * n }, (_, i) => i + 1));
    // Each unit's two events stay adjacent: a unit is never interleaved with another.
    for (let i = 0; i < ledger.length; i += 2) {
      expect(ledger[i]?.id.replace(/-x$/, '')).toBe(ledger[i + 1]?.id.replace(/-y$/, ''));
    }
    expect(await verifyChain(a)).toEqual({ broken: null, count: 2 * n });
    expect((await a.countJobs()).pending).toBe(n);
    expect(counted.failedBatches()).toBeGreaterThan(0);
  });

  it('lets one of two racing units win a dedupe key, a phone hash or an open erasure', async () => {
    const a = open();
    const b = open();
    const statuses = (rs: CommitResult[]) => rs.map((r) => r.status).sort();

    const dedupe = await race(a, b, (side) => ({
      dedupeKeys: ['wamid.same'],
      events: [event(`ev-dedupe-${side}`, 'sub-1')],
    }));
    expect(statuses(dedupe)).toEqual(['committed', 'duplicate']);

    const subjects = await race(a, b, (side) => ({
      newSubject: { ...subject(side === 'a' ? 1 : 2), phoneHash: subject(1).phoneHash },
      events: [event(`ev-subject-${side}`, 'sub-x')],
    }));
    expect(statuses(subjects)).toEqual(['committed', 'conflict']);
    expect(subjects.find((r) => r.status === 'conflict')).toMatchObject({ reason: 'subject_exists' });

    const erasures = await race(a, b, (side) => ({
      erasures: [
        {
          id: `er-${side}`,
          subjectHash: 'hash-1',
          subjectId: 'sub-1',
          status: 'open',
          source: 'api',
          receivedAt: at(0),
          dueAt: at(60),
          completedAt: null,
          receipt: null,
        },
      ],
    }));
    expect(statuses(erasures)).toEqual(['committed', 'conflict']);
    expect(erasures.find((r) => r.status === 'conflict')).toMatchObject({ reason: 'erasure_open' });

    expect(await verifyChain(a)).toEqual({ broken: null, count: 2 });
  });

  it('refuses a decision whose state another isolate changed between its snapshot and its batch', async () => {
    const decision = (side: string): WriteUnit => ({
      dedupeKeys: [`wamid.${side}`],
      expectStates: [{ subjectId: 'sub-1', purpose: 'marketing', state: null }],
      states: [state('sub-1', 'marketing', { source: side === 'a' ? 'form' : 'whatsapp' })],
      // A writes no event, so the ledger head's guard cannot be what stops it.
      ...(side === 'b' ? { events: [event('ev-state-b', 'sub-1')] } : {}),
    });
    const b = open();
    // A's first batch is held until B has committed its own decision for the same person: A's
    // snapshot (no state) is stale by then, and only the batch's guard can notice.
    let interleaved = false;
    let batches = 0;
    const counted = countingDb(env.DB);
    const held = new Proxy(counted.db, {
      get(target, prop) {
        if (prop === 'batch') {
          return async (statements: Parameters<D1Database['batch']>[0]) => {
            // Batch 1 reads A's snapshot, batch 2 is A's writes.
            if (++batches === 2) {
              interleaved = true;
              expect(await b.commit(decision('b'))).toMatchObject({ status: 'committed' });
            }
            return target.batch(statements);
          };
        }
        const value: unknown = Reflect.get(target, prop);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const a = open(held);
    expect(await a.commit(decision('a'))).toMatchObject({ status: 'conflict', reason: 'stale_state' });
    expect(interleaved).toBe(true);
    expect(counted.failedBatches()).toBe(1);
    expect(await a.getStates('sub-1')).toEqual([state('sub-1', 'marketing', { source: 'whatsapp' })]);
    expect((await a.listEvents('sub-1')).map((e) => e.id)).toEqual(['ev-state-b']);
    // A wrote nothing, not even its dedupe key: the same delivery can be decided again.
    expect(await a.commit({ ...decision('a'), expectStates: [] })).toMatchObject({ status: 'committed' });
    expect(await verifyChain(a)).toEqual({ broken: null, count: 1 });
  });

  it('refuses a consent change when an erasure or another person took its identifiers between snapshot and batch', async () => {
    await open().commit({ newSubject: subject(1) });
    await open().commit({ newSubject: subject(2) });
    const bsuid = 'b'.repeat(64);
    const b = open();
    // Held like above: B commits between A's snapshot and A's write batch.
    const hold = (meanwhile: () => Promise<void>) => {
      let batches = 0;
      const counted = countingDb(env.DB);
      const db = new Proxy(counted.db, {
        get(target, prop) {
          if (prop === 'batch') {
            return async (statements: Parameters<D1Database['batch']>[0]) => {
              if (++batches === 2) await meanwhile();
              return target.batch(statements);
            };
          }
          const value: unknown = Reflect.get(target, prop);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      return { store: open(db), failed: counted.failedBatches };
    };
    // 1. An erasure's tombstone lands after A read the person: A's change writes nothing.
    const erased = hold(async () => {
      await b.commit({
        tombstones: [{ subjectHash: subject(1).phoneHash, erasureId: 'er-1', createdAt: at(2) }],
      });
    });
    expect(
      await erased.store.commit({
        guardTombstones: [subject(1).phoneHash],
        events: [event('ev-after-erasure', 'sub-1')],
        states: [state('sub-1', 'marketing')],
      }),
    ).toMatchObject({ status: 'conflict', reason: 'erased' });
    expect(erased.failed()).toBe(1);
    expect(await b.listEvents('sub-1')).toEqual([]);
    // 2. Another isolate links the same BSUID to another person first: A's link is refused.
    const ident = (subjectId: string) => ({
      hash: bsuid,
      subjectId,
      kind: 'bsuid' as const,
      valueEnc: `enc-${subjectId}`,
      status: 'active' as const,
      createdAt: at(3),
      updatedAt: at(3),
    });
    const taken = hold(async () => {
      expect(await b.commit({ identifiers: [ident('sub-2')] })).toMatchObject({ status: 'committed' });
    });
    expect(await taken.store.commit({ identifiers: [ident('sub-1')] })).toMatchObject({
      status: 'conflict',
      reason: 'identifier_taken',
    });
    expect((await b.findSubjectByHash(bsuid))?.id).toBe('sub-2');
  });

  it('never leases a job to two workers', async () => {
    const a = open();
    const b = open();
    // one person each: a person's jobs of one kind are never leased while one of them runs
    await a.commit({
      jobs: Array.from({ length: 30 }, (_, i) => {
        const n = String(i).padStart(2, '0');
        return job(`job-${n}`, { subjectId: `sub-${n}` });
      }),
    });
    const leases = await Promise.all(
      Array.from({ length: 6 }, (_, i) => (i % 2 ? a : b).leaseJobs(['whatsapp.send'], at(1), at(5), 7)),
    );
    const ids = leases.flat().map((j) => j.id);
    expect(ids).toHaveLength(30);
    expect(new Set(ids).size).toBe(30);
    for (const batch of leases) {
      expect(batch.map((j) => j.id)).toEqual(batch.map((j) => j.id).sort());
    }
  });

  it('checks a person’s live lease through outbox_subject, not by reading every lease (issue 18)', async () => {
    const plan = await env.DB.prepare(`EXPLAIN QUERY PLAN ${LEASE}`)
      .bind(at(5), at(1), '["whatsapp.send"]', 7)
      .all<{ detail: string }>();
    const details = plan.results.map((r) => r.detail);
    expect(details.filter((d) => / busy /.test(` ${d} `))).toEqual([
      'SEARCH busy USING INDEX outbox_subject (subject_id=?)',
    ]);
  });

  it('finishes a batch of jobs atomically and purges in one batch', async () => {
    const store = open();
    await store.commit({ jobs: [job('job-1'), job('job-2'), job('job-3')], dedupeKeys: ['k-1'] });
    await store.leaseJobs(['whatsapp.send'], at(1), at(5), 10);
    await store.finishJobs(
      [
        { id: 'job-1', outcome: { status: 'done' } },
        { id: 'job-2', outcome: { status: 'dead', error: 'http_400' } },
        { id: 'job-3', outcome: { status: 'retry', error: 'http_503', nextAttemptAt: at(9) } },
      ],
      at(2),
    );
    expect(await store.countJobs()).toEqual({ pending: 1, leased: 0, done: 1, dead: 1, cancelled: 0 });
    const purged = await store.purge({
      finishedJobs: at(3),
      deadLetters: null,
      inboundDedupe: '9999-01-01T00:00:00.000Z',
      sentMessages: at(3),
      syncWrites: null,
      deadEvents: null,
      audit: null,
    });
    expect(purged).toEqual({
      finishedJobs: 1,
      deadLetters: 0,
      inboundDedupe: 1,
      sentMessages: 0,
      syncWrites: 0,
      deadEvents: 0,
      audit: 0,
    });
  });

  it('without bundled migrations, migrate() checks that wrangler applied them', async () => {
    await expect(openD1Store({ db: env.DB }).migrate()).resolves.toBeUndefined();
    await reset();
    await expect(openD1Store({ db: env.DB }).migrate()).rejects.toThrow(/wrangler d1 migrations apply/);
  });
});
