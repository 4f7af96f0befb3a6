/**
 * A stateful fake Salesforce org (API-FACTS 3.1, 3.2, 3.4) on one real local HTTP server that is both
 * the login URL and the instance URL, so the connector is exercised through real `jsforce`, sockets
 * and headers: client-credentials tokens, a small SOQL engine, sObject Collections, the REST error
 * arrays, `Sforce-Limit-Info`, rate limits, fault injection and Outbound Messages (SOAP) back out.
 *
 * Behaviour chosen where Salesforce's own is not pinned down (API-FACTS 6):
 * - Collections update of an id that is not there: `ENTITY_IS_DELETED` when the record was deleted
 *   (it sits in the recycle bin), `INVALID_CROSS_REFERENCE_KEY` when no such record ever existed;
 *   collections delete answers `ENTITY_IS_DELETED` for both. Failed update items carry no `id`
 *   (as in Salesforce's documented example), delete items always do.
 * - An unknown field in a collections update fails the whole call with 400 `INVALID_FIELD`
 *   ("No such column 'X' on sobject of type T"): Salesforce rejects the request body while reading
 *   it, before any record is processed. Read-only fields (`Id`, `LastModifiedDate`, `CreatedDate`)
 *   fail per record with `INVALID_FIELD_FOR_INSERT_UPDATE`.
 * - An unknown object in SOQL is 400 `INVALID_TYPE` (Salesforce's code), an unknown field 400
 *   `INVALID_FIELD`; both messages echo the query line, as Salesforce's do.
 * - The 18-character checksum of incoming ids is not verified (records match on the first 15).
 * - `reset()` clears data, logs, faults and queues but keeps tokens already issued valid.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WebhookRequest } from '../../connectors/types.ts';
import { type AppliedWrite, faultDealer, flatten, obj, type RandomFaults, sendHalf } from './http.ts';

export type SimValue = string | number | boolean | null;
export type SimRecord = Record<string, SimValue>;

export interface SimRequest {
  method: string;
  /** Path and query, e.g. `/services/data/v62.0/query?q=…`. */
  path: string;
  headers: Record<string, string>;
  /** Parsed JSON or form fields (a client secret redacted), or the raw text. */
  body: unknown;
  /** Status answered; null while pending, for hung requests and destroyed sockets. */
  status: number | null;
}

export interface SimStats {
  /** Requests to `/services/data/…` (the REST API), failed ones included. */
  calls: number;
  /** Calls answered 403 REQUEST_LIMIT_EXCEEDED (window or injected). */
  limited: number;
  /** Calls answered 401 INVALID_SESSION_ID. */
  unauthorized: number;
  /** POSTs to `/services/oauth2/token`, failed ones included. */
  tokenRequests: number;
  /** Calls that got an injected fault. */
  faults: number;
  /** Authorised API calls, the `N` in `Sforce-Limit-Info: api-usage=N/M`. */
  apiUsage: number;
  /** Outbound Messages (SOAP POSTs) delivered by `flushOutbound()`. */
  outboundDelivered: number;
  /** Injected faults by kind (queued and random ones). */
  faultsByKind: Record<string, number>;
}

/** `limit` is 403 REQUEST_LIMIT_EXCEEDED; `network` destroys the socket; `hang` never answers. */
export type SalesforceFault = 'limit' | '500' | '503' | 'network' | 'hang' | SalesforceAppliedFault;
/**
 * Faults of a call that is applied first: `late` answers only after `lateMs` (past the client's
 * timeout), `reset` sends half the answer and destroys the socket, `lock` (collections updates
 * only) fails some records with UNABLE_TO_LOCK_ROW and applies the others.
 */
export type SalesforceAppliedFault = 'late' | 'reset' | 'lock';
const APPLIED_FAULTS = new Set<SalesforceFault>(['late', 'reset', 'lock']);

export interface OutboundNotification {
  /** Notification id (`04l…`); generated when left out. */
  notificationId?: string;
  objectType: string;
  id: string;
  fields: Record<string, string | boolean | null>;
}

export interface SalesforceSimOptions {
  clientId: string;
  clientSecret: string;
  /** 18-character org id, e.g. `00D5e000000KQ2eEAG`. */
  orgId: string;
  /** Default `62.0`. */
  apiVersion?: string;
  /** API calls allowed per window before 403 REQUEST_LIMIT_EXCEEDED (default 100 000). */
  requestsPerWindow?: number;
  /** Default 1000 ms. */
  windowMs?: number;
  /** The `M` in `api-usage=N/M` (default 100 000). */
  dailyLimit?: number;
  /** How long a `late` fault holds the answer (default 2000 ms). */
  lateMs?: number;
  /** Fields defined per object (defaults: Contact, Lead, Individual as below). */
  fields?: Record<string, string[]>;
  /** Like a workflow rule: API writes and UI edits that change one of `fields` queue an Outbound Message. */
  outboundOnChange?: { url: string; fields: string[] };
  /**
   * Features the org has (default both on): without `messaging` the org has no MessagingEndUser,
   * without `consentModel` (Data Protection and Privacy off) no ContactPointTypeConsent,
   * EngagementChannelType, DataUsePurpose or ContactPointPhone: queries and writes answer INVALID_TYPE.
   */
  features?: { messaging?: boolean; consentModel?: boolean };
  /** Objects the integration user may read but not write: records fail with INSUFFICIENT_ACCESS_OR_READONLY. */
  readOnlyObjects?: string[];
  /** External ID fields per object, upsert keys of `PATCH /composite/sobjects/{type}/{field}`. */
  externalIds?: Record<string, string[]>;
}

export interface SalesforceSimulator {
  /** Login URL and instance URL, e.g. `http://127.0.0.1:PORT`. */
  url: string;
  orgId: string;
  apiVersion: string;
  /** Every request received, failed ones included. */
  requests: SimRequest[];
  /** Requests to the REST API so far (token requests not included). */
  calls(): number;
  stats(): SimStats;
  /** Creates a record as if entered in the UI; returns its 18-character id. */
  add(objectType: string, fields: Record<string, SimValue>): string;
  /** The record's fields (a copy), or null when it does not exist or was deleted. */
  get(objectType: string, id: string): SimRecord | null;
  all(objectType: string): SimRecord[];
  /** Edits a record as a user would (not an API call); may queue an Outbound Message. */
  updateFromUi(objectType: string, id: string, fields: Record<string, SimValue>): void;
  /**
   * Every token issued so far stops working: the next API call gets 401 INVALID_SESSION_ID. With
   * `refuseNew`, tokens issued later are dead on arrival too (until `reset()`), for a 401 that outlives a refresh.
   */
  expireTokens(opts?: { refuseNew?: boolean }): void;
  /** The next `n` authorised API calls fail with `kind`. */
  failNext(n: number, kind: SalesforceFault): void;
  /** The record's next `times` writes (update or delete) fail per record with UNABLE_TO_LOCK_ROW. */
  lockRecord(id: string, times: number): void;
  /** The record's next `times` writes fail per record with `statusCode` (a validation rule by default). */
  failRecord(id: string, statusCode?: string, times?: number): void;
  /** Every authorised API call may fail at random (null: off). */
  setRandomFaults(faults: RandomFaults<SalesforceFault> | null): void;
  /** The API writes applied to a record, oldest first (`properties` are the fields written). */
  writeHistory(id: string): AppliedWrite[];
  /** Delay before every answer. */
  setLatency(ms: number): void;
  /** An Outbound Message SOAP envelope (API-FACTS 3.4) carrying up to 100 notifications. */
  outboundMessage(
    notifications: OutboundNotification[],
    opts?: { orgId?: string; allowOverLimit?: boolean },
  ): string;
  /** POSTs an Outbound Message the way Salesforce does. */
  sendOutbound(url: string, xml: string): Promise<{ status: number; body: string }>;
  /** Notifications queued by `outboundOnChange` and not yet acknowledged. */
  pendingOutbound(): number;
  /** Delivers queued notifications (≤ 100 per message); unacknowledged ones stay queued. Statuses per message. */
  flushOutbound(): Promise<number[]>;
  /** POSTs a Flow HTTP callout: JSON with `X-Consent-Sync-Secret`. */
  flowCallout(url: string, secret: string, body: unknown): Promise<{ status: number; body: string }>;
  reset(): void;
  close(): Promise<void>;
}

