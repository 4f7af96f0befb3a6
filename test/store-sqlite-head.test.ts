/**
 * SQLite's group commit writes `ledger_head` once per batch (issue 17's decider): the head after a
 * batch is its last kept event, also when a unit in the middle threw and was rolled back, and the
 * chain read back from the file verifies.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../src/store/sqlite.ts';
import { verifyChain } from './store-contract.ts';
import { event, subject } from './store-fixtures.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('SQLite ledger head in a group commit', () => {
  it('is the last kept event of the batch when a unit in the middle throws', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'consent-sync-head-'));
    dirs.push(dir);
    const path = join(dir, 'consent.db');
    const store = openSqliteStore({ path });
    await store.migrate();
    await store.commit({ newSubject: subject(1), events: [event('ev-1', 'sub-1')] });
    // One tick: kept, thrown (a ledger id that exists: the insert fails inside the unit), kept.
    const [a, b, c] = await Promise.allSettled([
      store.commit({ events: [event('ev-2', 'sub-1'), event('ev-3', 'sub-1')] }),
      store.commit({ events: [event('ev-4', 'sub-1'), event('ev-1', 'sub-1')] }),
      store.commit({ events: [event('ev-5', 'sub-1')] }),
    ]);
    expect([a.status, b.status, c.status]).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((await store.listEvents('sub-1')).map((e) => e.id)).toEqual(['ev-1', 'ev-2', 'ev-3', 'ev-5']);
    const head = await store.ledgerHead();
    const last = (await store.readLedger(0, 10)).at(-1);
    expect(head).toEqual({ seq: last?.seq, hash: last?.hash });
    expect(await verifyChain(store)).toEqual({ broken: null, count: 4 });
    await store.close();
    // reopened: the next commit continues the chain from the stored head
    const again = openSqliteStore({ path });
    await again.migrate();
    await again.commit({ events: [event('ev-6', 'sub-1')] });
    expect(await verifyChain(again)).toEqual({ broken: null, count: 5 });
    await again.close();
  });
});
