/**
 * The Store on Node's embedded SQLite (`node:sqlite`). Writes go through a group commit: every unit
 * committed in the same tick shares one transaction, each inside its own savepoint so a failing unit
 * rolls back alone. A commit's promise settles only after the WAL holding it was synced to disk, so
 * an acknowledged write survives a crash or a power loss.
 *
 * The sync runs off the event loop: COMMIT only appends to the WAL (`synchronous = NORMAL`), then one
 * `fdatasync` of the WAL file on libuv's thread pool covers every batch committed since the last one
 * (a group fsync). Checkpoints run on a thread of their own (see `checkpointer`). With
 * `synchronous = FULL`, COMMIT fsynced and checkpointed on the main thread: the ingest profile showed
 * the event loop blocked about 10 ms per batch, a quarter of the run.
 */
import { closeSync, fdatasync, fdatasyncSync, fstatSync, openSync } from 'node:fs';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { Worker } from 'node:worker_threads';
import { API_KEY_SQL, toApiKey } from './api-keys-sql.ts';
import type { LedgerHead } from './chain.node.ts';
import { INBOX_SQL, toInboxRow } from './inbox-sql.ts';
import { KEY_ROTATION_SQL, toKeyRotation, toLookupKey } from './key-rotation-sql.ts';
import {
  CREATE_MIGRATIONS_TABLE,
  LIST_APPLIED,
  type Migration,
  migrationScript,
  pendingMigrations,
} from './migrate.ts';
import { loadMigrations } from './migrations.node.ts';
import { type CommitResult, hashList, type Store } from './port.ts';
import { READ_SQL, UNIT_SQL } from './sql.ts';
import * as jobs from './sqlite-jobs.ts';
import {
  toAudit,
  toDeadEvent,
  toErased,
  toErasure,
  toIdentifier,
  toLedger,
  toLink,
  toSent,
  toState,
  toSubject,
  toSyncWrite,
  toTask,
  toText,
  toTombstone,
} from './sqlite-rows.ts';
import { applyUnit } from './sqlite-unit.ts';
import {
  auditQuery,
  LEDGER_DAILY,
  QUEUE_STATS,
  STATE_COUNTS,
  toLedgerDay,
  toQueueStat,
  toStateCount,
} from './stats-sql.ts';

export interface SqliteStoreOptions {
  /** A file path, or `':memory:'`. */
  path: string;
  /** Stamps dedupe rows and job creation; injectable for tests. */
  clock?: () => Date;
  /** Defaults to the `.sql` files next to this module. */
  migrations?: Migration[];
  /** Page cache in KiB (default 32 MiB); a file with one small table needs far less. */
  cacheKib?: number;
  /** false: a file without the ledger (the inbox file): commits read no ledger head */
  ledger?: boolean;
}

/** Group-commit counters: `units / flushes` is the mean batch size. */
export interface StoreStats {
  flushes: number;
  units: number;
  /** syncs of the WAL: `flushes / syncs` is how many batches one sync covered */
  syncs: number;
  /** lease calls, the jobs they leased, and the group commits that held at least one lease */
  leases: number;
  leasedJobs: number;
  leaseFlushes: number;
}

/** The SQLite store: the port plus counters for tests and benchmarks. */
export interface SqliteStore extends Store {
  stats(): StoreStats;
}

/** What one queued write did inside the batch: keep or roll back its savepoint, and how to answer. */
interface Applied {
  keep: boolean;
  head: LedgerHead | null;
  settle: () => void;
}

/** One write waiting for the next group commit (a unit, a lease, finished jobs). */
interface Queued {
  run(current: LedgerHead | null): Applied;
  reject: (e: unknown) => void;
}

/** The database file's name inside `DATA_DIR` (the server, the CLI and the benchmarks agree on it). */
export const DB_FILE = 'consent-sync.db';

/** How long a write waits for another process's lock before it fails. */
const BUSY_TIMEOUT_MS = 5_000;

