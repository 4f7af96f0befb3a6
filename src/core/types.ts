/**
 * Domain types shared by the pure core, the store port and the services.
 * Nothing here does I/O; timestamps are ISO-8601 strings in UTC (`2026-01-31T12:00:00.000Z`).
 */

/** A purpose id from the catalog, e.g. `marketing` or `transactional`. */
export type Purpose = string;

/** Current consent status of one person for one purpose (the contract's enum). */
export type ConsentStatus = 'none' | 'pending' | 'opted_in' | 'opted_out';

/**
 * What a ledger event did.
 * - `requested`: a double opt-in started (→ `pending`)
 * - `confirmed`: the person confirmed on WhatsApp (→ `opted_in`, double-opt-in timestamp)
 * - `granted`: an opt-in taken over from a CRM whose connector is configured `trustOptIn` (→ `opted_in`,
 *   without a WhatsApp double opt-in; the evidence names the CRM record's change)
 * - `opted_out`: consent withdrawn (→ `opted_out`)
 * - `expired`: a pending request ran out (→ the status held before it)
 * - `evidence`: recorded for proof only, changes no status (late YES, Meta `resume`, a repeated STOP…)
 * - `erased`: the person's data was crypto-shredded (issue: erasure)
 * - `merged`: another record turned out to be the same person and was merged into this one; the
 *   state after it is, per purpose, the less permissive of the two (evidence: the other record's id)
 */
export type LedgerAction =
  | 'requested'
  | 'confirmed'
  | 'granted'
  | 'opted_out'
  | 'expired'
  | 'evidence'
  | 'erased'
  | 'merged';

/** Where a change came from. */
export type Source =
  | 'whatsapp'
  | 'form'
  | 'api'
  | 'meta_preferences'
  | 'meta_status'
  | 'system'
  | 'hubspot'
  | 'salesforce';

/**
 * Evidence kept with a ledger event, encrypted at rest with the person's key.
 * Only named fields: nothing free-form from a webhook is copied here.
 */
export interface Evidence {
  /** The WhatsApp message id (wamid) of the reply or status that caused the event. */
  waMessageId?: string;
  /** The wamid of the message we sent (e.g. the confirmation request). */
  sentMessageId?: string;
  /** URL of the web form where consent was requested. */
  formUrl?: string;
  /** The keyword or button that matched, normalised (e.g. `stop`, `button:CONSENT_CONFIRM`). */
  matched?: string;
  /** Locale the wording was shown in. */
  locale?: string;
  /** Free reason code from the system (e.g. `expired_before_confirmation`, `meta_error_131050`). */
  reason?: string;
  /** Key id (not the token) of the API key that made the change. */
  actor?: string;
  /** Meta `user_preferences` value (`stop` | `resume`). */
  preference?: string;
  /** Extra opaque reference supplied by the caller (order id, campaign id); never personal data by contract. */
  reference?: string;
  /** Kinds of the identifiers the event came with (`phone`, `bsuid`, `parent_bsuid`): never the values. */
  identifiers?: string[];
  /** The other subject merged into this one (two records turned out to be one person). */
  mergedSubject?: string;
  /**
   * The sender's `occurredAt` when it was later than receipt time plus the clock-skew allowance (sync
   * rule 4), as ISO-8601, or `unreadable`; the event was recorded at receipt time instead.
   */
  claimedOccurredAt?: string;
}

/** A subject (person) row: the phone number only ever encrypted, found by keyed hash. */
export interface SubjectRow {
  id: string;
  /** hex HMAC-SHA256 of the E.164 number under the lookup key */
  phoneHash: string;
  /** AES-GCM ciphertext (base64) of the E.164 number under the subject's data key; null once shredded */
  phoneEnc: string | null;
  /** the subject's data key, wrapped with the key-encryption key (base64); null once shredded */
  dekWrapped: string | null;
  locale: string | null;
  /** when the first message that carried the privacy-policy link was sent */
  privacyNoticeAt: string | null;
  createdAt: string;
  /** set when this subject turned out to be the same person as another one and was merged into it */
  mergedInto?: string | null;
}

/**
 * One identifier of a person (a number, a BSUID, a parent BSUID): found by keyed hash, the value
 * encrypted under the person's data key (AAD `<kind>:<subjectId>`).
 */
export interface IdentifierRow {
  hash: string;
  subjectId: string;
  kind: import('./identity.ts').IdentifierKind;
  /** AES-GCM ciphertext (base64); null once shredded */
  valueEnc: string | null;
  /** `former`: a number the person changed away from (kept as history, never messaged) */
  status: 'active' | 'former';
  createdAt: string;
  updatedAt: string;
}

/** An event of a signed delivery that could not be read, kept encrypted for inspection. */
export interface DeadEventRow {
  id: string;
  source: string;
  kind: string;
  /** JSON path and what was expected; never a value */
  reason: string;
  /** the raw event, encrypted (base64) */
  payloadEnc: string;
  receivedAt: string;
}

