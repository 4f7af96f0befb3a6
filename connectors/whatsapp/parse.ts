/**
 * Normalises a verified WhatsApp webhook body into the few events consent-sync acts on.
 * Only named fields are copied: contact names, usernames, pricing, media and error texts are
 * dropped here. Readers skip, never drop (sync rule 8): only a wrong envelope rejects the
 * delivery; an item that cannot be read is reported in `skipped` and the others still count.
 */
import type { z } from 'zod';
import { type Identity, metaIdentity, metaPhone, metaUserId } from '../../src/core/identity.ts';
import type { SkippedEvent } from '../types.ts';
import { quickContact, quickEnvelope, quickStatus, quickTextMessage } from './quick-read.ts';
import {
  type ChangeValue,
  contactSchema,
  envelopeSchema,
  messageSchema,
  statusSchema,
  userPreferenceSchema,
  type WebhookContact,
  type WebhookMessage,
} from './schema.ts';

/** What a reply contained, reduced to what keyword and button matching needs. */
export type MessageContent =
  | { type: 'text'; body: string }
  | { type: 'button'; payload: string; text: string }
  | { type: 'interactive'; replyId: string; title: string }
  | { type: 'other'; messageType: string };

/** One normalised webhook event. `who` holds Meta's identifiers; times are ISO-8601 UTC. */
export type InboundEvent =
  | {
      kind: 'message';
      waMessageId: string;
      who: Identity;
      occurredAt: string;
      contextId: string | null;
      content: MessageContent;
    }
  | {
      kind: 'status';
      waMessageId: string;
      who: Identity;
      status: string;
      occurredAt: string;
      errorCodes: number[];
    }
  | {
      kind: 'preference';
      who: Identity;
      value: 'stop' | 'resume' | 'signup';
      category: string;
      occurredAt: string;
      signupId?: string;
    }
  | {
      kind: 'number_change';
      waMessageId: string;
      /** the OLD identity: `from` and the previous user id */
      who: Identity;
      /** E.164 with `+` */
      newPhone: string;
      newBsuid?: string;
      occurredAt: string;
    }
  | {
      kind: 'user_id_change';
      waMessageId: string;
      /** the sender as given: `from` and/or the previous user id */
      who: Identity;
      newBsuid: string;
      occurredAt: string;
    };

export type ParseResult =
  | { ok: true; events: InboundEvent[]; ignored: number; skipped: SkippedEvent[] }
  | { ok: false; code: 'MALFORMED_PAYLOAD'; message: string };

/**
 * Validates the envelope, then reads every `entry[]/changes[]/messages[]/statuses[]/user_preferences[]`
 * item on its own, in order. `ignored` counts what was readable but carries nothing for us: changes
 * of other fields, system messages other than identity changes, and `errors[]` items of a change.
 * Messages and errors name JSON paths and expectations, never a value (no personal data in errors).
 *
 * @example
 * const parsed = parseWebhook(JSON.parse(rawText));
 * if (!parsed.ok) return c.json({ error: { code: parsed.code, message: parsed.message } }, 422);
 * for (const event of parsed.events) { … }  // parsed.skipped: kept for inspection, never lost
 */
export function parseWebhook(json: unknown, options: { quick?: boolean } = {}): ParseResult {
  const quick = options.quick !== false;
  let envelope = quick ? quickEnvelope(json) : undefined;
  if (!envelope) {
    const parsed = envelopeSchema.safeParse(json);
    if (!parsed.success) {
      return {
        ok: false,
        code: 'MALFORMED_PAYLOAD',
        message: `invalid webhook payload ${describe('', parsed.error.issues)}`,
      };
    }
    envelope = parsed.data;
  }
  const out: Output = { events: [], ignored: 0, skipped: [], quick };
  envelope.entry.forEach((entry, e) => {
    entry.changes.forEach((change, c) => {
      const at = `entry[${e}].changes[${c}].value`;
      if (change.field === 'messages') readMessagesChange(change.value, at, out);
      else if (change.field === 'user_preferences') readPreferencesChange(change.value, at, out);
      else out.ignored++;
    });
  });
  return { ok: true, events: out.events, ignored: out.ignored, skipped: out.skipped };
}

interface Output {
  events: InboundEvent[];
  ignored: number;
  skipped: SkippedEvent[];
  /** try the readers of quick-read.ts before zod (false: zod only, for the equivalence tests) */
  quick: boolean;
}

function readMessagesChange(value: ChangeValue, at: string, out: Output): void {
  const contacts = readContacts(value, at, out);
  eachItem(value, 'messages', 'message', at, out, messageSchema, quickTextMessage, (m, path, raw) => {
    const event = messageEvent(m, contacts, { path, raw }, out);
    if (event) out.events.push(event);
  });
  eachItem(value, 'statuses', 'status', at, out, statusSchema, quickStatus, (s, path, raw) => {
    const who = metaIdentity({
      waId: s.recipient_id,
      userId: s.recipient_user_id,
      parentUserId: s.recipient_parent_user_id,
    });
    if (!who) {
      noIdentifier(out, 'status', { path, raw }, 'recipient_id or recipient_user_id');
      return;
    }
    out.events.push({
      kind: 'status',
      waMessageId: s.id,
      who,
      status: s.status,
      occurredAt: iso(s.timestamp),
      errorCodes: (s.errors ?? []).map((e) => e.code),
    });
  });
  if (Array.isArray(value.errors)) out.ignored += value.errors.length;
}