const CONSENT_FIELDS = [
  'Id',
  'FirstName',
  'LastName',
  'Email',
  'Phone',
  'MobilePhone',
  'IndividualId',
  'HasOptedOutOfEmail',
  'WhatsApp_Marketing_Consent__c',
  'WhatsApp_Marketing_Consent_Date__c',
  'WhatsApp_Transactional_Consent__c',
  'WhatsApp_Opted_Out__c',
  'WhatsApp_Consent_Source__c',
  'WhatsApp_Consent_Text_Version__c',
  'WhatsApp_BSUID__c',
  'LastModifiedDate',
];

/** Salesforce Messaging (Digital Engagement): the person on one messaging channel. */
const MESSAGING_FIELDS: Record<string, string[]> = {
  MessagingEndUser: [
    'Name',
    'MessagingChannelId',
    'MessageType',
    'MessagingPlatformKey',
    'MessagingConsentStatus',
    'IsFullyOptedIn',
    'ContactId',
    'LeadId',
    'AccountId',
    'LastModifiedDate',
  ],
};

/** The consent data model (Data Protection and Privacy). */
const CONSENT_MODEL_FIELDS: Record<string, string[]> = {
  ContactPointTypeConsent: [
    'Name',
    'PartyId',
    'ContactPointType',
    'CaptureContactPointType',
    'PrivacyConsentStatus',
    'CaptureDate',
    'CaptureSource',
    'DoubleConsentCaptureDate',
    'EffectiveFrom',
    'EffectiveTo',
    'EngagementChannelTypeId',
    'DataUsePurposeId',
    'LastModifiedDate',
  ],
  EngagementChannelType: ['Name', 'ContactPointType', 'IsActive', 'LastModifiedDate'],
  DataUsePurpose: ['Name', 'CanDataSubjectOptOut', 'LastModifiedDate'],
  ContactPointPhone: ['ParentId', 'TelephoneNumber', 'IsSmsCapable', 'LastModifiedDate'],
};

export const DEFAULT_FIELDS: Record<string, string[]> = {
  Contact: CONSENT_FIELDS,
  Lead: CONSENT_FIELDS,
  Individual: [
    'Id',
    'FirstName',
    'LastName',
    'ShouldForget',
    'HasOptedOutSolicit',
    'HasOptedOutProcessing',
    'LastModifiedDate',
  ],
  ...MESSAGING_FIELDS,
  ...CONSENT_MODEL_FIELDS,
};

const KEY_PREFIXES: Record<string, string> = {
  Contact: '003',
  Lead: '00Q',
  Individual: '0PK',
  MessagingEndUser: '0PA',
  ContactPointTypeConsent: '0ZY',
  EngagementChannelType: '0eF',
  DataUsePurpose: '0ZW',
  ContactPointPhone: '0ow',
};
const READ_ONLY = new Set(['id', 'lastmodifieddate', 'createddate', 'isfullyoptedin']);

/**
 * What the object reference says a create needs (API-FACTS 3.3, docs/salesforce-consent-objects.md):
 * fields that must be set on create, and restricted picklists (a value outside fails the record with
 * INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST).
 */
const REQUIRED: Record<string, string[]> = {
  Individual: ['LastName'],
  MessagingEndUser: ['Name', 'MessagingChannelId', 'MessageType', 'MessagingPlatformKey'],
  ContactPointTypeConsent: ['PartyId', 'CaptureDate', 'CaptureSource', 'CaptureContactPointType'],
  EngagementChannelType: ['Name'],
  DataUsePurpose: ['Name'],
  ContactPointPhone: ['ParentId', 'TelephoneNumber'],
};
const POINT_TYPES = ['Email', 'MailingAddress', 'Phone', 'Social', 'Web'];
const PICKLISTS: Record<string, Record<string, string[]>> = {
  MessagingEndUser: {
    MessagingConsentStatus: ['ImplicitlyOptedIn', 'ExplicitlyOptedIn', 'DoublyOptedIn', 'OptedOut'],
    MessageType: ['Text', 'Facebook', 'WhatsApp', 'AppleBusinessChat', 'Line', 'EmbeddedMessaging'],
  },
  ContactPointTypeConsent: {
    PrivacyConsentStatus: ['NotSeen', 'Seen', 'OptIn', 'OptOut', 'OptInPending', 'OptOutPending'],
    ContactPointType: POINT_TYPES,
    CaptureContactPointType: POINT_TYPES,
  },
  EngagementChannelType: { ContactPointType: POINT_TYPES },
};
const OPTED_IN = new Set(['ImplicitlyOptedIn', 'ExplicitlyOptedIn', 'DoublyOptedIn']);
const OUTBOUND_NS = 'http://soap.sforce.com/2005/09/outbound';
const PAGE_SIZE = 2000;
const MAX_COLLECTION = 200;
const MAX_NOTIFICATIONS = 100;
const ID_RE = /^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$/;

type DeleteItem =
  | { ok: { id: string; type: string; m: Map<string, SimRecord>; id15: string }; fail?: undefined }
  | { ok?: undefined; fail: { id: string; success: false; errors: unknown[] } };

/** An API answer: status and JSON body (null for 204). */
interface Reply {
  status: number;
  body: unknown;
}

class SfError extends Error {
  readonly status: number;
  readonly errorCode: string;
  constructor(status: number, errorCode: string, message: string) {
    super(message);
    this.status = status;
    this.errorCode = errorCode;
  }
}

const errorBody = (errorCode: string, message: string, fields?: string[]) => [
  fields ? { message, errorCode, fields } : { message, errorCode },
];

/**
 * Starts the simulator on 127.0.0.1 with a random port.
 *
 * @example
 * const sf = await startSalesforceSimulator({ clientId: 'cid', clientSecret: 'secret', orgId: '00D5e000000KQ2eEAG' });
 * const id = sf.add('Contact', { LastName: 'Example', MobilePhone: '+447700900001' }); // example number
 * sf.lockRecord(id, 1);
 * // … createSalesforceConnector({ loginUrl: sf.url, … }) …
 * await sf.close();
 */
