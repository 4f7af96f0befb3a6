/**
 * Writes one WriteUnit with node:sqlite, inside a savepoint the caller opened. Returning a
 * non-`committed` result (or throwing) tells the caller to roll the savepoint back, so nothing here
 * needs to undo its own writes.
 */
import type { StatementSync } from 'node:sqlite';
import type { LedgerRecord, TextRow } from '../core/types.ts';
import { chainEvents, type LedgerHead } from './chain.node.ts';
import { KEY_ROTATION_SQL } from './key-rotation-sql.ts';
import {
  type CommitResult,
  ERASED,
  identifierTaken,
  STALE_STATE,
  sameState,
  type WriteUnit,
} from './port.ts';
import { UNIT_SQL, unitStatements } from './sql.ts';
import { toState } from './sqlite-rows.ts';

/** What `applyUnit` needs from the store: cached statements and the clock. */
export interface UnitContext {
  stmt(sql: string): StatementSync;
  now(): string;
}

const SQL = {
  ...UNIT_SQL,
  dedupe: 'INSERT INTO inbound_dedupe (key, received_at) VALUES (?, ?) ON CONFLICT(key) DO NOTHING',
  subjectByHash:
    'SELECT 1 FROM subjects WHERE phone_hash = ?1 UNION ALL SELECT 1 FROM subject_identifiers WHERE hash = ?1',
  identifierOwner: 'SELECT subject_id FROM subject_identifiers WHERE hash = ?',
  tombstone: 'SELECT 1 FROM tombstones WHERE subject_hash = ?',
  states: 'SELECT * FROM consent_state WHERE subject_id = ?',
  textSha: 'SELECT sha256 FROM consent_texts WHERE version = ?',
  seenKey: KEY_ROTATION_SQL.seenKey,
} as const;

/** Result of one unit plus the ledger head after it (unchanged unless committed with events). */
export interface UnitOutcome {
  result: CommitResult;
  head: LedgerHead | null;
}

/**
 * Applies `unit` in the order the port documents: dedupe, expected states, new subject, subject updates, texts,
 * events, states, jobs, sent messages, audit. Checks that can fail come before the ledger so a
 * conflicting unit never hashes events it will throw away.
 *
 * @example
 * db.exec('SAVEPOINT u');
 * const { result, head: next } = applyUnit(ctx, unit, head);
 */
export function applyUnit(ctx: UnitContext, unit: WriteUnit, head: LedgerHead | null): UnitOutcome {
  const now = ctx.now();
  // A key repeated inside one unit is one key, not a duplicate of itself.
  for (const key of new Set(unit.dedupeKeys ?? [])) {
    if (ctx.stmt(SQL.dedupe).run(key, now).changes === 0) return { result: { status: 'duplicate' }, head };
  }
  for (const key of unit.formerDedupeKeys ?? []) {
    if (ctx.stmt(SQL.seenKey).get(key)) return { result: { status: 'duplicate' }, head };
  }
  // Another process may have changed the person since the decision read their state: one read
  // of the person's rows however many purposes the decision expected.
  const stored = new Map<string, Map<string, Record<string, unknown>>>();
  for (const e of unit.expectStates ?? []) {
    let rows = stored.get(e.subjectId);
    if (!rows) {
      rows = new Map(
        ctx
          .stmt(SQL.states)
          .all(e.subjectId)
          .map((r) => [String(r.purpose), r]),
      );
      stored.set(e.subjectId, rows);
    }
    const row = rows.get(e.purpose);
    if (!sameState(row ? toState(row) : null, e.state)) return { result: { ...STALE_STATE }, head };
  }

  // An erasure committed since the decision read the person (item: erasure between read and commit).
  for (const hash of new Set(unit.guardTombstones ?? [])) {
    if (ctx.stmt(SQL.tombstone).get(hash)) return { result: { ...ERASED }, head };
  }
  const taken = identifierTaken(unit, (hash) => {
    const row = ctx.stmt(SQL.identifierOwner).get(hash);
    return row ? String(row.subject_id) : null;
  });
  if (taken) return { result: taken, head };

  const s = unit.newSubject;
  if (s && ctx.stmt(SQL.subjectByHash).get(s.phoneHash)) {
    return {
      result: {
        status: 'conflict',
        reason: 'subject_exists',
        detail: 'a subject with this phone hash exists',
      },
      head,
    };
  }

  const newTexts: TextRow[] = [];
  for (const t of unit.texts ?? []) {
    const existing = ctx.stmt(SQL.textSha).get(t.version);
    if (!existing) newTexts.push(t);
    else if (existing.sha256 !== t.sha256) {
      return {
        result: {
          status: 'conflict',
          reason: 'text_version_changed',
          detail: `text version ${t.version} is already recorded with another sha256`,
        },
        head,
      };
    }
  }

  const records: LedgerRecord[] = chainEvents(head, unit.events ?? []);
  // The ledger head is written once per group commit by the store (`flush`), not once per unit.
  for (const [sql, args] of unitStatements(unit, records, newTexts, now, false)) {
    try {
      ctx.stmt(sql).run(...args);
    } catch (err) {
      // The unique index erasures_open: a second open erasure for the same person.
      if (sql !== SQL.upsertErasure || !/UNIQUE/.test((err as Error).message)) throw err;
      return {
        result: {
          status: 'conflict',
          reason: 'erasure_open',
          detail: 'an erasure is already open for this person',
        },
        head,
      };
    }
  }
  const last = records.at(-1);
  const nextHead = last ? { seq: last.seq, hash: last.hash } : head;

  return { result: { status: 'committed', events: records }, head: nextHead };
}
