/**
 * The in-memory store's tables and how one WriteUnit is applied to them. Split from `memory.ts`
 * to keep files small; `apply` mirrors `sqlite-unit.ts` rule for rule.
 */

import type {
  AuditEntry,
  CrmLink,
  DeadEventRow,
  ErasedRecord,
  ErasureRow,
  ErasureTask,
  IdentifierRow,
  LedgerRecord,
  OutboxJob,
  PurposeState,
  SubjectRow,
  SyncWrite,
  TextRow,
  Tombstone,
} from '../core/types.ts';
import type { ApiKeyRow } from './api-keys-sql.ts';
import { chainEvents, type LedgerHead } from './chain.node.ts';
import type { InboxRow } from './inbox-sql.ts';
import type { KeyRotationRow, LookupKeyRow } from './key-rotation-sql.ts';
import { applyRehash, applyRotation, seenFormerKey } from './memory-rotation.ts';
import {
  type CommitResult,
  DEAD_EVENTS_KEPT,
  ERASED,
  identifierTaken,
  type SentMessage,
  STALE_STATE,
  sameState,
  type WriteUnit,
} from './port.ts';

/** One Map per table, plus the unique indexes SQLite would enforce. */
export interface Tables {
  subjects: Map<string, SubjectRow>;
  subjectByHash: Map<string, string>;
  /** keyed by hash */
  identifiers: Map<string, IdentifierRow>;
  /** keyed by id */
  deadEvents: Map<string, DeadEventRow>;
  /** keyed by id, in insertion order */
  inbox: Map<string, InboxRow>;
  ledger: LedgerRecord[];
  eventIds: Set<string>;
  head: LedgerHead | null;
  /** keyed by `${subjectId}\u0000${purpose}` */
  states: Map<string, PurposeState>;
  texts: Map<string, TextRow>;
  dedupe: Map<string, string>;
  jobs: Map<string, OutboxJob>;
  jobKeys: Set<string>;
  sent: Map<string, SentMessage>;
  audit: Map<string, AuditEntry>;
  /** keyed by `${connector}\u0000${objectType}\u0000${remoteId}` */
  links: Map<string, CrmLink>;
  /** keyed like links, plus `\u0000${property}` */
  syncWrites: Map<string, SyncWrite>;
  /** coalesce key of each job that has one */
  jobCoalesce: Map<string, string>;
  erasures: Map<string, ErasureRow>;
  /** keyed by `${erasureId}\u0000${system}` */
  tasks: Map<string, ErasureTask>;
  tombstones: Map<string, Tombstone>;
  /** keyed like links */
  erased: Map<string, ErasedRecord>;
  /** keyed by id */
  apiKeys: Map<string, ApiKeyRow>;
  /** keyed by id */
  lookupKeys: Map<string, LookupKeyRow>;
  /** keyed by keyId */
  rotations: Map<string, KeyRotationRow>;
}

export const linkKey = (connector: string, objectType: string, remoteId: string) =>
  `${connector}\u0000${objectType}\u0000${remoteId}`;

export function emptyTables(): Tables {
  return {
    subjects: new Map(),
    subjectByHash: new Map(),
    identifiers: new Map(),
    deadEvents: new Map(),
    inbox: new Map(),
    ledger: [],
    eventIds: new Set(),
    head: null,
    states: new Map(),
    texts: new Map(),
    dedupe: new Map(),
    jobs: new Map(),
    jobKeys: new Set(),
    sent: new Map(),
    audit: new Map(),
    links: new Map(),
    syncWrites: new Map(),
    jobCoalesce: new Map(),
    erasures: new Map(),
    tasks: new Map(),
    tombstones: new Map(),
    erased: new Map(),
    apiKeys: new Map(),
    lookupKeys: new Map(),
    rotations: new Map(),
  };
}