const PRAGMAS = [
  'PRAGMA journal_mode = WAL',
  // NORMAL: COMMIT appends to the WAL without syncing it. Nothing is acknowledged on that alone:
  // every commit's promise waits for `afterSync()` below (the same guarantee as FULL, off the event loop).
  'PRAGMA synchronous = NORMAL',
  // Checkpoints run on the checkpointer thread, never inside a COMMIT on the main thread.
  'PRAGMA wal_autocheckpoint = 0',
  // A WAL that grew during a burst is cut back to this size once checkpointed (bytes).
  'PRAGMA journal_size_limit = 67108864',
  // Each unit's savepoint journals the pages it changes: in memory, not a temporary file.
  'PRAGMA temp_store = MEMORY',
  // A page cache of up to 32 MiB (the default is 2 MB): the decider's writes land on random pages of
  // the ledger, dedupe and state indexes, which a small cache reads again from the OS for every unit.
  'PRAGMA cache_size = -32768',
  'PRAGMA foreign_keys = ON',
  `PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`,
  // Deleted or overwritten content (a shredded person's wrapped key and number) is zeroed in its
  // page and on freed pages, not left behind in the file; `scrub()` then empties the WAL.
  'PRAGMA secure_delete = ON',
];

/** SQLITE_BUSY: another connection holds the lock. */
/**
 * SQLITE_BUSY and its extended codes (node:sqlite reports the extended one): BUSY_RECOVERY (261) while
 * another connection rebuilds the WAL index, BUSY_SNAPSHOT (517), BUSY_TIMEOUT (773). All mean "the
 * lock is not ours yet": try again, never fail the queued writes at once.
 */
export const isBusy = (e: unknown): boolean => ((e as { errcode?: number } | null)?.errcode ?? 0) % 256 === 5;

/** The checkpointer starts once the WAL passes this size (about 1,000 pages, SQLite's default). */
const CHECKPOINT_FROM_BYTES = 4 * 1024 * 1024;
const CHECKPOINT_EVERY_MS = 200;

/**
 * A thread with its own connection that copies the WAL back into the database (PASSIVE: it never
 * blocks the writer or readers). Plain JS so it loads the same under Node and vitest.
 *
 * On a `truncate` message it runs one TRUNCATE checkpoint (every frame copied back, then the WAL
 * file cut to zero bytes, so the old page images in it are gone) and answers with its result row.
 * TRUNCATE holds the write lock while it waits for readers: it waits at most a second, well inside
 * the 5 s the main thread's writer waits for a lock, and reports busy instead.
 */
