/**
 * The consent service's types (requests, results, plans, dependencies), apart from the service so
 * the batch decider (`consent-batch.ts`) and the service can share them without an import cycle.
 */
import type { Intent } from '../core/consent.ts';
import type { Identifier, Identity } from '../core/identity.ts';
import type {
  AuditEntry,
  CrmLink,
  Evidence,
  IdentifierRow,
  NewOutboxJob,
  Purpose,
  PurposeState,
  Source,
  SubjectRow,
} from '../core/types.ts';
import type { Store, WriteUnit } from '../store/port.ts';
import type { Catalog, ReplyMessage } from './catalog-service.ts';
import type { Log } from './log.ts';
import type { Subjects } from './subjects.ts';

export interface ChangeRequest {
  /** who the change is about: a number, a BSUID, a parent BSUID, or several of them (one person) */
  identity: Identity;
  /**
   * More identifiers of the same person that the event reveals (the new number of a number change):
   * linked to the person, never used to find them.
   */
  link?: Identity;
  /** identifiers the person no longer uses: kept as history (`former`), never messaged */
  retire?: Identifier[];
  /**
   * Only link: when the identity's identifiers are already one known person's, nothing is written;
   * otherwise the new ones are linked (or two records merged) with an `evidence` event.
   */
  linkOnly?: boolean;
  intent: Intent;
  purposes: Purpose[] | 'all';
  source: Source;
  occurredAt: string;
  evidence: Evidence;
  /** inbound ids already handled make the whole change a no-op */
  dedupeKeys?: string[];
  /** the same ids hashed under retired PII keys: only checked, never written (`dedupeKeysOf`) */
  formerDedupeKeys?: string[];
  /** the person's language, when known from a form or a keyword */
  locale?: string | null;
  /** a specific consent text version (for requests); else the current one for the locale */
  textVersion?: string | null;
  /** create the person when unknown (a STOP from a new number is still recorded) */
  create: boolean;
  /** WhatsApp reply to queue; default: DOI request for requests, confirmations for WhatsApp sources */
  reply?: ReplyMessage | null;
  audit?: Omit<AuditEntry, 'id' | 'at' | 'target'>;
  /** CRM records to link to the person in the same commit (a change that came from them) */
  links?: Array<Omit<CrmLink, 'subjectId'>>;
}

export interface PurposeOutcome {
  action: string | null;
  reason: string | null;
  state: PurposeState | null;
}

export type ChangeResult =
  | { status: 'duplicate' }
  | { status: 'unknown_subject' }
  /** the person was erased (or an erasure is open): nothing is recorded, nothing is sent */
  | { status: 'erased' }
  | { status: 'applied'; subjectId: string; outcomes: Record<Purpose, PurposeOutcome>; jobIds: string[] };

/** Hashed inbound keys: the current key's to record, retired keys' to recognise (key rotation). */
export interface DedupeKeys {
  dedupeKeys: string[];
  formerDedupeKeys: string[];
}

/** One change decided: what to commit, and what it did per purpose. */
export interface Plan {
  unit: WriteUnit;
  outcomes: Record<Purpose, PurposeOutcome>;
}

/** What finding a person by several identifiers adds to their decision: new identifiers and merges. */
export interface Linking {
  identifiers: IdentifierRow[];
  /** identifiers found under a retired key's hash, moved to the current one by the same commit */
  rehash: Array<{ from: string; to: string }>;
  /** other subjects found to be this person, with their state rows as read */
  merged: Array<{ row: SubjectRow; states: PurposeState[] }>;
  /** every hash (under every key) of every identifier the change came with (checked against tombstones at commit) */
  hashes: string[];
  /** kinds of the identifiers the event carried (evidence: kinds only, never values) */
  kinds: string[];
}

export interface ConsentServiceDeps {
  store: Store;
  subjects: Subjects;
  catalog: Catalog;
  clock: () => Date;
  ttlMs: number;
  /** how far a sender's `occurredAt` may lie ahead of receipt time before it is capped (rule 4) */
  clockSkewMs: number;
  /** at most one opt-out confirmation per person and purposes within this window (0: no throttle) */
  replyThrottleMs?: number;
  log: Log;
  /** called after a commit that queued jobs, so the dispatcher can run them at once */
  onJobs?: () => void;
  /** the CRM sync jobs a state change needs (transactional outbox: committed with the change) */
  syncJobs?: (subjectId: string, cause: string, now: string) => NewOutboxJob[];
}
