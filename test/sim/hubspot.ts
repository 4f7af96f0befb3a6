/**
 * A stateful fake of the HubSpot CRM contacts API (API-FACTS 2.3, 2.5) and of HubSpot's webhook
 * deliveries (2.1, 2.2) on a real local HTTP server, so the connector is exercised through the real
 * `@hubspot/api-client` SDK, `node-fetch`, sockets and headers.
 *
 * Choices where HubSpot's behaviour is not documented (API-FACTS 6):
 * - batch/read answers 207 with one `OBJECT_NOT_FOUND` error (`context.ids`) for ids that do not
 *   exist, like batch/update; duplicate ids in a read are read once.
 * - batch/update rejects the whole batch (400 `VALIDATION_ERROR`) for an unknown, read-only or
 *   invalid property value, and for duplicate ids; a missing id or a record marked with
 *   `failRecord` gives a 207 with per-record errors and the others applied.
 * - EQ/IN/NEQ/NOT_IN compare strings case-insensitively; search sees writes at once (no index lag).
 * - gdpr-delete of a missing contact answers 404 (no e-mail blocklisting).
 * - Values are stored as written (datetimes are checked, not normalised); an empty string clears.
 * - Only successful authorised calls take a slot of the rate-limit window; 401s, 429s and injected
 *   faults do not.
 * - Deletion events carry `changeSource` (`API` or `CRM_UI`), which HubSpot may not send [U].
 */

import { createHash, createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WebhookRequest } from '../../connectors/types.ts';
import { type AppliedWrite, faultDealer, flatten, type RandomFaults, readBody, sendHalf } from './http.ts';
import { type CommPrefsState, newCommPrefs, routeCommPrefs } from './hubspot-comm-prefs.ts';

export type { AppliedWrite, RandomFaults } from './http.ts';

export interface ReceivedRequest {
  method: string;
  /** Path and query, e.g. `/crm/v3/objects/contacts/search`. */
  path: string;
  headers: Record<string, string>;
  /** Parsed JSON, the raw text when it was not JSON, or null when empty. */
  body: unknown;
}

/** One webhook event exactly as HubSpot puts it in the delivered JSON array. */
export interface HubSpotWebhookEvent {
  eventId: number;
  subscriptionId: number;
  portalId: number;
  appId: number;
  /** ms since epoch */
  occurredAt: number;
  subscriptionType: string;
  attemptNumber: number;
  objectId: number;
  /** Generic (`object.*`) events: the object type, `0-1` for contacts. */
  objectTypeId?: string;
  propertyName?: string;
  propertyValue?: string;
  changeSource?: string;
  sourceId?: string;
  changeFlag?: string;
}

/**
 * Which dialect `flushWebhooks()` speaks (docs/crm-webhook-facts.md): `classic` (`contact.*`),
 * `generic` (`object.*` with `objectTypeId: "0-1"`; privacy deletions stay `contact.privacyDeletion`,
 * which has no generic form), or `legacy` (the type in `eventType` instead of `subscriptionType`).
 */
export type HubSpotWebhookDialect = 'classic' | 'generic' | 'legacy';

/**
 * An event rewritten in another dialect, as HubSpot would deliver it.
 *
 * @example inDialect(makeHubSpotEvent({ subscriptionType: 'contact.deletion', objectId: 512 }), 'generic') // { subscriptionType: 'object.deletion', objectTypeId: '0-1', … }
 */
export function inDialect(
  event: HubSpotWebhookEvent,
  dialect: HubSpotWebhookDialect,
): Record<string, unknown> {
  if (dialect === 'legacy') {
    const { subscriptionType, ...rest } = event;
    return { ...rest, eventType: subscriptionType };
  }
  if (dialect === 'generic' && event.subscriptionType.startsWith('contact.')) {
    const action = event.subscriptionType.slice('contact.'.length);
    if (action !== 'privacyDeletion')
      return { ...event, subscriptionType: `object.${action}`, objectTypeId: '0-1' };
  }
  return { ...event };
}

/**
 * `429` TEN_SECONDLY_ROLLING with Retry-After, `daily` DAILY without, `502` an HTML gateway page,
 * `network` a socket destroyed before the request is read, `hang` no answer at all (nothing applied).
 * Faults that apply the request first: `late` answers only after `lateMs` (past the client's
 * timeout), `reset` sends half the answer and destroys the socket, `partial` (batch/update only)
 * leaves some records out of the batch: not applied, and in neither `results` nor `errors`.
 */
export type HubSpotFault =
  | '429'
  | 'daily'
  | '500'
  | '502'
  | '503'
  | 'network'
  | 'hang'
  | 'late'
  | 'reset'
  | 'partial';

export interface HubSpotPropertyDefinition {
  name: string;
  label: string;
  /** `string`, `bool`, `datetime`, `number` or `enumeration`. */
  type: string;
  fieldType: string;
  groupName: string;
  readOnly: boolean;
  hasUniqueValue: boolean;
  /** Allowed values of a `bool` or `enumeration` property; empty for free values. */
  options: string[];
}

export interface HubSpotSimulatorOptions {
  accessToken: string;
  /** The app's client secret; webhooks are signed with it. */
  clientSecret?: string;
  /** Authorised calls per rolling window (default 100, HubSpot's Free/Starter limit). */
  requestsPerWindow?: number;
  /** Default 10 000 (TEN_SECONDLY_ROLLING). */
  windowMs?: number;
  /** Defined contact property names (defaults: `DEFAULT_CONTACT_PROPERTIES`). */
  properties?: string[];
  /** Where `flushWebhooks()` delivers; can be set later with `setWebhookUrl`. */
  webhookUrl?: string;
  portalId?: number;
  appId?: number;
  /** Retry-After of an injected `429` fault, in seconds (default 1). */
  faultRetryAfterSeconds?: number;
  /** How long a `late` fault holds the answer (default 2000 ms). */
  lateMs?: number;
  /** The dialect of delivered webhooks (default `classic`). */
  webhookDialect?: HubSpotWebhookDialect;
  /** Whether communication preferences v4 accepts the WHATSAPP channel (default false, as HubSpot documents today). */
  whatsappChannel?: boolean;
}

