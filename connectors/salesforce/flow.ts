/**
 * The JSON body a record-triggered Flow's HTTP Callout action (API-FACTS 3.4) sends us. We define it,
 * so the envelope is strict: a body that is not `{ "events": [1 to 200 items] }` is a 400, which
 * shows up in the Flow's fault path right away. Items are read one by one (sync rule 8): an item
 * that does not match the shape below (an unknown key included) is skipped, kept for inspection,
 * and counted in the reply's `skipped`; the other items still count.
 *
 * ```json
 * {
 *   "events": [
 *     {
 *       "id": "flow-interview-7f3a-1",
 *       "objectType": "Contact",
 *       "recordId": "0035e00000ZkM3hAAF",
 *       "occurredAt": "2024-06-01T12:00:00.000Z",
 *       "type": "property_change",
 *       "fields": { "WhatsApp_Opted_Out__c": true, "WhatsApp_Marketing_Consent__c": false }
 *     }
 *   ]
 * }
 * ```
 *
 * - `events`: 1 to 200 items.
 * - `id`: the delivery's unique id (1–255 characters), stable across the Flow's retries; dedupe key.
 * - `objectType`: the sObject API name (`Contact`, `Lead`, `Individual`, or any other).
 * - `recordId`: 15- or 18-character record id.
 * - `occurredAt`: ISO 8601 date-time with `Z` or an offset (use the record's `LastModifiedDate`).
 * - `type` (optional, default `property_change`): `property_change`, `deletion`, or
 *   `should_forget` (the Individual's ShouldForget was set), which becomes `privacy_deletion`.
 * - `fields`: API name → string, boolean, number or null; only whitelisted names are kept, and
 *   the match field's value (when sent) becomes `matchValue`.
 */
import { z } from 'zod';
import type { InboundChange, LookupSpec, RemoteValue } from '../types.ts';
import { isApiName, isSalesforceId } from './soql.ts';

export const MAX_FLOW_EVENTS = 200;

const fieldValue = z.union([z.string().max(32_768), z.boolean(), z.number(), z.null()]);

const flowEvent = z.strictObject({
  id: z.string().min(1).max(255),
  objectType: z.string().refine(isApiName, 'not an sObject API name'),
  recordId: z.string().refine(isSalesforceId, 'not a 15 or 18 character record id'),
  occurredAt: z.iso.datetime({ offset: true }),
  type: z.enum(['property_change', 'deletion', 'should_forget']).optional(),
  fields: z.record(z.string().refine(isApiName, 'not a field API name'), fieldValue),
});

export const flowCalloutSchema = z.strictObject({
  events: z.array(z.unknown()).min(1).max(MAX_FLOW_EVENTS),
});

export type FlowEvent = z.infer<typeof flowEvent>;

/** An item that could not be read: `reason` names the path and what was expected, never a value. */
export interface UnreadableItem {
  index: number;
  reason: string;
  raw: unknown;
}

export type FlowResult =
  | { ok: true; changes: InboundChange[]; unreadable: UnreadableItem[] }
  | { ok: false; code: string; message: string };

const TYPES = {
  property_change: 'property_change',
  deletion: 'deletion',
  should_forget: 'privacy_deletion',
} as const;

/**
 * Validates a Flow callout body and maps its items to changes of whitelisted fields. Error
 * messages and reasons name the JSON path only, never a value.
 *
 * @example readFlowCallout(rawBody, spec) // { ok: true, changes: [{ type: 'property_change', … }], unreadable: [] }
 */
export function readFlowCallout(rawBody: string, spec: LookupSpec): FlowResult {
  let json: unknown;
  try {
    json = JSON.parse(rawBody);
  } catch {
    return { ok: false, code: 'MALFORMED_JSON', message: 'body is not JSON' };
  }
  const parsed = flowCalloutSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue ? issue.path.map(String).join('.') : '';
    return { ok: false, code: 'INVALID_BODY', message: `invalid Flow callout body at ${path || '(root)'}` };
  }
  const changes: InboundChange[] = [];
  const unreadable: UnreadableItem[] = [];
  parsed.data.events.forEach((raw, index) => {
    const item = flowEvent.safeParse(raw);
    if (!item.success) {
      const issue = item.error.issues[0];
      const path = ['events', index, ...(issue?.path ?? [])].map(String).join('.');
      const what = issue?.code === 'invalid_type' ? `expected ${issue.expected}` : `invalid (${issue?.code})`;
      unreadable.push({ index, reason: `${path}: ${what}`, raw });
      return;
    }
    const e = item.data;
    changes.push({
      eventId: e.id,
      type: TYPES[e.type ?? 'property_change'],
      ref: { objectType: e.objectType, id: e.recordId },
      occurredAt: new Date(e.occurredAt).toISOString(),
      properties: whitelisted(e.fields, spec),
      matchValue: matchValue(e.fields, spec),
      changeSource: null,
    });
  });
  return { ok: true, changes, unreadable };
}

/** Keeps the spec's properties (matched case-insensitively, named as the spec names them). */
export function whitelisted(
  fields: Record<string, RemoteValue>,
  spec: LookupSpec,
): Record<string, RemoteValue> {
  const byLower = new Map(Object.entries(fields).map(([k, v]) => [k.toLowerCase(), v]));
  const out: Record<string, RemoteValue> = {};
  for (const name of spec.properties) {
    const value = byLower.get(name.toLowerCase());
    if (value !== undefined) out[name] = value;
  }
  return out;
}

export function matchValue(fields: Record<string, RemoteValue>, spec: LookupSpec): string | null {
  const key = Object.keys(fields).find((k) => k.toLowerCase() === spec.matchField.toLowerCase());
  const value = key === undefined ? undefined : fields[key];
  return typeof value === 'string' ? value : null;
}