export async function startSalesforceSimulator(opts: SalesforceSimOptions): Promise<SalesforceSimulator> {
  if (!ID_RE.test(opts.orgId)) throw new TypeError('orgId must be a 15 or 18 character Salesforce id');
  const apiVersion = opts.apiVersion ?? '62.0';
  const requestsPerWindow = opts.requestsPerWindow ?? 100_000;
  const windowMs = opts.windowMs ?? 1000;
  const dailyLimit = opts.dailyLimit ?? 100_000;
  const org15 = opts.orgId.slice(0, 15);
  const orgId = toId18(org15);
  const defs = { ...(opts.fields ?? DEFAULT_FIELDS) };
  if (opts.features?.messaging === false) for (const t of Object.keys(MESSAGING_FIELDS)) delete defs[t];
  if (opts.features?.consentModel === false)
    for (const t of Object.keys(CONSENT_MODEL_FIELDS)) delete defs[t];
  for (const [t, names] of Object.entries(opts.externalIds ?? {}))
    defs[t] = [...new Set([...(defs[t] ?? []), ...names])];
  const schema = canonicalSchema(defs);
  const readOnlyObjects = new Set(opts.readOnlyObjects ?? []);

  const requests: SimRequest[] = [];
  const tokens = new Set<string>();
  let stats = freshStats();
  let store = new Map<string, Map<string, SimRecord>>();
  let deleted = new Map<string, string>(); // id15 → objectType
  let faults: SalesforceFault[] = [];
  let locks = new Map<string, number>();
  let recordFailures = new Map<string, { statusCode: string; times: number }>();
  let cursors = new Map<string, { type: string; rows: SimRecord[]; offset: number }>();
  let outboundQueue: Array<{ notificationId: string; objectType: string; id: string }> = [];
  let windowLog: number[] = [];
  let latencyMs = 0;
  const lateMs = opts.lateMs ?? 2000;
  let randomFaults: RandomFaults<SalesforceFault> | null = null;
  let deal: ReturnType<typeof faultDealer<SalesforceFault>> | null = null;
  let history = new Map<string, AppliedWrite[]>();
  let writeSeq = 0;
  /** writes of the call being routed (route() is synchronous), marked answered once sent */
  let routed: AppliedWrite[] = [];
  /** the call being routed is a `lock` fault */
  let lockCall = false;
  let refuseNewTokens = false;
  let counter = 0x2f_0000;
  let url = '';

  const newId = (prefix: string) => {
    counter += 1;
    return toId18(`${prefix}5e0${base62(counter).padStart(9, '0')}`);
  };

  function objectStore(type: string): Map<string, SimRecord> {
    let m = store.get(type);
    if (!m) {
      m = new Map();
      store.set(type, m);
    }
    return m;
  }

  /** Applies `fields` (canonical names) to a record and queues an outbound message when a watched field changed. */
  function applyChange(type: string, record: SimRecord, fields: Record<string, SimValue>): void {
    let changed = false;
    for (const [name, value] of Object.entries(fields)) {
      if (opts.outboundOnChange?.fields.includes(name) && record[name] !== value) changed = true;
      record[name] = value;
    }
    record.LastModifiedDate = sfDateTime(Date.now());
    if (type === 'MessagingEndUser')
      record.IsFullyOptedIn = OPTED_IN.has(String(record.MessagingConsentStatus));
    if (changed) {
      outboundQueue.push({ notificationId: newId('04l'), objectType: type, id: String(record.Id) });
    }
  }

  function findRecord(type: string, id: string): SimRecord | undefined {
    return store.get(type)?.get(id.slice(0, 15));
  }

  /** Per-record faults (locks first, then injected rejections); null when the write may go ahead. */
  function recordFault(id15: string, record: SimRecord): { statusCode: string; message: string } | null {
    const lock = locks.get(id15) ?? 0;
    if (lock > 0) {
      locks.set(id15, lock - 1);
      return {
        statusCode: 'UNABLE_TO_LOCK_ROW',
        message: `unable to obtain exclusive access to this record or 1 records: ${toId18(id15)}`,
      };
    }
    const failure = recordFailures.get(id15);
    if (failure && failure.times > 0) {
      failure.times -= 1;
      // Validation messages can quote field values; the connector must never pass them on.
      const echo = Object.values(record).find((v) => typeof v === 'string' && v.startsWith('+')) ?? '';
      return {
        statusCode: failure.statusCode,
        message: `Validation failed: check the mobile number ${echo}`,
      };
    }
    return null;
  }

  // ---------- REST API ----------

  function query(soql: string): Reply {
    const parsed = parseSoql(soql);
    const type = schema.objectName(parsed.from);
    if (!type) {
      throw new SfError(
        400,
        'INVALID_TYPE',
        `\n${soql}\n^\nERROR at Row:1:Column:1\nsObject type '${parsed.from}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.`,
      );
    }
    const field = (name: string) => {
      const canonical = schema.fieldName(type, name);
      if (!canonical) {
        throw new SfError(
          400,
          'INVALID_FIELD',
          `\n${soql}\n^\nERROR at Row:1:Column:1\nNo such column '${name}' on entity '${type}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.`,
        );
      }
      return canonical;
    };
    const selected = parsed.fields.map(field);
    const seen = new Set<string>();
    for (const f of selected) {
      if (seen.has(f)) throw new SfError(400, 'MALFORMED_QUERY', `duplicate field selected: ${f}`);
      seen.add(f);
    }
    const conditions = parsed.where.map((c) => {
      const name = field(c.field);
      if (name === 'Id') {
        for (const v of c.values) {
          if (typeof v !== 'string' || !ID_RE.test(v)) {
            throw new SfError(400, 'INVALID_QUERY_FILTER_OPERATOR', `\n${soql}\n^\ninvalid ID field: ${v}`);
          }
        }
      }
      return { name, values: c.values };
    });
    let rows = [...objectStore(type).values()].filter((r) =>
      conditions.every((c) => c.values.some((v) => matches(c.name, r[c.name] ?? null, v))),
    );
    if (parsed.limit !== null) rows = rows.slice(0, parsed.limit);
    const shaped = rows.map((r) => shape(type, r, selected));
    return { status: 200, body: page(type, shaped, 0) };
  }

  function page(type: string, rows: SimRecord[], offset: number) {
    const slice = rows.slice(offset, offset + PAGE_SIZE);
    const done = offset + PAGE_SIZE >= rows.length;
    const body: Record<string, unknown> = { totalSize: rows.length, done, records: slice };
    if (!done) {
      const locator = `${newId('01g').slice(0, 15)}-${offset + PAGE_SIZE}`;
      cursors.set(locator, { type, rows, offset: offset + PAGE_SIZE });
      body.nextRecordsUrl = `/services/data/v${apiVersion}/query/${locator}`;
    }
    return body;
  }

  function queryMore(locator: string): Reply {
    const cursor = cursors.get(locator);
    if (!cursor) throw new SfError(400, 'INVALID_QUERY_LOCATOR', 'invalid query locator');
    cursors.delete(locator);
    return { status: 200, body: page(cursor.type, cursor.rows, cursor.offset) };
  }

  function shape(type: string, r: SimRecord, selected: string[]): SimRecord & { attributes: unknown } {
    const out: Record<string, unknown> = {
      attributes: { type, url: `/services/data/v${apiVersion}/sobjects/${type}/${r.Id}` },
    };
    for (const f of selected) out[f] = r[f] ?? null;
    return out as SimRecord & { attributes: unknown };
  }

  function collectionsUpdate(body: unknown): Reply {
    const b = obj(body);
    if (!b || !Array.isArray(b.records)) {
      throw new SfError(400, 'JSON_PARSER_ERROR', 'Expected an object with a records array');
    }
    if (b.records.length > MAX_COLLECTION) {
      throw new SfError(
        400,
        'EXCEEDED_ID_LIMIT',
        'record limit reached. cannot submit more than 200 records into this call',
      );
    }
    const allOrNone = b.allOrNone === true;
    // Salesforce reads the whole body into sObjects first: a bad type or field fails the call.
    const items = b.records.map((raw) => {
      const rec = obj(raw);
      const typeName = obj(rec?.attributes)?.type;
      const type = typeof typeName === 'string' ? schema.objectName(typeName) : null;
      if (!rec || !type) {
        throw new SfError(400, 'INVALID_TYPE', 'Must specify a valid type in the attributes of each record');
      }
      const fields: Record<string, SimValue> = {};
      let id: unknown = null;
      for (const [key, value] of Object.entries(rec)) {
        if (key === 'attributes') continue;
        const name = schema.fieldName(type, key);
        if (!name) {
          throw new SfError(400, 'INVALID_FIELD', `No such column '${key}' on sobject of type ${type}`);
        }
        if (name === 'Id') id = value;
        else fields[name] = value as SimValue;
      }
      return { type, id, fields };
    });
    const results = items.map(({ type, id, fields }) => {
      if (typeof id !== 'string' || id === '') {
        return failure('MISSING_ARGUMENT', 'Id not specified in an update call', ['Id']);
      }
      if (!ID_RE.test(id)) return failure('MALFORMED_ID', `malformed id ${id}`, ['Id']);
      const id15 = id.slice(0, 15);
      const record = findRecord(type, id15);
      if (!record) {
        return deleted.has(id15)
          ? failure('ENTITY_IS_DELETED', 'entity is deleted', [])
          : failure('INVALID_CROSS_REFERENCE_KEY', 'invalid cross reference id', []);
      }
      const readOnly = Object.keys(fields).filter((f) => READ_ONLY.has(f.toLowerCase()));
      if (readOnly.length > 0) {
        return failure(
          'INVALID_FIELD_FOR_INSERT_UPDATE',
          `Unable to create/update fields: ${readOnly.join(', ')}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.`,
          readOnly,
        );
      }
      const invalid = validate(type, fields, false);
      if (invalid) return invalid;
      if (lockCall && (randomFaults?.random() ?? 1) < (randomFaults?.recordRate ?? 0.3)) {
        return failure('UNABLE_TO_LOCK_ROW', 'unable to obtain exclusive access to this record', []);
      }
      const fault = recordFault(id15, record);
      if (fault) return failure(fault.statusCode, fault.message, []);
      return { ok: true as const, type, record, fields, id: String(record.Id) };
    });
    const allOk = results.every((r) => 'ok' in r);
    const out = results.map((r) => {
      if (!('ok' in r)) return r;
      if (allOrNone && !allOk) {
        return failure(
          'ALL_OR_NONE_OPERATION_ROLLED_BACK',
          'Record rolled back because not all records were valid and the request was using AllOrNone header',
          [],
        );
      }
      applyChange(r.type, r.record, r.fields);
      recordWrite(r.id, r.fields);
      return { id: r.id, success: true, errors: [] };
    });
    return { status: 200, body: out };
  }

  /** Access, restricted picklists and (on create) required fields; a per-record failure or null. */
  function validate(type: string, fields: Record<string, SimValue>, create: boolean) {
    if (readOnlyObjects.has(type))
      return failure('INSUFFICIENT_ACCESS_OR_READONLY', 'insufficient access rights on object id', []);
    for (const [name, allowed] of Object.entries(PICKLISTS[type] ?? {})) {
      const v = fields[name];
      if (v !== undefined && v !== null && !allowed.includes(String(v)))
        return failure(
          'INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST',
          `${name}: bad value for restricted picklist field`,
          [name],
        );
    }
    if (create) {
      const missing = (REQUIRED[type] ?? []).filter(
        (f) => fields[f] === undefined || fields[f] === null || fields[f] === '',
      );
      if (missing.length > 0)
        return failure(
          'REQUIRED_FIELD_MISSING',
          `Required fields are missing: [${missing.join(', ')}]`,
          missing,
        );
    }
    return null;
  }

  /** Collections create (`POST /composite/sobjects`) or upsert on an External ID (`PATCH …/{type}/{field}`). */
  function collectionsSave(body: unknown, upsertType: string | null, upsertField: string | null): Reply {
    const b = obj(body);
    if (!b || !Array.isArray(b.records))
      throw new SfError(400, 'JSON_PARSER_ERROR', 'Expected an object with a records array');
    if (b.records.length > MAX_COLLECTION)
      throw new SfError(
        400,
        'EXCEEDED_ID_LIMIT',
        'record limit reached. cannot submit more than 200 records into this call',
      );
    let keyField: string | null = null;
    if (upsertType !== null) {
      const type = schema.objectName(upsertType);
      if (!type) throw new SfError(400, 'INVALID_TYPE', `sObject type '${upsertType}' is not supported.`);
      keyField = schema.fieldName(type, upsertField ?? '');
      if (!keyField || !(opts.externalIds?.[type] ?? []).includes(keyField))
        throw new SfError(
          400,
          'INVALID_FIELD',
          `Field ${upsertField} is not an External ID or indexed field for ${type}`,
        );
    }
    const items = b.records.map((raw) => {
      const rec = obj(raw);
      const typeName = obj(rec?.attributes)?.type;
      const type = typeof typeName === 'string' ? schema.objectName(typeName) : null;
      if (!rec || !type)
        throw new SfError(400, 'INVALID_TYPE', 'Must specify a valid type in the attributes of each record');
      const fields: Record<string, SimValue> = {};
      for (const [key, value] of Object.entries(rec)) {
        if (key === 'attributes') continue;
        const name = schema.fieldName(type, key);
        if (!name)
          throw new SfError(400, 'INVALID_FIELD', `No such column '${key}' on sobject of type ${type}`);
        fields[name] = value as SimValue;
      }
      return { type, fields };
    });
    const results = items.map(({ type, fields }) => {
      const readOnly = Object.keys(fields).filter((f) => READ_ONLY.has(f.toLowerCase()));
      if (readOnly.length > 0)
        return failure(
          'INVALID_FIELD_FOR_INSERT_UPDATE',
          `Unable to create/update fields: ${readOnly.join(', ')}.`,
          readOnly,
        );
      const existing =
        keyField !== null
          ? [...objectStore(type).values()].find((r) => r[keyField as string] === fields[keyField as string])
          : undefined;
      const invalid = validate(type, existing ? fields : fields, !existing);
      if (invalid) return invalid;
      if (existing) {
        applyChange(type, existing, fields);
        recordWrite(String(existing.Id), fields);
        return { id: String(existing.Id), success: true, errors: [], created: false };
      }
      const prefix = KEY_PREFIXES[type];
      if (!prefix) return failure('INVALID_TYPE', 'cannot create this type here', []);
      const id = newId(prefix);
      const record: SimRecord = {};
      for (const name of schema.fields(type)) record[name] = null;
      record.Id = id;
      objectStore(type).set(id.slice(0, 15), record);
      applyChange(type, record, fields);
      recordWrite(id, fields);
      return keyField !== null
        ? { id, success: true, errors: [], created: true }
        : { id, success: true, errors: [] };
    });
    return { status: 200, body: results };
  }

  function collectionsDelete(search: URLSearchParams): Reply {
    const ids = (search.get('ids') ?? '').split(',').filter((s) => s !== '');
    if (ids.length === 0) throw new SfError(400, 'MISSING_ARGUMENT', 'ids parameter is required');
    if (ids.length > MAX_COLLECTION) {
      throw new SfError(
        400,
        'EXCEEDED_ID_LIMIT',
        'record limit reached. cannot submit more than 200 records into this call',
      );
    }
    const allOrNone = search.get('allOrNone') === 'true';
    const results = ids.map((id): DeleteItem => {
      if (!ID_RE.test(id)) return { fail: { id, ...failure('MALFORMED_ID', `malformed id ${id}`, ['Id']) } };
      const id15 = id.slice(0, 15);
      const hit = [...store.entries()].find(([, m]) => m.has(id15));
      if (!hit) return { fail: { id, ...failure('ENTITY_IS_DELETED', 'entity is deleted', []) } };
      const [type, m] = hit;
      const record = m.get(id15) as SimRecord;
      const fault = recordFault(id15, record);
      if (fault) return { fail: { id, ...failure(fault.statusCode, fault.message, []) } };
      return { ok: { id: String(record.Id), type, m, id15 } };
    });
    const allOk = results.every((r) => r.ok);
    return {
      status: 200,
      body: results.map((r) => {
        if (!r.ok) return r.fail;
        const { id, type, m, id15 } = r.ok;
        if (allOrNone && !allOk) {
          return { id, ...failure('ALL_OR_NONE_OPERATION_ROLLED_BACK', 'Record rolled back', []) };
        }
        m.delete(id15);
        deleted.set(id15, type);
        return { id, success: true, errors: [] };
      }),
    };
  }

  function singleRecord(
    method: string,
    typeName: string,
    id: string,
    body: unknown,
    search: URLSearchParams,
  ): Reply {
    const type = schema.objectName(typeName);
    if (!type) throw new SfError(404, 'NOT_FOUND', 'The requested resource does not exist');
    const id15 = id.slice(0, 15);
    const record = ID_RE.test(id) ? findRecord(type, id15) : undefined;
    if (!record) {
      if (deleted.has(id15)) throw new SfError(404, 'ENTITY_IS_DELETED', 'entity is deleted');
      throw new SfError(404, 'NOT_FOUND', 'The requested resource does not exist');
    }
    if (method === 'GET') {
      const wanted = search.get('fields');
      const names = wanted
        ? wanted.split(',').map((f) => {
            const name = schema.fieldName(type, f.trim());
            if (!name)
              throw new SfError(400, 'INVALID_FIELD', `No such column '${f}' on sobject of type ${type}`);
            return name;
          })
        : schema.fields(type);
      return { status: 200, body: shape(type, record, names) };
    }
    const fault = recordFault(id15, record);
    if (fault) throw new SfError(400, fault.statusCode, fault.message);
    if (method === 'DELETE') {
      objectStore(type).delete(id15);
      deleted.set(id15, type);
      return { status: 204, body: null };
    }
    const fields: Record<string, SimValue> = {};
    for (const [key, value] of Object.entries(obj(body) ?? {})) {
      if (key === 'attributes') continue;
      const name = schema.fieldName(type, key);
      if (!name)
        throw new SfError(400, 'INVALID_FIELD', `No such column '${key}' on sobject of type ${type}`);
      if (READ_ONLY.has(name.toLowerCase())) {
        throw new SfError(400, 'INVALID_FIELD_FOR_INSERT_UPDATE', `Unable to create/update fields: ${name}.`);
      }
      fields[name] = value as SimValue;
    }
    applyChange(type, record, fields);
    recordWrite(String(record.Id), fields);
    return { status: 204, body: null };
  }

  function recordWrite(id: string, fields: Record<string, SimValue>): void {
    writeSeq += 1;
    const entry: AppliedWrite = {
      seq: writeSeq,
      at: Date.now(),
      properties: { ...fields },
      trace: null,
      answered: false,
    };
    const key = id.slice(0, 15);
    history.set(key, [...(history.get(key) ?? []), entry]);
    routed.push(entry);
  }

  /** A random fault for this call, or undefined; `lock` only where a collection is updated. */
  function randomFault(req: IncomingMessage): SalesforceFault | undefined {
    const update = req.method === 'PATCH' && (req.url ?? '').split('?')[0]?.endsWith('/composite/sobjects');
    return deal?.((k) => update || k !== 'lock');
  }

  /** sObject describe (the fields part): names with a type guessed from the name, no picklists. */
  function describeObject(typeName: string): Reply {
    const type = schema.objectName(typeName);
    if (!type) throw new SfError(404, 'NOT_FOUND', 'The requested resource does not exist');
    const fields = schema.fields(type).map((name) => {
      const kind = describedType(name);
      return {
        name,
        label: name.replace(/__c$/, '').replaceAll('_', ' '),
        type: kind,
        custom: name.endsWith('__c'),
        updateable: !READ_ONLY.has(name.toLowerCase()),
        nillable: kind !== 'boolean' && name !== 'Id',
        picklistValues: [],
      };
    });
    return {
      status: 200,
      body: { name: type, label: type, custom: false, queryable: true, updateable: true, fields },
    };
  }

  function route(method: string, rest: string, search: URLSearchParams, body: unknown): Reply {
    if (method === 'GET' && rest === '/query') {
      const q = search.get('q');
      if (!q) throw new SfError(400, 'MALFORMED_QUERY', 'q parameter is required');
      return query(q);
    }
    const more = /^\/query\/([A-Za-z0-9]+-\d+)$/.exec(rest);
    if (method === 'GET' && more) return queryMore(more[1] as string);
    const upsert = /^\/composite\/sobjects\/([A-Za-z0-9_]+)\/([A-Za-z0-9_]+)$/.exec(rest);
    if (method === 'PATCH' && upsert) return collectionsSave(body, upsert[1] as string, upsert[2] as string);
    if (rest === '/composite/sobjects') {
      if (method === 'POST') return collectionsSave(body, null, null);
      if (method === 'PATCH') return collectionsUpdate(body);
      if (method === 'DELETE') return collectionsDelete(search);
    }
    const describe = /^\/sobjects\/([A-Za-z0-9_]+)\/describe$/.exec(rest);
    if (method === 'GET' && describe) return describeObject(describe[1] as string);
    const single = /^\/sobjects\/([A-Za-z0-9_]+)\/([A-Za-z0-9]+)$/.exec(rest);
    if (single && (method === 'GET' || method === 'PATCH' || method === 'DELETE')) {
      return singleRecord(method, single[1] as string, single[2] as string, body, search);
    }
    throw new SfError(404, 'NOT_FOUND', 'The requested resource does not exist');
  }

  // ---------- HTTP ----------

  function send(
    res: ServerResponse,
    entry: SimRequest,
    status: number,
    body: unknown,
    type = 'application/json',
  ) {
    entry.status = status;
    const headers: Record<string, string> = {
      'sforce-limit-info': `api-usage=${stats.apiUsage}/${dailyLimit}`,
    };
    if (body === null) {
      res.writeHead(status, headers);
      res.end();
      return;
    }
    res.writeHead(status, { ...headers, 'content-type': `${type};charset=UTF-8` });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  }

  function token(res: ServerResponse, entry: SimRequest, raw: string) {
    stats.tokenRequests += 1;
    const form = new URLSearchParams(raw);
    if (form.get('grant_type') !== 'client_credentials') {
      return send(res, entry, 400, {
        error: 'unsupported_grant_type',
        error_description: 'grant type not supported',
      });
    }
    if (form.get('client_id') !== opts.clientId || form.get('client_secret') !== opts.clientSecret) {
      return send(res, entry, 400, {
        error: 'invalid_client',
        error_description: 'invalid client credentials',
      });
    }
    const accessToken = `${org15}!AQ${randomBytes(24).toString('base64url')}`;
    if (!refuseNewTokens) tokens.add(accessToken);
    const id = `${url}/id/${orgId}/${toId18('0055e000004Ab1C')}`;
    const issuedAt = String(Date.now());
    const signature = createHmac('sha256', opts.clientSecret)
      .update(id + issuedAt)
      .digest('base64');
    send(res, entry, 200, {
      access_token: accessToken,
      signature,
      scope: 'api',
      instance_url: url,
      id,
      token_type: 'Bearer',
      issued_at: issuedAt,
    });
  }

  function api(req: IncomingMessage, res: ServerResponse, entry: SimRequest, body: unknown) {
    stats.calls += 1;
    const auth = req.headers.authorization ?? '';
    if (!auth.startsWith('Bearer ') || !tokens.has(auth.slice(7))) {
      stats.unauthorized += 1;
      return send(res, entry, 401, errorBody('INVALID_SESSION_ID', 'Session expired or invalid'));
    }
    stats.apiUsage += 1;
    const fault = faults.shift() ?? randomFault(req);
    if (fault) {
      stats.faults += 1;
      stats.faultsByKind[fault] = (stats.faultsByKind[fault] ?? 0) + 1;
    }
    if (fault === 'network') return void req.socket.destroy();
    if (fault === 'hang') return; // the socket is released by close()
    if (fault === '500') {
      return send(
        res,
        entry,
        500,
        errorBody(
          'UNKNOWN_EXCEPTION',
          'An unexpected error occurred. Please include this ErrorId if you contact support: 1234567890-12345 (-1234567890)',
        ),
      );
    }
    if (fault === '503')
      return send(res, entry, 503, errorBody('SERVER_UNAVAILABLE', 'Server temporarily unavailable'));
    const now = Date.now();
    windowLog = windowLog.filter((t) => t > now - windowMs);
    if (fault === 'limit' || windowLog.length >= requestsPerWindow) {
      stats.limited += 1;
      return send(res, entry, 403, errorBody('REQUEST_LIMIT_EXCEEDED', 'TotalRequests Limit exceeded.'));
    }
    windowLog.push(now);
    const u = new URL(req.url ?? '/', 'http://sim');
    const m = /^\/services\/data\/v\d{2,3}\.\d(\/.*)$/.exec(u.pathname);
    try {
      if (!m) throw new SfError(404, 'NOT_FOUND', 'The requested resource does not exist');
      routed = [];
      lockCall = fault === 'lock';
      let out: Reply;
      try {
        out = route(req.method ?? 'GET', m[1] as string, u.searchParams, body);
      } finally {
        lockCall = false;
      }
      const writes = routed;
      if (fault && APPLIED_FAULTS.has(fault) && fault !== 'lock') {
        entry.status = out.status;
        const text = out.body === null ? '' : JSON.stringify(out.body);
        const headers = { 'content-type': 'application/json;charset=UTF-8' };
        if (fault === 'reset') return sendHalf(res, out.status, headers, text);
        setTimeout(() => {
          if (!res.destroyed) send(res, entry, out.status, out.body);
        }, lateMs).unref();
        return;
      }
      send(res, entry, out.status, out.body);
      for (const w of writes) w.answered = true;
    } catch (err) {
      if (!(err instanceof SfError)) throw err;
      send(res, entry, err.status, errorBody(err.errorCode, err.message));
    }
  }

  const server = createServer(async (req, res) => {
    const raw = await readText(req);
    const path = req.url ?? '/';
    const entry: SimRequest = {
      method: req.method ?? '',
      path,
      headers: flatten(req),
      body: parseBody(raw, req.headers['content-type']),
      status: null,
    };
    requests.push(entry);
    if (latencyMs > 0) await new Promise((r) => setTimeout(r, latencyMs));
    try {
      if (req.method === 'POST' && path.split('?')[0] === '/services/oauth2/token')
        return token(res, entry, raw);
      if (path.startsWith('/services/data/')) {
        let body: unknown = null;
        if (raw !== '') {
          try {
            body = JSON.parse(raw);
          } catch {
            return send(
              res,
              entry,
              400,
              errorBody('JSON_PARSER_ERROR', 'Unexpected character in the request body'),
            );
          }
        }
        return api(req, res, entry, body);
      }
      send(res, entry, 404, errorBody('NOT_FOUND', 'The requested resource does not exist'));
    } catch {
      send(res, entry, 500, errorBody('UNKNOWN_EXCEPTION', 'An unexpected error occurred.'));
    }
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // ---------- Outbound Messages ----------

  function outboundMessage(
    notifications: OutboundNotification[],
    o: { orgId?: string; allowOverLimit?: boolean } = {},
  ): string {
    if (notifications.length > MAX_NOTIFICATIONS && !o.allowOverLimit) {
      throw new RangeError('an Outbound Message carries at most 100 notifications');
    }
    const org = o.orgId ?? orgId;
    const items = notifications.map((n) => {
      const fields = Object.entries(n.fields)
        .filter(([name]) => name !== 'Id')
        .map(([name, value]) =>
          value === null
            ? `     <sf:${name} xsi:nil="true"/>`
            : `     <sf:${name}>${xmlEscape(String(value))}</sf:${name}>`,
        );
      return [
        '   <Notification>',
        `    <Id>${xmlEscape(n.notificationId ?? newId('04l'))}</Id>`,
        `    <sObject xsi:type="sf:${n.objectType}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">`,
        `     <sf:Id>${xmlEscape(n.id)}</sf:Id>`,
        ...fields,
        '    </sObject>',
        '   </Notification>',
      ].join('\n');
    });
    return [
      '<?xml version="1.0" encoding="UTF-8"?>',
      '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
      ' <soapenv:Body>',
      `  <notifications xmlns="${OUTBOUND_NS}">`,
      `   <OrganizationId>${xmlEscape(org)}</OrganizationId>`,
      `   <ActionId>${toId18('04k5e000000CaRk')}</ActionId>`,
      '   <SessionId xsi:nil="true"/>',
      `   <EnterpriseUrl>${url}/services/Soap/c/${apiVersion}/${org.slice(0, 15)}</EnterpriseUrl>`,
      `   <PartnerUrl>${url}/services/Soap/u/${apiVersion}/${org.slice(0, 15)}</PartnerUrl>`,
      ...items,
      '  </notifications>',
      ' </soapenv:Body>',
      '</soapenv:Envelope>',
    ].join('\n');
  }

  async function post(target: string, headers: Record<string, string>, body: string) {
    const res = await fetch(target, { method: 'POST', headers, body });
    return { status: res.status, body: await res.text() };
  }

  const sendOutbound = (target: string, xml: string) =>
    post(target, { 'content-type': 'text/xml; charset=utf-8', soapaction: '""' }, xml);

  async function flushOutbound(): Promise<number[]> {
    const target = opts.outboundOnChange;
    if (!target) return [];
    const queued = outboundQueue;
    outboundQueue = [];
    const statuses: number[] = [];
    for (let i = 0; i < queued.length; i += MAX_NOTIFICATIONS) {
      const batch = queued.slice(i, i + MAX_NOTIFICATIONS);
      // Salesforce sends the record as it is now, not as it was when the rule fired.
      const live = batch.flatMap((n) => {
        const r = findRecord(n.objectType, n.id);
        if (!r) return [];
        const fields: Record<string, string | boolean | null> = {};
        for (const name of ['LastModifiedDate', 'MobilePhone', ...target.fields]) {
          if (!schema.fieldName(n.objectType, name)) continue;
          const v = r[name] ?? null;
          fields[name] =
            name === 'LastModifiedDate' && typeof v === 'string'
              ? new Date(v).toISOString()
              : typeof v === 'number'
                ? String(v)
                : v;
        }
        return [{ notificationId: n.notificationId, objectType: n.objectType, id: String(r.Id), fields }];
      });
      if (live.length === 0) continue;
      let status = 0;
      try {
        const out = await sendOutbound(target.url, outboundMessage(live));
        status = out.status;
        if (status !== 200 || !/<Ack>\s*true\s*<\/Ack>/.test(out.body)) outboundQueue.push(...batch);
        else stats.outboundDelivered += 1;
      } catch {
        outboundQueue.push(...batch); // retried on the next flush, like Salesforce's queue
      }
      statuses.push(status);
    }
    return statuses;
  }

  return {
    url,
    orgId,
    apiVersion,
    requests,
    calls: () => stats.calls,
    stats: () => ({ ...stats, faultsByKind: { ...stats.faultsByKind } }),
    add(objectType, fields) {
      const type = schema.objectName(objectType);
      const prefix = type ? KEY_PREFIXES[type] : undefined;
      if (!type || !prefix) throw new TypeError(`simulator has no object ${objectType}`);
      const id = newId(prefix);
      const record: SimRecord = {};
      for (const name of schema.fields(type)) record[name] = null;
      for (const [key, value] of Object.entries(fields)) {
        const name = schema.fieldName(type, key);
        if (!name) throw new TypeError(`simulator has no field ${type}.${key}`);
        record[name] = value;
      }
      record.Id = id;
      record.LastModifiedDate = sfDateTime(Date.now());
      objectStore(type).set(id.slice(0, 15), record);
      return id;
    },
    get(objectType, id) {
      const r = findRecord(schema.objectName(objectType) ?? objectType, id);
      return r ? { ...r } : null;
    },
    all(objectType) {
      return [...objectStore(schema.objectName(objectType) ?? objectType).values()].map((r) => ({ ...r }));
    },
    updateFromUi(objectType, id, fields) {
      const type = schema.objectName(objectType) ?? objectType;
      const record = findRecord(type, id);
      if (!record) throw new TypeError('no such record');
      const canonical: Record<string, SimValue> = {};
      for (const [key, value] of Object.entries(fields)) {
        const name = schema.fieldName(type, key);
        if (!name) throw new TypeError(`simulator has no field ${type}.${key}`);
        canonical[name] = value;
      }
      applyChange(type, record, canonical);
    },
    expireTokens(o = {}) {
      tokens.clear();
      refuseNewTokens = o.refuseNew === true;
    },
    failNext(n, kind) {
      faults.push(...Array.from({ length: n }, () => kind));
    },
    lockRecord(id, times) {
      locks.set(id.slice(0, 15), times);
    },
    setRandomFaults(f) {
      randomFaults = f;
      deal = f && faultDealer(f);
    },
    writeHistory: (id) =>
      (history.get(id.slice(0, 15)) ?? []).map((w) => ({ ...w, properties: { ...w.properties } })),
    failRecord(id, statusCode = 'FIELD_CUSTOM_VALIDATION_EXCEPTION', times = Number.POSITIVE_INFINITY) {
      recordFailures.set(id.slice(0, 15), { statusCode, times });
    },
    setLatency(ms) {
      latencyMs = ms;
    },
    outboundMessage,
    sendOutbound,
    pendingOutbound: () => outboundQueue.length,
    flushOutbound,
    flowCallout: (target, secret, body) =>
      post(
        target,
        { 'content-type': 'application/json', 'x-consent-sync-secret': secret },
        typeof body === 'string' ? body : JSON.stringify(body),
      ),
    reset() {
      requests.length = 0;
      stats = freshStats();
      store = new Map();
      deleted = new Map();
      faults = [];
      randomFaults = null;
      deal = null;
      history = new Map();
      locks = new Map();
      recordFailures = new Map();
      cursors = new Map();
      outboundQueue = [];
      windowLog = [];
      latencyMs = 0;
      refuseNewTokens = false;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections(); // keep-alive and hung sockets would hold close() open
      }),
  };
}

const freshStats = (): SimStats => ({
  calls: 0,
  limited: 0,
  unauthorized: 0,
  tokenRequests: 0,
  faults: 0,
  apiUsage: 0,
  outboundDelivered: 0,
  faultsByKind: {},
});

function failure(statusCode: string, message: string, fields: string[]) {
  return { success: false as const, errors: [{ statusCode, message, fields }] };
}

/** Field and object names are case-insensitive in Salesforce; answers use the canonical spelling. */
/** The describe type of a simulated field, from its name (the simulator keeps names only). */
function describedType(name: string): string {
  if (name === 'Id') return 'id';
  if (/Opted_?Out|ShouldForget|HasOptedOut/i.test(name)) return 'boolean';
  if (/Date/.test(name)) return 'datetime';
  if (/Phone/.test(name)) return 'phone';
  if (name === 'Email') return 'email';
  if (name.endsWith('Id')) return 'reference';
  return 'string';
}

function canonicalSchema(defs: Record<string, string[]>) {
  const objects = new Map<string, string>();
  const fields = new Map<string, Map<string, string>>();
  for (const [type, names] of Object.entries(defs)) {
    objects.set(type.toLowerCase(), type);
    const m = new Map<string, string>();
    for (const n of ['Id', ...names]) m.set(n.toLowerCase(), n);
    fields.set(type, m);
  }
  return {
    objectName: (name: string) => objects.get(name.toLowerCase()) ?? null,
    fieldName: (type: string, name: string) => fields.get(type)?.get(name.toLowerCase()) ?? null,
    fields: (type: string) => [...(fields.get(type)?.values() ?? [])],
  };
}

/** SOQL comparison: ids on their first 15 characters, text case-insensitively, the rest exactly. */
function matches(field: string, value: SimValue, literal: SimValue): boolean {
  if (literal === null || value === null) return literal === value;
  if (field === 'Id' && typeof value === 'string' && typeof literal === 'string') {
    return value.slice(0, 15) === literal.slice(0, 15);
  }
  if (typeof value === 'string' && typeof literal === 'string')
    return value.toLowerCase() === literal.toLowerCase();
  return value === literal;
}

// ---------- SOQL ----------

interface ParsedSoql {
  fields: string[];
  from: string;
  where: Array<{ field: string; values: SimValue[] }>;
  limit: number | null;
}

type Token = { kind: 'ident' | 'string' | 'number' | 'punct'; text: string; value: SimValue };

const STRING_ESCAPES: Record<string, string> = {
  n: '\n',
  r: '\r',
  t: '\t',
  b: '\b',
  f: '\f',
  '"': '"',
  "'": "'",
  '\\': '\\',
};

function malformed(soql: string, detail: string): SfError {
  return new SfError(400, 'MALFORMED_QUERY', `\n${soql}\n^\nERROR at Row:1:Column:1\n${detail}`);
}

function tokenize(soql: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < soql.length) {
    const c = soql[i] as string;
    if (/\s/.test(c)) {
      i += 1;
    } else if (c === "'") {
      let value = '';
      i += 1;
      for (;;) {
        if (i >= soql.length) throw malformed(soql, 'unterminated string literal');
        const d = soql[i] as string;
        if (d === "'") break;
        if (d === '\\') {
          const next = soql[i + 1] ?? '';
          const mapped = STRING_ESCAPES[next.toLowerCase()] ?? STRING_ESCAPES[next];
          if (mapped === undefined) throw malformed(soql, 'Invalid string literal: illegal escape sequence');
          value += mapped;
          i += 2;
        } else {
          value += d;
          i += 1;
        }
      }
      i += 1;
      out.push({ kind: 'string', text: value, value });
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(soql.slice(i)) as RegExpExecArray;
      out.push({ kind: 'ident', text: m[0], value: m[0] });
      i += m[0].length;
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9]+/.exec(soql.slice(i)) as RegExpExecArray;
      out.push({ kind: 'number', text: m[0], value: Number(m[0]) });
      i += m[0].length;
    } else if (',()='.includes(c)) {
      out.push({ kind: 'punct', text: c, value: c });
      i += 1;
    } else {
      throw malformed(soql, `unexpected token: '${c}'`);
    }
  }
  return out;
}

