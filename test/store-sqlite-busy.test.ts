/**
 * Two connections writing one file (the Node decider thread, the CLI beside a server): a write batch
 * that cannot take the lock yet waits and tries again, whatever SQLite's extended BUSY code says. With
 * `busy_timeout = 0`, `BEGIN IMMEDIATE` answers SQLITE_BUSY_SNAPSHOT (517) when the other connection
 * commits between this one's read lock and its write lock; the store took that for a failure and
 * rejected every queued write at once (POST /v1/consents answered 500 while the decider thread committed).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { isBusy } from '../src/store/sqlite.ts';

const dir = mkdtempSync(join(tmpdir(), 'consent-sync-busy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The error node:sqlite throws for `run`, as it throws it. */
function caught(run: () => void): unknown {
  try {
    run();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}

/** The error carries SQLite's (extended) code and `isBusy` takes it for a lock to wait for. */
function expectBusy(err: unknown, errcode: number): void {
  expect((err as { errcode: number }).errcode).toBe(errcode);
  expect(isBusy(err)).toBe(true);
}

describe('isBusy', () => {
  it("knows SQLite's BUSY and its extended codes as node:sqlite reports them", () => {
    const file = join(dir, 'busy.db');
    const a = new DatabaseSync(file);
    const b = new DatabaseSync(file);
    a.exec('PRAGMA journal_mode = WAL; CREATE TABLE t (x)');
    b.exec('PRAGMA busy_timeout = 0');
    // The lock held by the other connection: SQLITE_BUSY (5).
    a.exec('BEGIN IMMEDIATE');
    expectBusy(
      caught(() => b.exec('BEGIN IMMEDIATE')),
      5,
    );
    a.exec('COMMIT');
    // A snapshot older than the other connection's commit: SQLITE_BUSY_SNAPSHOT (517).
    b.exec('BEGIN');
    b.prepare('SELECT * FROM t').all();
    a.exec('INSERT INTO t VALUES (1)');
    expectBusy(
      caught(() => b.exec('INSERT INTO t VALUES (2)')),
      517,
    );
    b.exec('ROLLBACK');
    // Not busy: a constraint, a syntax error, a missing table.
    a.exec('CREATE TABLE u (x UNIQUE); INSERT INTO u VALUES (1)');
    expect(isBusy(caught(() => a.exec('INSERT INTO u VALUES (1)')))).toBe(false);
    expect(isBusy(caught(() => a.exec('SELEC 1')))).toBe(false);
    expect(isBusy({ errcode: 261 })).toBe(true); // BUSY_RECOVERY
    expect(isBusy({ errcode: 6 })).toBe(false); // LOCKED (a table in this connection)
    expect(isBusy(null)).toBe(false);
    a.close();
    b.close();
  });
});
