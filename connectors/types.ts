/**
 * The one interface every CRM connector implements (ARCHITECTURE "Shape of the code").
 *
 * A connector knows its vendor's wire format and nothing else: it never sees the ledger, the
 * mappings' transforms or a person's consent state. The sync layer (src/sync/) decides what to
 * write from the whitelist and hands the connector finished `RecordWrite`s; the connector asks
 * its vendor for the properties named in a `LookupSpec` and nothing more, and drops anything
 * else a response or webhook carries before it returns. Every connector passes
 * `test/connector-contract.ts`.
 */
import type { ConnectorError } from './errors.ts';

export type ConnectorName = 'hubspot' | 'salesforce';

/** A record in a CRM, e.g. `{ objectType: 'contact', id: '512' }` or `{ objectType: 'Lead', id: '00Q…' }`. */
export interface RecordRef {
  objectType: string;
  id: string;
}

/** A property value as the sync layer hands it over; the connector serialises it for its vendor. */
export type RemoteValue = string | number | boolean | null;

/** What to look up and which properties may be read (the mapping's whitelist, nothing else). */
export interface LookupSpec {
  /** Object types to search, e.g. `['contact']` or `['Contact', 'Lead']`. */
  objectTypes: string[];
  /** The property or field holding the phone number (the first of `matchFields`). */
  matchField: string;
  /**
   * HubSpot: every property holding the number, in order of precedence (`matchField` first); for a
   * number, records matched by an earlier property win over those matched only by a later one.
   */
  matchFields?: string[];
  /** The property or field holding the person's WhatsApp business-scoped user id (BSUID), when mapped. */
  bsuidField?: string;
  /** Properties the mapping allows to read (`pull`/`both`); the match field is read as well. */
  properties: string[];
}

/** A record as read back: only `matchField`, `bsuidField` and the `LookupSpec.properties`, whatever the vendor sent. */
export interface RemoteRecord extends RecordRef {
  /** The match field's value exactly as the CRM holds it (the caller normalises it). */
  matchValue: string | null;
  /** The BSUID field's value as the CRM holds it; null when empty or when the spec names no `bsuidField`. */
  bsuid: string | null;
  properties: Record<string, RemoteValue>;
}

/** One record to update with absolute values. */
export interface RecordWrite extends RecordRef {
  /** The sync job's idempotency key (HubSpot: `objectWriteTraceId`); unique within one call. */
  key: string;
  properties: Record<string, RemoteValue>;
  /**
   * HubSpot communication preferences (mapping `subscriptions.mode` = communication-preferences):
   * subscription statuses to set for the record's WhatsApp number besides the properties.
   */
  subscriptions?: Array<{
    channel: string;
    /** The properties holding the record's number (the subscriber id), in order. */
    subscriberFrom: string[];
    subscriptionId: number;
    state: 'SUBSCRIBED' | 'UNSUBSCRIBED' | 'NOT_SPECIFIED';
    legalBasis: string;
  }>;
}

/** Per record, in request order. A record that no longer exists fails with code `NOT_FOUND`. */
export type WriteOutcome = { ok: true } | { ok: false; error: ConnectorError };

export type EraseOutcome =
  | { status: 'done' }
  | { status: 'not_found' }
  | { status: 'failed'; error: ConnectorError };

/** An inbound webhook as the HTTP layer received it. */
export interface WebhookRequest {
  method: string;
  /** The full URL the vendor called (scheme, host, path and query). */
  url: string;
  headers: Headers;
  rawBody: string;
  /** ms since epoch */
  now: number;
}

/** A refusal; `reply` when the vendor expects its own format (a SOAP Fault) rather than our JSON error. */
export type WebhookVerdict =
  | { ok: true }
  | { ok: false; status: 401 | 403; code: string; message: string; reply?: WebhookReply };

