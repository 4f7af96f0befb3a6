/**
 * SQL of the D1 unit: the shared unit statements (`sql.ts`), the reads that decide a unit, race
 * guards, and the one write that differs: a dedupe key is a plain INSERT here, so a concurrent
 * writer that recorded it first makes the whole D1 batch fail instead of being silently skipped.
 */
import { UNIT_SQL } from './sql.ts';

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
  statesOf: 'SELECT * FROM consent_state WHERE subject_id = ? ORDER BY purpose',
  subjectOrIdentifier:
    'SELECT id FROM subjects WHERE phone_hash = ?1 UNION ALL SELECT subject_id FROM subject_identifiers WHERE hash = ?1',
  identifierOwners:
    'SELECT hash, subject_id FROM subject_identifiers WHERE hash IN (SELECT value FROM json_each(?)) ORDER BY hash',
  tombstoned:
    'SELECT subject_hash FROM tombstones WHERE subject_hash IN (SELECT value FROM json_each(?)) ORDER BY subject_hash',
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
  // A person's consent row as the decision read it (IS: nulls compare equal), or no row at all.
  stateIs: `INSERT INTO ledger_head (id, seq, hash) SELECT 0, 0, 'consent state moved'
    WHERE NOT EXISTS (SELECT 1 FROM consent_state WHERE subject_id = ? AND purpose = ? AND status IS ?
      AND changed_at IS ? AND source IS ? AND status_before_pending IS ? AND pending_expires_at IS ?
      AND double_opt_in_at IS ? AND text_version IS ? AND occurred_at IS ? AND withdrawn_at IS ?
      AND crm_opted_out_at IS ? AND crm_granted_at IS ? AND requested_at IS ?)`,
  stateIsAbsent: `INSERT INTO ledger_head (id, seq, hash) SELECT 0, 0, 'consent state moved'
    WHERE EXISTS (SELECT 1 FROM consent_state WHERE subject_id = ? AND purpose = ?)`,
  // An identifier is still free, or still owned by one of the listed subjects (JSON array).
  identifierOwnedBy: `INSERT INTO ledger_head (id, seq, hash) SELECT 0, 0, 'identifier moved'
    WHERE EXISTS (SELECT 1 FROM subject_identifiers WHERE hash = ? AND subject_id NOT IN (SELECT value FROM json_each(?)))`,
  // No tombstone appeared for these hashes (an erasure committed meanwhile).
  notTombstoned: `INSERT INTO ledger_head (id, seq, hash) SELECT 0, 0, 'person erased'
    WHERE EXISTS (SELECT 1 FROM tombstones WHERE subject_hash IN (SELECT value FROM json_each(?)))`,
} as const;

export const WRITE = {
  ...UNIT_SQL,
  // No ON CONFLICT: a key another writer recorded since the snapshot fails the batch.
  dedupe: 'INSERT INTO inbound_dedupe (key, received_at) VALUES (?, ?)',
} as const;