/**
 * The derived, current state of one person for one purpose.
 *
 * The status follows from the last four times (one per kind of change) and the double opt-in's
 * request and confirmation, so the same changes give the same status in any delivery order
 * (sync rules 4 and 4a, `src/core/consent.ts`). A row written before those times were kept has all
 * four null and is read from its status (`registersOf`).
 */
export interface PurposeState {
  subjectId: string;
  purpose: Purpose;
  status: ConsentStatus;
  changedAt: string;
  source: Source;
  /** status to return to when a pending request expires */
  statusBeforePending: ConsentStatus | null;
  /** when the double opt-in request (`requestedAt`) runs out */
  pendingExpiresAt: string | null;
  /** when the person confirmed the latest double opt-in */
  doubleOptInAt: string | null;
  textVersion: string | null;
  /** `occurredAt` of the event that set the current status */
  occurredAt: string;
  /** the latest opt-out by the person themselves (rule 4a); null: none known */
  withdrawnAt: string | null;
  /** the latest opt-out from a CRM (rule 4) */
  crmOptedOutAt: string | null;
  /** the latest opt-in taken over from a trusted CRM (`trustOptIn`) */
  crmGrantedAt: string | null;
  /** when the latest double opt-in (pending, confirmed, or waiting behind a CRM opt-in) was requested */
  requestedAt: string | null;
}

/** A ledger event as decided by the core, before the store chains it. */
export interface NewLedgerEvent {
  id: string;
  subjectId: string;
  purpose: Purpose;
  action: LedgerAction;
  source: Source;
  occurredAt: string;
  recordedAt: string;
  textVersion: string | null;
  textSha256: string | null;
  /** encrypted Evidence JSON (base64), or null */
  evidenceEnc: string | null;
}

/** A ledger event as stored: sequenced and hash-chained. */
export interface LedgerRecord extends NewLedgerEvent {
  seq: number;
  prevHash: string;
  hash: string;
}

/** A consent text version: not personal data, kept in clear so wording can be proven. */
export interface TextRow {
  version: string;
  purpose: Purpose;
  locale: string;
  text: string;
  sha256: string;
  firstUsedAt: string;
}

export type JobStatus = 'pending' | 'leased' | 'done' | 'dead' | 'cancelled';

/** A durable outbox job. `payload` never holds personal data in clear. */
export interface OutboxJob {
  id: string;
  /** e.g. `whatsapp.send` (later: `hubspot.sync`, `salesforce.sync`, `erasure.*`) */
  kind: string;
  subjectId: string | null;
  /** stable key fixed before the first attempt; a second job with the same key is ignored */
  idempotencyKey: string;
  payload: Record<string, unknown>;
  status: JobStatus;
  attempts: number;
  nextAttemptAt: string;
  leaseUntil: string | null;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
}

export type NewOutboxJob = Pick<OutboxJob, 'id' | 'kind' | 'subjectId' | 'idempotencyKey' | 'payload'> & {
  nextAttemptAt: string;
  /** while a pending job with this key exists, this one is not added (it reads the latest state when it runs) */
  coalesceKey?: string;
};

/** A CRM record that belongs to a person (found by phone once, then addressed by id). */
export interface CrmLink {
  connector: string;
  objectType: string;
  remoteId: string;
  subjectId: string;
  linkedAt: string;
}

/** The last value written to one CRM property (echo suppression). `value` is JSON. */
export interface SyncWrite {
  connector: string;
  objectType: string;
  remoteId: string;
  property: string;
  value: string;
  writtenAt: string;
}

/** One admin or operator action, for the audit log (Art. 32). No personal data in clear. */
export interface AuditEntry {
  id: string;
  at: string;
  /** key id of the API key (a short hash), never the token */
  actor: string;
  role: string;
  action: string;
  /** subject id or other non-personal target */
  target: string | null;
  details: Record<string, unknown>;
}

export type ErasureSource = 'api' | 'whatsapp' | 'hubspot' | 'salesforce';
export type ErasureTaskStatus = 'pending' | 'done' | 'not_found' | 'failed';

/** One erasure request (Art. 17). Holds no personal data: the person is a keyed hash. */
export interface ErasureRow {
  id: string;
  subjectHash: string;
  subjectId: string | null;
  status: 'open' | 'completed';
  source: ErasureSource;
  receivedAt: string;
  dueAt: string;
  completedAt: string | null;
  /** the receipt JSON once every task has ended */
  receipt: Record<string, unknown> | null;
}

/** One system's part of an erasure. */
export interface ErasureTask {
  erasureId: string;
  system: string;
  status: ErasureTaskStatus;
  attempts: number;
  /** records erased there */
  records: number;
  lastError: string | null;
  updatedAt: string;
  finishedAt: string | null;
}

export interface Tombstone {
  subjectHash: string;
  erasureId: string;
  createdAt: string;
}

export interface ErasedRecord {
  connector: string;
  objectType: string;
  remoteId: string;
  erasureId: string;
  erasedAt: string;
}
