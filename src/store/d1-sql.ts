/**
 * SQL of the D1 unit writes. The same statements as `sqlite-unit.ts` (same schema, same upsert
 * rules), except where a row must not already exist: those are plain INSERTs here, so a concurrent
 * writer that got there first makes the whole D1 batch fail instead of being silently skipped.
 * Kept apart from `sqlite-unit.ts` because that module pulls node:crypto into the bundle.
 */

/** Reads that decide a unit before anything is written (one read batch = one consistent snapshot). */
export const READ = {
  head: 'SELECT seq, hash FROM ledger_head WHERE id = 1',
  seenKeys: 'SELECT key FROM inbound_dedupe WHERE key IN (SELECT value FROM json_each(?)) ORDER BY key',
  subjectByHash: 'SELECT id FROM subjects WHERE phone_hash = ?',
  textShas:
    'SELECT version, sha256 FROM consent_texts WHERE version IN (SELECT value FROM json_each(?)) ORDER BY version',
  // The unit's erasures as stored, plus every open erasure that could clash with them (by the
  // hash in the unit, or by the hash already stored under the same id, which an upsert keeps).
  erasures: `SELECT id, subject_hash, status FROM erasures WHERE id IN (SELECT value FROM json_each(?1))
    OR (status = 'open' AND (subject_hash IN (SELECT value FROM json_each(?2))
      OR subject_hash IN (SELECT subject_hash FROM erasures WHERE id IN (SELECT value FROM json_each(?1)))))
    ORDER BY id`,
} as const;

/**
 * Race guards. `ledger_head` has `CHECK (id = 1)`: inserting id 0 can only fail, so these
 * statements abort the batch exactly when the head is no longer the one the unit was chained on.
 */
export const GUARD = {
  headIs: `INSERT INTO ledger_head (id, seq, hash) SELECT 0, 0, 'ledger head moved'
    WHERE NOT EXISTS (SELECT 1 FROM ledger_head WHERE id = 1 AND seq = ? AND hash = ?)`,
  headIsEmpty: `INSERT INTO ledger_head (id, seq, hash) SELECT 0, 0, 'ledger head moved'
    WHERE EXISTS (SELECT 1 FROM ledger_head)`,
} as const;

export const WRITE = {
  // No ON CONFLICT: a key another writer recorded since the snapshot fails the batch.
  dedupe: 'INSERT INTO inbound_dedupe (key, received_at) VALUES (?, ?)',
  insertSubject: `INSERT INTO subjects (id, phone_hash, phone_enc, dek_wrapped, locale, privacy_notice_at, created_at)
    VALUES (?, ?, ?, ?, ?, ?, ?)`,
  // IIF keeps a column unchanged when the update does not name it (a partial update in one statement).
  updateSubject: `UPDATE subjects SET locale = IIF(?, ?, locale), privacy_notice_at = IIF(?, ?, privacy_notice_at)
    WHERE id = ?`,
  rekeySubject: 'UPDATE subjects SET phone_enc = ?, dek_wrapped = ? WHERE id = ? AND dek_wrapped IS NULL',
  insertText: `INSERT INTO consent_texts (version, purpose, locale, text, sha256, first_used_at)
    VALUES (?, ?, ?, ?, ?, ?)`,
  insertEvent: `INSERT INTO ledger (seq, id, subject_id, purpose, action, source, occurred_at, recorded_at,
    text_version, text_sha256, evidence_enc, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  upsertHead: `INSERT INTO ledger_head (id, seq, hash) VALUES (1, ?, ?)
    ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`,
  upsertState: `INSERT INTO consent_state (subject_id, purpose, status, changed_at, source, status_before_pending,
    pending_expires_at, double_opt_in_at, text_version, occurred_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT(subject_id, purpose) DO UPDATE SET status = excluded.status, changed_at = excluded.changed_at,
    source = excluded.source, status_before_pending = excluded.status_before_pending,
    pending_expires_at = excluded.pending_expires_at, double_opt_in_at = excluded.double_opt_in_at,
    text_version = excluded.text_version, occurred_at = excluded.occurred_at`,
  insertJob: `INSERT INTO outbox (id, kind, subject_id, idempotency_key, payload, status, attempts, next_attempt_at,
    lease_until, last_error, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, NULL, NULL, ?, ?)
    ON CONFLICT(idempotency_key) DO NOTHING`,
  // A coalescing job is added only while no job with its key is still waiting to run. Evaluated
  // inside the batch's transaction, so it needs no guard.
  insertCoalescedJob: `INSERT INTO outbox (id, kind, subject_id, idempotency_key, payload, status, attempts,
    next_attempt_at, lease_until, last_error, created_at, updated_at, coalesce_key)
    SELECT ?, ?, ?, ?, ?, 'pending', 0, ?, NULL, NULL, ?, ?, ?
    WHERE NOT EXISTS (SELECT 1 FROM outbox WHERE coalesce_key = ? AND status = 'pending')
    ON CONFLICT(idempotency_key) DO NOTHING`,
  insertSent: `INSERT OR IGNORE INTO sent_messages (wa_message_id, subject_id, purpose, kind, sent_at)
    VALUES (?, ?, ?, ?, ?)`,
  upsertLink: `INSERT INTO crm_links (connector, object_type, remote_id, subject_id, linked_at) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT(connector, object_type, remote_id) DO UPDATE SET subject_id = excluded.subject_id,
    linked_at = excluded.linked_at`,
  deleteLink: 'DELETE FROM crm_links WHERE connector = ? AND object_type = ? AND remote_id = ?',
  upsertSyncWrite: `INSERT INTO sync_writes (connector, object_type, remote_id, property, value, written_at)
    VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(connector, object_type, remote_id, property)
    DO UPDATE SET value = excluded.value, written_at = excluded.written_at`,
  cancelJobsOf: `UPDATE outbox SET status = 'cancelled', last_error = 'cancelled: person erased', lease_until = NULL,
    updated_at = ? WHERE subject_id = ? AND status IN ('pending', 'leased') AND kind NOT LIKE 'erasure.%'`,
  shredSubject: 'UPDATE subjects SET phone_enc = NULL, dek_wrapped = NULL WHERE id = ?',
  shredStates: 'DELETE FROM consent_state WHERE subject_id = ?',
  shredLinks: 'DELETE FROM crm_links WHERE subject_id = ?',
  shredSent: 'DELETE FROM sent_messages WHERE subject_id = ?',
  // The unique index erasures_open fails the batch if another writer opened one since the snapshot.
  upsertErasure: `INSERT INTO erasures (id, subject_hash, subject_id, status, source, received_at, due_at, completed_at,
    receipt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET subject_id = excluded.subject_id,
    status = excluded.status, completed_at = excluded.completed_at, receipt = excluded.receipt`,
  upsertTask: `INSERT INTO erasure_tasks (erasure_id, system, status, attempts, records, last_error, updated_at,
    finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(erasure_id, system) DO UPDATE SET status = excluded.status,
    attempts = excluded.attempts, records = excluded.records, last_error = excluded.last_error,
    updated_at = excluded.updated_at, finished_at = excluded.finished_at`,
  insertTombstone:
    'INSERT INTO tombstones (subject_hash, erasure_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
  insertErased: `INSERT INTO erased_records (connector, object_type, remote_id, erasure_id, erased_at)
    VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
  insertAudit:
    'INSERT INTO audit_log (id, at, actor, role, action, target, details) VALUES (?, ?, ?, ?, ?, ?, ?)',
} as const;