const CHECKPOINTER = `
const { workerData, parentPort } = require('node:worker_threads');
const { DatabaseSync } = require('node:sqlite');
const db = new DatabaseSync(workerData.path);
db.exec('PRAGMA busy_timeout = 5000');
db.exec('PRAGMA synchronous = NORMAL');
const timer = setInterval(() => {
  try { db.exec('PRAGMA wal_checkpoint(PASSIVE)'); } catch {}
}, workerData.everyMs);
parentPort.on('message', (m) => {
  if (m === 'truncate') {
    let row = null;
    try {
      db.exec('PRAGMA busy_timeout = 1000');
      row = db.prepare('PRAGMA wal_checkpoint(TRUNCATE)').get();
    } catch {}
    db.exec('PRAGMA busy_timeout = 5000');
    parentPort.postMessage(row);
    return;
  }
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

interface Checkpointer {
  stop(): Promise<void>;
  /** One TRUNCATE checkpoint; true when the WAL was emptied (false: busy, or the thread is gone). */
  truncate(): Promise<boolean>;
}

/** Starts the checkpointer for `path`; `stop` closes its connection with the thread. */
function startCheckpointer(path: string): Checkpointer {
  const worker = new Worker(CHECKPOINTER, {
    eval: true,
    workerData: { path, everyMs: CHECKPOINT_EVERY_MS },
    execArgv: ['--disable-warning=ExperimentalWarning'],
  });
  worker.unref();
  // A failed checkpoint is retried by the next tick; a dead thread only leaves the WAL to grow.
  worker.on('error', () => {});
  const exited = new Promise<void>((ok) => worker.once('exit', () => ok()));
  let gone = false;
  exited.then(
    () => {
      gone = true;
    },
    () => undefined,
  );
  /** One truncate at a time: each answer belongs to the request before it. */
  let queue: Promise<boolean> = Promise.resolve(true);
  const truncateOnce = (): Promise<boolean> =>
    new Promise<boolean>((ok) => {
      if (gone) return ok(false);
      const onExit = () => {
        worker.off('message', onMessage);
        ok(false);
      };
      const onMessage = (row: { busy?: number } | null) => {
        worker.off('exit', onExit);
        ok(row?.busy === 0);
      };
      worker.once('message', onMessage);
      worker.once('exit', onExit);
      worker.postMessage('truncate');
    });
  return {
    truncate: () => {
      queue = queue.then(truncateOnce, truncateOnce);
      return queue;
    },
    stop: async () => {
      worker.postMessage('stop');
      // It closes its connection and exits; a thread stuck past a second is ended.
      const timer = setTimeout(() => {
        worker.terminate().catch(() => undefined); // ends the thread; its exit is awaited below
      }, 1_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Opens (or creates) the database. Call `migrate()` before use.
 *
 * @example
 * const store = openSqliteStore({ path: join(dataDir, 'consent.db') });
 * await store.migrate();
 */
export function openSqliteStore(options: SqliteStoreOptions): SqliteStore {
  const clock = options.clock ?? (() => new Date());
  const db = new DatabaseSync(options.path);
  for (const p of PRAGMAS) db.exec(p);
  if (options.cacheKib !== undefined)
    db.exec(`PRAGMA cache_size = -${Math.max(1, Math.floor(options.cacheKib))}`);

  const cache = new Map<string, StatementSync>();
  const stmt = (sql: string): StatementSync => {
    let s = cache.get(sql);
    if (!s) {
      s = db.prepare(sql);
      cache.set(sql, s);
    }
    return s;
  };
  const ctx = { db, stmt, now: () => clock().toISOString() };

  const readHead = (): LedgerHead | null => {
    if (options.ledger === false) return null;
    const r = stmt('SELECT seq, hash FROM ledger_head WHERE id = 1').get();
    return r ? { seq: Number(r.seq), hash: String(r.hash) } : null;
  };

  let queue: Queued[] = [];
  let scheduled: { cancel: () => void } | null = null;
  /** When the current wait for another process's write lock began (null: not waiting). */
  let lockWaitSince: number | null = null;
  const unschedule = (): void => {
    scheduled?.cancel();
    scheduled = null;
  };
  const schedule = (delayMs: number): void => {
    if (delayMs === 0) {
      const h = setImmediate(flush);
      scheduled = { cancel: () => clearImmediate(h) };
    } else {
      const h = setTimeout(flush, delayMs);
      scheduled = { cancel: () => clearTimeout(h) };
    }
  };
  let closed = false;
  const counters: StoreStats = { flushes: 0, units: 0, syncs: 0, leases: 0, leasedJobs: 0, leaseFlushes: 0 };
  /** set by a lease run inside the current flush */
  let leaseInFlush = false;

  // --- Durability: commits wait for a sync of the WAL, run on the thread pool (a group fsync).
  const walPath = options.path === ':memory:' || options.path === '' ? null : `${options.path}-wal`;
  let walFd: number | null = null;
  let syncing = false;
  /** Callbacks waiting for the next sync (their commits are in the WAL already). */
  let waiting: Array<(err: Error | null) => void> = [];
  /** A failed sync leaves the WAL's state on disk unknown: every later write is refused. */
  let syncFailure: Error | null = null;
  let checkpointer: Checkpointer | null = null;

  const openWal = (): number | null => {
    if (walFd !== null || !walPath) return walFd;
    try {
      walFd = openSync(walPath, 'r+');
    } catch (e) {
      // No WAL yet: nothing was written since the last connection closed, so nothing to sync.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    return walFd;
  };
  const startSync = (): void => {
    const fd = openWal();
    const batch = waiting;
    waiting = [];
    if (fd === null) {
      for (const done of batch) done(null);
      return;
    }
    syncing = true;
    fdatasync(fd, (err) => {
      syncing = false;
      counters.syncs += 1;
      if (err)
        syncFailure ??= new Error(`the database's WAL could not be synced (${err.code ?? err.message})`);
      for (const done of batch) done(err ? syncFailure : null);
      if (waiting.length > 0) startSync();
      else if (!checkpointer && walPath && !closed && fstatSync(fd).size > CHECKPOINT_FROM_BYTES) {
        checkpointer = startCheckpointer(options.path);
      }
    });
  };
  /** Calls `done` once everything committed so far is on disk. */
  const afterSync = (done: (err: Error | null) => void): void => {
    waiting.push(done);
    if (!syncing) startSync();
  };
  const synced = (): Promise<void> => new Promise((ok, fail) => afterSync((err) => (err ? fail(err) : ok())));

  /**
   * Queues a write for the next group commit. `run` executes inside the batch's transaction, in a
   * savepoint of its own; the promise settles only after COMMIT returned.
   */
  const enqueue = <T>(
    run: (current: LedgerHead | null, resolve: (value: T) => void) => Applied,
  ): Promise<T> => {
    if (closed) return Promise.reject(new Error('store is closed'));
    if (syncFailure) return Promise.reject(syncFailure);
    return new Promise<T>((resolve, reject) => {
      queue.push({ run: (current) => run(current, resolve), reject });
      if (!scheduled) schedule(0);
    });
  };
  /** A queued write that leaves the ledger alone and answers `value`. */
  const sideWrite = <T>(fn: () => T): Promise<T> =>
    enqueue<T>((current, resolve) => {
      const value = fn();
      return { keep: true, head: current, settle: () => resolve(value) };
    });

  /** Runs every queued write in one transaction, then settles their promises once it is synced. */
  const flush = (): void => {
    scheduled = null;
    if (queue.length === 0) return;
    try {
      // Never wait inside SQLite for the lock: its busy handler sleeps on this thread.
      db.exec('PRAGMA busy_timeout = 0');
      try {
        db.exec('BEGIN IMMEDIATE');
      } finally {
        db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      }
    } catch (e) {
      // Another process on the same file holds the write lock (several Node processes, the CLI):
      // try again in a millisecond with the event loop free; writes queued meanwhile join the batch.
      lockWaitSince ??= Date.now();
      if (isBusy(e) && !closed && Date.now() - lockWaitSince < BUSY_TIMEOUT_MS) {
        schedule(1);
        return;
      }
      lockWaitSince = null;
      const failed = queue;
      queue = [];
      for (const q of failed) q.reject(e);
      return;
    }
    lockWaitSince = null;
    const batch = queue;
    queue = [];
    const settle: Array<() => void> = [];
    try {
      leaseInFlush = false;
      // Read under the write lock, never cached: another process on the same file may have appended.
      let current = readHead();
      const started = current;
      for (const q of batch) {
        // Prepared once (cached): `exec` would parse the statement again for every unit.
        stmt('SAVEPOINT unit').run();
        try {
          const out = q.run(current);
          if (out.keep) {
            stmt('RELEASE unit').run();
            current = out.head;
          } else {
            db.exec('ROLLBACK TO unit; RELEASE unit');
          }
          settle.push(out.settle);
        } catch (e) {
          // Rolled back: the head before this unit is still the head.
          db.exec('ROLLBACK TO unit; RELEASE unit');
          settle.push(() => q.reject(e));
        }
      }
      // One head write for every unit of the batch that appended events (units leave it to here).
      if (current && current.seq !== started?.seq) stmt(UNIT_SQL.upsertHead).run(current.seq, current.hash);
      db.exec('COMMIT');
    } catch (e) {
      // COMMIT (or a savepoint statement) failed: nothing in the batch is durable.
      if (db.isTransaction) db.exec('ROLLBACK');
      for (const q of batch) q.reject(e);
      return;
    }
    counters.flushes += 1;
    counters.units += batch.length;
    if (leaseInFlush) counters.leaseFlushes += 1;
    leaseInFlush = false;
    afterSync((err) => {
      if (err) for (const q of batch) q.reject(err);
      else for (const s of settle) s();
    });
  };

  return {
    async migrate() {
      // One IMMEDIATE transaction: a second process starting at the same time waits, then sees
      // the migrations as applied.
      db.exec('BEGIN IMMEDIATE');
      try {
        db.exec(CREATE_MIGRATIONS_TABLE);
        const applied = db
          .prepare(LIST_APPLIED)
          .all()
          .map((r) => String(r.name));
        for (const m of pendingMigrations(options.migrations ?? loadMigrations(), applied)) {
          db.exec(migrationScript(m));
        }
        db.exec('COMMIT');
        const fd = openWal();
        if (fd !== null) fdatasyncSync(fd);
      } catch (e) {
        db.exec('ROLLBACK');
        throw e;
      }
    },

    async close() {
      if (closed) return;
      unschedule();
      // Write what is queued, waiting (off the event loop) for another process's write lock.
      while (queue.length > 0) {
        flush();
        unschedule();
        if (queue.length > 0) await new Promise((ok) => setTimeout(ok, 1));
      }
      closed = true;
      await synced().catch(() => {});
      await checkpointer?.stop();
      checkpointer = null;
      cache.clear();
      db.close();
      if (walFd !== null) closeSync(walFd);
      walFd = null;
    },

    commit(unit) {
      return enqueue<CommitResult>((current, resolve) => {
        const out = applyUnit(ctx, unit, current);
        return { keep: out.result.status === 'committed', head: out.head, settle: () => resolve(out.result) };
      });
    },

    stats: () => ({ ...counters }),

    async scrub() {
      // In memory: nothing reaches a disk.
      if (!walPath || closed) return !walPath;
      // Everything committed so far is in the WAL on disk; then a TRUNCATE checkpoint on the
      // checkpointer's thread (never on the event loop) copies it back and empties the WAL file.
      await synced();
      checkpointer ??= startCheckpointer(options.path);
      const thread = checkpointer;
      for (let attempt = 0; attempt < 3 && !closed; attempt++) {
        // busy: another process was reading an older snapshot; try again shortly
        if (await thread.truncate()) return true;
        await new Promise((ok) => setTimeout(ok, 200));
      }
      return false;
    },

    async findSubjectByHash(hashes) {
      const list = hashList(hashes);
      // One hash (no retired keys): the plain index lookup, without json_each.
      const r =
        list.length === 1
          ? stmt(READ_SQL.subjectByHash).get(list[0]!)
          : stmt(READ_SQL.subjectByHashes).get(JSON.stringify(list));
      return r ? toSubject(r) : null;
    },
    async identifiersByHash(hashes) {
      if (hashes.length === 0) return [];
      return stmt(READ_SQL.identifiersByHash).all(JSON.stringify(hashes)).map(toIdentifier);
    },
    async identifiersOf(ids) {
      if (ids.length === 0) return [];
      return stmt(READ_SQL.identifiersOf).all(JSON.stringify(ids)).map(toIdentifier);
    },
    async mergedInto(subjectId) {
      return stmt(READ_SQL.mergedInto).all(subjectId).map(toSubject);
    },
    async listDeadEvents(limit) {
      return stmt(READ_SQL.deadEvents).all(limit).map(toDeadEvent);
    },
    async countDeadEvents() {
      return Number(stmt(READ_SQL.countDeadEvents).get()?.n ?? 0);
    },
    async getSubject(id) {
      const r = stmt('SELECT * FROM subjects WHERE id = ?').get(id);
      return r ? toSubject(r) : null;
    },
    async getStates(subjectId) {
      return stmt('SELECT * FROM consent_state WHERE subject_id = ? ORDER BY purpose')
        .all(subjectId)
        .map(toState);
    },
    async findExpiredPending(now, limit) {
      return stmt(
        `SELECT * FROM consent_state WHERE status = 'pending' AND pending_expires_at <= ?
         ORDER BY pending_expires_at, subject_id, purpose LIMIT ?`,
      )
        .all(now, limit)
        .map(toState);
    },
    async listEvents(subjectId) {
      return stmt('SELECT * FROM ledger WHERE subject_id = ? ORDER BY seq').all(subjectId).map(toLedger);
    },
    async readLedger(afterSeq, limit) {
      return stmt('SELECT * FROM ledger WHERE seq > ? ORDER BY seq LIMIT ?')
        .all(afterSeq, limit)
        .map(toLedger);
    },
    async ledgerHead() {
      // Read from disk, not the cache: verification must see what is stored.
      return readHead();
    },
    async getTexts(versions) {
      if (versions.length === 0) return [];
      return stmt(
        'SELECT * FROM consent_texts WHERE version IN (SELECT value FROM json_each(?)) ORDER BY version',
      )
        .all(JSON.stringify(versions))
        .map(toText);
    },
    async allTexts() {
      return stmt('SELECT * FROM consent_texts ORDER BY version').all().map(toText);
    },
    async findSentMessage(ids) {
      const r = stmt(READ_SQL.sentByIds).get(JSON.stringify(hashList(ids)));
      return r ? toSent(r) : null;
    },
    async findApiKey(digest) {
      const r = stmt(API_KEY_SQL.byDigest).get(digest);
      return r ? toApiKey(r) : null;
    },
    async getApiKey(id) {
      const r = stmt(API_KEY_SQL.byId).get(id);
      return r ? toApiKey(r) : null;
    },
    async listApiKeys() {
      return stmt(API_KEY_SQL.list).all().map(toApiKey);
    },
    async listAudit(limit, filter) {
      const q = auditQuery(filter);
      return stmt(q.sql)
        .all(...q.params, limit)
        .map(toAudit);
    },

    async listSubjects(afterId, limit) {
      return stmt('SELECT * FROM subjects WHERE id > ? ORDER BY id LIMIT ?')
        .all(afterId, limit)
        .map(toSubject);
    },
    async findOpenErasure(hashes) {
      const row = stmt(READ_SQL.openErasureOf).get(JSON.stringify(hashList(hashes)));
      return row ? toErasure(row) : null;
    },
    async getErasure(id) {
      const row = stmt('SELECT * FROM erasures WHERE id = ?').get(id);
      return row ? toErasure(row) : null;
    },
    async listErasures(f) {
      const rows =
        f.overdueAt !== undefined
          ? stmt("SELECT * FROM erasures WHERE status = 'open' AND due_at < ? ORDER BY due_at LIMIT ?").all(
              f.overdueAt,
              f.limit,
            )
          : f.status !== undefined
            ? stmt('SELECT * FROM erasures WHERE status = ? ORDER BY received_at DESC, id DESC LIMIT ?').all(
                f.status,
                f.limit,
              )
            : stmt('SELECT * FROM erasures ORDER BY received_at DESC, id DESC LIMIT ?').all(f.limit);
      return rows.map(toErasure);
    },
    async erasureTasks(id) {
      return stmt('SELECT * FROM erasure_tasks WHERE erasure_id = ? ORDER BY system').all(id).map(toTask);
    },
    async erasuresOf(hashes) {
      return stmt(READ_SQL.erasuresOf)
        .all(JSON.stringify(hashList(hashes)))
        .map(toErasure);
    },
    async listLookupKeys() {
      return stmt(KEY_ROTATION_SQL.listLookupKeys).all().map(toLookupKey);
    },
    async getKeyRotation(keyId) {
      const row = stmt(KEY_ROTATION_SQL.rotation).get(keyId);
      return row ? toKeyRotation(row) : null;
    },
    async countSubjects(afterId) {
      return Number(stmt(KEY_ROTATION_SQL.countSubjects).get(afterId)?.n ?? 0);
    },
    async deadEventsAfter(afterId, limit) {
      return stmt(KEY_ROTATION_SQL.deadEventsAfter).all(afterId, limit).map(toDeadEvent);
    },
    async readInbox(limit) {
      return stmt(INBOX_SQL.read).all(limit).map(toInboxRow);
    },
    async inboxDepth() {
      return Number(stmt(INBOX_SQL.depth).get()?.n ?? 0);
    },
    async inboxOptOuts(hashes) {
      if (hashes.length === 0) return [];
      return stmt(INBOX_SQL.optOuts)
        .all(JSON.stringify(hashes))
        .map((r) => String(r.opt_out));
    },
    async tombstonesFor(hashes) {
      // One person (every consent change asks): the plain index lookup, without json_each.
      if (hashes.length === 1) {
        return stmt('SELECT * FROM tombstones WHERE subject_hash = ?').all(hashes[0]!).map(toTombstone);
      }
      return stmt('SELECT * FROM tombstones WHERE subject_hash IN (SELECT value FROM json_each(?))')
        .all(JSON.stringify(hashes))
        .map(toTombstone);
    },
    async findErasedRecord(connector, objectType, remoteId) {
      const row = stmt(
        'SELECT * FROM erased_records WHERE connector = ? AND object_type = ? AND remote_id = ?',
      ).get(connector, objectType, remoteId);
      return row ? toErased(row) : null;
    },
    async purge(c) {
      const del = (sql: string, cutoff: string | null) =>
        cutoff === null ? 0 : Number(stmt(sql).run(cutoff).changes);
      db.exec('BEGIN IMMEDIATE');
      try {
        const out = {
          finishedJobs: del(
            "DELETE FROM outbox WHERE status IN ('done', 'cancelled') AND updated_at < ?",
            c.finishedJobs,
          ),
          deadLetters: del("DELETE FROM outbox WHERE status = 'dead' AND updated_at < ?", c.deadLetters),
          inboundDedupe: del('DELETE FROM inbound_dedupe WHERE received_at < ?', c.inboundDedupe),
          sentMessages: del('DELETE FROM sent_messages WHERE sent_at < ?', c.sentMessages),
          syncWrites: del('DELETE FROM sync_writes WHERE written_at < ?', c.syncWrites),
          deadEvents: del('DELETE FROM dead_events WHERE received_at < ?', c.deadEvents),
          audit: del('DELETE FROM audit_log WHERE at < ?', c.audit),
        };
        db.exec('COMMIT');
        await synced();
        return out;
      } catch (err) {
        if (db.isTransaction) db.exec('ROLLBACK');
        throw err;
      }
    },
    async findUnconfirmed(before, limit) {
      return stmt(READ_SQL.unconfirmed)
        .all(before, limit)
        .map((r) => String(r.id));
    },
    async getSubjects(ids) {
      return stmt('SELECT * FROM subjects WHERE id IN (SELECT value FROM json_each(?))')
        .all(JSON.stringify(ids))
        .map(toSubject);
    },
    async getStatesFor(ids) {
      return stmt(
        'SELECT * FROM consent_state WHERE subject_id IN (SELECT value FROM json_each(?)) ORDER BY subject_id, purpose',
      )
        .all(JSON.stringify(ids))
        .map(toState);
    },
    async linksFor(ids) {
      return stmt(
        'SELECT * FROM crm_links WHERE subject_id IN (SELECT value FROM json_each(?)) ORDER BY connector, object_type, remote_id',
      )
        .all(JSON.stringify(ids))
        .map(toLink);
    },
    async linksOf(subjectId) {
      return stmt('SELECT * FROM crm_links WHERE subject_id = ? ORDER BY connector, object_type, remote_id')
        .all(subjectId)
        .map(toLink);
    },
    async findLink(connector, objectType, remoteId) {
      const row = stmt(
        'SELECT * FROM crm_links WHERE connector = ? AND object_type = ? AND remote_id = ?',
      ).get(connector, objectType, remoteId);
      return row ? toLink(row) : null;
    },
    async syncWritesOf(connector, objectType, remoteId) {
      return stmt(
        'SELECT * FROM sync_writes WHERE connector = ? AND object_type = ? AND remote_id = ? ORDER BY property',
      )
        .all(connector, objectType, remoteId)
        .map(toSyncWrite);
    },
    async queueStats() {
      return stmt(QUEUE_STATS).all().map(toQueueStat);
    },
    async ledgerDaily(since) {
      return stmt(LEDGER_DAILY).all(since).map(toLedgerDay);
    },
    async stateCounts() {
      return stmt(STATE_COUNTS).all().map(toStateCount);
    },

    // Leases and outcomes share the group commit with the units: one fsync for the lot.
    leaseJobs(kinds, now, leaseUntil, limit) {
      if (kinds.length === 0 || limit <= 0) return Promise.resolve([]);
      return sideWrite(() => {
        const leased = jobs.leaseJobsIn(ctx, kinds, now, leaseUntil, limit);
        leaseInFlush = true;
        counters.leases += 1;
        counters.leasedJobs += leased.length;
        return leased;
      });
    },
    async finishJobs(items, now) {
      if (items.length === 0) return;
      await sideWrite(() => {
        for (const { id, outcome } of items) jobs.finishJob(ctx, id, outcome, now);
      });
    },
    async finishJob(id, outcome, now) {
      await sideWrite(() => jobs.finishJob(ctx, id, outcome, now));
    },
    async getJob(id) {
      return jobs.getJob(ctx, id);
    },
    async listJobs(filter) {
      return jobs.listJobs(ctx, filter);
    },
    async requeueJob(id, now) {
      const requeued = jobs.requeueJob(ctx, id, now);
      await synced();
      return requeued;
    },
    async countJobs() {
      return jobs.countJobs(ctx);
    },
  };
}
