/**
 * The Store on Cloudflare D1 (Workers). Same schema, migrations, row mapping and rules as the
 * SQLite adapter; passes the same contract suite inside workerd.
 *
 * Atomicity: D1 has no interactive transactions, but runs a `batch` as one transaction. So
 * `commit(unit)` first reads what its decisions depend on (ledger head, known dedupe keys, a
 * subject with the new phone hash, recorded text versions, open erasures) in one read batch,
 * decides `duplicate` / `conflict` from that snapshot, chains the events with Web Crypto, and
 * then writes the whole unit in one write batch: all of it or nothing.
 *
 * Concurrency model:
 * - Inside one isolate, commits run one after another (a promise chain), so they never race
 *   each other; reads and job operations run freely.
 * - Across isolates (several Workers invocations on one database), the snapshot may go stale
 *   between the two batches. The write batch is built to fail, and so roll back entirely, in
 *   every such case: a guard statement aborts it unless `ledger_head` is still the head the
 *   events were chained on (and `ledger.seq` is a primary key besides); dedupe keys, the new
 *   subject and new text versions are plain INSERTs that hit their unique keys; a second open
 *   erasure hits the `erasures_open` unique index. When the batch fails, the unit re-reads its
 *   snapshot: if anything changed it is decided again (and may now be `duplicate` or
 *   `conflict`) and retried after a random backoff, up to `MAX_ATTEMPTS`; if nothing changed,
 *   the failure was the unit's own (e.g. an event id used twice) and the error is thrown, as on
 *   SQLite. Optimistic, so many isolates appending to the ledger at once retry more; a
 *   deployment with heavy concurrent writes should funnel them (a Queue consumer, a Durable Object).
 * - Coalescing job inserts, idempotency-key skips, job cancellation and shredding are evaluated
 *   inside the write batch's transaction, so they need no guard.
 * - `leaseJobs` is one `UPDATE … RETURNING` statement, `finishJobs` and `purge` one batch each.
 */
import type { D1Database } from '@cloudflare/workers-types/index.ts';
import { settledWithin } from '../core/settled-within.ts';
import { API_KEY_SQL, toApiKey } from './api-keys-sql.ts';
import * as jobs from './d1-jobs.ts';
import { assertMigrated, migrateD1 } from './d1-migrate.ts';
import { planUnit, readSnapshot, sameSnapshot } from './d1-unit.ts';
import { INBOX_SQL, toInboxRow } from './inbox-sql.ts';
import { KEY_ROTATION_SQL, toKeyRotation, toLookupKey } from './key-rotation-sql.ts';
import type { Migration } from './migrate.ts';
import {
  type CommitResult,
  hashList,
  noneDeleted,
  type RetentionCutoffs,
  type Store,
  type WriteUnit,
} from './port.ts';
import { READ_SQL } from './sql.ts';
import {
  type Row,
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
import {
  auditQuery,
  LEDGER_DAILY,
  QUEUE_STATS,
  STATE_COUNTS,
  toLedgerDay,
  toQueueStat,
  toStateCount,
} from './stats-sql.ts';

export interface D1StoreOptions {
  db: D1Database;
  /** Stamps dedupe rows and job creation; injectable for tests. */
  clock?: () => Date;
  /**
   * The `.sql` files of `src/store/migrations`, bundled by the caller (Workers has no file system).
   * Without them, `migrate()` only checks that `wrangler d1 migrations apply` has been run.
   */
  migrations?: readonly Migration[];
}

/** Write batches tried per unit before a persistent race is reported as an error. */
const MAX_ATTEMPTS = 10;

/**
 * Random wait before retrying a unit that lost a race: without it, two isolates committing in
 * lockstep keep colliding (the same one losing every time). Full jitter, capped at 250 ms.
 */
const backoff = (attempt: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(250, 4 * 2 ** attempt)));

/**
 * Opens the D1 store. Call `migrate()` before use.
 *
 * @example
 * const store = openD1Store({ db: env.DB, migrations });
 * await store.migrate();
 */