function readPreferencesChange(value: ChangeValue, at: string, out: Output): void {
  const contacts = readContacts(value, at, out);
  if (value.user_preferences === undefined) {
    out.skipped.push(skip('user_preferences', `${at}.user_preferences: expected an array`, value));
    return;
  }
  eachItem(
    value,
    'user_preferences',
    'user_preferences',
    at,
    out,
    userPreferenceSchema,
    null,
    (p, path, raw) => {
      const who = identityWithContacts(
        { waId: p.wa_id, userId: p.user_id, parentUserId: p.parent_user_id },
        contacts,
      );
      if (!who) {
        noIdentifier(out, 'user_preferences', { path, raw }, 'wa_id or user_id');
        return;
      }
      out.events.push({
        kind: 'preference',
        who,
        value: p.value,
        category: p.category,
        occurredAt: iso(p.timestamp),
        ...(p.signup_id === undefined ? {} : { signupId: p.signup_id }),
      });
    },
  );
  if (Array.isArray(value.errors)) out.ignored += value.errors.length;
}

/**
 * Calls `use` with every item of `value[key]` that `schema` reads (`quick` first, when it reads the
 * item: the same output without zod); the others, and a `key` that is not an array, are skipped with
 * the item's path and the first expectation it missed.
 */
function eachItem<S extends z.ZodType>(
  value: ChangeValue,
  key: 'messages' | 'statuses' | 'user_preferences',
  kind: string,
  at: string,
  out: Output,
  schema: S,
  quick: ((raw: unknown) => z.output<S> | undefined) | null,
  use: (item: z.output<S>, path: string, raw: unknown) => void,
): void {
  const items = value[key];
  if (items === undefined) return;
  if (!Array.isArray(items)) {
    out.skipped.push(skip(kind, `${at}.${key}: expected an array`, items));
    return;
  }
  items.forEach((raw: unknown, i) => {
    const path = `${at}.${key}[${i}]`;
    const read = quick && out.quick ? quick(raw) : undefined;
    if (read !== undefined) {
      use(read, path, raw);
      return;
    }
    const parsed = schema.safeParse(raw);
    if (parsed.success) use(parsed.data, path, raw);
    else out.skipped.push(skip(kind, describe(path, parsed.error.issues), raw));
  });
}

function readContacts(value: ChangeValue, at: string, out: Output): WebhookContact[] {
  const items = value.contacts;
  if (items === undefined) return [];
  if (!Array.isArray(items)) {
    out.skipped.push(skip('contacts', `${at}.contacts: expected an array`, items));
    return [];
  }
  const contacts: WebhookContact[] = [];
  items.forEach((raw: unknown, i) => {
    const read = out.quick ? quickContact(raw) : undefined;
    if (read !== undefined) {
      contacts.push(read);
      return;
    }
    const parsed = contactSchema.safeParse(raw);
    if (parsed.success) contacts.push(parsed.data);
    else out.skipped.push(skip('contacts', describe(`${at}.contacts[${i}]`, parsed.error.issues), raw));
  });
  return contacts;
}

interface RawIdentity {
  waId?: string | undefined;
  userId?: string | undefined;
  parentUserId?: string | undefined;
}

/**
 * The item's own identifiers, completed from the change's `contacts[]`: a contact whose `wa_id`
 * equals the item's number or whose `user_id` equals its user id, or else the only contact when it
 * contradicts neither. The item's own values always win.
 */
function identityWithContacts(own: RawIdentity, contacts: WebhookContact[]): Identity | null {
  const samePhone = (a?: string, b?: string) =>
    !!a && !!b && metaPhone(a) !== null && metaPhone(a) === metaPhone(b);
  const matches = (c: WebhookContact) =>
    samePhone(c.wa_id, own.waId) || (!!own.userId && c.user_id === own.userId);
  const contradicts = (c: WebhookContact) =>
    (!!own.waId && !!c.wa_id && !samePhone(c.wa_id, own.waId)) ||
    (!!own.userId && !!c.user_id && c.user_id !== own.userId);
  const only = contacts.length === 1 ? contacts[0] : undefined;
  const contact = contacts.find(matches) ?? (only && !contradicts(only) ? only : undefined);
  return metaIdentity({
    waId: own.waId ?? contact?.wa_id,
    userId: own.userId ?? contact?.user_id,
    parentUserId: own.parentUserId ?? contact?.parent_user_id,
  });
}

