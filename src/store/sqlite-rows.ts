/**
 * Maps SQLite rows (snake_case, loosely typed) to the camelCase domain types. Kept in one place so
 * the D1 adapter can reuse the same mapping: both drivers return plain column objects.
 */
import type {
  AuditEntry,
  ConsentStatus,
  CrmLink,
  DeadEventRow,
  ErasedRecord,
  ErasureRow,
  ErasureTask,
  IdentifierRow,
  JobStatus,
  LedgerAction,
  LedgerRecord,
  OutboxJob,
  PurposeState,
  Source,
  SubjectRow,
  SyncWrite,
  TextRow,
  Tombstone,
} from '../core/types.ts';
import type { SentMessage } from './port.ts';

/** A row as a driver returns it. */
export type Row = Record<string, unknown>;

function str(v: unknown): string {
  return typeof v === 'string' ? v : String(v);
}

function strOrNull(v: unknown): string | null {
  return v === null || v === undefined ? null : str(v);
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v);
}

/** Parses a JSON object column; a non-object value (never written by us) becomes `{}`. */
function obj(v: unknown): Record<string, unknown> {
  const parsed: unknown = JSON.parse(str(v));
  return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
    ? (parsed as Record<string, unknown>)
    : {};
}

export function toSubject(r: Row): SubjectRow {
  return {
    id: str(r.id),
    phoneHash: str(r.phone_hash),
    phoneEnc: strOrNull(r.phone_enc),
    dekWrapped: strOrNull(r.dek_wrapped),
    locale: strOrNull(r.locale),
    privacyNoticeAt: strOrNull(r.privacy_notice_at),
    createdAt: str(r.created_at),
    // Only present once merged, so rows of people never merged look as they always did.
    ...(r.merged_into ? { mergedInto: str(r.merged_into) } : {}),
  };
}

export function toIdentifier(r: Row): IdentifierRow {
  return {
    hash: str(r.hash),
    subjectId: str(r.subject_id),
    kind: str(r.kind) as IdentifierRow['kind'],
    valueEnc: strOrNull(r.value_enc),
    status: str(r.status) === 'former' ? 'former' : 'active',
    createdAt: str(r.created_at),
    updatedAt: str(r.updated_at),
  };
}

export function toDeadEvent(r: Row): DeadEventRow {
  return {
    id: str(r.id),
    source: str(r.source),
    kind: str(r.kind),
    reason: str(r.reason),
    payloadEnc: str(r.payload_enc),
    receivedAt: str(r.received_at),
  };
}

export function toState(r: Row): PurposeState {
  return {
    subjectId: str(r.subject_id),
    purpose: str(r.purpose),
    status: str(r.status) as ConsentStatus,
    changedAt: str(r.changed_at),
    source: str(r.source) as Source,
    statusBeforePending: strOrNull(r.status_before_pending) as ConsentStatus | null,
    pendingExpiresAt: strOrNull(r.pending_expires_at),
    doubleOptInAt: strOrNull(r.double_opt_in_at),
    textVersion: strOrNull(r.text_version),
    occurredAt: str(r.occurred_at),
    withdrawnAt: strOrNull(r.withdrawn_at),
    crmOptedOutAt: strOrNull(r.crm_opted_out_at),
    crmGrantedAt: strOrNull(r.crm_granted_at),
    requestedAt: strOrNull(r.requested_at),
  };
}

export function toLedger(r: Row): LedgerRecord {
  return {
    seq: num(r.seq),
    id: str(r.id),
    subjectId: str(r.subject_id),
    purpose: str(r.purpose),
    action: str(r.action) as LedgerAction,
    source: str(r.source) as Source,
    occurredAt: str(r.occurred_at),
    recordedAt: str(r.recorded_at),
    textVersion: strOrNull(r.text_version),
    textSha256: strOrNull(r.text_sha256),
    evidenceEnc: strOrNull(r.evidence_enc),
    prevHash: str(r.prev_hash),
    hash: str(r.hash),
  };
}

export function toText(r: Row): TextRow {
  return {
    version: str(r.version),
    purpose: str(r.purpose),
    locale: str(r.locale),
    text: str(r.text),
    sha256: str(r.sha256),
    firstUsedAt: str(r.first_used_at),
  };
}

export function toJob(r: Row): OutboxJob {
  return {
    id: str(r.id),
    kind: str(r.kind),
    subjectId: strOrNull(r.subject_id),
    idempotencyKey: str(r.idempotency_key),
    payload: obj(r.payload),
    status: str(r.status) as JobStatus,
    attempts: num(r.attempts),
    nextAttemptAt: str(r.next_attempt_at),
    leaseUntil: strOrNull(r.lease_until),
    lastError: strOrNull(r.last_error),
    createdAt: str(r.created_at),
    updatedAt: str(r.updated_at),
  };
}

export function toSent(r: Row): SentMessage {
  return {
    waMessageId: str(r.wa_message_id),
    subjectId: str(r.subject_id),
    purpose: strOrNull(r.purpose),
    kind: str(r.kind),
    sentAt: str(r.sent_at),
  };
}

export function toAudit(r: Row): AuditEntry {
  return {
    id: str(r.id),
    at: str(r.at),
    actor: str(r.actor),
    role: str(r.role),
    action: str(r.action),
    target: strOrNull(r.target),
    details: obj(r.details),
  };
}

export function toLink(r: Row): CrmLink {
  return {
    connector: str(r.connector),
    objectType: str(r.object_type),
    remoteId: str(r.remote_id),
    subjectId: str(r.subject_id),
    linkedAt: str(r.linked_at),
  };
}

export function toSyncWrite(r: Row): SyncWrite {
  return {
    connector: str(r.connector),
    objectType: str(r.object_type),
    remoteId: str(r.remote_id),
    property: str(r.property),
    value: str(r.value),
    writtenAt: str(r.written_at),
  };
}

export function toErasure(r: Row): ErasureRow {
  return {
    id: str(r.id),
    subjectHash: str(r.subject_hash),
    subjectId: strOrNull(r.subject_id),
    status: str(r.status) as ErasureRow['status'],
    source: str(r.source) as ErasureRow['source'],
    receivedAt: str(r.received_at),
    dueAt: str(r.due_at),
    completedAt: strOrNull(r.completed_at),
    receipt: r.receipt === null || r.receipt === undefined ? null : obj(r.receipt),
  };
}

export function toTask(r: Row): ErasureTask {
  return {
    erasureId: str(r.erasure_id),
    system: str(r.system),
    status: str(r.status) as ErasureTask['status'],
    attempts: num(r.attempts),
    records: num(r.records),
    lastError: strOrNull(r.last_error),
    updatedAt: str(r.updated_at),
    finishedAt: strOrNull(r.finished_at),
  };
}

export function toTombstone(r: Row): Tombstone {
  return { subjectHash: str(r.subject_hash), erasureId: str(r.erasure_id), createdAt: str(r.created_at) };
}

export function toErased(r: Row): ErasedRecord {
  return {
    connector: str(r.connector),
    objectType: str(r.object_type),
    remoteId: str(r.remote_id),
    erasureId: str(r.erasure_id),
    erasedAt: str(r.erased_at),
  };
}