export interface HubSpotSimStats {
  /** Every request received, unauthorised ones included. */
  calls: number;
  unauthorised: number;
  /** 429s served, by the window and by injected faults. */
  rateLimited: number;
  faults: number;
  /** Injected faults by kind (queued and random ones). */
  faultsByKind: Record<string, number>;
  /** Responses sent, by status (a destroyed socket or a hang is not counted). */
  byStatus: Record<number, number>;
}

export interface WebhookDelivery {
  url: string;
  /** HTTP status of the receiver, 0 when the request failed. */
  status: number;
  events: number;
  headers: Record<string, string>;
}

export interface HubSpotSimulator {
  /** Use as the SDK's `basePath`, e.g. `http://127.0.0.1:PORT`. */
  url: string;
  portalId: number;
  appId: number;
  /** Every request received, failed ones included. */
  requests: ReceivedRequest[];
  /** Requests received so far (authorised or not). */
  calls(): number;
  stats(): HubSpotSimStats;
  /** Communication preferences v4 (definitions, statuses, the WHATSAPP channel switch). */
  commPrefs: CommPrefsState;
  /** Creates a contact as an import would (no webhook); returns its numeric id as a string. */
  addContact(properties: Record<string, string>): string;
  /** A copy of the contact's properties, or null when it does not exist. */
  getContact(id: string): Record<string, string> | null;
  contacts(): Array<{ id: string; properties: Record<string, string> }>;
  /** A person editing in HubSpot: changes values and queues `CRM_UI` property-change events. */
  updateFromUi(id: string, properties: Record<string, string>, occurredAt?: number): void;
  /** A person GDPR-deleting a contact in HubSpot: queues `privacyDeletion` + `deletion`. */
  gdprDeleteFromUi(id: string, occurredAt?: number): void;
  properties(): HubSpotPropertyDefinition[];
  /** The next `n` authorised API requests fail with `kind`. */
  failNext(n: number, kind: HubSpotFault): void;
  /** Writes to this contact fail with a per-record VALIDATION_ERROR, `times` times (default: always). */
  failRecord(id: string, times?: number): void;
  /** Every authorised call may fail at random (null: off). */
  setRandomFaults(faults: RandomFaults<HubSpotFault> | null): void;
  /** The API writes applied to a contact, oldest first. */
  writeHistory(id: string): AppliedWrite[];
  /** Delay before every authorised API answer. */
  setLatency(ms: number): void;
  setWebhookUrl(url: string): void;
  /**
   * Events not yet delivered: the live queue, so `pendingWebhooks().length = 0` loses them (webhooks
   * that never arrived, for reconciliation tests).
   */
  pendingWebhooks(): HubSpotWebhookEvent[];
  /** Webhook requests sent so far. */
  deliveries: WebhookDelivery[];
  /**
   * POSTs queued events (up to 100 per request) signed like HubSpot; returns the statuses (0 when
   * the request failed). Events of a request answered 429, 5xx or not at all are queued again with
   * `attemptNumber + 1` (up to 10 attempts), as HubSpot retries them.
   */
  flushWebhooks(): Promise<number[]>;
  reset(): void;
  close(): Promise<void>;
}

/** Contact properties defined by default (HubSpot's standard ones plus this project's custom ones). */
export const DEFAULT_CONTACT_PROPERTIES = [
  'email',
  'firstname',
  'lastname',
  'phone',
  'mobilephone',
  'hs_whatsapp_phone_number',
  'whatsapp_marketing_consent',
  'whatsapp_marketing_consent_date',
  'whatsapp_transactional_consent',
  'whatsapp_opted_out',
  'whatsapp_marketing_opted_out',
  'whatsapp_transactional_opted_out',
  'whatsapp_consent_source',
  'whatsapp_consent_text_version',
  'whatsapp_bsuid',
  'hs_object_id',
  'createdate',
  'lastmodifieddate',
];

/** What search and batch/read return when the request names no properties (API-FACTS 2.3). */
const DEFAULT_RETURNED = ['createdate', 'email', 'firstname', 'hs_object_id', 'lastmodifieddate', 'lastname'];
/** HubSpot adds these to every returned object. */
const ALWAYS_RETURNED = ['hs_object_id', 'createdate', 'lastmodifieddate'];
const READ_ONLY = new Set(['hs_object_id', 'createdate', 'lastmodifieddate']);
const BOOL_PROPERTIES = new Set([
  'whatsapp_opted_out',
  'whatsapp_marketing_opted_out',
  'whatsapp_transactional_opted_out',
]);
/** Dropdowns, as in mappings/hubspot.json. */
const ENUM_PROPERTIES: Record<string, string[]> = {
  whatsapp_marketing_consent: ['not_set', 'pending', 'granted', 'withdrawn'],
  whatsapp_transactional_consent: ['not_set', 'pending', 'granted', 'withdrawn'],
};
const LIMITS = {
  filterGroups: 5,
  filtersPerGroup: 10,
  filters: 25,
  inValues: 100,
  searchLimit: 200,
  batch: 100,
};
const OPERATORS = new Set(['EQ', 'NEQ', 'IN', 'NOT_IN', 'HAS_PROPERTY', 'NOT_HAS_PROPERTY']);
const NOT_FOUND_MESSAGE =
  'Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are valid.';
const FIRST_ID = 65_059_681_000;
const MAX_WEBHOOK_ATTEMPTS = 10;
const WEBHOOK_BATCH = 100;
const USER_AGENT =
  'HubSpot Connect 2.0 (http://dev.hubspot.com/) (namespace: webhooks-nio-http-client) - WebhooksExecutorDaemon-executor';
const SUBSCRIPTION_IDS: Record<string, number> = {
  'contact.creation': 234_400,
  'contact.deletion': 234_401,
  'contact.privacyDeletion': 234_402,
};

/**
 * HubSpot's signature v3: base64 HMAC-SHA256 of method + full URL + raw body + ms timestamp
 * (API-FACTS 2.1). node:crypto on purpose, as an independent check of the connector's Web Crypto code.
 *
 * @example signHubSpotV3({ method: 'POST', url: 'https://hooks.example.com/hubspot', body: '[]', timestamp: 1708986599647, secret: 's' })
 */