/** Shallow copies: rows are never mutated in place, only replaced, so sharing them is safe. */
export function copyTables(t: Tables): Tables {
  return {
    subjects: new Map(t.subjects),
    subjectByHash: new Map(t.subjectByHash),
    identifiers: new Map(t.identifiers),
    deadEvents: new Map(t.deadEvents),
    inbox: new Map(t.inbox),
    ledger: [...t.ledger],
    eventIds: new Set(t.eventIds),
    head: t.head,
    states: new Map(t.states),
    texts: new Map(t.texts),
    dedupe: new Map(t.dedupe),
    jobs: new Map(t.jobs),
    jobKeys: new Set(t.jobKeys),
    sent: new Map(t.sent),
    audit: new Map(t.audit),
    links: new Map(t.links),
    syncWrites: new Map(t.syncWrites),
    jobCoalesce: new Map(t.jobCoalesce),
    erasures: new Map(t.erasures),
    tasks: new Map(t.tasks),
    tombstones: new Map(t.tombstones),
    erased: new Map(t.erased),
    apiKeys: new Map(t.apiKeys),
    lookupKeys: new Map(t.lookupKeys),
    rotations: new Map(t.rotations),
  };
}

/** Round-trips a JSON column the way SQLite storage does (drops undefined, turns Dates into strings). */
export function json<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

/** Compares like SQLite's BINARY collation does for the ASCII timestamps and ids we store. */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Throws like a violated UNIQUE constraint would, so the unit fails as it would on SQLite. */
function unique(exists: boolean, what: string): void {
  if (exists) throw new Error(`UNIQUE constraint failed: ${what}`);
}