/** `SELECT f, … FROM Obj [WHERE f = lit | f IN (lit, …) [AND …]] [LIMIT n]` with SOQL string escapes. */
export function parseSoql(soql: string): ParsedSoql {
  const tokens = tokenize(soql);
  let i = 0;
  const peek = () => tokens[i];
  const next = () => {
    const t = tokens[i++];
    if (!t) throw malformed(soql, 'unexpected end of query');
    return t;
  };
  const keyword = (word: string) => {
    const t = next();
    if (t.kind !== 'ident' || t.text.toUpperCase() !== word)
      throw malformed(soql, `unexpected token: '${t.text}'`);
  };
  const isKeyword = (word: string) => {
    const t = peek();
    return t?.kind === 'ident' && t.text.toUpperCase() === word;
  };
  const ident = () => {
    const t = next();
    if (t.kind !== 'ident') throw malformed(soql, `unexpected token: '${t.text}'`);
    return t.text;
  };
  const punct = (p: string) => {
    const t = next();
    if (t.kind !== 'punct' || t.text !== p) throw malformed(soql, `unexpected token: '${t.text}'`);
  };
  const literal = (): SimValue => {
    const t = next();
    if (t.kind === 'string' || t.kind === 'number') return t.value;
    if (t.kind === 'ident') {
      const up = t.text.toUpperCase();
      if (up === 'NULL') return null;
      if (up === 'TRUE') return true;
      if (up === 'FALSE') return false;
    }
    throw malformed(soql, `unexpected token: '${t.text}'`);
  };

  keyword('SELECT');
  const fields = [ident()];
  while (peek()?.text === ',') {
    next();
    fields.push(ident());
  }
  keyword('FROM');
  const from = ident();
  const where: ParsedSoql['where'] = [];
  if (isKeyword('WHERE')) {
    next();
    do {
      if (where.length > 0) next(); // AND
      const field = ident();
      if (isKeyword('IN')) {
        next();
        punct('(');
        const values = [literal()];
        while (peek()?.text === ',') {
          next();
          values.push(literal());
        }
        punct(')');
        where.push({ field, values });
      } else {
        punct('=');
        where.push({ field, values: [literal()] });
      }
    } while (isKeyword('AND'));
  }
  let limit: number | null = null;
  if (isKeyword('LIMIT')) {
    next();
    const t = next();
    if (t.kind !== 'number') throw malformed(soql, `unexpected token: '${t.text}'`);
    limit = Number(t.value);
  }
  if (i < tokens.length) throw malformed(soql, `unexpected token: '${tokens[i]?.text}'`);
  return { fields, from, where, limit };
}