export function signHubSpotV3(input: {
  method: string;
  url: string;
  body: string;
  timestamp: number | string;
  secret: string;
}): string {
  const source = `${input.method}${input.url}${input.body}${input.timestamp}`;
  return createHmac('sha256', input.secret).update(source, 'utf8').digest('base64');
}

/** Signature v1 (`X-HubSpot-Signature`): hex SHA-256 of secret + body, sent alongside v3. */
export function signHubSpotV1(secret: string, body: string): string {
  return createHash('sha256')
    .update(secret + body, 'utf8')
    .digest('hex');
}

/**
 * A webhook request as HubSpot sends it, signed (v3 and v1), ready for `connector.verifyWebhook`
 * or for `fetch(req.url, { method: req.method, headers: req.headers, body: req.rawBody })`.
 *
 * @example
 * const req = hubspotWebhookRequest({ url: 'https://consent.example.com/webhooks/hubspot', secret, events: [makeHubSpotEvent({ subscriptionType: 'contact.deletion', objectId: 512 })] });
 */
export function hubspotWebhookRequest(input: {
  url: string;
  secret: string;
  /** Serialised as HubSpot does (a JSON array), unless `body` is given. */
  events?: HubSpotWebhookEvent[];
  /** The raw body, sent as is (for malformed payloads). */
  body?: string;
  method?: string;
  /** The signed timestamp (default `now`). */
  timestamp?: number;
  /** `WebhookRequest.now` (default `Date.now()`). */
  now?: number;
}): WebhookRequest {
  const now = input.now ?? Date.now();
  const timestamp = input.timestamp ?? now;
  const method = input.method ?? 'POST';
  const rawBody = input.body ?? JSON.stringify(input.events ?? []);
  const headers = new Headers({
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
    'x-hubspot-request-timestamp': String(timestamp),
    'x-hubspot-signature-v3': signHubSpotV3({
      method,
      url: input.url,
      body: rawBody,
      timestamp,
      secret: input.secret,
    }),
    'x-hubspot-signature': signHubSpotV1(input.secret, rawBody),
    'x-hubspot-signature-version': 'v1',
    'x-hubspot-timeout-millis': '10000',
  });
  return { method, url: input.url, headers, rawBody, now };
}

let eventCounter = 100;

/**
 * An event with HubSpot's field set; defaults for what is not given (ids are example values).
 *
 * @example makeHubSpotEvent({ subscriptionType: 'contact.propertyChange', objectId: 512, propertyName: 'whatsapp_opted_out', propertyValue: 'true', changeSource: 'CRM_UI' })
 */
export function makeHubSpotEvent(
  fields: Partial<HubSpotWebhookEvent> & { subscriptionType: string; objectId: number },
): HubSpotWebhookEvent {
  eventCounter += 1;
  return {
    eventId: eventCounter,
    subscriptionId: SUBSCRIPTION_IDS[fields.subscriptionType] ?? 234_500,
    portalId: 12_345_678,
    appId: 987_654,
    occurredAt: Date.now(),
    attemptNumber: 0,
    ...fields,
  };
}

/**
 * Starts the simulator on 127.0.0.1 with a random port.
 *
 * @example
 * const hs = await startHubSpotSimulator({ accessToken: 'sim-token', clientSecret: 'sim-secret' });
 * const id = hs.addContact({ hs_whatsapp_phone_number: '+447700900001' }); // example number
 * const client = new Client({ accessToken: 'sim-token', basePath: hs.url });
 * await hs.close();
 */
