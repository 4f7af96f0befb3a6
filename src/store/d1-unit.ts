/**
 * One WriteUnit on D1, in three steps: read a snapshot (one read batch), decide from it whether
 * the unit is a duplicate or a conflict, then build every write as one list of statements for a
 * single `db.batch` (one transaction). Statements that would silently go wrong if the snapshot
 * went stale are written so that they fail the batch instead (see `d1-sql.ts`); the caller
 * re-reads and retries then.
 */
import type { D1Database, D1PreparedStatement } from '@cloudflare/workers-types/index.ts';
import type { PurposeState, TextRow } from '../core/types.ts';
import { chainEventsAsync, type LedgerHead } from './chain.ts';
import { GUARD, READ, WRITE } from './d1-sql.ts';
import {
  type CommitResult,
  ERASED,
  identifierTaken,
  STALE_STATE,
  sameState,
  type WriteUnit,
} from './port.ts';
import { stateColumns, unitStatements } from './sql.ts';
import { toState } from './sqlite-rows.ts';

/** What the decisions of one unit depend on, as read in one consistent batch. */
export interface Snapshot {
  head: LedgerHead | null;
  /** the unit's dedupe keys (and former dedupe keys) that are already recorded */
  seenKeys: string[];
  subjectExists: boolean;
  /** [version, sha256] of the unit's text versions that are recorded */
  texts: Array<[string, string]>;
  /** the unit's erasures as stored, plus the open erasures they could clash with */
  erasures: Array<{ id: string; subjectHash: string; status: string }>;
  /** the stored state rows of the people in `expectStates` */
  states: PurposeState[];
  /** [hash, subject id] of the unit's identifiers that are stored */
  owners: Array<[string, string]>;
  /** the unit's `guardTombstones` that have a tombstone */
  tombstoned: string[];
}

/** A decided unit: the result to return once `statements` (possibly none) ran in one batch. */
export interface Plan {
  result: CommitResult;
  statements: D1PreparedStatement[];
}

const json = (values: Iterable<string>) => JSON.stringify([...new Set(values)]);

/**
 * Reads everything the unit's decisions depend on, in one batch so the reads agree with each other.
 *
 * @example
 * const snap = await readSnapshot(db, unit);
 */
export async function readSnapshot(db: D1Database, unit: WriteUnit): Promise<Snapshot> {
  const snap: Snapshot = {
    head: null,
    seenKeys: [],
    subjectExists: false,
    texts: [],
    erasures: [],
    states: [],
    owners: [],
    tombstoned: [],
  };
  const reads: Array<{ stmt: D1PreparedStatement; take: (rows: Array<Record<string, unknown>>) => void }> =
    [];
  if ((unit.events ?? []).length > 0) {
    reads.push({
      stmt: db.prepare(READ.head),
      take: ([r]) => {
        snap.head = r ? { seq: Number(r.seq), hash: String(r.hash) } : null;
      },
    });
  }
  const keys = [...(unit.dedupeKeys ?? []), ...(unit.formerDedupeKeys ?? [])];
  if (keys.length > 0) {
    reads.push({
      stmt: db.prepare(READ.seenKeys).bind(json(keys)),
      take: (rows) => {
        snap.seenKeys = rows.map((r) => String(r.key));
      },
    });
  }
  const idHashes = (unit.identifiers ?? []).map((i) => i.hash);
  if (idHashes.length > 0) {
    reads.push({
      stmt: db.prepare(READ.identifierOwners).bind(json(idHashes)),
      take: (rows) => {
        snap.owners = rows.map((r) => [String(r.hash), String(r.subject_id)]);
      },
    });
  }
  if ((unit.guardTombstones ?? []).length > 0) {
    reads.push({
      stmt: db.prepare(READ.tombstoned).bind(json(unit.guardTombstones ?? [])),
      take: (rows) => {
        snap.tombstoned = rows.map((r) => String(r.subject_hash));
      },
    });
  }
  if (unit.newSubject) {
    reads.push({
      stmt: db.prepare(READ.subjectOrIdentifier).bind(unit.newSubject.phoneHash),
      take: (rows) => {
        snap.subjectExists = rows.length > 0;
      },
    });
  }
  if ((unit.texts ?? []).length > 0) {
    reads.push({
      stmt: db.prepare(READ.textShas).bind(json((unit.texts ?? []).map((t) => t.version))),
      take: (rows) => {
        snap.texts = rows.map((r) => [String(r.version), String(r.sha256)]);
      },
    });
  }
  const erasures = unit.erasures ?? [];
  if (erasures.length > 0) {
    reads.push({
      stmt: db
        .prepare(READ.erasures)
        .bind(json(erasures.map((e) => e.id)), json(erasures.map((e) => e.subjectHash))),
      take: (rows) => {
        snap.erasures = rows.map((r) => ({
          id: String(r.id),
          subjectHash: String(r.subject_hash),
          status: String(r.status),
        }));
      },
    });
  }
  for (const subjectId of new Set((unit.expectStates ?? []).map((e) => e.subjectId))) {
    reads.push({
      stmt: db.prepare(READ.statesOf).bind(subjectId),
      take: (rows) => {
        snap.states.push(...rows.map(toState));
      },
    });
  }
  if (reads.length === 0) return snap;
  const results = await db.batch<Record<string, unknown>>(reads.map((r) => r.stmt));
  reads.forEach((r, i) => {
    r.take(results[i]?.results ?? []);
  });
  return snap;
}

