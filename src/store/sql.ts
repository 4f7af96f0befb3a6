/**
 * The SQL of one WriteUnit, shared by the SQLite and D1 adapters (same schema, same upsert rules),
 * so the two cannot drift. Runtime-free: nothing that pulls node: modules into a Worker.
 */
import { apiKeyStatements } from './api-keys-sql.ts';
import { inboxStatements } from './inbox-sql.ts';
import { rehashStatements, rotationStatements } from './key-rotation-sql.ts';
import { DEAD_EVENTS_KEPT } from './port.ts';
import type { UnitStatement } from './rows.ts';

export type { UnitStatement };

export const UNIT_SQL = {
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
    pending_expires_at, double_opt_in_at, text_version, occurred_at, withdrawn_at, crm_opted_out_at,
    crm_granted_at, requested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT(subject_id, purpose) DO UPDATE SET status = excluded.status, changed_at = excluded.changed_at,
    source = excluded.source, status_before_pending = excluded.status_before_pending,
    pending_expires_at = excluded.pending_expires_at, double_opt_in_at = excluded.double_opt_in_at,
    text_version = excluded.text_version, occurred_at = excluded.occurred_at, withdrawn_at = excluded.withdrawn_at,
    crm_opted_out_at = excluded.crm_opted_out_at, crm_granted_at = excluded.crm_granted_at,
    requested_at = excluded.requested_at`,
  // A job with a coalesce key is added only while no job with that key is still waiting to run
  // (evaluated inside the unit's transaction). Parameters: id, kind, subject, key, payload, due, now, coalesce key.
  insertJob: `INSERT INTO outbox (id, kind, subject_id, idempotency_key, payload, status, attempts,
    next_attempt_at, lease_until, last_error, created_at, updated_at, coalesce_key)
    SELECT ?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, NULL, NULL, ?7, ?7, ?8
    WHERE ?8 IS NULL OR NOT EXISTS (SELECT 1 FROM outbox WHERE coalesce_key = ?8 AND status = 'pending')
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
  // On D1 the unique index erasures_open fails the batch if another writer opened one meanwhile.
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
  // A counting row: the first of its window is inserted, later ones add to details.count.
  upsertAuditCount: `INSERT INTO audit_log (id, at, actor, role, action, target, details) VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT(id) DO UPDATE SET details = json_set(audit_log.details,
      '$.count', COALESCE(json_extract(audit_log.details, '$.count'), 0) + COALESCE(json_extract(excluded.details, '$.count'), 1),
      '$.lastAt', excluded.at)`,
  insertAudit:
    'INSERT INTO audit_log (id, at, actor, role, action, target, details) VALUES (?, ?, ?, ?, ?, ?, ?)',
  // The owner check ran before (SQLite) or is a guard of the batch (D1): the WHERE only keeps an
  // upsert from ever moving a hash between people silently.
  upsertIdentifier: `INSERT INTO subject_identifiers (hash, subject_id, kind, value_enc, status, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(hash) DO UPDATE SET value_enc = excluded.value_enc,
    status = excluded.status, kind = excluded.kind, updated_at = excluded.updated_at
    WHERE subject_identifiers.subject_id = excluded.subject_id`,
  // A new subject's own hash, when the unit lists no identifier for it (callers before identities).
  insertSubjectIdentifier: `INSERT INTO subject_identifiers (hash, subject_id, kind, value_enc, status, created_at, updated_at)
    SELECT ?1, ?2, 'phone', ?3, 'active', ?4, ?4 WHERE NOT EXISTS (SELECT 1 FROM subject_identifiers WHERE hash = ?1)`,
  mergeIdentifiers: 'UPDATE subject_identifiers SET subject_id = ?, updated_at = ? WHERE subject_id = ?',
  mergeLinks: 'UPDATE crm_links SET subject_id = ? WHERE subject_id = ?',
  mergeSent: 'UPDATE sent_messages SET subject_id = ? WHERE subject_id = ?',
  mergeStates: 'DELETE FROM consent_state WHERE subject_id = ?',
  mergeSubject: 'UPDATE subjects SET merged_into = ?1 WHERE id = ?2 OR merged_into = ?2',
  mergeJobs: `UPDATE outbox SET status = 'cancelled', last_error = 'cancelled: person merged into another record',
    lease_until = NULL, updated_at = ? WHERE subject_id = ? AND status IN ('pending', 'leased') AND kind NOT LIKE 'erasure.%'`,
  shredIdentifiers: 'UPDATE subject_identifiers SET value_enc = NULL WHERE subject_id = ?',
  insertDeadEvent: `INSERT INTO dead_events (id, source, kind, reason, payload_enc, received_at) VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT(id) DO NOTHING`,
  // Bounded: only the newest DEAD_EVENTS_KEPT rows stay.
  trimDeadEvents: `DELETE FROM dead_events WHERE id IN (SELECT id FROM dead_events
    ORDER BY received_at DESC, id DESC LIMIT -1 OFFSET ?)`,
} as const;