/** A change reported by a CRM, reduced to whitelisted properties. */
export interface InboundChange {
  /** The vendor's id for this delivery item, used (hashed) to drop redeliveries. */
  eventId: string;
  type: 'property_change' | 'deletion' | 'privacy_deletion';
  ref: RecordRef;
  /** ISO time the change happened in the CRM (rule 4: later occurredAt wins). */
  occurredAt: string;
  /** Only properties in `LookupSpec.properties`. */
  properties: Record<string, RemoteValue>;
  /** The match field's value when the payload carried it (Salesforce messages can). */
  matchValue: string | null;
  /** Who changed it as the vendor reports it (`CRM_UI`, `API`, …); never personal data. */
  changeSource: string | null;
  /**
   * The payload is unauthenticated (a Salesforce Outbound Message: sync rule 7): it only says that
   * `ref` changed. It carries no values (`properties` is empty, `matchValue` null, `occurredAt` the
   * receipt time); the service reads the record back through the authenticated API and acts only
   * on what the API returns.
   */
  signal?: true;
}

/**
 * An event of a signed, well-formed delivery that could not be read (readers skip, never drop:
 * sync rule 8). The service keeps it, encrypted, in a bounded dead-event table for inspection.
 * `reason` names the JSON path (or element) and what was expected, never a value; `raw` is the
 * event as received and is only ever stored encrypted.
 */
export interface SkippedEvent {
  /** `whatsapp`, `hubspot` or `salesforce` */
  source: string;
  /** what the item was meant to be: `message`, `status`, `user_preferences`, `change`, `event`, `notification`… */
  kind: string;
  reason: string;
  raw: unknown;
}

/** What to send back to the vendor once the changes are stored. */
export interface WebhookReply {
  status: number;
  contentType: string;
  body: string;
}

export type ParsedWebhook =
  | {
      ok: true;
      changes: InboundChange[];
      ack: WebhookReply;
      skipped: SkippedEvent[];
      /** Events read and deliberately left out (association changes, other objects, unmapped properties). */
      ignored?: number;
    }
  | { ok: false; status: 400 | 403; code: string; message: string; reply: WebhookReply };

/** Vendor limits the dispatcher plans batches and its request budget with. */
export interface ConnectorLimits {
  /** Records per write call (HubSpot batch 100, Salesforce collections 200). */
  writeBatch: number;
  /** Phone numbers per lookup call. */
  findBatch: number;
  /** Records per read-by-id call. */
  readBatch: number;
}

/** Thrown when a whole call failed (not one record of it). */
export class ConnectorFailure extends Error {
  readonly error: ConnectorError;
  constructor(error: ConnectorError) {
    super(`${error.code}: ${error.message}`);
    this.name = 'ConnectorFailure';
    this.error = error;
  }
}

export interface Connector {
  readonly name: ConnectorName;
  readonly limits: ConnectorLimits;
  /**
   * Finds records whose match field equals one of `values` (exact match, already formatted the
   * way the CRM stores them), across every object type in the spec; with `by: 'bsuid'` the values
   * are BSUIDs and the spec's `bsuidField` is searched instead (a spec without one finds nothing).
   * Throws `ConnectorFailure`.
   */
  find(values: string[], spec: LookupSpec, by?: 'phone' | 'bsuid'): Promise<RemoteRecord[]>;
  /** Reads records by id; records that no longer exist are left out. Throws `ConnectorFailure`. */
  read(refs: RecordRef[], spec: LookupSpec): Promise<RemoteRecord[]>;
  /** Writes absolute values; one outcome per write, in order. Throws `ConnectorFailure` when the whole call failed. */
  write(writes: RecordWrite[]): Promise<WriteOutcome[]>;
  /** Erases records for good (HubSpot GDPR delete, Salesforce delete or ShouldForget). One outcome per ref. */
  erase(refs: RecordRef[]): Promise<EraseOutcome[]>;
  /** Checks the webhook's signature or shared secret; nothing is parsed before this passes. */
  verifyWebhook(req: WebhookRequest): Promise<WebhookVerdict>;
  /** Parses a verified webhook into changes, keeping only whitelisted properties. */
  parseWebhook(req: WebhookRequest, spec: LookupSpec): ParsedWebhook;
  /** The CRM's own consent objects (Salesforce: MessagingEndUser, ContactPointTypeConsent), when it has them. */
  readonly native?: NativeConsent;
}

/** A field's type reduced to what a mapping transform needs (`other`: anything else, e.g. a reference). */
export type FieldKind = 'boolean' | 'enum' | 'date' | 'text' | 'number' | 'other';

