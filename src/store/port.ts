import type {
  AuditEntry,
  CrmLink,
  DeadEventRow,
  ErasedRecord,
  ErasureRow,
  ErasureTask,
  IdentifierRow,
  JobStatus,
  LedgerRecord,
  NewLedgerEvent,
  NewOutboxJob,
  OutboxJob,
  PurposeState,
  SubjectRow,
  SyncWrite,
  TextRow,
  Tombstone,
} from '../core/types.ts';
import type { ApiKeyRow, InboxRow, KeyRotationRow, LookupKeyRow, RotationPhase } from './rows.ts';
import type { AuditFilter, LedgerDay, QueueStat, StateCount } from './stats-sql.ts';

/**
 * Everything one decision writes, committed atomically (one transaction / one D1 batch).
 * The store assigns ledger `seq`, `prevHash` and `hash` inside the transaction, in array order.
 */
export interface WriteUnit {
  /** When set and already seen, nothing in the unit is written and the result is `duplicate`. */
  dedupeKeys?: string[];
  /**
   * The same inbound ids hashed under retired PII keys (an event acknowledged before a rotation and
   * redelivered after it): when any is recorded the result is `duplicate`; none is ever written.
   */
  formerDedupeKeys?: string[];
  /**
   * Lookup hashes moved to the current key (`from` → `to`), applied before every other write of the
   * unit: identifiers (a row that exists under `to` already wins and the `from` row goes), subjects'
   * `phoneHash`, erasures' `subjectHash`; a tombstone on `from` is copied to `to` (and kept).
   */
  rehash?: Array<{ from: string; to: string }>;
  /** Data keys re-wrapped under the current KEK: set to `to` only while the stored value is `from`. */
  rewrap?: Array<{ id: string; from: string; to: string }>;
  /** Dead events sealed again under the current key: `to` only while the stored payload is `from`. */
  reseal?: Array<{ id: string; from: string; to: string }>;
  /** Retired keys' wrapped lookup keys, upserted by id. */
  lookupKeys?: LookupKeyRow[];
  /**
   * A rotation's progress: inserted when `expect` is null and no row exists; else updated only while
   * the stored row is still at `expect` (another runner that moved it first wins; nothing fails).
   */
  keyRotation?: {
    row: KeyRotationRow;
    expect: { phase: RotationPhase; cursor: string; fromKeys: string } | null;
  };
  /** Inserted when no subject with that `phoneHash` exists (else the result is `conflict`). */
  newSubject?: SubjectRow;
  /** Partial updates of existing subjects. */
  subjectUpdates?: Array<{
    id: string;
    locale?: string | null;
    privacyNoticeAt?: string | null;
    /** a new key and number for a person shredded by retention who comes back (never after an erasure) */
    rekey?: { phoneEnc: string | null; dekWrapped: string };
  }>;
  /**
   * Upserted by hash. A hash that belongs to another subject fails the unit (`conflict` /
   * `identifier_taken`) unless that subject is merged into this one by the same unit. A new
   * subject's own hash gets a `phone` identifier from `newSubject` when this list has no row for it.
   */
  identifiers?: IdentifierRow[];
  /**
   * Two subjects found to be one person: `from`'s identifiers, CRM links and sent-message ids move
   * to `into`, its states are deleted (the unit writes the merged states of `into`), its open
   * jobs are cancelled, and it points at `into` from then on. Its ledger events stay as they are.
   */
  merges?: Array<{ from: string; into: string }>;
  /** When any of these identifier hashes has a tombstone, nothing is written (`conflict` / `erased`). */
  guardTombstones?: string[];
  /** Inserted; the table keeps the newest `DEAD_EVENTS_KEPT` rows. */
  deadEvents?: DeadEventRow[];
  events?: NewLedgerEvent[];
  /**
   * Optimistic concurrency for consent decisions: the state rows a decision was made from, per
   * (subjectId, purpose), `null` for "no row". When a stored row differs (another process or
   * isolate changed that person's consent since it was read), nothing is written and the result is
   * `conflict` / `stale_state`; the caller reads again and decides again. Checked after dedupe keys.
   */
  expectStates?: ExpectedState[];
  /** Upserted by (subjectId, purpose). */
  states?: PurposeState[];
  /** Inserted; a job whose idempotencyKey exists already is skipped. */
  jobs?: NewOutboxJob[];
  /** Inserted when the version is new; an existing version with another sha256 fails the unit. */
  texts?: TextRow[];
  sentMessages?: SentMessage[];
  audit?: AuditEntry[];
  /**
   * Audit rows that count a repeated event (failed sign-ins per client address and hour): inserted
   * when the id is new; otherwise `details.count` grows by this entry's count and `details.lastAt`
   * becomes its `at` (the row keeps its first `at`). One row per window, however many attempts.
   */
  auditCounts?: AuditEntry[];
  /** Upserted by (connector, objectType, remoteId). */
  links?: CrmLink[];
  /** Deleted (a record gone from the CRM, or the person erased). */
  unlinks?: Array<Pick<CrmLink, 'connector' | 'objectType' | 'remoteId'>>;
  /** Upserted by (connector, objectType, remoteId, property). */
  syncWrites?: SyncWrite[];
  /** Upserted by id. A second open erasure for the same subjectHash fails the unit (`conflict`). */
  erasures?: ErasureRow[];
  /** Upserted by (erasureId, system). */
  erasureTasks?: ErasureTask[];
  /** Inserted (ignored when the hash has one). */
  tombstones?: Tombstone[];
  erasedRecords?: ErasedRecord[];
  /** Cancels the people's pending and leased jobs, except erasure jobs. */
  cancelJobsOf?: string[];
  /**
   * Crypto-shreds people: their wrapped key and encrypted number are destroyed (ledger events stay,
   * chained but unreadable); their states, CRM links and sent-message ids are deleted.
   */
  shred?: string[];
  /** Inserted: API keys made through the API (only the token's SHA-256). */
  apiKeys?: ApiKeyRow[];
  /** Revokes keys; a key already revoked keeps its first revocation. */
  revokeApiKeys?: Array<{ id: string; at: string; by: string }>;
  /** Sets `lastUsedAt` (only forwards). */
  touchApiKeys?: Array<{ id: string; at: string }>;
  /** Appended to the durable inbox of undecided webhook events (an existing id is kept). */
  inbox?: InboxRow[];
  /** Inbox rows decided by this unit: deleted in the same commit that applies them. */
  inboxDone?: string[];
}