/** Reads shared by the SQLite and D1 adapters. */
export const READ_SQL = {
  subjectByHash: `SELECT s.* FROM subject_identifiers i JOIN subjects s ON s.id = i.subject_id WHERE i.hash = ?`,
  // Several hashes of one value (one per PII key): the first found, in list order.
  subjectByHashes: `SELECT s.* FROM json_each(?) h JOIN subject_identifiers i ON i.hash = h.value
    JOIN subjects s ON s.id = i.subject_id ORDER BY h.key LIMIT 1`,
  sentByIds: `SELECT m.* FROM json_each(?) h JOIN sent_messages m ON m.wa_message_id = h.value ORDER BY h.key LIMIT 1`,
  openErasureOf: `SELECT * FROM erasures WHERE subject_hash IN (SELECT value FROM json_each(?)) AND status = 'open'
    ORDER BY received_at, id LIMIT 1`,
  erasuresOf:
    'SELECT * FROM erasures WHERE subject_hash IN (SELECT value FROM json_each(?)) ORDER BY received_at, id',
  identifiersByHash:
    'SELECT * FROM subject_identifiers WHERE hash IN (SELECT value FROM json_each(?)) ORDER BY created_at, hash',
  identifiersOf:
    'SELECT * FROM subject_identifiers WHERE subject_id IN (SELECT value FROM json_each(?)) ORDER BY created_at, hash',
  mergedInto: `WITH RECURSIVE m(id) AS (SELECT id FROM subjects WHERE merged_into = ?1
      UNION SELECT s.id FROM subjects s JOIN m ON s.merged_into = m.id)
    SELECT * FROM subjects WHERE id IN (SELECT id FROM m) ORDER BY created_at, id`,
  deadEvents: 'SELECT * FROM dead_events ORDER BY received_at DESC, id DESC LIMIT ?',
  countDeadEvents: 'SELECT COUNT(*) AS n FROM dead_events',
  // People with no proof to support: not tombstoned under any of their identifiers.
  unconfirmed: `SELECT s.id FROM subjects s JOIN consent_state c ON c.subject_id = s.id
    WHERE s.dek_wrapped IS NOT NULL AND s.merged_into IS NULL
      AND NOT EXISTS (SELECT 1 FROM subject_identifiers i JOIN tombstones t ON t.subject_hash = i.hash WHERE i.subject_id = s.id)
    GROUP BY s.id HAVING MAX(c.status <> 'none') = 0 AND MAX(c.changed_at) < ? ORDER BY s.id LIMIT ?`,
} as const;

/**
 * A state row's values in the order of `consent_state`'s columns (subject_id, purpose, status,
 * changed_at, source, status_before_pending, pending_expires_at, double_opt_in_at, text_version,
 * occurred_at, withdrawn_at, crm_opted_out_at, crm_granted_at, requested_at): the upsert writes
 * them, D1's race guard compares them.
 */
