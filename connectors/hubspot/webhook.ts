/**
 * HubSpot webhook deliveries (API-FACTS 2.2, 7; docs/crm-webhook-facts.md): a JSON array of events,
 * up to 100 per request, in three dialects:
 * - classic: `subscriptionType: "contact.propertyChange"` (also `contact.deletion`,
 *   `contact.privacyDeletion`, which has no generic form);
 * - legacy: the same, named by `eventType` instead of `subscriptionType`;
 * - generic (`object.*`, beta): `object.propertyChange` / `object.creation` / `object.deletion`
 *   with `objectTypeId` (`"0-1"` is contacts; other object types are ignored).
 *
 * The envelope is strict (a JSON array, at most `MAX_EVENTS`): anything else is a 400. Events are
 * read one by one (sync rule 8, readers skip, never drop): an event that cannot be read goes to
 * `skipped` with a reason naming the path and what was expected, never a value, and the rest of
 * the delivery still counts. Events understood and deliberately left out (association changes,
 * creations, other objects, properties outside the whitelist) are counted in `ignored`.
 * Unknown keys are stripped; values of properties outside the whitelist (and the match field)
 * never leave this file.
 */
import { z } from 'zod';
import type {
  InboundChange,
  LookupSpec,
  ParsedWebhook,
  RemoteValue,
  SkippedEvent,
  WebhookReply,
} from '../types.ts';

export const MAX_EVENTS = 1000;
/** Year 275760, the largest time a JS Date can hold. */
const MAX_MS = 8_640_000_000_000_000;
/** HubSpot's object type id of contacts in generic (`object.*`) events. */
export const CONTACT_TYPE_ID = '0-1';

const numericId = z
  .union([z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER), z.string().regex(/^\d{1,20}$/)])
  .transform(String);

/** The fields every contact event needs; unknown keys are stripped. */
const eventSchema = z.object({
  // "This value is not guaranteed to be unique" (HubSpot); a number in practice, strings tolerated.
  eventId: z.union([z.number().int(), z.string().min(1).max(128)]).transform(String),
  subscriptionId: numericId.optional(),
  occurredAt: z.number().int().nonnegative().max(MAX_MS),
  objectId: numericId,
  propertyName: z.string().min(1).max(100).optional(),
  propertyValue: z.union([z.string(), z.number(), z.boolean(), z.null()]).optional(),
});

type HubSpotEvent = z.output<typeof eventSchema>;

/** What an event type stands for once its dialect is known. */
type Kind = 'property_change' | 'deletion' | 'privacy_deletion' | 'creation' | 'association' | 'other';

const CLASSIC: Record<string, Kind> = {
  'contact.propertyChange': 'property_change',
  'contact.deletion': 'deletion',
  'contact.privacyDeletion': 'privacy_deletion',
  'contact.creation': 'creation',
};
const GENERIC: Record<string, Kind> = {
  'object.propertyChange': 'property_change',
  'object.deletion': 'deletion',
  'object.creation': 'creation',
};

/** `CRM_UI`, `API`, `IMPORT`, …: anything else (it could be free text) is not passed on. */
const CHANGE_SOURCE = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

export const ACK: WebhookReply = { status: 200, contentType: 'application/json', body: '{"ok":true}' };

/**
 * Turns a verified delivery into changes: property changes of a whitelisted property (or of the
 * match field, reported as `matchValue`), privacy deletions and deletions of contacts, in any of
 * the three dialects. A deletion of a contact whose privacy deletion is in the same delivery is
 * dropped: HubSpot sends both for one GDPR delete, and the privacy deletion is the one that counts.
 *
 * @example
 * const parsed = parseHubSpotWebhook(req.rawBody, spec);
 * if (!parsed.ok) return new Response(parsed.reply.body, { status: parsed.reply.status });
 * // parsed.changes, parsed.skipped (unreadable events), parsed.ignored (a count)
 */
export function parseHubSpotWebhook(rawBody: string, spec: LookupSpec): ParsedWebhook {
  let json: unknown;
  try {
    json = JSON.parse(rawBody);
  } catch {
    return invalid('the body is not JSON');
  }
  if (!Array.isArray(json))
    return invalid('not a HubSpot webhook payload ((root): expected an array of events)');
  if (json.length > MAX_EVENTS) return invalid(`more than ${MAX_EVENTS} events in one delivery`);
  const allowed = new Set(spec.properties);
  const changes: InboundChange[] = [];
  const skipped: SkippedEvent[] = [];
  let ignored = 0;
  json.forEach((raw: unknown, index) => {
    const read = readEvent(raw, index, allowed, spec.matchField);
    if (read === 'ignored') ignored++;
    else if ('reason' in read) skipped.push({ source: 'hubspot', kind: 'event', reason: read.reason, raw });
    else changes.push(read);
  });
  // One GDPR delete fires contact.privacyDeletion and contact.deletion (API-FACTS 2.2): acting on
  // the deletion first would unlink the record and leave the privacy deletion nobody to erase.
  const private_ = new Set(changes.filter((c) => c.type === 'privacy_deletion').map((c) => c.ref.id));
  const kept = changes.filter((c) => !(c.type === 'deletion' && private_.has(c.ref.id)));
  ignored += changes.length - kept.length;
  return { ok: true, changes: kept, ack: ACK, skipped, ignored };
}

