/**
 * HubSpot webhook deliveries (API-FACTS 2.2): a JSON array of events, up to 100 per request.
 *
 * Objects are not strict (HubSpot adds fields such as `sourceId` or `changeFlag`); unknown keys are
 * stripped and never passed on. Property changes of anything but the mapping's whitelist (and the
 * match field) are dropped here, values included, before the sync layer sees them.
 */
import { z } from 'zod';
import type { InboundChange, LookupSpec, ParsedWebhook, RemoteValue, WebhookReply } from '../types.ts';

const MAX_EVENTS = 1000;
/** Year 275760, the largest time a JS Date can hold. */
const MAX_MS = 8_640_000_000_000_000;

const numericId = z
  .union([z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER), z.string().regex(/^\d{1,20}$/)])
  .transform(String);

const eventSchema = z
  .object({
    // "This value is not guaranteed to be unique" (HubSpot); a number in practice, strings tolerated.
    eventId: z.union([z.number().int(), z.string().min(1).max(128)]).transform(String),
    subscriptionId: numericId,
    portalId: numericId,
    occurredAt: z.number().int().nonnegative().max(MAX_MS),
    subscriptionType: z.string().min(1).max(100),
    attemptNumber: z.number().int().nonnegative().optional(),
    objectId: numericId,
    propertyName: z.string().min(1).max(100).optional(),
    propertyValue: z.union([z.string(), z.number(), z.boolean(), z.null()]).optional(),
    changeSource: z.string().max(100).optional(),
  })
  .superRefine((event, ctx) => {
    if (event.subscriptionType === 'contact.propertyChange' && event.propertyName === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['propertyName'],
        message: 'a property change needs propertyName',
      });
    }
  });

const payloadSchema = z.array(eventSchema).max(MAX_EVENTS);

type HubSpotEvent = z.output<typeof eventSchema>;

/** `CRM_UI`, `API`, `IMPORT`, …: anything else (it could be free text) is not passed on. */
const CHANGE_SOURCE = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

export const ACK: WebhookReply = { status: 200, contentType: 'application/json', body: '{"ok":true}' };

/**
 * Turns a verified delivery into changes: `contact.propertyChange` of a whitelisted property (or of
 * the match field, reported as `matchValue`), `contact.privacyDeletion`, `contact.deletion`. Other
 * subscription types and other properties are ignored. A body that is not an array of events is a
 * 400, whose message names JSON paths, never values.
 *
 * @example
 * const parsed = parseHubSpotWebhook(req.rawBody, spec);
 * if (!parsed.ok) return new Response(parsed.reply.body, { status: parsed.reply.status });
 */
export function parseHubSpotWebhook(rawBody: string, spec: LookupSpec): ParsedWebhook {
  let json: unknown;
  try {
    json = JSON.parse(rawBody);
  } catch {
    return invalid('the body is not JSON');
  }
  const result = payloadSchema.safeParse(json);
  if (!result.success) return invalid(describe(result.error.issues));
  const allowed = new Set(spec.properties);
  const changes: InboundChange[] = [];
  for (const event of result.data) {
    const change = toChange(event, allowed, spec.matchField);
    if (change) changes.push(change);
  }
  return { ok: true, changes, ack: ACK, skipped: [] };
}

function toChange(event: HubSpotEvent, allowed: Set<string>, matchField: string): InboundChange | null {
  const base = {
    eventId: dedupeKey(event),
    ref: { objectType: 'contact', id: event.objectId },
    occurredAt: new Date(event.occurredAt).toISOString(),
    properties: {} as Record<string, RemoteValue>,
    matchValue: null as string | null,
    changeSource: event.changeSource && CHANGE_SOURCE.test(event.changeSource) ? event.changeSource : null,
  };
  switch (event.subscriptionType) {
    case 'contact.privacyDeletion':
      return { ...base, type: 'privacy_deletion' };
    case 'contact.deletion':
      return { ...base, type: 'deletion' };
    case 'contact.propertyChange': {
      const name = event.propertyName as string;
      const isMatch = name === matchField;
      if (!allowed.has(name) && !isMatch) return null;
      const value = event.propertyValue ?? null;
      if (allowed.has(name)) base.properties[name] = value;
      if (isMatch) base.matchValue = value === null ? null : String(value);
      return { ...base, type: 'property_change' };
    }
    default:
      return null;
  }
}

/** eventId alone is not unique (API-FACTS 2.2); attemptNumber is left out so redeliveries collide. */
function dedupeKey(e: HubSpotEvent): string {
  const parts = [e.subscriptionId, e.eventId, e.occurredAt, e.objectId];
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

function describe(issues: z.core.$ZodIssue[]): string {
  const first = issues.slice(0, 3).map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.code}`);
  return `not a HubSpot webhook payload (${first.join('; ')}${issues.length > 3 ? '; …' : ''})`;
}