/** Where an item sits in the delivery, and the item as received (for `SkippedEvent.raw`). */
interface Item {
  path: string;
  raw: unknown;
}

function messageEvent(
  m: WebhookMessage,
  contacts: WebhookContact[],
  item: Item,
  out: Output,
): InboundEvent | null {
  const occurredAt = iso(m.timestamp);
  if ('system' in m) return systemEvent(m, item, out);
  const who = identityWithContacts(
    { waId: m.from, userId: m.from_user_id, parentUserId: m.from_parent_user_id },
    contacts,
  );
  if (!who) return noIdentifier(out, 'message', item, 'from or from_user_id');
  return {
    kind: 'message',
    waMessageId: m.id,
    who,
    occurredAt,
    contextId: m.context?.id ?? null,
    content: content(m),
  };
}

type SystemMessage = Extract<WebhookMessage, { system: unknown }>;

/**
 * Identity changes (…/webhooks/reference/messages/system, changelog Aug 11, 2026): the old identity
 * is `from` with `system.previous_user_id` (or `from_user_id` when it is not the new id); the new
 * one is `system.wa_id` (a new number) and `system.user_id` (a new BSUID). Other system messages
 * carry nothing for us (their body quotes names) and are ignored.
 */
function systemEvent(m: SystemMessage, item: Item, out: Output): InboundEvent | null {
  const sys = m.system;
  if (sys.type !== 'user_changed_number' && sys.type !== 'user_changed_user_id') {
    out.ignored++;
    return null;
  }
  const previousUser = sys.previous_user_id ?? (m.from_user_id !== sys.user_id ? m.from_user_id : undefined);
  const previousParent =
    sys.previous_parent_user_id ??
    (m.from_parent_user_id !== sys.parent_user_id ? m.from_parent_user_id : undefined);
  const who = metaIdentity({ waId: m.from, userId: previousUser, parentUserId: previousParent });
  const newBsuid =
    sys.user_id !== undefined && metaUserId(sys.user_id)?.kind === 'bsuid' ? sys.user_id : undefined;
  const base = { waMessageId: m.id, occurredAt: iso(m.timestamp) };
  if (sys.type === 'user_changed_number') {
    const newPhone = sys.wa_id === undefined ? null : metaPhone(sys.wa_id);
    if (!newPhone) {
      out.skipped.push(
        skip('message', `${item.path}.system.wa_id: expected the new number (E.164-shaped digits)`, item.raw),
      );
      return null;
    }
    if (!who) return noIdentifier(out, 'message', item, 'from or system.previous_user_id');
    return { kind: 'number_change', ...base, who, newPhone, ...(newBsuid ? { newBsuid } : {}) };
  }
  if (!newBsuid) {
    out.skipped.push(
      skip('message', `${item.path}.system.user_id: expected the new business-scoped user id`, item.raw),
    );
    return null;
  }
  if (!who) return noIdentifier(out, 'message', item, 'from or system.previous_user_id');
  return { kind: 'user_id_change', ...base, who, newBsuid };
}

function content(m: Exclude<WebhookMessage, SystemMessage>): MessageContent {
  if ('text' in m) return { type: 'text', body: m.text.body };
  if ('button' in m) return { type: 'button', payload: m.button.payload, text: m.button.text };
  if ('interactive' in m) {
    const reply =
      m.interactive.type === 'button_reply' ? m.interactive.button_reply : m.interactive.list_reply;
    return { type: 'interactive', replyId: reply.id, title: reply.title };
  }
  return { type: 'other', messageType: m.type };
}

/** Skips an item that names nobody we can address: neither an E.164-shaped number nor a BSUID. */
function noIdentifier(out: Output, kind: string, item: Item, fields: string): null {
  const reason = `${item.path}: expected ${fields} (an E.164-shaped number or a business-scoped user id)`;
  out.skipped.push(skip(kind, reason, item.raw));
  return null;
}

const skip = (kind: string, reason: string, raw: unknown): SkippedEvent => ({
  source: 'whatsapp',
  kind,
  reason,
  raw,
});

const iso = (unixSeconds: number): string => new Date(unixSeconds * 1000).toISOString();

/**
 * First issue as `at <path>: <what was expected>`, the path prefixed with `at`. Paths are built
 * from schema keys and indices only (objects are not strict, so no input key can appear), and
 * messages come from the schema side.
 */
function describe(prefix: string, issues: readonly z.core.$ZodIssue[]): string {
  const first = issues[0];
  const path = (first?.path ?? []).reduce<string>(
    (acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : `${acc}${acc ? '.' : ''}${String(key)}`),
    prefix,
  );
  // unrecognized_keys would list input keys; every other zod message states only the expectation.
  const what = !first ? 'invalid' : first.code === 'unrecognized_keys' ? 'unexpected keys' : first.message;
  const more = issues.length > 1 ? ` (+${issues.length - 1} more)` : '';
  return prefix ? `${path}: ${what}${more}` : `at ${path || '(root)'}: ${what}${more}`;
}