export async function startHubSpotSimulator(opts: HubSpotSimulatorOptions): Promise<HubSpotSimulator> {
  const requestsPerWindow = opts.requestsPerWindow ?? 100;
  const windowMs = opts.windowMs ?? 10_000;
  const portalId = opts.portalId ?? 12_345_678;
  const appId = opts.appId ?? 987_654;
  const faultRetryAfter = opts.faultRetryAfterSeconds ?? 1;
  let webhookUrl = opts.webhookUrl ?? null;

  const requests: ReceivedRequest[] = [];
  const deliveries: WebhookDelivery[] = [];
  let definitions = defineProperties(opts.properties ?? DEFAULT_CONTACT_PROPERTIES);
  const commPrefs = newCommPrefs(opts.whatsappChannel ?? false);
  /** Property groups created through the API (name → label). */
  let createdGroups = new Map<string, string>();
  let store = new Map<string, StoredContact>();
  let nextId = FIRST_ID;
  let faults: HubSpotFault[] = [];
  let failing = new Map<string, number>();
  let latencyMs = 0;
  const lateMs = opts.lateMs ?? 2000;
  let randomFaults: RandomFaults<HubSpotFault> | null = null;
  let deal: ReturnType<typeof faultDealer<HubSpotFault>> | null = null;
  let history = new Map<string, AppliedWrite[]>();
  let writeSeq = 0;
  /** writes of the request being routed (route() is synchronous), marked answered once sent */
  let routed: AppliedWrite[] = [];
  /** the request being routed is a `partial` fault */
  let partialCall = false;
  let window: number[] = [];
  /** One array for the simulator's life: `pendingWebhooks()` hands it out live. */
  const queue: HubSpotWebhookEvent[] = [];
  let stats = emptyStats();

  // ---- store and events -------------------------------------------------------------------

  function event(
    subscriptionType: string,
    objectId: string,
    occurredAt: number,
    extra: Partial<HubSpotWebhookEvent> = {},
  ): void {
    eventCounter += 1;
    const propertyIndex = extra.propertyName ? [...definitions.keys()].indexOf(extra.propertyName) : -1;
    queue.push({
      eventId: eventCounter,
      subscriptionId:
        propertyIndex >= 0 ? 234_500 + propertyIndex : (SUBSCRIPTION_IDS[subscriptionType] ?? 234_499),
      portalId,
      appId,
      occurredAt,
      subscriptionType,
      attemptNumber: 0,
      objectId: Number(objectId),
      ...extra,
    });
  }

  /** Applies values; returns the names that changed and queues one event per change. */
  function apply(
    contact: StoredContact,
    properties: Record<string, string>,
    source: 'API' | 'CRM_UI',
    occurredAt: number,
  ): string[] {
    const changed: string[] = [];
    for (const [name, value] of Object.entries(properties)) {
      const before = contact.properties[name] ?? '';
      if (before === value) continue;
      if (value === '') delete contact.properties[name];
      else contact.properties[name] = value;
      changed.push(name);
      event('contact.propertyChange', contact.id, occurredAt, {
        propertyName: name,
        propertyValue: value,
        changeSource: source,
        ...(source === 'CRM_UI' ? { sourceId: 'userId:45678' } : {}),
      });
    }
    if (changed.length > 0) {
      contact.updatedAt = occurredAt;
      contact.properties.lastmodifieddate = new Date(occurredAt).toISOString();
    }
    return changed;
  }

  function remove(id: string, source: 'API' | 'CRM_UI', occurredAt: number): void {
    store.delete(id);
    failing.delete(id);
    event('contact.privacyDeletion', id, occurredAt, { changeSource: source });
    event('contact.deletion', id, occurredAt, { changeSource: source, changeFlag: 'DELETED' });
  }

  function find(id: string, idProperty: string | undefined): StoredContact | undefined {
    if (!idProperty || idProperty === 'hs_object_id') return store.get(id);
    for (const c of store.values()) if (c.properties[idProperty] === id) return c;
    return undefined;
  }

  /** The asked properties (unset ones as null, unknown ones left out) plus HubSpot's own three. */
  function view(contact: StoredContact, names: string[] | undefined) {
    const wanted = names && names.length > 0 ? names : DEFAULT_RETURNED;
    const properties: Record<string, string | null> = {};
    for (const name of [...wanted, ...ALWAYS_RETURNED]) {
      if (definitions.has(name)) properties[name] = contact.properties[name] ?? null;
    }
    return {
      id: contact.id,
      properties,
      createdAt: new Date(contact.createdAt).toISOString(),
      updatedAt: new Date(contact.updatedAt).toISOString(),
      archived: false,
    };
  }

  // ---- routes -----------------------------------------------------------------------------

  function search(body: Json): Answer {
    const groups = body.filterGroups ?? [];
    if (!Array.isArray(groups)) return invalid('filterGroups must be an array');
    if (groups.length > LIMITS.filterGroups)
      return invalid(`Too many filter groups: ${groups.length}, the maximum is ${LIMITS.filterGroups}`);
    const filters: Json[][] = [];
    let total = 0;
    for (const group of groups) {
      const list = obj(group)?.filters;
      if (!Array.isArray(list)) return invalid('each filter group needs a filters array');
      if (list.length > LIMITS.filtersPerGroup)
        return invalid(
          `Too many filters in a group: ${list.length}, the maximum is ${LIMITS.filtersPerGroup}`,
        );
      total += list.length;
      const checked: Json[] = [];
      for (const raw of list) {
        const f = obj(raw);
        const problem = checkFilter(f);
        if (problem) return invalid(problem);
        checked.push(f as Json);
      }
      filters.push(checked);
    }
    if (total > LIMITS.filters)
      return invalid(`Too many filters: ${total}, the maximum is ${LIMITS.filters}`);
    const limit = body.limit ?? 10;
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > LIMITS.searchLimit)
      return invalid(`limit must be between 1 and ${LIMITS.searchLimit}`);
    const after = body.after === undefined ? 0 : Number(body.after);
    if (!Number.isInteger(after) || after < 0) return invalid('after must be a non-negative integer string');
    const names = stringArray(body.properties);
    if (names === null) return invalid('properties must be an array of strings');

    const matched = [...store.values()]
      .filter((c) => filters.length === 0 || filters.some((group) => group.every((f) => matches(c, f))))
      .sort((a, b) => Number(a.id) - Number(b.id));
    const page = matched.slice(after, after + limit);
    const next = after + limit < matched.length ? String(after + limit) : null;
    return ok(200, {
      total: matched.length,
      results: page.map((c) => view(c, names)),
      ...(next ? { paging: { next: { after: next, link: `?after=${next}` } } } : {}),
    });
  }

  function checkFilter(f: Json | undefined): string | null {
    if (!f || typeof f.propertyName !== 'string') return 'each filter needs a propertyName';
    if (typeof f.operator !== 'string' || !OPERATORS.has(f.operator))
      return `Unsupported operator: ${String(f.operator)}`;
    if (!definitions.has(f.propertyName)) return `Property ${f.propertyName} does not exist`;
    if ((f.operator === 'EQ' || f.operator === 'NEQ') && typeof f.value !== 'string')
      return `${f.operator} needs a string value`;
    if (f.operator === 'IN' || f.operator === 'NOT_IN') {
      const values = stringArray(f.values);
      if (!values || values.length === 0) return `${f.operator} needs a values array`;
      if (values.length > LIMITS.inValues)
        return `Too many values for ${f.operator}: ${values.length}, the maximum is ${LIMITS.inValues}`;
    }
    return null;
  }

  function batchRead(body: Json): Answer {
    const inputs = body.inputs;
    if (!Array.isArray(inputs)) return invalid('inputs must be an array');
    if (inputs.length > LIMITS.batch) return invalid(`Batch input size exceeded limit: ${LIMITS.batch}`);
    const names = stringArray(body.properties);
    if (names === null) return invalid('properties must be an array of strings');
    const idProperty = typeof body.idProperty === 'string' ? body.idProperty : undefined;
    if (idProperty && !definitions.has(idProperty)) return invalid(`Property ${idProperty} does not exist`);
    const started = new Date().toISOString();
    const results: unknown[] = [];
    const missing: string[] = [];
    const seen = new Set<string>();
    for (const input of inputs) {
      const id = obj(input)?.id;
      if (typeof id !== 'string' || id === '') return invalid('each input needs an id string');
      if (seen.has(id)) continue;
      seen.add(id);
      const contact = find(id, idProperty);
      if (contact) results.push(view(contact, names));
      else missing.push(id);
    }
    return batchAnswer(started, results, missing.length ? [notFoundError(missing)] : []);
  }

  function batchUpdate(body: Json): Answer {
    const inputs = body.inputs;
    if (!Array.isArray(inputs) || inputs.length === 0) return invalid('inputs must be a non-empty array');
    if (inputs.length > LIMITS.batch) return invalid(`Batch input size exceeded limit: ${LIMITS.batch}`);
    const parsed: Array<{
      id: string;
      properties: Record<string, string>;
      idProperty?: string;
      trace?: string;
    }> = [];
    const ids = new Set<string>();
    const duplicates = new Set<string>();
    const problems: PropertyProblem[] = [];
    for (const raw of inputs) {
      const input = obj(raw);
      const props = obj(input?.properties);
      if (!input || typeof input.id !== 'string' || input.id === '' || !props)
        return invalid('each input needs an id string and a properties object');
      const properties: Record<string, string> = {};
      for (const [name, value] of Object.entries(props)) {
        if (typeof value !== 'string') return invalid(`Property values must be strings (${name})`);
        properties[name] = value;
        const problem = checkValue(definitions.get(name), name, value);
        if (problem && !problems.some((p) => p.name === name && p.error === problem.error))
          problems.push(problem);
      }
      if (ids.has(input.id)) duplicates.add(input.id);
      ids.add(input.id);
      parsed.push({
        id: input.id,
        properties,
        ...(typeof input.idProperty === 'string' ? { idProperty: input.idProperty } : {}),
        ...(typeof input.objectWriteTraceId === 'string' ? { trace: input.objectWriteTraceId } : {}),
      });
    }
    if (duplicates.size > 0)
      return invalid(`Duplicate IDs found in batch input: [${[...duplicates].join(', ')}]`);
    if (problems.length > 0) return propertyError(problems);

    const started = new Date().toISOString();
    const now = Date.now();
    const results: unknown[] = [];
    const missing: string[] = [];
    const errors: unknown[] = [];
    for (const input of parsed) {
      const contact = find(input.id, input.idProperty);
      if (!contact) {
        missing.push(input.id);
        continue;
      }
      if (partialCall && (randomFaults?.random() ?? 1) < (randomFaults?.recordRate ?? 0.3)) continue;
      const left = failing.get(contact.id) ?? 0;
      if (left > 0) {
        failing.set(contact.id, left - 1);
        errors.push({
          status: 'error',
          category: 'VALIDATION_ERROR',
          message: 'Property values were not valid',
          context: { ids: [input.id], ...(input.trace ? { objectWriteTraceId: [input.trace] } : {}) },
          errors: [{ message: 'Property values were not valid', code: 'INVALID_OPTION' }],
        });
        continue;
      }
      apply(contact, input.properties, 'API', now);
      record(contact.id, input.properties, input.trace ?? null, now);
      results.push({
        ...view(contact, Object.keys(input.properties)),
        ...(input.trace ? { objectWriteTraceId: input.trace } : {}),
      });
    }
    if (missing.length > 0) errors.unshift(notFoundError(missing));
    return batchAnswer(started, results, errors);
  }

  function getOne(id: string, query: URLSearchParams): Answer {
    const idProperty = query.get('idProperty') ?? undefined;
    const contact = find(decodeURIComponent(id), idProperty);
    if (!contact) return hsError(404, 'OBJECT_NOT_FOUND', 'resource not found');
    const names = query
      .getAll('properties')
      .flatMap((p) => p.split(','))
      .filter(Boolean);
    return ok(200, view(contact, names));
  }

  function gdprDelete(body: Json): Answer {
    if (typeof body.objectId !== 'string' || body.objectId === '')
      return invalid('objectId must be a non-empty string');
    const idProperty = typeof body.idProperty === 'string' ? body.idProperty : undefined;
    const contact = find(body.objectId, idProperty);
    if (!contact) return hsError(404, 'OBJECT_NOT_FOUND', 'resource not found');
    remove(contact.id, 'API', Date.now());
    return { status: 204, body: null };
  }

  function createProperty(body: Json): Answer {
    const { name, label, type, fieldType, groupName } = body;
    if (
      typeof name !== 'string' ||
      !/^[a-z][a-z0-9_]{0,99}$/.test(name) ||
      typeof label !== 'string' ||
      typeof type !== 'string' ||
      typeof fieldType !== 'string' ||
      typeof groupName !== 'string'
    ) {
      return invalid('name (lowercase), label, type, fieldType and groupName are required');
    }
    if (definitions.has(name))
      return hsError(409, 'OBJECT_ALREADY_EXISTS', `Property named '${name}' already exists.`);
    const def: HubSpotPropertyDefinition = {
      name,
      label,
      type,
      fieldType,
      groupName,
      readOnly: false,
      hasUniqueValue: body.hasUniqueValue === true,
      options: optionValues(body.options),
    };
    definitions.set(name, def);
    return ok(201, propertyView(def));
  }

  /** Property groups: the ones the defined properties use plus the ones created through the API. */
  function groupViews() {
    const names = new Set([...[...definitions.values()].map((d) => d.groupName), ...createdGroups.keys()]);
    return [...names].map((name, displayOrder) => ({
      name,
      label: createdGroups.get(name) ?? name,
      displayOrder,
      archived: false,
    }));
  }

  function createGroup(body: Json): Answer {
    const { name, label } = body;
    if (typeof name !== 'string' || !/^[a-z][a-z0-9_]{0,99}$/.test(name) || typeof label !== 'string')
      return invalid('name (lowercase) and label are required');
    if (groupViews().some((g) => g.name === name))
      return hsError(409, 'OBJECT_ALREADY_EXISTS', `Property group named '${name}' already exists.`);
    createdGroups.set(name, label);
    return ok(201, { name, label, displayOrder: -1, archived: false });
  }

  function route(method: string, path: string, query: URLSearchParams, body: unknown): Answer {
    const json = obj(body);
    const needsJson = method === 'POST';
    if (needsJson && typeof body === 'string') return invalid('Invalid input JSON');
    if (needsJson && !json) return invalid('The request body must be a JSON object');
    const b = json ?? {};
    if (method === 'POST' && path === '/crm/v3/objects/contacts/search') return search(b);
    if (method === 'POST' && path === '/crm/v3/objects/contacts/batch/read') return batchRead(b);
    if (method === 'POST' && path === '/crm/v3/objects/contacts/batch/update') return batchUpdate(b);
    if (method === 'POST' && path === '/crm/v3/objects/contacts/gdpr-delete') return gdprDelete(b);
    if (method === 'GET' && path === '/crm/v3/properties/contacts/groups')
      return ok(200, { results: groupViews() });
    if (method === 'POST' && path === '/crm/v3/properties/contacts/groups') return createGroup(b);
    if (method === 'GET' && path === '/crm/v3/properties/contacts')
      return ok(200, { results: [...definitions.values()].map(propertyView) });
    if (method === 'POST' && path === '/crm/v3/properties/contacts') return createProperty(b);
    const prefs = routeCommPrefs(commPrefs, method, path, query, b);
    if (prefs) return prefs;
    const one = /^\/crm\/v3\/objects\/contacts\/([^/]+)$/.exec(path);
    if (method === 'GET' && one?.[1]) return getOne(one[1], query);
    return hsError(404, 'OBJECT_NOT_FOUND', `No route for ${method} ${path}`);
  }

  // ---- HTTP -------------------------------------------------------------------------------

  function rateHeaders(now: number): Record<string, string> {
    const used = window.filter((t) => t > now - windowMs).length;
    return {
      'x-hubspot-ratelimit-max': String(requestsPerWindow),
      'x-hubspot-ratelimit-remaining': String(Math.max(0, requestsPerWindow - used)),
      'x-hubspot-ratelimit-interval-milliseconds': String(windowMs),
    };
  }

  /** Decided synchronously when the request arrives, so arrival order is the window's order. */
  function admit(req: IncomingMessage, now: number): Verdict {
    if (req.headers.authorization !== `Bearer ${opts.accessToken}`) return { kind: 'unauthorised' };
    const fault = faults.shift() ?? randomFault(req);
    if (fault) {
      stats.faultsByKind[fault] = (stats.faultsByKind[fault] ?? 0) + 1;
      return { kind: 'fault', fault };
    }
    window = window.filter((t) => t > now - windowMs);
    if (window.length >= requestsPerWindow) {
      const frees = (window[0] ?? now) + windowMs - now;
      return { kind: 'limited', retryAfter: Math.max(1, Math.ceil(frees / 1000)) };
    }
    window.push(now);
    return { kind: 'ok' };
  }

  function send(res: ServerResponse, answer: Answer, now: number, extra: Record<string, string> = {}): void {
    stats.byStatus[answer.status] = (stats.byStatus[answer.status] ?? 0) + 1;
    const headers: Record<string, string> = { ...rateHeaders(now), ...extra };
    if (answer.status === 429) stats.rateLimited += 1;
    if (answer.body === null) {
      res.writeHead(answer.status, headers);
      res.end();
      return;
    }
    const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
    headers['content-type'] ??= 'application/json;charset=utf-8';
    res.writeHead(answer.status, headers);
    res.end(text);
  }

  const server = createServer((req, res) => {
    void handle(req, res);
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const now = Date.now();
    stats.calls += 1;
    const verdict = admit(req, now);
    if (verdict.kind === 'fault' && verdict.fault === 'network') {
      stats.faults += 1;
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: flatten(req), body: null });
      req.socket.destroy();
      return;
    }
    const body = await readBody(req);
    requests.push({ method: req.method ?? '', path: req.url ?? '', headers: flatten(req), body });
    if (verdict.kind === 'unauthorised') {
      stats.unauthorised += 1;
      return send(
        res,
        hsError(
          401,
          'INVALID_AUTHENTICATION',
          'Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview',
        ),
        now,
      );
    }
    if (verdict.kind === 'fault') {
      stats.faults += 1;
      if (verdict.fault === 'hang') return; // released by close()
      if (!APPLIED_FAULTS.has(verdict.fault)) return sendFault(res, verdict.fault, now);
    }
    if (verdict.kind === 'limited') {
      return send(res, rateLimitAnswer('TEN_SECONDLY_ROLLING'), now, {
        'retry-after': String(verdict.retryAfter),
      });
    }
    if (latencyMs > 0) await new Promise((r) => setTimeout(r, latencyMs));
    const url = new URL(req.url ?? '/', 'http://sim.invalid');
    const fault = verdict.kind === 'fault' ? verdict.fault : null;
    routed = [];
    partialCall = fault === 'partial';
    const answer = route(req.method ?? 'GET', url.pathname, url.searchParams, body);
    const writes = routed;
    partialCall = false;
    if (fault === 'late') {
      setTimeout(() => {
        if (!res.destroyed) send(res, answer, Date.now());
      }, lateMs).unref();
    } else if (fault === 'reset') {
      sendHalfAnswer(res, answer, now);
    } else {
      send(res, answer, now);
      for (const w of writes) w.answered = true;
    }
  }

  function record(id: string, properties: Record<string, string>, trace: string | null, at: number): void {
    writeSeq += 1;
    const entry: AppliedWrite = { seq: writeSeq, at, properties: { ...properties }, trace, answered: false };
    history.set(id, [...(history.get(id) ?? []), entry]);
    routed.push(entry);
  }

  /** A random fault for this call, or undefined; `partial` only where a batch is written. */
  function randomFault(req: IncomingMessage): HubSpotFault | undefined {
    const batch = (req.url ?? '').startsWith('/crm/v3/objects/contacts/batch/update');
    return deal?.((k) => batch || k !== 'partial');
  }

  /** The status line, headers and half the body, then the socket is destroyed. */
  function sendHalfAnswer(res: ServerResponse, answer: Answer, now: number): void {
    const text = answer.body === null ? '' : JSON.stringify(answer.body);
    sendHalf(
      res,
      answer.status,
      { ...rateHeaders(now), 'content-type': 'application/json;charset=utf-8' },
      text,
    );
  }

  function sendFault(res: ServerResponse, fault: HubSpotFault, now: number): void {
    if (fault === '429') {
      send(res, rateLimitAnswer('TEN_SECONDLY_ROLLING'), now, { 'retry-after': String(faultRetryAfter) });
    } else if (fault === 'daily') {
      send(res, rateLimitAnswer('DAILY'), now);
    } else if (fault === '500' || fault === '503') {
      const message = fault === '500' ? 'internal error' : 'service unavailable';
      send(res, ok(Number(fault), { status: 'error', message, correlationId: randomUUID() }), now);
    } else {
      // A gateway error page, not JSON: the SDK must still surface the status.
      send(res, { status: 502, body: '<html><body><h1>502 Bad Gateway</h1></body></html>' }, now, {
        'content-type': 'text/html',
      });
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  // ---- webhooks ---------------------------------------------------------------------------

  async function flushWebhooks(): Promise<number[]> {
    if (!webhookUrl) throw new Error('flushWebhooks: no webhookUrl set');
    if (!opts.clientSecret) throw new Error('flushWebhooks: no clientSecret set');
    const statuses: number[] = [];
    const batch = queue.splice(0);
    for (let i = 0; i < batch.length; i += WEBHOOK_BATCH) {
      const events = batch.slice(i, i + WEBHOOK_BATCH);
      const dialect = opts.webhookDialect ?? 'classic';
      const req = hubspotWebhookRequest({
        url: webhookUrl,
        secret: opts.clientSecret,
        ...(dialect === 'classic'
          ? { events }
          : { body: JSON.stringify(events.map((e) => inDialect(e, dialect))) }),
      });
      let status = 0;
      try {
        const res = await fetch(req.url, { method: req.method, headers: req.headers, body: req.rawBody });
        status = res.status;
        await res.arrayBuffer();
      } catch {
        status = 0;
      }
      statuses.push(status);
      deliveries.push({
        url: req.url,
        status,
        events: events.length,
        headers: Object.fromEntries(req.headers),
      });
      if (status === 0 || status === 429 || status >= 500) {
        for (const e of events)
          if (e.attemptNumber + 1 < MAX_WEBHOOK_ATTEMPTS)
            queue.push({ ...e, attemptNumber: e.attemptNumber + 1 });
      }
    }
    return statuses;
  }

  // ---- public API -------------------------------------------------------------------------

  function contactOrThrow(id: string): StoredContact {
    const contact = store.get(id);
    if (!contact) throw new Error(`simulator: no contact ${id}`);
    return contact;
  }

  function checkAll(properties: Record<string, string>, allowReadOnly: boolean): void {
    for (const [name, value] of Object.entries(properties)) {
      const problem = checkValue(definitions.get(name), name, value, allowReadOnly);
      if (problem) throw new Error(`simulator: ${problem.error} for property ${name}`);
    }
  }

  return {
    url: `http://127.0.0.1:${port}`,
    portalId,
    appId,
    requests,
    deliveries,
    calls: () => stats.calls,
    stats: () => ({ ...stats, faultsByKind: { ...stats.faultsByKind }, byStatus: { ...stats.byStatus } }),
    commPrefs,
    addContact(properties) {
      checkAll(properties, false);
      nextId += 1;
      const id = String(nextId);
      const now = Date.now();
      const stamp = new Date(now).toISOString();
      const values = Object.fromEntries(Object.entries(properties).filter(([, v]) => v !== ''));
      store.set(id, {
        id,
        createdAt: now,
        updatedAt: now,
        properties: { ...values, hs_object_id: id, createdate: stamp, lastmodifieddate: stamp },
      });
      return id;
    },
    getContact: (id) => {
      const c = store.get(id);
      return c ? { ...c.properties } : null;
    },
    contacts: () => [...store.values()].map((c) => ({ id: c.id, properties: { ...c.properties } })),
    updateFromUi(id, properties, occurredAt = Date.now()) {
      const contact = contactOrThrow(id);
      checkAll(properties, false);
      apply(contact, properties, 'CRM_UI', occurredAt);
    },
    gdprDeleteFromUi(id, occurredAt = Date.now()) {
      contactOrThrow(id);
      remove(id, 'CRM_UI', occurredAt);
    },
    properties: () => [...definitions.values()].map((d) => ({ ...d })),
    failNext(n, kind) {
      faults.push(...Array.from({ length: n }, () => kind));
    },
    failRecord(id, times = Number.POSITIVE_INFINITY) {
      failing.set(id, times);
    },
    setRandomFaults(f) {
      randomFaults = f;
      deal = f && faultDealer(f);
    },
    writeHistory: (id) => (history.get(id) ?? []).map((w) => ({ ...w, properties: { ...w.properties } })),
    setLatency(ms) {
      latencyMs = ms;
    },
    setWebhookUrl(url) {
      webhookUrl = url;
    },
    pendingWebhooks: () => queue,
    flushWebhooks,
    reset() {
      requests.length = 0;
      deliveries.length = 0;
      definitions = defineProperties(opts.properties ?? DEFAULT_CONTACT_PROPERTIES);
      commPrefs.statuses.clear();
      commPrefs.whatsapp = opts.whatsappChannel ?? false;
      createdGroups = new Map();
      store = new Map();
      faults = [];
      randomFaults = null;
      deal = null;
      history = new Map();
      failing = new Map();
      latencyMs = 0;
      window = [];
      queue.length = 0;
      stats = emptyStats();
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections(); // keep-alive and hung sockets would hold close() open
      }),
  };
}