/** A property (HubSpot) or field (Salesforce) as the CRM defines it; never a value. */
export interface RemoteField {
  name: string;
  /** The vendor's own type name (`bool`, `enumeration`, `picklist`, `datetime`, …). */
  type: string;
  kind: FieldKind;
  /** Allowed values of a dropdown or picklist; empty for free values. */
  options: string[];
}

/** How much of the vendor's request allowance is left, when the vendor says. */
export interface Quota {
  remaining: number;
  limit: number;
  /** e.g. `10 s` (HubSpot's rolling window) or `24 h` (Salesforce's daily allocation) */
  window: string;
}

/** What a CRM defines for some object types; `null` for an object type it does not have. */
export interface SchemaSnapshot {
  objects: Record<string, RemoteField[] | null>;
  quota: Quota | null;
}

/** A custom property to create (HubSpot; Salesforce fields are created in Setup, not over the API). */
export interface NewField {
  name: string;
  label: string;
  kind: Exclude<FieldKind, 'other'>;
  /** Values of an `enum` (the dropdown's options). */
  options: string[];
  description: string;
}

/**
 * Reads (and where the vendor allows, extends) a CRM's data model, for `consent-sync doctor`. Kept
 * apart from `Connector`: the sync path never needs it, and the Worker bundle does not carry it.
 */
export interface CrmSchema {
  /** One call per object type; throws `ConnectorFailure` when the CRM cannot be reached or refuses the credentials. */
  describe(objectTypes: string[]): Promise<SchemaSnapshot>;
  /** Creates custom properties in `group` (created first when missing). Absent when the vendor has no such API. */
  create?(objectType: string, fields: NewField[], group: { name: string; label: string }): Promise<void>;
}

// Salesforce's own consent objects (connectors/salesforce/native.ts implements them).

/** What the mapping's native section asks for, without its semantics (the sync layer keeps those). */
export interface NativeConfig {
  /** The object types people are found in (`Contact`, `Lead`). */
  objects: string[];
  messaging: { find: Array<'record' | 'platformKey'> } | null;
  consent: {
    channel: string;
    /** DataUsePurpose names, one per mapped purpose. */
    purposeNames: string[];
    externalIdField: string | null;
    createIndividual: boolean;
    individualName: string;
  } | null;
}

/** What to write for one person. */
export interface NativeTarget {
  /** The person's Contact/Lead records. */
  records: RecordRef[];
  /** `MessagingPlatformKey` as the org stores it, when the MEU is found by it. */
  platformKey: string | null;
  /** null: leave the MEU alone. */
  messagingStatus: string | null;
  consents: Array<{ purposeName: string; values: Record<string, RemoteValue> }>;
}

export type NativeOutcome = { ok: true; written: number } | { ok: false; error: ConnectorError };

/** A native record read back: its raw consent value and the Contacts/Leads it belongs to. */
export type NativeRecord = {
  ref: RecordRef;
  owners: RecordRef[];
} & ({ kind: 'messaging'; status: unknown } | { kind: 'consent'; status: unknown; purposeName: unknown });

export interface NativeCheck {
  object: string;
  ok: boolean;
  /** `missing`: the org lacks the object (feature off) or the record; `denied`: no access. */
  problem: 'missing' | 'denied' | null;
  /** For channel/purpose records: the record's name. */
  name?: string;
}

export interface NativeConsent {
  push(targets: NativeTarget[], config: NativeConfig): Promise<NativeOutcome[]>;
  /** Reads MEU / ContactPointTypeConsent records named by a Flow callout (or reconciliation). */
  read(refs: RecordRef[], config: NativeConfig): Promise<NativeRecord[]>;
  /** The native records of these Contacts/Leads (reconciliation). */
  readFor(records: RecordRef[], config: NativeConfig): Promise<NativeRecord[]>;
  /** Erases the native records of these Contacts/Leads; call before the records themselves go. */
  erase(records: RecordRef[], config: NativeConfig): Promise<ConnectorError[]>;
  check(config: NativeConfig): Promise<NativeCheck[]>;
  /** Creates the channel and purpose records that are missing; returns the names created. */
  ensure(config: NativeConfig): Promise<string[]>;
}
