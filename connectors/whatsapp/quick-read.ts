/**
 * The webhook's common shapes read without zod (issue 17: the acknowledgement's CPU). A delivery
 * status, a text message, a contact and the envelope around them make up nearly every delivery, and
 * zod cost about a sixth of the main thread's time per webhook. Each reader here returns exactly
 * what its schema in `schema.ts` would output, or `undefined` whenever anything is not the plain
 * common case (a missing or odd field, a type it does not read, a bound reached): the caller then
 * asks zod, which stays the definition of what is readable and says why an item is not.
 *
 * Sound, not complete: `quick-read.property.test.ts` checks on generated items, valid and hostile,
 * that a reader never answers where zod would not, never answers differently, and answers for
 * every item of the common shapes; and that `parseWebhook` gives the same result either way.
 */
import type { Envelope, WebhookContact, WebhookMessage, WebhookStatus } from './schema.ts';
import { MAX_ITEMS } from './schema.ts';

type Obj = Record<string, unknown>;

/** A JSON object (what zod's `z.object` accepts from `JSON.parse`): not null, not an array. */
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `id` in schema.ts: a string of 1–256 UTF-16 units. */
const isId = (v: unknown): v is string => typeof v === 'string' && v.length >= 1 && v.length <= 256;

/** `shortName` in schema.ts: a string of 1–64 UTF-16 units. */
const isShort = (v: unknown): v is string => typeof v === 'string' && v.length >= 1 && v.length <= 64;

const DIGITS_12 = /^\d{1,12}$/;
const DIGITS_9 = /^\d{1,9}$/;
const MAX_UNIX_SECONDS = 100_000_000_000;

/** `unixSecondsSchema`: digits or a non-negative safe integer, at most 1e11; undefined otherwise. */
function unixSeconds(v: unknown): number | undefined {
  if (typeof v === 'string') {
    if (!DIGITS_12.test(v)) return undefined;
    const n = Number(v);
    return n <= MAX_UNIX_SECONDS ? n : undefined;
  }
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= MAX_UNIX_SECONDS) return v;
  return undefined;
}

/** `errorCode`: a safe integer, or 1–9 digits read as a number. */
function errorCode(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : undefined;
  if (typeof v === 'string' && DIGITS_9.test(v)) return Number(v);
  return undefined;
}

/**
 * Copies the optional id fields that are present into `out`; false when one is present but not an id
 * (zod would refuse the item, so the quick reader gives up).
 */
function optionalIds(raw: Obj, keys: readonly string[], out: Obj): boolean {
  for (const k of keys) {
    const v = raw[k];
    if (v === undefined) continue;
    if (!isId(v)) return false;
    out[k] = v;
  }
  return true;
}

const RECIPIENT_KEYS = ['recipient_id', 'recipient_user_id', 'recipient_parent_user_id'] as const;
const SENDER_KEYS = ['from', 'from_user_id', 'from_parent_user_id'] as const;
const CONTACT_KEYS = ['wa_id', 'user_id', 'parent_user_id'] as const;

/** `statusSchema`'s output for a plain status item, or undefined (ask zod). */
export function quickStatus(raw: unknown): WebhookStatus | undefined {
  if (!isObj(raw) || !isId(raw.id) || !isShort(raw.status)) return undefined;
  const timestamp = unixSeconds(raw.timestamp);
  if (timestamp === undefined) return undefined;
  const out: Obj = { id: raw.id, status: raw.status, timestamp };
  if (!optionalIds(raw, RECIPIENT_KEYS, out)) return undefined;
  if (raw.errors !== undefined) {
    const errors = raw.errors;
    if (!Array.isArray(errors) || errors.length > 100) return undefined;
    const codes: Array<{ code: number }> = [];
    for (const e of errors) {
      if (!isObj(e)) return undefined;
      const code = errorCode(e.code);
      if (code === undefined) return undefined;
      codes.push({ code });
    }
    out.errors = codes;
  }
  return out as WebhookStatus;
}

/** `messageSchema`'s output for a text message, or undefined (any other type, or anything odd: ask zod). */
export function quickTextMessage(raw: unknown): WebhookMessage | undefined {
  if (!isObj(raw) || raw.type !== 'text' || !isId(raw.id)) return undefined;
  const text = raw.text;
  if (!isObj(text) || typeof text.body !== 'string' || text.body.length > 4096) return undefined;
  const timestamp = unixSeconds(raw.timestamp);
  if (timestamp === undefined) return undefined;
  const out: Obj = { id: raw.id, timestamp, type: 'text', text: { body: text.body } };
  if (!optionalIds(raw, SENDER_KEYS, out)) return undefined;
  if (raw.context !== undefined) {
    const context = raw.context;
    if (!isObj(context)) return undefined;
    const c: Obj = {};
    if (!optionalIds(context, ['id'], c)) return undefined;
    out.context = c;
  }
  return out as WebhookMessage;
}

/** `contactSchema`'s output, or undefined (ask zod). */
export function quickContact(raw: unknown): WebhookContact | undefined {
  if (!isObj(raw)) return undefined;
  const out: Obj = {};
  return optionalIds(raw, CONTACT_KEYS, out) ? (out as WebhookContact) : undefined;
}

const CAPPED = ['contacts', 'messages', 'statuses', 'user_preferences', 'errors'] as const;

/**
 * `envelopeSchema`'s output, or undefined (ask zod, which also words the 422). Each change's `value`
 * is the received object itself (the schema keeps every key of it and reads none but the array
 * sizes).
 */
export function quickEnvelope(json: unknown): Envelope | undefined {
  if (!isObj(json) || json.object !== 'whatsapp_business_account') return undefined;
  const entries = json.entry;
  if (!Array.isArray(entries) || entries.length < 1 || entries.length > 100) return undefined;
  const entry: Envelope['entry'] = [];
  for (const e of entries) {
    if (!isObj(e) || !isId(e.id) || !Array.isArray(e.changes) || e.changes.length > 100) return undefined;
    const changes: Envelope['entry'][number]['changes'] = [];
    for (const c of e.changes) {
      if (!isObj(c) || !isShort(c.field) || !isObj(c.value)) return undefined;
      const value = c.value;
      for (const k of CAPPED) {
        const items = value[k];
        if (Array.isArray(items) && items.length > MAX_ITEMS) return undefined;
      }
      changes.push({ field: c.field, value });
    }
    entry.push({ id: e.id, changes });
  }
  return { object: 'whatsapp_business_account', entry };
}