export function openD1Store(options: D1StoreOptions): Store {
  const { db } = options;
  const clock = options.clock ?? (() => new Date());
  let closed = false;
  // The tail of this isolate's commit chain: each commit starts when the previous one settled.
  let tail: Promise<unknown> = Promise.resolve();

  const all = async (sql: string, ...values: unknown[]): Promise<Row[]> =>
    (
      await db
        .prepare(sql)
        .bind(...values)
        .all<Row>()
    ).results;
  const first = (sql: string, ...values: unknown[]): Promise<Row | null> =>
    db
      .prepare(sql)
      .bind(...values)
      .first<Row>();

  const commitNow = async (unit: WriteUnit): Promise<CommitResult> => {
    let snap = await readSnapshot(db, unit);
    for (let attempt = 1; ; attempt++) {
      const plan = await planUnit(db, unit, snap, clock().toISOString());
      if (plan.statements.length === 0) return plan.result;
      try {
        await db.batch(plan.statements);
        return plan.result;
      } catch (err) {
        const fresh = await readSnapshot(db, unit);
        if (sameSnapshot(fresh, snap)) throw err;
        if (attempt >= MAX_ATTEMPTS) {
          throw new Error(`D1 commit lost ${MAX_ATTEMPTS} races with other writers in a row`, { cause: err });
        }
        await backoff(attempt);
        snap = await readSnapshot(db, unit);
      }
    }
  };

  return {
    async migrate() {
      if (options.migrations) await migrateD1(db, options.migrations);
      else await assertMigrated(db);
    },

    async close() {
      closed = true;
      // Let commits already queued finish; D1 bindings hold no connection to close.
      await tail.catch(() => undefined);
    },

    commit(unit) {
      if (closed) return Promise.reject(new Error('store is closed'));
      // Bounded: a commit of a cancelled invocation never settles; later ones go on after 10 s
      // (each commit re-reads and retries on a conflicting write anyway, as across isolates).
      const run = settledWithin(tail, 10_000).then(() => commitNow(unit));
      tail = run.catch(() => undefined);
      return run;
    },

    async findSubjectByHash(hashes) {
      const r = await first(READ_SQL.subjectByHashes, JSON.stringify(hashList(hashes)));
      return r ? toSubject(r) : null;
    },
    async identifiersByHash(hashes) {
      if (hashes.length === 0) return [];
      return (await all(READ_SQL.identifiersByHash, JSON.stringify(hashes))).map(toIdentifier);
    },
    async identifiersOf(ids) {
      if (ids.length === 0) return [];
      return (await all(READ_SQL.identifiersOf, JSON.stringify(ids))).map(toIdentifier);
    },
    async mergedInto(subjectId) {
      return (await all(READ_SQL.mergedInto, subjectId)).map(toSubject);
    },
    async listDeadEvents(limit) {
      return (await all(READ_SQL.deadEvents, limit)).map(toDeadEvent);
    },
    async countDeadEvents() {
      return Number((await first(READ_SQL.countDeadEvents))?.n ?? 0);
    },
    async getSubject(id) {
      const r = await first('SELECT * FROM subjects WHERE id = ?', id);
      return r ? toSubject(r) : null;
    },
    async getStates(subjectId) {
      return (await all('SELECT * FROM consent_state WHERE subject_id = ? ORDER BY purpose', subjectId)).map(
        toState,
      );
    },
    async findExpiredPending(now, limit) {
      const rows = await all(
        `SELECT * FROM consent_state WHERE status = 'pending' AND pending_expires_at <= ?
         ORDER BY pending_expires_at, subject_id, purpose LIMIT ?`,
        now,
        limit,
      );
      return rows.map(toState);
    },
    async listEvents(subjectId) {
      return (await all('SELECT * FROM ledger WHERE subject_id = ? ORDER BY seq', subjectId)).map(toLedger);
    },
    async readLedger(afterSeq, limit) {
      return (await all('SELECT * FROM ledger WHERE seq > ? ORDER BY seq LIMIT ?', afterSeq, limit)).map(
        toLedger,
      );
    },
    async ledgerHead() {
      const r = await first('SELECT seq, hash FROM ledger_head WHERE id = 1');
      return r ? { seq: Number(r.seq), hash: String(r.hash) } : null;
    },
    async getTexts(versions) {
      if (versions.length === 0) return [];
      const rows = await all(
        'SELECT * FROM consent_texts WHERE version IN (SELECT value FROM json_each(?)) ORDER BY version',
        JSON.stringify(versions),
      );
      return rows.map(toText);
    },
    async allTexts() {
      return (await all('SELECT * FROM consent_texts ORDER BY version')).map(toText);
    },
    async findSentMessage(ids) {
      const r = await first(READ_SQL.sentByIds, JSON.stringify(hashList(ids)));
      return r ? toSent(r) : null;
    },
    async findApiKey(digest) {
      const r = await first(API_KEY_SQL.byDigest, digest);
      return r ? toApiKey(r) : null;
    },
    async getApiKey(id) {
      const r = await first(API_KEY_SQL.byId, id);
      return r ? toApiKey(r) : null;
    },
    async listApiKeys() {
      return (await all(API_KEY_SQL.list)).map(toApiKey);
    },
    async listAudit(limit, filter) {
      const q = auditQuery(filter);
      return (await all(q.sql, ...q.params, limit)).map(toAudit);
    },

    async listSubjects(afterId, limit) {
      return (await all('SELECT * FROM subjects WHERE id > ? ORDER BY id LIMIT ?', afterId, limit)).map(
        toSubject,
      );
    },
    async findOpenErasure(hashes) {
      const r = await first(READ_SQL.openErasureOf, JSON.stringify(hashList(hashes)));
      return r ? toErasure(r) : null;
    },
    async getErasure(id) {
      const r = await first('SELECT * FROM erasures WHERE id = ?', id);
      return r ? toErasure(r) : null;
    },
    async listErasures(f) {
      const rows =
        f.overdueAt !== undefined
          ? await all(
              "SELECT * FROM erasures WHERE status = 'open' AND due_at < ? ORDER BY due_at LIMIT ?",
              f.overdueAt,
              f.limit,
            )
          : f.status !== undefined
            ? await all(
                'SELECT * FROM erasures WHERE status = ? ORDER BY received_at DESC, id DESC LIMIT ?',
                f.status,
                f.limit,
              )
            : await all('SELECT * FROM erasures ORDER BY received_at DESC, id DESC LIMIT ?', f.limit);
      return rows.map(toErasure);
    },
    async erasureTasks(id) {
      return (await all('SELECT * FROM erasure_tasks WHERE erasure_id = ? ORDER BY system', id)).map(toTask);
    },
    async erasuresOf(hashes) {
      return (await all(READ_SQL.erasuresOf, JSON.stringify(hashList(hashes)))).map(toErasure);
    },
    async listLookupKeys() {
      return (await all(KEY_ROTATION_SQL.listLookupKeys)).map(toLookupKey);
    },
    async getKeyRotation(keyId) {
      const r = await first(KEY_ROTATION_SQL.rotation, keyId);
      return r ? toKeyRotation(r) : null;
    },
    async countSubjects(afterId) {
      return Number((await first(KEY_ROTATION_SQL.countSubjects, afterId))?.n ?? 0);
    },
    async deadEventsAfter(afterId, limit) {
      return (await all(KEY_ROTATION_SQL.deadEventsAfter, afterId, limit)).map(toDeadEvent);
    },
    async readInbox(limit) {
      return (await all(INBOX_SQL.read, limit)).map(toInboxRow);
    },
    async inboxDepth() {
      return Number((await first(INBOX_SQL.depth))?.n ?? 0);
    },
    async inboxOptOuts(hashes) {
      if (hashes.length === 0) return [];
      return (await all(INBOX_SQL.optOuts, JSON.stringify(hashes))).map((r) => String(r.opt_out));
    },
    async tombstonesFor(hashes) {
      const rows = await all(
        'SELECT * FROM tombstones WHERE subject_hash IN (SELECT value FROM json_each(?))',
        JSON.stringify(hashes),
      );
      return rows.map(toTombstone);
    },
    async findErasedRecord(connector, objectType, remoteId) {
      const r = await first(
        'SELECT * FROM erased_records WHERE connector = ? AND object_type = ? AND remote_id = ?',
        connector,
        objectType,
        remoteId,
      );
      return r ? toErased(r) : null;
    },
    // Nothing to scrub from here: D1's files, WAL and backups are Cloudflare's to manage, and no
    // statement reaches them. Time Travel can restore any minute of the last 30 days (Workers Paid;
    // 7 on Free), so a shredded key stays restorable that long (docs/SECURITY.md).
    async scrub() {
      return true;
    },
    async purge(c) {
      const sql: Record<keyof RetentionCutoffs, string> = {
        finishedJobs: "DELETE FROM outbox WHERE status IN ('done', 'cancelled') AND updated_at < ?",
        deadLetters: "DELETE FROM outbox WHERE status = 'dead' AND updated_at < ?",
        inboundDedupe: 'DELETE FROM inbound_dedupe WHERE received_at < ?',
        sentMessages: 'DELETE FROM sent_messages WHERE sent_at < ?',
        syncWrites: 'DELETE FROM sync_writes WHERE written_at < ?',
        deadEvents: 'DELETE FROM dead_events WHERE received_at < ?',
        audit: 'DELETE FROM audit_log WHERE at < ?',
      };
      const out = noneDeleted();
      const kinds = (Object.keys(sql) as Array<keyof RetentionCutoffs>).filter((k) => c[k] !== null);
      if (kinds.length === 0) return out;
      // One batch: every kind is purged against the same state, atomically.
      const results = await db.batch(kinds.map((k) => db.prepare(sql[k]).bind(c[k])));
      kinds.forEach((k, i) => {
        out[k] = results[i]?.meta.changes ?? 0;
      });
      return out;
    },
    async findUnconfirmed(before, limit) {
      const rows = await all(READ_SQL.unconfirmed, before, limit);
      return rows.map((r) => String(r.id));
    },
    async getSubjects(ids) {
      const rows = await all(
        'SELECT * FROM subjects WHERE id IN (SELECT value FROM json_each(?))',
        JSON.stringify(ids),
      );
      return rows.map(toSubject);
    },
    async getStatesFor(ids) {
      const rows = await all(
        'SELECT * FROM consent_state WHERE subject_id IN (SELECT value FROM json_each(?)) ORDER BY subject_id, purpose',
        JSON.stringify(ids),
      );
      return rows.map(toState);
    },
    async linksFor(ids) {
      const rows = await all(
        'SELECT * FROM crm_links WHERE subject_id IN (SELECT value FROM json_each(?)) ORDER BY connector, object_type, remote_id',
        JSON.stringify(ids),
      );
      return rows.map(toLink);
    },
    async linksOf(subjectId) {
      const rows = await all(
        'SELECT * FROM crm_links WHERE subject_id = ? ORDER BY connector, object_type, remote_id',
        subjectId,
      );
      return rows.map(toLink);
    },
    async findLink(connector, objectType, remoteId) {
      const r = await first(
        'SELECT * FROM crm_links WHERE connector = ? AND object_type = ? AND remote_id = ?',
        connector,
        objectType,
        remoteId,
      );
      return r ? toLink(r) : null;
    },
    async syncWritesOf(connector, objectType, remoteId) {
      const rows = await all(
        'SELECT * FROM sync_writes WHERE connector = ? AND object_type = ? AND remote_id = ? ORDER BY property',
        connector,
        objectType,
        remoteId,
      );
      return rows.map(toSyncWrite);
    },
    queueStats: async () => (await all(QUEUE_STATS)).map(toQueueStat),
    ledgerDaily: async (since) => (await all(LEDGER_DAILY, since)).map(toLedgerDay),
    stateCounts: async () => (await all(STATE_COUNTS)).map(toStateCount),

    leaseJobs: (kinds, now, leaseUntil, limit) => jobs.leaseJobs(db, kinds, now, leaseUntil, limit),
    finishJobs: (items, now) => jobs.finishJobs(db, items, now),
    finishJob: (id, outcome, now) => jobs.finishJob(db, id, outcome, now),
    getJob: (id) => jobs.getJob(db, id),
    listJobs: (filter) => jobs.listJobs(db, filter),
    requeueJob: (id, now) => jobs.requeueJob(db, id, now),
    countJobs: () => jobs.countJobs(db),
  };
}