function readEvent(
  raw: unknown,
  index: number,
  allowed: Set<string>,
  matchField: string,
): InboundChange | 'ignored' | { reason: string } {
  const at = `[${index}]`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return { reason: `${at}: expected an object` };
  const fields = raw as Record<string, unknown>;
  // Legacy deliveries name the type `eventType`.
  const type = typeof fields.subscriptionType === 'string' ? fields.subscriptionType : fields.eventType;
  if (typeof type !== 'string' || type === '' || type.length > 100)
    return { reason: `${at}.subscriptionType: expected a string (or eventType)` };
  const kind = kindOf(type, fields.objectTypeId);
  if (typeof kind === 'object') return { reason: `${at}.${kind.reason}` };
  if (kind === 'association' || kind === 'other') return 'ignored';
  const parsed = eventSchema.safeParse(raw);
  if (!parsed.success) return { reason: describe(at, parsed.error.issues) };
  const event = parsed.data;
  if (kind === 'creation') return 'ignored';
  if (kind === 'property_change' && event.propertyName === undefined)
    return { reason: `${at}.propertyName: expected a string for a property change` };
  const subscription = event.subscriptionId ?? type;
  const base = {
    eventId: dedupeKey(subscription, event),
    ref: { objectType: 'contact', id: event.objectId },
    occurredAt: new Date(event.occurredAt).toISOString(),
    properties: {} as Record<string, RemoteValue>,
    matchValue: null as string | null,
    changeSource:
      typeof fields.changeSource === 'string' && CHANGE_SOURCE.test(fields.changeSource)
        ? fields.changeSource
        : null,
  };
  if (kind === 'privacy_deletion') return { ...base, type: 'privacy_deletion' };
  if (kind === 'deletion') return { ...base, type: 'deletion' };
  const name = event.propertyName as string;
  const isMatch = name === matchField;
  if (!allowed.has(name) && !isMatch) return 'ignored';
  const value = event.propertyValue ?? null;
  if (allowed.has(name)) base.properties[name] = value;
  if (isMatch) base.matchValue = value === null ? null : String(value);
  return { ...base, type: 'property_change' };
}

/** The event's meaning; generic events of other object types are `other`. */
function kindOf(type: string, objectTypeId: unknown): Kind | { reason: string } {
  if (type.endsWith('.associationChange')) return 'association';
  const classic = CLASSIC[type];
  if (classic) return classic;
  const generic = GENERIC[type];
  if (!generic) return 'other';
  if (typeof objectTypeId !== 'string' || !/^\d{1,10}-\d{1,20}$/.test(objectTypeId))
    return { reason: 'objectTypeId: expected an object type id such as "0-1"' };
  return objectTypeId === CONTACT_TYPE_ID ? generic : 'other';
}

/** eventId alone is not unique (API-FACTS 2.2); attemptNumber is left out so redeliveries collide. */
function dedupeKey(subscription: string, e: HubSpotEvent): string {
  const parts = [subscription, e.eventId, e.occurredAt, e.objectId];
  if (e.propertyName !== undefined) parts.push(e.propertyName);
  return parts.join(':');
}

function invalid(message: string): ParsedWebhook {
  return {
    ok: false,
    status: 400,
    code: 'INVALID_PAYLOAD',
    message,
    reply: { status: 400, contentType: 'application/json', body: '{"error":"INVALID_PAYLOAD"}' },
  };
}

/** What each field must be, for skip reasons. */
const EXPECTED: Record<string, string> = {
  eventId: 'a number or a short string',
  subscriptionId: 'a numeric id',
  occurredAt: 'ms since epoch (a non-negative integer)',
  objectId: 'a numeric id',
  propertyName: 'a property name (1 to 100 characters)',
  propertyValue: 'a string, number, boolean or null',
};

/** Paths and expectations only: zod's own messages are not used, so no value can slip in. */
function describe(at: string, issues: z.core.$ZodIssue[]): string {
  const fields = [...new Set(issues.map((i) => String(i.path[0] ?? '')))];
  const parts = fields
    .slice(0, 3)
    .map((f) => `${at}${f ? `.${f}` : ''}: expected ${EXPECTED[f] ?? 'another shape'}`);
  return `${parts.join('; ')}${fields.length > 3 ? '; …' : ''}`;
}