// ---- helpers --------------------------------------------------------------------------------

interface StoredContact {
  id: string;
  createdAt: number;
  updatedAt: number;
  properties: Record<string, string>;
}

type Json = Record<string, unknown>;
type Answer = { status: number; body: unknown };
type Verdict =
  | { kind: 'ok' }
  | { kind: 'unauthorised' }
  | { kind: 'fault'; fault: HubSpotFault }
  | { kind: 'limited'; retryAfter: number };
interface PropertyProblem {
  name: string;
  error: 'PROPERTY_DOESNT_EXIST' | 'READ_ONLY_VALUE' | 'INVALID_OPTION' | 'INVALID_DATETIME';
  message: string;
}

/** Faults whose request is applied before the answer goes wrong. */
const APPLIED_FAULTS = new Set<HubSpotFault>(['late', 'reset', 'partial']);

const emptyStats = (): HubSpotSimStats => ({
  calls: 0,
  unauthorised: 0,
  rateLimited: 0,
  faults: 0,
  faultsByKind: {},
  byStatus: {},
});

function defineProperties(names: string[]): Map<string, HubSpotPropertyDefinition> {
  const all = [...new Set([...names, ...READ_ONLY])];
  return new Map(
    all.map((name) => {
      const bool = BOOL_PROPERTIES.has(name);
      const options = bool ? ['true', 'false'] : (ENUM_PROPERTIES[name] ?? []);
      const datetime = /(_date|^createdate|^lastmodifieddate)$/.test(name);
      const [type, fieldType] = bool
        ? ['bool', 'booleancheckbox']
        : options.length > 0
          ? ['enumeration', 'select']
          : datetime
            ? ['datetime', 'date']
            : ['string', /phone/.test(name) ? 'phonenumber' : 'text'];
      const def: HubSpotPropertyDefinition = {
        name,
        label: name,
        type,
        fieldType,
        groupName: name.startsWith('whatsapp_') ? 'whatsapp_consent' : 'contactinformation',
        readOnly: READ_ONLY.has(name),
        hasUniqueValue: false,
        options,
      };
      return [name, def];
    }),
  );
}