/** Applies `unit` to `t` in place; the caller passes a copy and keeps it only when committed. */
export function apply(t: Tables, unit: WriteUnit, now: string): CommitResult {
  for (const key of new Set(unit.dedupeKeys ?? [])) {
    if (t.dedupe.has(key)) return { status: 'duplicate' };
    t.dedupe.set(key, now);
  }
  if (seenFormerKey(t, unit)) return { status: 'duplicate' };
  for (const e of unit.expectStates ?? []) {
    if (!sameState(t.states.get(`${e.subjectId}\u0000${e.purpose}`), e.state)) return { ...STALE_STATE };
  }
  for (const hash of new Set(unit.guardTombstones ?? [])) if (t.tombstones.has(hash)) return { ...ERASED };
  const taken = identifierTaken(unit, (hash) => t.identifiers.get(hash)?.subjectId);
  if (taken) return taken;
  applyRehash(t, unit);
  const s = unit.newSubject;
  if (s) {
    if (t.subjectByHash.has(s.phoneHash) || t.identifiers.has(s.phoneHash)) {
      return {
        status: 'conflict',
        reason: 'subject_exists',
        detail: 'a subject with this phone hash exists',
      };
    }
    unique(t.subjects.has(s.id), 'subjects.id');
    t.subjects.set(s.id, structuredClone(s));
    t.subjectByHash.set(s.phoneHash, s.id);
  }
  for (const m of unit.merges ?? []) {
    for (const [h, i] of t.identifiers)
      if (i.subjectId === m.from) t.identifiers.set(h, { ...i, subjectId: m.into, updatedAt: now });
    for (const [k, l] of t.links) if (l.subjectId === m.from) t.links.set(k, { ...l, subjectId: m.into });
    for (const [k, x] of t.sent) if (x.subjectId === m.from) t.sent.set(k, { ...x, subjectId: m.into });
    for (const [k, st] of t.states) if (st.subjectId === m.from) t.states.delete(k);
    cancelJobs(t, m.from, now, 'cancelled: person merged into another record');
    for (const [id, row] of t.subjects)
      if (id === m.from || row.mergedInto === m.from) t.subjects.set(id, { ...row, mergedInto: m.into });
  }
  for (const i of unit.identifiers ?? []) {
    const stored = t.identifiers.get(i.hash);
    if (stored && stored.subjectId !== i.subjectId) continue;
    t.identifiers.set(i.hash, { ...i, createdAt: stored?.createdAt ?? i.createdAt });
  }
  if (s && !t.identifiers.has(s.phoneHash)) {
    t.identifiers.set(s.phoneHash, {
      hash: s.phoneHash,
      subjectId: s.id,
      kind: 'phone',
      valueEnc: s.phoneEnc,
      status: 'active',
      createdAt: s.createdAt,
      updatedAt: s.createdAt,
    });
  }
  for (const u of unit.subjectUpdates ?? []) {
    const row = t.subjects.get(u.id);
    if (!row) continue;
    t.subjects.set(u.id, {
      ...row,
      ...(u.locale !== undefined ? { locale: u.locale } : {}),
      ...(u.privacyNoticeAt !== undefined ? { privacyNoticeAt: u.privacyNoticeAt } : {}),
      ...(u.rekey && row.dekWrapped === null
        ? { phoneEnc: u.rekey.phoneEnc, dekWrapped: u.rekey.dekWrapped }
        : {}),
    });
  }
  for (const text of unit.texts ?? []) {
    const existing = t.texts.get(text.version);
    if (!existing) t.texts.set(text.version, structuredClone(text));
    else if (existing.sha256 !== text.sha256) {
      return {
        status: 'conflict',
        reason: 'text_version_changed',
        detail: `text version ${text.version} is already recorded with another sha256`,
      };
    }
  }
  const records = chainEvents(t.head, unit.events ?? []);
  for (const r of records) {
    unique(t.eventIds.has(r.id), 'ledger.id');
    t.eventIds.add(r.id);
    t.ledger.push(r);
    t.head = { seq: r.seq, hash: r.hash };
  }
  for (const st of unit.states ?? []) t.states.set(`${st.subjectId}\u0000${st.purpose}`, structuredClone(st));
  for (const j of unit.jobs ?? []) {
    if (t.jobKeys.has(j.idempotencyKey)) continue;
    if (j.coalesceKey) {
      const waiting = [...t.jobCoalesce].some(
        ([id, key]) => key === j.coalesceKey && t.jobs.get(id)?.status === 'pending',
      );
      if (waiting) continue;
      t.jobCoalesce.set(j.id, j.coalesceKey);
    }
    unique(t.jobs.has(j.id), 'outbox.id');
    t.jobKeys.add(j.idempotencyKey);
    t.jobs.set(j.id, {
      id: j.id,
      kind: j.kind,
      subjectId: j.subjectId,
      idempotencyKey: j.idempotencyKey,
      payload: json(j.payload),
      status: 'pending',
      attempts: 0,
      nextAttemptAt: j.nextAttemptAt,
      leaseUntil: null,
      lastError: null,
      createdAt: now,
      updatedAt: now,
    });
  }
  for (const m of unit.sentMessages ?? [])
    if (!t.sent.has(m.waMessageId)) t.sent.set(m.waMessageId, { ...m });
  for (const l of unit.links ?? []) t.links.set(linkKey(l.connector, l.objectType, l.remoteId), { ...l });
  for (const l of unit.unlinks ?? []) t.links.delete(linkKey(l.connector, l.objectType, l.remoteId));
  for (const w of unit.syncWrites ?? [])
    t.syncWrites.set(`${linkKey(w.connector, w.objectType, w.remoteId)}\u0000${w.property}`, { ...w });
  const cancel = (id: string) => cancelJobs(t, id, now, 'cancelled: person erased');
  for (const id of unit.cancelJobsOf ?? []) cancel(id);
  for (const id of unit.shred ?? []) {
    cancel(id);
    const row = t.subjects.get(id);
    if (row) t.subjects.set(id, { ...row, phoneEnc: null, dekWrapped: null });
    for (const [h, i] of t.identifiers)
      if (i.subjectId === id) t.identifiers.set(h, { ...i, valueEnc: null });
    for (const [k, st] of t.states) if (st.subjectId === id) t.states.delete(k);
    for (const [k, l] of t.links) if (l.subjectId === id) t.links.delete(k);
    for (const [k, m] of t.sent) if (m.subjectId === id) t.sent.delete(k);
  }
  for (const e of unit.erasures ?? []) {
    const open = [...t.erasures.values()].find(
      (x) => x.subjectHash === e.subjectHash && x.status === 'open' && x.id !== e.id,
    );
    if (open && e.status === 'open')
      return {
        status: 'conflict',
        reason: 'erasure_open',
        detail: 'an erasure is already open for this person',
      };
    const prev = t.erasures.get(e.id);
    t.erasures.set(e.id, prev ? { ...prev, ...json(e), subjectHash: prev.subjectHash } : json(e));
  }
  for (const k of unit.erasureTasks ?? []) t.tasks.set(`${k.erasureId}\u0000${k.system}`, { ...k });
  for (const b of unit.tombstones ?? [])
    if (!t.tombstones.has(b.subjectHash)) t.tombstones.set(b.subjectHash, { ...b });
  for (const r of unit.erasedRecords ?? []) {
    const k = linkKey(r.connector, r.objectType, r.remoteId);
    if (!t.erased.has(k)) t.erased.set(k, { ...r });
  }
  for (const k of unit.apiKeys ?? []) {
    unique(t.apiKeys.has(k.id), 'api_keys.id');
    unique(
      [...t.apiKeys.values()].some((x) => x.digest === k.digest),
      'api_keys.digest',
    );
    t.apiKeys.set(k.id, { ...k });
  }
  for (const r of unit.revokeApiKeys ?? []) {
    const k = t.apiKeys.get(r.id);
    if (k && k.revokedAt === null) t.apiKeys.set(r.id, { ...k, revokedAt: r.at, revokedBy: r.by });
  }
  for (const u of unit.touchApiKeys ?? []) {
    const k = t.apiKeys.get(u.id);
    if (k && (k.lastUsedAt === null || k.lastUsedAt < u.at)) t.apiKeys.set(u.id, { ...k, lastUsedAt: u.at });
  }
  applyRotation(t, unit);
  for (const r of unit.inbox ?? [])
    if (!t.inbox.has(r.id)) t.inbox.set(r.id, { ...r, hashes: [...r.hashes] });
  for (const id of unit.inboxDone ?? []) t.inbox.delete(id);
  for (const d of unit.deadEvents ?? []) if (!t.deadEvents.has(d.id)) t.deadEvents.set(d.id, { ...d });
  if (t.deadEvents.size > DEAD_EVENTS_KEPT) {
    const newest = [...t.deadEvents.values()].sort(
      (a, b) => cmp(b.receivedAt, a.receivedAt) || cmp(b.id, a.id),
    );
    for (const d of newest.slice(DEAD_EVENTS_KEPT)) t.deadEvents.delete(d.id);
  }
  for (const a of unit.audit ?? []) {
    unique(t.audit.has(a.id), 'audit_log.id');
    t.audit.set(a.id, { ...a, details: json(a.details) });
  }
  for (const a of unit.auditCounts ?? []) {
    const row = t.audit.get(a.id);
    const count = (d: Record<string, unknown>, fallback: number) =>
      typeof d.count === 'number' ? d.count : fallback;
    t.audit.set(
      a.id,
      row
        ? {
            ...row,
            details: { ...row.details, count: count(row.details, 0) + count(a.details, 1), lastAt: a.at },
          }
        : { ...a, details: json(a.details) },
    );
  }
  return { status: 'committed', events: records.map((r) => ({ ...r })) };
}

/** Cancels a person's pending and leased jobs, except erasure jobs. */
function cancelJobs(t: Tables, id: string, now: string, why: string): void {
  for (const [jid, j] of t.jobs) {
    if (j.subjectId !== id || !['pending', 'leased'].includes(j.status) || j.kind.startsWith('erasure.'))
      continue;
    t.jobs.set(jid, { ...j, status: 'cancelled', lastError: why, leaseUntil: null, updatedAt: now });
  }
}