export function stateColumns(st: import('../core/types.ts').PurposeState): Array<string | null> {
  return [
    st.subjectId,
    st.purpose,
    st.status,
    st.changedAt,
    st.source,
    st.statusBeforePending,
    st.pendingExpiresAt,
    st.doubleOptInAt,
    st.textVersion,
    st.occurredAt,
    st.withdrawnAt,
    st.crmOptedOutAt,
    st.crmGrantedAt,
    st.requestedAt,
  ];
}

/**
 * Every write of a unit after its checks (dedupe keys, a new subject's phone hash, text versions),
 * in the order both adapters apply them: rehashes (key rotation), subject, subject updates, new texts,
 * chained events and the head, states, jobs, sent messages, links, synced values, cancellations and
 * shredding, erasures, tasks, tombstones, erased records, dead events, API keys, rotation writes, audit. SQLite runs them one by one inside a savepoint; D1 puts
 * them in one batch behind its race guards.
 *
 * @example
 * for (const [sql, args] of unitStatements(unit, records, newTexts, now)) db.prepare(sql).run(...args);
 */
export function unitStatements(
  unit: import('./port.ts').WriteUnit,
  records: ReadonlyArray<import('../core/types.ts').LedgerRecord>,
  newTexts: ReadonlyArray<import('../core/types.ts').TextRow>,
  now: string,
  /** false: the caller writes `ledger_head` once for many units (SQLite's group commit) */
  head = true,
): UnitStatement[] {
  const out: UnitStatement[] = [];
  const add = (sql: string, ...args: Array<string | number | null | undefined>) =>
    out.push([sql, args.map((a) => a ?? null)]);
  // Rehashes first: a change may update (below) an identifier it moved to its current hash.
  for (const [sql, args] of rehashStatements(unit)) add(sql, ...args);
  const s = unit.newSubject;
  if (s)
    add(
      UNIT_SQL.insertSubject,
      s.id,
      s.phoneHash,
      s.phoneEnc,
      s.dekWrapped,
      s.locale,
      s.privacyNoticeAt,
      s.createdAt,
    );
  // Merges first: the identifiers they move may be upserted (re-encrypted) below.
  for (const m of unit.merges ?? []) {
    add(UNIT_SQL.mergeIdentifiers, m.into, now, m.from);
    add(UNIT_SQL.mergeLinks, m.into, m.from);
    add(UNIT_SQL.mergeSent, m.into, m.from);
    add(UNIT_SQL.mergeStates, m.from);
    add(UNIT_SQL.mergeJobs, now, m.from);
    add(UNIT_SQL.mergeSubject, m.into, m.from);
  }
  for (const i of unit.identifiers ?? []) {
    add(
      UNIT_SQL.upsertIdentifier,
      i.hash,
      i.subjectId,
      i.kind,
      i.valueEnc,
      i.status,
      i.createdAt,
      i.updatedAt,
    );
  }
  if (s) add(UNIT_SQL.insertSubjectIdentifier, s.phoneHash, s.id, s.phoneEnc, s.createdAt);
  for (const u of unit.subjectUpdates ?? []) {
    if (u.rekey) add(UNIT_SQL.rekeySubject, u.rekey.phoneEnc, u.rekey.dekWrapped, u.id);
    const hasLocale = u.locale !== undefined;
    const hasNotice = u.privacyNoticeAt !== undefined;
    add(UNIT_SQL.updateSubject, hasLocale ? 1 : 0, u.locale, hasNotice ? 1 : 0, u.privacyNoticeAt, u.id);
  }
  for (const t of newTexts)
    add(UNIT_SQL.insertText, t.version, t.purpose, t.locale, t.text, t.sha256, t.firstUsedAt);
  for (const r of records) {
    add(
      UNIT_SQL.insertEvent,
      r.seq,
      r.id,
      r.subjectId,
      r.purpose,
      r.action,
      r.source,
      r.occurredAt,
      r.recordedAt,
      r.textVersion,
      r.textSha256,
      r.evidenceEnc,
      r.prevHash,
      r.hash,
    );
  }
  const last = records.at(-1);
  if (last && head) add(UNIT_SQL.upsertHead, last.seq, last.hash);
  for (const st of unit.states ?? []) add(UNIT_SQL.upsertState, ...stateColumns(st));
  for (const j of unit.jobs ?? []) {
    const payload = JSON.stringify(j.payload);
    add(
      UNIT_SQL.insertJob,
      j.id,
      j.kind,
      j.subjectId,
      j.idempotencyKey,
      payload,
      j.nextAttemptAt,
      now,
      j.coalesceKey,
    );
  }
  for (const m of unit.sentMessages ?? [])
    add(UNIT_SQL.insertSent, m.waMessageId, m.subjectId, m.purpose, m.kind, m.sentAt);
  for (const l of unit.links ?? [])
    add(UNIT_SQL.upsertLink, l.connector, l.objectType, l.remoteId, l.subjectId, l.linkedAt);
  for (const l of unit.unlinks ?? []) add(UNIT_SQL.deleteLink, l.connector, l.objectType, l.remoteId);
  for (const w of unit.syncWrites ?? []) {
    add(UNIT_SQL.upsertSyncWrite, w.connector, w.objectType, w.remoteId, w.property, w.value, w.writtenAt);
  }
  for (const id of unit.cancelJobsOf ?? []) add(UNIT_SQL.cancelJobsOf, now, id);
  for (const id of unit.shred ?? []) {
    add(UNIT_SQL.cancelJobsOf, now, id);
    for (const q of [
      UNIT_SQL.shredSubject,
      UNIT_SQL.shredIdentifiers,
      UNIT_SQL.shredStates,
      UNIT_SQL.shredLinks,
      UNIT_SQL.shredSent,
    ])
      add(q, id);
  }
  for (const e of unit.erasures ?? []) {
    const receipt = e.receipt ? JSON.stringify(e.receipt) : null;
    add(
      UNIT_SQL.upsertErasure,
      e.id,
      e.subjectHash,
      e.subjectId,
      e.status,
      e.source,
      e.receivedAt,
      e.dueAt,
      e.completedAt,
      receipt,
    );
  }
  for (const t of unit.erasureTasks ?? []) {
    add(
      UNIT_SQL.upsertTask,
      t.erasureId,
      t.system,
      t.status,
      t.attempts,
      t.records,
      t.lastError,
      t.updatedAt,
      t.finishedAt,
    );
  }
  for (const t of unit.tombstones ?? [])
    add(UNIT_SQL.insertTombstone, t.subjectHash, t.erasureId, t.createdAt);
  for (const r of unit.erasedRecords ?? []) {
    add(UNIT_SQL.insertErased, r.connector, r.objectType, r.remoteId, r.erasureId, r.erasedAt);
  }
  for (const d of unit.deadEvents ?? [])
    add(UNIT_SQL.insertDeadEvent, d.id, d.source, d.kind, d.reason, d.payloadEnc, d.receivedAt);
  if ((unit.deadEvents ?? []).length > 0) add(UNIT_SQL.trimDeadEvents, DEAD_EVENTS_KEPT);
  for (const [sql, args] of apiKeyStatements(unit)) add(sql, ...args);
  for (const [sql, args] of rotationStatements(unit)) add(sql, ...args);
  for (const [sql, args] of inboxStatements(unit)) add(sql, ...args);
  for (const a of unit.audit ?? []) {
    add(UNIT_SQL.insertAudit, a.id, a.at, a.actor, a.role, a.action, a.target, JSON.stringify(a.details));
  }
  for (const a of unit.auditCounts ?? []) {
    add(
      UNIT_SQL.upsertAuditCount,
      a.id,
      a.at,
      a.actor,
      a.role,
      a.action,
      a.target,
      JSON.stringify(a.details),
    );
  }
  return out;
}
