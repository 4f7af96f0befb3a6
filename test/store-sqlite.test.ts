/**
 * The SQLite store: the shared contract on a real file, plus what only a real database can show
 * (persistence, WAL, durability ordering, group commit, tamper evidence, wrangler compatibility).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { loadMigrations } from '../src/store/migrations.node.ts';
import type { CommitResult } from '../src/store/port.ts';
import { openSqliteStore } from '../src/store/sqlite.ts';
import { storeContract, verifyChain } from './store-contract.ts';
import { event, subject } from './store-fixtures.ts';

const dirs: string[] = [];
async function tempDb(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'consent-sync-store-'));
  dirs.push(dir);
  return join(dir, 'consent.db');
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

storeContract('sqlite (file)', async () => openSqliteStore({ path: await tempDb() }));
storeContract('sqlite (:memory:)', async () => openSqliteStore({ path: ':memory:' }));

/** A second, independent connection, as another process would have. */
function peek(path: string): DatabaseSync {
  return new DatabaseSync(path, { readOnly: true });
}

describe('SQLite store on a file', () => {
  it('keeps data across close and reopen, continuing the chain', async () => {
    const path = await tempDb();
    const a = openSqliteStore({ path });
    await a.migrate();
    await a.commit({ newSubject: subject(1), events: [event('ev-1', 'sub-1')] });
    await a.close();
    const b = openSqliteStore({ path });
    await b.migrate();
    expect(await b.getSubject('sub-1')).toEqual(subject(1));
    const r = await b.commit({ events: [event('ev-2', 'sub-1')] });
    expect(r.status === 'committed' && r.events[0]?.seq).toBe(2);
    expect(await verifyChain(b)).toEqual({ broken: null, count: 2 });
    await b.close();
  });

  it('uses WAL mode', async () => {
    const path = await tempDb();
    const store = openSqliteStore({ path });
    await store.migrate();
    const other = peek(path);
    expect(other.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
    expect(existsSync(`${path}-wal`)).toBe(true);
    other.close();
    await store.close();
  });

  it('a shred leaves no bytes of the key in the files (secure_delete, then scrub() empties the WAL)', async () => {
    const path = await tempDb();
    const store = openSqliteStore({ path });
    await store.migrate();
    // A wrapped key's length (base64 of IV, key and tag is ~80 characters; longer makes any remnant visible).
    const secret = Array.from({ length: 10 }, (_, i) => `WRAPPED-KEY-${i}-0123456789`).join('');
    /** Any 16-character piece of it in any file (a shred may leave part of a cell behind). */
    const inFiles = () =>
      ['', '-wal', '-shm'].some((x) => {
        if (!existsSync(path + x)) return false;
        const bytes = readFileSync(path + x);
        return Array.from({ length: secret.length - 15 }, (_, i) => secret.slice(i, i + 16)).some((p) =>
          bytes.includes(p),
        );
      });
    // a few people on the page, as in real life (a page's only row is rewritten in place)
    for (const n of [1, 2, 3, 4]) {
      const row = n === 2 ? { ...subject(n), dekWrapped: secret } : subject(n);
      await store.commit({ newSubject: row, events: [event(`ev-${n}`, `sub-${n}`)] });
    }
    // in the database file as well as in the WAL (a passive checkpoint leaves the WAL as it was)
    const rw = new DatabaseSync(path);
    rw.exec('PRAGMA wal_checkpoint(PASSIVE)');
    rw.close();
    expect(readFileSync(path).includes(secret)).toBe(true);
    await store.commit({ shred: ['sub-2'] });
    expect(inFiles()).toBe(true);
    expect(await store.scrub?.()).toBe(true);
    expect(inFiles()).toBe(false);
    await store.close();
  });

  it('scrub() empties the WAL while writes go on, and they all land', async () => {
    const path = await tempDb();
    const store = openSqliteStore({ path });
    await store.migrate();
    await store.commit({ newSubject: subject(1), events: [event('ev-1', 'sub-1')] });
    expect(statSync(`${path}-wal`).size).toBeGreaterThan(0);
    // Units committed while the checkpoint runs on its thread all land, in the chain.
    const during = Array.from({ length: 20 }, (_, i) =>
      store.commit({ newSubject: subject(10 + i), events: [event(`ev-${10 + i}`, `sub-${10 + i}`)] }),
    );
    const [scrubbed, ...results] = await Promise.all([store.scrub?.(), ...during]);
    expect(scrubbed).toBe(true);
    expect(results.every((r) => r.status === 'committed')).toBe(true);
    expect(await store.scrub?.()).toBe(true);
    expect(statSync(`${path}-wal`).size).toBe(0);
    expect(await verifyChain(store)).toEqual({ broken: null, count: 21 });
    await store.close();
  });

  it('settles a commit only after its data is visible to another connection', async () => {
    const path = await tempDb();
    const store = openSqliteStore({ path });
    await store.migrate();
    const other = peek(path);
    const count = () => Number(other.prepare('SELECT COUNT(*) AS n FROM ledger').get()?.n);
    let seenAtResolve = -1;
    const done = store.commit({ events: [event('ev-1', 'sub-1')] }).then((r) => {
      seenAtResolve = count();
      return r;
    });
    expect(count()).toBe(0); // queued, not yet flushed
    expect((await done).status).toBe('committed');
    expect(seenAtResolve).toBe(1);
    other.close();
    await store.close();
  });

  it('settles a commit only after a sync of the WAL that holds it (off the event loop)', async () => {
    const store = openSqliteStore({ path: await tempDb() });
    await store.migrate();
    for (let i = 0; i < 3; i++) {
      const before = store.stats().syncs;
      let tickedWhileSyncing = false;
      const ticker = setImmediate(() => {
        tickedWhileSyncing = true;
      });
      await store.commit({ events: [event(`ev-${i}`, 'sub-1')] });
      clearImmediate(ticker);
      // Settled from the sync's callback: the counter moved before the promise resolved.
      expect(store.stats().syncs).toBe(before + 1);
      // The event loop kept turning while the sync ran on the thread pool.
      expect(tickedWhileSyncing).toBe(true);
    }
    await store.close();
  });

  it('one WAL sync covers every batch committed while the previous sync ran', async () => {
    const store = openSqliteStore({ path: await tempDb() });
    await store.migrate();
    const before = store.stats();
    // 20 waves of 25 commits, each wave in its own tick: batches pile up behind a running sync.
    const waves: Promise<CommitResult>[] = [];
    for (let w = 0; w < 20; w++) {
      for (let i = 0; i < 25; i++) waves.push(store.commit({ events: [event(`ev-${w}-${i}`, 'sub-1')] }));
      await new Promise<void>((ok) => setImmediate(ok));
    }
    await Promise.all(waves);
    const after = store.stats();
    expect(after.units - before.units).toBe(500);
    expect(after.flushes - before.flushes).toBeGreaterThan(1);
    expect(after.syncs - before.syncs).toBeLessThanOrEqual(after.flushes - before.flushes);
    expect(await verifyChain(store)).toEqual({ broken: null, count: 500 });
    await store.close();
  });

  it('checkpoints a growing WAL into the database on its own thread, and leaves no WAL after close', async () => {
    const path = await tempDb();
    const store = openSqliteStore({ path });
    await store.migrate();
    const initial = statSync(path).size;
    // About 8 MiB of evidence: past the 4 MiB at which the checkpointer starts.
    const blob = 'x'.repeat(4_000);
    for (let w = 0; w < 4; w++) {
      await Promise.all(
        Array.from({ length: 500 }, (_, i) =>
          store.commit({ events: [event(`ev-${w}-${i}`, 'sub-1', { evidenceEnc: blob })] }),
        ),
      );
    }
    // The main connection never checkpoints (wal_autocheckpoint = 0): only the thread can grow the file.
    const deadline = Date.now() + 10_000;
    while (statSync(path).size < initial + 4 * 1024 * 1024 && Date.now() < deadline) {
      await new Promise((ok) => setTimeout(ok, 50));
    }
    expect(statSync(path).size).toBeGreaterThan(initial + 4 * 1024 * 1024);
    await store.close();
    expect(existsSync(`${path}-wal`)).toBe(false);
    const reopened = openSqliteStore({ path });
    await reopened.migrate();
    expect(await verifyChain(reopened)).toEqual({ broken: null, count: 2000 });
    await reopened.close();
  });

  it("waits for another process's write lock without blocking the event loop, then commits", async () => {
    const path = await tempDb();
    const store = openSqliteStore({ path });
    await store.migrate();
    const other = new DatabaseSync(path);
    other.exec('BEGIN IMMEDIATE');
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 5);
    const pending = store.commit({ events: [event('ev-1', 'sub-1')] });
    // While the other connection holds the lock, the commit waits and the event loop runs.
    await new Promise((ok) => setTimeout(ok, 120));
    expect(ticks).toBeGreaterThanOrEqual(5);
    const more = store.commit({ events: [event('ev-2', 'sub-1')] });
    other.exec('COMMIT');
    expect(await pending).toMatchObject({ status: 'committed' });
    expect(await more).toMatchObject({ status: 'committed' });
    clearInterval(ticker);
    other.close();
    expect(await verifyChain(store)).toEqual({ broken: null, count: 2 });
    await store.close();
  });

  it('two stores on one file (two processes) append to one chain', async () => {
    const path = await tempDb();
    const a = openSqliteStore({ path });
    const b = openSqliteStore({ path });
    await a.migrate();
    await b.migrate();
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        (i % 2 ? a : b).commit({ dedupeKeys: [`k-${i}`], events: [event(`ev-${i}`, `sub-${i % 3}`)] }),
      ),
    );
    expect(results.every((r) => r.status === 'committed')).toBe(true);
    // A key recorded through one store is a duplicate through the other.
    expect(await a.commit({ dedupeKeys: ['k-1'], events: [event('ev-dup', 'sub-1')] })).toEqual({
      status: 'duplicate',
    });
    expect(await verifyChain(b)).toEqual({ broken: null, count: 200 });
    await a.close();
    await b.close();
  });

  it('close() flushes queued units before closing', async () => {
    const path = await tempDb();
    const store = openSqliteStore({ path });
    await store.migrate();
    const pending = store.commit({ events: [event('ev-1', 'sub-1')] });
    await store.close();
    expect((await pending).status).toBe('committed');
    const other = peek(path);
    expect(other.prepare('SELECT COUNT(*) AS n FROM ledger').get()?.n).toBe(1);
    other.close();
  });

  it('rejects every unit of a batch whose COMMIT fails, and resets the cached head', async () => {
    // A deferred foreign key is checked only at COMMIT: this test-only trigger makes COMMIT fail.
    const failAtCommit = {
      name: '9999_test_fail_at_commit.sql',
      sql: `CREATE TABLE t_parent (id TEXT PRIMARY KEY);
        CREATE TABLE t_child (parent_id TEXT REFERENCES t_parent(id) DEFERRABLE INITIALLY DEFERRED);
        CREATE TRIGGER t_fail AFTER INSERT ON ledger WHEN NEW.purpose = 'fail-at-commit'
        BEGIN INSERT INTO t_child VALUES ('missing'); END;`,
    };
    const store = openSqliteStore({ path: await tempDb(), migrations: [...loadMigrations(), failAtCommit] });
    await store.migrate();
    const batch = await Promise.allSettled([
      store.commit({ events: [event('ev-1', 'sub-1')] }),
      store.commit({ events: [event('ev-2', 'sub-1', { purpose: 'fail-at-commit' })] }),
      store.commit({ events: [event('ev-3', 'sub-1')] }),
    ]);
    expect(batch.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(await store.ledgerHead()).toBeNull();
    const r = await store.commit({ events: [event('ev-4', 'sub-1')] });
    expect(r.status === 'committed' && r.events[0]?.seq).toBe(1);
    expect(await verifyChain(store)).toEqual({ broken: null, count: 1 });
    await store.close();
  });

  it('group-commits 1,000 concurrent commits in far fewer transactions', async () => {
    const store = openSqliteStore({ path: await tempDb() });
    await store.migrate();
    const before = store.stats();
    const t0 = performance.now();
    const results: CommitResult[] = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        store.commit({ dedupeKeys: [`wamid.${i}`], events: [event(`ev-${i}`, `sub-${i % 7}`)] }),
      ),
    );
    const concurrentMs = performance.now() - t0;
    const after = store.stats();
    const flushes = after.flushes - before.flushes;
    expect(after.units - before.units).toBe(1000);
    expect(flushes).toBeLessThanOrEqual(10);
    expect(after.syncs - before.syncs).toBeLessThanOrEqual(flushes);
    expect(results.every((r) => r.status === 'committed')).toBe(true);
    expect(await verifyChain(store)).toEqual({ broken: null, count: 1000 });

    // For comparison: awaiting each commit forces one durable transaction per unit.
    const t1 = performance.now();
    for (let i = 0; i < 100; i++) await store.commit({ events: [event(`ev-seq-${i}`, 'sub-1')] });
    const sequentialMs = performance.now() - t1;
    console.log(
      `group commit: 1000 concurrent units in ${flushes} flush(es), ${concurrentMs.toFixed(0)} ms; ` +
        `100 sequential units in ${store.stats().flushes - after.flushes} flushes, ${sequentialMs.toFixed(0)} ms`,
    );
    await store.close();
  });
});