/** `options: [{ value }]` of a property definition request. */
function optionValues(v: unknown): string[] {
  if (!Array.isArray(v)) return [];
  return v.flatMap((o) => {
    const value = obj(o)?.value;
    return typeof value === 'string' ? [value] : [];
  });
}

function propertyView(def: HubSpotPropertyDefinition) {
  return {
    name: def.name,
    label: def.label,
    type: def.type,
    fieldType: def.fieldType,
    groupName: def.groupName,
    description: '',
    options: def.options.map((value, displayOrder) => ({ label: value, value, displayOrder, hidden: false })),
    hidden: false,
    formField: !def.readOnly,
    calculated: false,
    externalOptions: false,
    hasUniqueValue: def.hasUniqueValue,
    modificationMetadata: {
      archivable: !def.readOnly,
      readOnlyDefinition: def.readOnly,
      readOnlyValue: def.readOnly,
    },
  };
}

function checkValue(
  def: HubSpotPropertyDefinition | undefined,
  name: string,
  value: string,
  allowReadOnly = false,
): PropertyProblem | null {
  if (!def) return { name, error: 'PROPERTY_DOESNT_EXIST', message: `Property "${name}" does not exist` };
  if (def.readOnly && !allowReadOnly)
    return {
      name,
      error: 'READ_ONLY_VALUE',
      message: `"${name}" is a read only property; its value cannot be set.`,
    };
  if (value === '') return null;
  if (def.options.length > 0 && !def.options.includes(value)) {
    const allowed = def.options.join(', ');
    return {
      name,
      error: 'INVALID_OPTION',
      message: `${value} was not one of the allowed options: [${allowed}]`,
    };
  }
  if (def.type === 'datetime' && !/^\d{1,15}$/.test(value) && Number.isNaN(Date.parse(value)))
    return { name, error: 'INVALID_DATETIME', message: `${value} is not a valid datetime` };
  return null;
}