/** True when two snapshots would lead to the same decisions and the same chaining. */
export function sameSnapshot(a: Snapshot, b: Snapshot): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Duplicate or conflict from the snapshot, checked in the order `sqlite-unit.ts` applies them;
 * otherwise the texts to insert (new versions, each once).
 */
function decide(unit: WriteUnit, snap: Snapshot): CommitResult | { newTexts: TextRow[] } {
  const seen = new Set(snap.seenKeys);
  const keys = [...(unit.dedupeKeys ?? []), ...(unit.formerDedupeKeys ?? [])];
  if (keys.some((k) => seen.has(k))) return { status: 'duplicate' };
  for (const e of unit.expectStates ?? []) {
    const stored = snap.states.find((s) => s.subjectId === e.subjectId && s.purpose === e.purpose);
    if (!sameState(stored, e.state)) return { ...STALE_STATE };
  }
  if (snap.tombstoned.length > 0) return { ...ERASED };
  const owners = new Map(snap.owners);
  const taken = identifierTaken(unit, (hash) => owners.get(hash));
  if (taken) return taken;
  if (unit.newSubject && snap.subjectExists) {
    return { status: 'conflict', reason: 'subject_exists', detail: 'a subject with this phone hash exists' };
  }
  const shas = new Map(snap.texts);
  const newTexts: TextRow[] = [];
  for (const t of unit.texts ?? []) {
    const existing = shas.get(t.version);
    if (existing === undefined) {
      shas.set(t.version, t.sha256);
      newTexts.push(t);
    } else if (existing !== t.sha256) {
      return {
        status: 'conflict',
        reason: 'text_version_changed',
        detail: `text version ${t.version} is already recorded with another sha256`,
      };
    }
  }
  // Replays the upserts against the unique index "one open erasure per subject_hash"; an upsert
  // keeps the stored subject_hash of an existing id.
  const rows = new Map(snap.erasures.map((e) => [e.id, e]));
  for (const e of unit.erasures ?? []) {
    const subjectHash = rows.get(e.id)?.subjectHash ?? e.subjectHash;
    const clash = [...rows.values()].some(
      (r) => r.id !== e.id && r.subjectHash === subjectHash && r.status === 'open',
    );
    if (e.status === 'open' && clash) {
      return {
        status: 'conflict',
        reason: 'erasure_open',
        detail: 'an erasure is already open for this person',
      };
    }
    rows.set(e.id, { id: e.id, subjectHash, status: e.status });
  }
  return { newTexts };
}

/**
 * Decides the unit against `snap` and builds its writes, in the order `sqlite-unit.ts` applies
 * them, led by the race guards. Hashes the events only when the unit will be written.
 *
 * @example
 * const plan = await planUnit(db, unit, await readSnapshot(db, unit), new Date().toISOString());
 * if (plan.statements.length > 0) await db.batch(plan.statements);
 */
export async function planUnit(db: D1Database, unit: WriteUnit, snap: Snapshot, now: string): Promise<Plan> {
  const decided = decide(unit, snap);
  if ('status' in decided) return { result: decided, statements: [] };

  const out: D1PreparedStatement[] = [];
  const add = (sql: string, ...values: unknown[]) => {
    out.push(db.prepare(sql).bind(...values));
  };

  const records = await chainEventsAsync(snap.head, unit.events ?? []);
  if (records.length > 0) {
    if (snap.head) add(GUARD.headIs, snap.head.seq, snap.head.hash);
    else add(GUARD.headIsEmpty);
  }

  // The states the decision was made from must still be the stored ones when the batch runs.
  for (const e of unit.expectStates ?? []) {
    if (e.state)
      add(GUARD.stateIs, ...stateColumns({ ...e.state, subjectId: e.subjectId, purpose: e.purpose }));
    else add(GUARD.stateIsAbsent, e.subjectId, e.purpose);
  }
  // No erasure and no other person took the unit's identifiers since the snapshot.
  if ((unit.guardTombstones ?? []).length > 0) add(GUARD.notTombstoned, json(unit.guardTombstones ?? []));
  for (const i of unit.identifiers ?? []) {
    const allowed = [
      i.subjectId,
      ...(unit.merges ?? []).filter((m) => m.into === i.subjectId).map((m) => m.from),
    ];
    add(GUARD.identifierOwnedBy, i.hash, JSON.stringify(allowed));
  }
  for (const key of new Set(unit.dedupeKeys ?? [])) add(WRITE.dedupe, key, now);
  for (const [sql, args] of unitStatements(unit, records, decided.newTexts, now)) add(sql, ...args);

  return { result: { status: 'committed', events: records }, statements: out };
}
