/**
 * PII key rotation (issue 14): the row types, the SQL shared by the SQLite and D1 adapters and the
 * row mapping. Every rotation write takes its whole page as one JSON parameter, so a page is a
 * handful of statements whatever its size (D1 counts statements and bound parameters). Runtime-free.
 */
import type { WriteUnit } from './port.ts';
import type { KeyRotationRow, LookupKeyRow, RotationPhase } from './rows.ts';

export type { KeyRotationRow, LookupKeyRow, RotationPhase };

/** The page as a table: `[[a, b, c], …]` of the JSON parameter as columns a, b, c (parsed once). */
const page = `(SELECT json_extract(value, '$[0]') AS a, json_extract(value, '$[1]') AS b,
  json_extract(value, '$[2]') AS c FROM json_each(?1)) AS p`;

export const KEY_ROTATION_SQL = {
  // Rehash ([[from, to], …]): an identifier moves to its current hash; when a row with that hash
  // exists already (written meanwhile), the old row goes. Tombstones are copied, never moved: the
  // old hash stays blocked too.
  rehashIdentifiers: `UPDATE OR IGNORE subject_identifiers SET hash = p.b FROM ${page} WHERE subject_identifiers.hash = p.a`,
  dropRehashed: `DELETE FROM subject_identifiers WHERE hash IN (SELECT json_extract(value, '$[0]') FROM json_each(?1))`,
  rehashSubjects: `UPDATE OR IGNORE subjects SET phone_hash = p.b FROM ${page} WHERE subjects.phone_hash = p.a`,
  rehashErasures: `UPDATE OR IGNORE erasures SET subject_hash = p.b FROM ${page} WHERE erasures.subject_hash = p.a`,
  copyTombstones: `INSERT OR IGNORE INTO tombstones (subject_hash, erasure_id, created_at)
    SELECT p.b, t.erasure_id, t.created_at FROM ${page} JOIN tombstones t ON t.subject_hash = p.a`,
  // Rewrap ([[id, from, to], …]): only while the stored value is still `from` (never undoes a shred).
  rewrapSubjects: `UPDATE subjects SET dek_wrapped = p.c FROM ${page} WHERE subjects.id = p.a AND subjects.dek_wrapped = p.b`,
  resealDeadEvents: `UPDATE dead_events SET payload_enc = p.c FROM ${page}
    WHERE dead_events.id = p.a AND dead_events.payload_enc = p.b`,
  upsertLookupKey: `INSERT INTO pii_lookup_keys (id, wrapped, wrapped_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT(id) DO UPDATE SET wrapped = excluded.wrapped, wrapped_by = excluded.wrapped_by,
    updated_at = excluded.updated_at`,
  // Progress moves only from the position the page was read at: a second runner on the same page
  // (two isolates' crons) changes nothing twice and counts nothing twice.
  insertRotation: `INSERT INTO key_rotations (key_id, from_keys, phase, cursor, subjects, rewrapped, rehashed, resealed,
    started_at, updated_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key_id) DO NOTHING`,
  updateRotation: `UPDATE key_rotations SET from_keys = ?, phase = ?, cursor = ?, subjects = ?, rewrapped = ?,
    rehashed = ?, resealed = ?, started_at = ?, updated_at = ?, finished_at = ?
    WHERE key_id = ? AND phase = ? AND cursor = ? AND from_keys = ?`,
  listLookupKeys: 'SELECT * FROM pii_lookup_keys ORDER BY created_at, id',
  rotation: 'SELECT * FROM key_rotations WHERE key_id = ?',
  deadEventsAfter: 'SELECT * FROM dead_events WHERE id > ? ORDER BY id LIMIT ?',
  countSubjects: 'SELECT COUNT(*) AS n FROM subjects WHERE id > ?',
  seenKey: 'SELECT 1 FROM inbound_dedupe WHERE key = ?',
} as const;

/**
 * The unit's rotation writes. Rehashes come first of all the unit's writes (before merges and
 * identifier upserts: a consent change moves an identifier found under a retired key to its
 * current hash and may then update it); the rest come last.
 */
export function rehashStatements(unit: WriteUnit): Array<[string, string[]]> {
  const pairs = (unit.rehash ?? []).filter((r) => r.from !== r.to);
  if (pairs.length === 0) return [];
  const json = JSON.stringify(pairs.map((r) => [r.from, r.to]));
  return [
    KEY_ROTATION_SQL.copyTombstones,
    KEY_ROTATION_SQL.rehashIdentifiers,
    KEY_ROTATION_SQL.dropRehashed,
    KEY_ROTATION_SQL.rehashSubjects,
    KEY_ROTATION_SQL.rehashErasures,
  ].map((sql) => [sql, [json]]);
}

/** Rewraps, reseals, archived lookup keys and the rotation's progress. */
export function rotationStatements(unit: WriteUnit): Array<[string, Array<string | number | null>]> {
  const out: Array<[string, Array<string | number | null>]> = [];
  const triples = (rows: Array<{ id: string; from: string; to: string }>) =>
    JSON.stringify(rows.map((r) => [r.id, r.from, r.to]));
  if ((unit.rewrap ?? []).length > 0)
    out.push([KEY_ROTATION_SQL.rewrapSubjects, [triples(unit.rewrap ?? [])]]);
  if ((unit.reseal ?? []).length > 0)
    out.push([KEY_ROTATION_SQL.resealDeadEvents, [triples(unit.reseal ?? [])]]);
  for (const k of unit.lookupKeys ?? [])
    out.push([KEY_ROTATION_SQL.upsertLookupKey, [k.id, k.wrapped, k.wrappedBy, k.createdAt, k.updatedAt]]);
  const kr = unit.keyRotation;
  if (kr) {
    const r = kr.row;
    const values = [r.fromKeys, r.phase, r.cursor, r.subjects, r.rewrapped, r.rehashed, r.resealed];
    const times = [r.startedAt, r.updatedAt, r.finishedAt];
    if (kr.expect === null) out.push([KEY_ROTATION_SQL.insertRotation, [r.keyId, ...values, ...times]]);
    else
      out.push([
        KEY_ROTATION_SQL.updateRotation,
        [...values, ...times, r.keyId, kr.expect.phase, kr.expect.cursor, kr.expect.fromKeys],
      ]);
  }
  return out;
}

const str = (v: unknown) => String(v);

export function toLookupKey(r: Record<string, unknown>): LookupKeyRow {
  return {
    id: str(r.id),
    wrapped: str(r.wrapped),
    wrappedBy: str(r.wrapped_by),
    createdAt: str(r.created_at),
    updatedAt: str(r.updated_at),
  };
}

export function toKeyRotation(r: Record<string, unknown>): KeyRotationRow {
  return {
    keyId: str(r.key_id),
    fromKeys: str(r.from_keys),
    phase: str(r.phase) as RotationPhase,
    cursor: str(r.cursor),
    subjects: Number(r.subjects),
    rewrapped: Number(r.rewrapped),
    rehashed: Number(r.rehashed),
    resealed: Number(r.resealed),
    startedAt: str(r.started_at),
    updatedAt: str(r.updated_at),
    finishedAt: r.finished_at === null || r.finished_at === undefined ? null : str(r.finished_at),
  };
}