/** HubSpot quotes the offending value in the message, which is why the connector never passes it on. */
function propertyError(problems: PropertyProblem[]): Answer {
  const detail = problems.map((p) => ({
    isValid: false,
    message: p.message,
    error: p.error,
    name: p.name,
    localizedErrorMessage: p.message,
  }));
  return hsError(400, 'VALIDATION_ERROR', `Property values were not valid: ${JSON.stringify(detail)}`, {
    errors: problems.map((p) => ({ message: p.message, code: p.error, context: { propertyName: [p.name] } })),
  });
}

function matches(contact: StoredContact, f: Json): boolean {
  const value = contact.properties[f.propertyName as string];
  const has = value !== undefined && value !== '';
  const eq = (x: unknown) => has && typeof x === 'string' && value.toLowerCase() === x.toLowerCase();
  switch (f.operator) {
    case 'EQ':
      return eq(f.value);
    case 'NEQ':
      return !eq(f.value);
    case 'IN':
      return (f.values as unknown[]).some(eq);
    case 'NOT_IN':
      return !(f.values as unknown[]).some(eq);
    case 'HAS_PROPERTY':
      return has;
    default:
      return !has;
  }
}

function notFoundError(ids: string[]) {
  return { status: 'error', category: 'OBJECT_NOT_FOUND', message: NOT_FOUND_MESSAGE, context: { ids } };
}