/** One state row a decision was made from (`state: null`: the person had no row for the purpose). */
export interface ExpectedState {
  subjectId: string;
  purpose: string;
  state: PurposeState | null;
}

/** Whether a stored state row is the one a decision expected (every column compared). */
export function sameState(stored: PurposeState | null | undefined, expected: PurposeState | null): boolean {
  if (!stored || !expected) return !stored && !expected;
  return (
    stored.status === expected.status &&
    stored.changedAt === expected.changedAt &&
    stored.source === expected.source &&
    stored.statusBeforePending === expected.statusBeforePending &&
    stored.pendingExpiresAt === expected.pendingExpiresAt &&
    stored.doubleOptInAt === expected.doubleOptInAt &&
    stored.textVersion === expected.textVersion &&
    stored.occurredAt === expected.occurredAt &&
    stored.withdrawnAt === expected.withdrawnAt &&
    stored.crmOptedOutAt === expected.crmOptedOutAt &&
    stored.crmGrantedAt === expected.crmGrantedAt &&
    stored.requestedAt === expected.requestedAt
  );
}

/** How many unreadable events the dead-event table keeps (the oldest go first). */
export const DEAD_EVENTS_KEPT = 10_000;

export const STALE_STATE = {
  status: 'conflict',
  reason: 'stale_state',
  detail: "the person's consent changed since it was read",
} as const;

export const ERASED = {
  status: 'conflict',
  reason: 'erased',
  detail: 'the person was erased meanwhile',
} as const;

/**
 * The `identifier_taken` conflict when one of the unit's identifiers belongs to another subject
 * (`owner` reads the stored owner of a hash), unless the unit merges that subject into this one.
 */
export function identifierTaken(
  unit: WriteUnit,
  owner: (hash: string) => string | null | undefined,
): CommitResult | null {
  const merged = new Map((unit.merges ?? []).map((m) => [m.from, m.into]));
  for (const i of unit.identifiers ?? []) {
    const stored = owner(i.hash);
    if (!stored || stored === i.subjectId || merged.get(stored) === i.subjectId) continue;
    return {
      status: 'conflict',
      reason: 'identifier_taken',
      detail: 'an identifier of this change belongs to another person',
    };
  }
  return null;
}

export type CommitResult =
  | { status: 'committed'; events: LedgerRecord[] }
  | { status: 'duplicate' }
  | {
      status: 'conflict';
      reason:
        | 'subject_exists'
        | 'text_version_changed'
        | 'erasure_open'
        | 'stale_state'
        | 'identifier_taken'
        | 'erased';
      detail: string;
    };

