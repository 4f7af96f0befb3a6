/**
 * The in-memory store's key-rotation writes (rehash, rewrap, reseal, archived lookup keys, progress),
 * rule for rule as `key-rotation-sql.ts` runs them on SQLite and D1.
 */
import type { DeadEventRow, ErasureRow, IdentifierRow, SubjectRow, Tombstone } from '../core/types.ts';
import type { KeyRotationRow, LookupKeyRow } from './key-rotation-sql.ts';
import type { WriteUnit } from './port.ts';

/** The tables these writes touch (a part of the memory store's `Tables`). */
export interface RotationTables {
  subjects: Map<string, SubjectRow>;
  subjectByHash: Map<string, string>;
  identifiers: Map<string, IdentifierRow>;
  erasures: Map<string, ErasureRow>;
  tombstones: Map<string, Tombstone>;
  deadEvents: Map<string, DeadEventRow>;
  dedupe: Map<string, string>;
  lookupKeys: Map<string, LookupKeyRow>;
  rotations: Map<string, KeyRotationRow>;
}

/** True when one of the unit's former dedupe keys is recorded (the unit is then a duplicate). */
export function seenFormerKey(t: RotationTables, unit: WriteUnit): boolean {
  return (unit.formerDedupeKeys ?? []).some((k) => t.dedupe.has(k));
}

/** Moves hashes to their current form, before any other write of the unit. */
export function applyRehash(t: RotationTables, unit: WriteUnit): void {
  for (const { from, to } of unit.rehash ?? []) {
    if (from === to) continue;
    const tomb = t.tombstones.get(from);
    if (tomb && !t.tombstones.has(to)) t.tombstones.set(to, { ...tomb, subjectHash: to });
    const ident = t.identifiers.get(from);
    if (ident) {
      t.identifiers.delete(from);
      if (!t.identifiers.has(to)) t.identifiers.set(to, { ...ident, hash: to });
    }
    const sid = t.subjectByHash.get(from);
    const row = sid === undefined ? undefined : t.subjects.get(sid);
    if (row && !t.subjectByHash.has(to)) {
      t.subjectByHash.delete(from);
      t.subjectByHash.set(to, row.id);
      t.subjects.set(row.id, { ...row, phoneHash: to });
    }
    for (const [id, e] of t.erasures) {
      if (e.subjectHash !== from) continue;
      const clash =
        e.status === 'open' &&
        [...t.erasures.values()].some((x) => x.subjectHash === to && x.status === 'open');
      if (!clash) t.erasures.set(id, { ...e, subjectHash: to });
    }
  }
}

/** Rewraps, reseals (compare-and-set), archived lookup keys (upsert) and progress (from `expect`). */
export function applyRotation(t: RotationTables, unit: WriteUnit): void {
  for (const r of unit.rewrap ?? []) {
    const row = t.subjects.get(r.id);
    if (row && row.dekWrapped === r.from) t.subjects.set(r.id, { ...row, dekWrapped: r.to });
  }
  for (const r of unit.reseal ?? []) {
    const row = t.deadEvents.get(r.id);
    if (row && row.payloadEnc === r.from) t.deadEvents.set(r.id, { ...row, payloadEnc: r.to });
  }
  for (const k of unit.lookupKeys ?? []) {
    const stored = t.lookupKeys.get(k.id);
    t.lookupKeys.set(k.id, { ...k, createdAt: stored?.createdAt ?? k.createdAt });
  }
  const kr = unit.keyRotation;
  if (!kr) return;
  const stored = t.rotations.get(kr.row.keyId);
  const e = kr.expect;
  if (
    e === null
      ? !stored
      : stored?.phase === e.phase && stored.cursor === e.cursor && stored.fromKeys === e.fromKeys
  )
    t.rotations.set(kr.row.keyId, { ...kr.row });
}