function batchAnswer(startedAt: string, results: unknown[], errors: unknown[]): Answer {
  const base = { status: 'COMPLETE', results, startedAt, completedAt: new Date().toISOString() };
  return errors.length > 0 ? ok(207, { ...base, numErrors: errors.length, errors }) : ok(200, base);
}

function rateLimitAnswer(policyName: 'TEN_SECONDLY_ROLLING' | 'DAILY'): Answer {
  return ok(429, {
    status: 'error',
    message:
      policyName === 'DAILY'
        ? 'You have reached your daily limit.'
        : 'You have reached your ten_secondly_rolling limit.',
    errorType: 'RATE_LIMIT',
    correlationId: randomUUID(),
    policyName,
    requestId: randomUUID(),
  });
}

const ok = (status: number, body: unknown): Answer => ({ status, body });

function hsError(status: number, category: string, message: string, extra: Json = {}): Answer {
  return ok(status, { status: 'error', message, correlationId: randomUUID(), category, ...extra });
}

const invalid = (message: string): Answer => hsError(400, 'VALIDATION_ERROR', message);

function stringArray(v: unknown): string[] | undefined | null {
  if (v === undefined) return undefined;
  return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : null;
}

function obj(v: unknown): Json | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
}

/** HubSpot event ids are numbers; the connector contract's string ids map onto one. */
const numericId = (s: string) => [...s].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 1_000_000_007, 7);

/**
 * The connector contract's `webhook` for HubSpot: one signed delivery with a `contact.propertyChange`
 * per changed property, as a CRM user's edit produces.
 */
export function contractWebhook(url: string, secret: string) {
  return (change: {
    ref: { id: string };
    properties: Record<string, string | number | boolean | null>;
    occurredAt: number;
    eventId: string;
  }): WebhookRequest =>
    hubspotWebhookRequest({
      url,
      secret,
      events: Object.entries(change.properties).map(([name, value], i) =>
        makeHubSpotEvent({
          subscriptionType: 'contact.propertyChange',
          objectId: Number(change.ref.id),
          eventId: numericId(change.eventId) + i,
          occurredAt: change.occurredAt,
          propertyName: name,
          propertyValue: value === null ? '' : String(value),
          changeSource: 'CRM_UI',
        }),
      ),
    });
}