export interface SentMessage {
  waMessageId: string;
  subjectId: string;
  purpose: string | null;
  kind: string;
  sentAt: string;
}

export interface JobFilter {
  status?: JobStatus;
  kind?: string;
  subjectId?: string;
  limit?: number;
  /** return jobs with id greater than this (paging) */
  after?: string;
}

/** Cutoffs (ISO); a null cutoff keeps that kind for ever. */
export interface RetentionCutoffs {
  finishedJobs: string | null;
  deadLetters: string | null;
  inboundDedupe: string | null;
  sentMessages: string | null;
  syncWrites: string | null;
  deadEvents: string | null;
  /** audit log entries (`at`) */
  audit: string | null;
}

/** A purge report with every kind at zero (each adapter adds what it deleted). */
export function noneDeleted(): Record<keyof RetentionCutoffs, number> {
  return {
    finishedJobs: 0,
    deadLetters: 0,
    inboundDedupe: 0,
    sentMessages: 0,
    syncWrites: 0,
    deadEvents: 0,
    audit: 0,
  };
}

/** How a leased job ended. */
export type JobOutcome =
  | { status: 'done' }
  | { status: 'retry'; error: string; nextAttemptAt: string }
  | { status: 'dead'; error: string };

/**
 * The store port. Implementations: SQLite (`node:sqlite`), in-memory (unit tests), D1 (Workers).
 * All must pass `test/store-contract.ts`.
 */
export interface Store {
  /** Applies pending migrations; safe to call on every start. */
  migrate(): Promise<void>;
  close(): Promise<void>;

  /**
   * The subject an identifier hash belongs to (shredded subjects included). Given several hashes
   * (one value under each PII key: `Subjects.hashesOf`), the first one found in list order.
   */
  findSubjectByHash(hashes: string | readonly string[]): Promise<SubjectRow | null>;
  /** The stored identifiers with these hashes (any subject). */
  identifiersByHash(hashes: string[]): Promise<IdentifierRow[]>;
  /** Every identifier of these subjects, oldest first. */
  identifiersOf(subjectIds: string[]): Promise<IdentifierRow[]>;
  /** The subjects merged into this one (directly or through others), oldest first. */
  mergedInto(subjectId: string): Promise<SubjectRow[]>;
  /** Unreadable webhook events, newest first. */
  listDeadEvents(limit: number): Promise<DeadEventRow[]>;
  countDeadEvents(): Promise<number>;
  getSubject(id: string): Promise<SubjectRow | null>;

  getStates(subjectId: string): Promise<PurposeState[]>;
  /** Pending states whose `pendingExpiresAt` <= now, oldest first. */
  findExpiredPending(now: string, limit: number): Promise<PurposeState[]>;

  /** A subject's ledger events, in seq order. */
  listEvents(subjectId: string): Promise<LedgerRecord[]>;
  /** Ledger events with seq > afterSeq, in seq order (for verification, paged). */
  readLedger(afterSeq: number, limit: number): Promise<LedgerRecord[]>;
  ledgerHead(): Promise<{ seq: number; hash: string } | null>;

  getTexts(versions: string[]): Promise<TextRow[]>;
  allTexts(): Promise<TextRow[]>;

  /** The sent message with this (hashed) id, or with the first of these ids found. */
  findSentMessage(waMessageIds: string | readonly string[]): Promise<SentMessage | null>;

  commit(unit: WriteUnit): Promise<CommitResult>;

  /**
   * Leases up to `limit` due jobs (status pending with nextAttemptAt <= now, or leased with an
   * expired lease) of the given kinds, oldest first; sets status `leased` and leaseUntil.
   */
  leaseJobs(kinds: string[], now: string, leaseUntil: string, limit: number): Promise<OutboxJob[]>;
  /** Records how a leased job ended (attempts + 1). */
  finishJob(id: string, outcome: JobOutcome, now: string): Promise<void>;
  /** `finishJob` for a whole batch, atomically. */
  finishJobs(items: Array<{ id: string; outcome: JobOutcome }>, now: string): Promise<void>;
  getJob(id: string): Promise<OutboxJob | null>;
  listJobs(filter: JobFilter): Promise<OutboxJob[]>;
  /** Puts a dead (or cancelled) job back to pending, due now. Returns false when not dead. */
  requeueJob(id: string, now: string): Promise<boolean>;
  countJobs(): Promise<Record<JobStatus, number>>;