// ---------- helpers ----------

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function base62(n: number): string {
  let s = '';
  let v = n;
  do {
    s = BASE62[v % 62] + s;
    v = Math.floor(v / 62);
  } while (v > 0);
  return s;
}

/** Salesforce's case-safe 18-character id: a 5-bit upper-case map of each 5-character chunk. */
export function toId18(id15: string): string {
  if (id15.length === 18) return id15;
  let suffix = '';
  for (let chunk = 0; chunk < 3; chunk++) {
    let flags = 0;
    for (let i = 0; i < 5; i++) {
      const c = id15[chunk * 5 + i] ?? '';
      if (c >= 'A' && c <= 'Z') flags |= 1 << i;
    }
    suffix += 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345'[flags];
  }
  return id15 + suffix;
}

/** Salesforce REST dateTime, e.g. `2024-05-01T12:00:00.000+0000`. */
const sfDateTime = (ms: number) => new Date(ms).toISOString().replace('Z', '+0000');

const xmlEscape = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

async function readText(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseBody(raw: string, contentType: string | undefined): unknown {
  if (!raw) return null;
  if (contentType?.startsWith('application/x-www-form-urlencoded')) {
    const form = Object.fromEntries(new URLSearchParams(raw));
    if ('client_secret' in form) form.client_secret = '[redacted]';
    return form;
  }
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/** One item of a Flow HTTP callout body (connectors/salesforce/flow.ts). */
export interface FlowCalloutEvent {
  id: string;
  objectType: string;
  recordId: string;
  /** ISO 8601 */
  occurredAt: string;
  type?: 'property_change' | 'deletion' | 'should_forget';
  fields: Record<string, string | number | boolean | null>;
}

/**
 * A Flow HTTP callout as the record-triggered Flow sends it: JSON with the shared secret header,
 * ready for `connector.verifyWebhook` or `fetch`.
 *
 * @example flowCalloutRequest({ url: 'https://consent.example.com/webhooks/salesforce', secret, events: [{ id: 'f-1', objectType: 'Contact', recordId: '0035e00000ZkM3hAAF', occurredAt: new Date().toISOString(), fields: { WhatsApp_Opted_Out__c: true } }] })
 */
export function flowCalloutRequest(input: {
  url: string;
  secret: string;
  events?: FlowCalloutEvent[];
  /** The raw body, sent as is. */
  body?: string;
  now?: number;
}): WebhookRequest {
  return {
    method: 'POST',
    url: input.url,
    headers: new Headers({ 'content-type': 'application/json', 'x-consent-sync-secret': input.secret }),
    rawBody: input.body ?? JSON.stringify({ events: input.events ?? [] }),
    now: input.now ?? Date.now(),
  };
}

/**
 * The connector contract's `webhook` and `forge` for Salesforce: a Flow HTTP callout (the
 * recommended path; Outbound Messages are value-free signals and carry no properties).
 */
export function contractFlowWebhook(url: string, secret: string) {
  return {
    webhook: (change: {
      ref: { objectType: string; id: string };
      properties: Record<string, string | number | boolean | null>;
      occurredAt: number;
      eventId: string;
    }): WebhookRequest =>
      flowCalloutRequest({
        url,
        secret,
        now: change.occurredAt,
        events: [
          {
            id: change.eventId,
            objectType: change.ref.objectType,
            recordId: change.ref.id,
            occurredAt: new Date(change.occurredAt).toISOString(),
            fields: change.properties,
          },
        ],
      }),
    forge: (req: WebhookRequest): WebhookRequest => {
      const headers = new Headers(req.headers);
      headers.set('x-consent-sync-secret', `${secret}-forged`);
      return { ...req, headers };
    },
  };
}