  /** Newest first; the filter (console) narrows by actor, action and time. */
  listAudit(limit: number, filter?: AuditFilter): Promise<AuditEntry[]>;

  /** Subjects in id order after `afterId` (reconciliation pages through everyone). */
  listSubjects(afterId: string, limit: number): Promise<SubjectRow[]>;
  /** Every CRM record linked to a person. */
  linksOf(subjectId: string): Promise<CrmLink[]>;
  /** Batch reads for sync batches: many people in one query each. */
  getSubjects(ids: string[]): Promise<SubjectRow[]>;
  getStatesFor(subjectIds: string[]): Promise<PurposeState[]>;
  linksFor(subjectIds: string[]): Promise<CrmLink[]>;
  findLink(connector: string, objectType: string, remoteId: string): Promise<CrmLink | null>;
  /** The open erasure of a subject hash (or of any of several). */
  findOpenErasure(subjectHashes: string | readonly string[]): Promise<ErasureRow | null>;
  getErasure(id: string): Promise<ErasureRow | null>;
  /** Newest first; `overdueAt`: only open ones due before it. */
  listErasures(filter: {
    status?: 'open' | 'completed';
    overdueAt?: string;
    limit: number;
  }): Promise<ErasureRow[]>;
  erasureTasks(erasureId: string): Promise<ErasureTask[]>;
  /** Every erasure of a subject hash (or of any of several), oldest first. */
  erasuresOf(subjectHashes: string | readonly string[]): Promise<ErasureRow[]>;
  tombstonesFor(subjectHashes: string[]): Promise<Tombstone[]>;
  findErasedRecord(connector: string, objectType: string, remoteId: string): Promise<ErasedRecord | null>;
  /** Deletes operational records older than each cutoff (retention); counts per kind. */
  purge(cutoffs: RetentionCutoffs): Promise<Record<keyof RetentionCutoffs, number>>;
  /**
   * Removes what deleted rows leave behind in the storage files (after a crypto-shred): SQLite
   * empties its WAL, whose old page images still hold the wrapped key. True when nothing is left
   * to remove. Optional: a store with no files of its own has nothing to do.
   */
  scrub?(): Promise<boolean>;
  /**
   * People who never consented and never opted out (every state `none`, e.g. an expired double
   * opt-in) and whose last change is before `before`: their number has no proof to support.
   */
  findUnconfirmed(before: string, limit: number): Promise<string[]>;
  /** What we last wrote to a record, per property. */
  syncWritesOf(connector: string, objectType: string, remoteId: string): Promise<SyncWrite[]>;
  /** Open jobs (pending, leased, dead) per kind and status: count and oldest `createdAt` (console). */
  queueStats(): Promise<QueueStat[]>;
  /** Ledger events with `occurredAt` >= `since`, counted per UTC day, source and action (console). */
  ledgerDaily(since: string): Promise<LedgerDay[]>;
  /** People per purpose and status (console overview). */
  stateCounts(): Promise<StateCount[]>;
  /** The stored API key with this token digest (revoked or not), found by its unique index. */
  findApiKey(digest: string): Promise<ApiKeyRow | null>;
  getApiKey(id: string): Promise<ApiKeyRow | null>;
  /** Every stored API key, oldest first. */
  listApiKeys(): Promise<ApiKeyRow[]>;
  /** Retired keys' wrapped lookup keys (key rotation), oldest first. */
  listLookupKeys(): Promise<LookupKeyRow[]>;
  /** The progress of the rotation towards this key, or null. */
  getKeyRotation(keyId: string): Promise<KeyRotationRow | null>;
  /** How many subjects have an id greater than `afterId` ('' for all): what a key rotation has left. */
  countSubjects(afterId: string): Promise<number>;
  /** Dead events in id order after `afterId` (key rotation pages through them). */
  deadEventsAfter(afterId: string, limit: number): Promise<DeadEventRow[]>;
  /** Up to `limit` undecided inbox rows, oldest first. */
  readInbox(limit: number): Promise<InboxRow[]>;
  /** How many inbox rows wait to be decided. */
  inboxDepth(): Promise<number>;
  /** The opt-out scopes (`*` or comma-separated purposes) of undecided inbox rows naming any of these hashes. */
  inboxOptOuts(hashes: string[]): Promise<string[]>;
}

/** A hash or a list of hashes as a list (the store methods that find by hash take either). */
export const hashList = (h: string | readonly string[]): string[] => (typeof h === 'string' ? [h] : [...h]);
