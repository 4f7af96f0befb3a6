/**
 * Normalises a verified WhatsApp webhook body into the few events consent-sync acts on.
 * Only named fields are copied: contact names, pricing, media and error texts are dropped here.
 */
import type { z } from 'zod';
import type {
  MessagesChange,
  PreferencesChange,
  WebhookChange,
  WebhookMessage,
  WebhookStatus,
} from './schema.ts';
import { webhookSchema } from './schema.ts';

/** What a reply contained, reduced to what keyword and button matching needs. */
export type MessageContent =
  | { type: 'text'; body: string }
  | { type: 'button'; payload: string; text: string }
  | { type: 'interactive'; replyId: string; title: string }
  | { type: 'other'; messageType: string };

/** One normalised webhook event. Ids are WhatsApp ids (digits), times are ISO-8601 UTC. */
export type InboundEvent =
  | {
      kind: 'message';
      waMessageId: string;
      from: string;
      occurredAt: string;
      contextId: string | null;
      content: MessageContent;
    }
  | {
      kind: 'status';
      waMessageId: string;
      recipientId: string;
      status: string;
      occurredAt: string;
      errorCodes: number[];
    }
  | { kind: 'preference'; waId: string; value: 'stop' | 'resume'; category: string; occurredAt: string }
  | { kind: 'number_change'; oldWaId: string; newWaId: string; occurredAt: string };

export type ParseResult =
  | { ok: true; events: InboundEvent[]; ignored: number }
  | { ok: false; code: 'MALFORMED_PAYLOAD'; message: string };

/**
 * Validates and flattens every `entry[]/changes[]/messages[]/statuses[]/user_preferences[]`, in order.
 * `ignored` counts what was valid but carries nothing for us: changes of other fields, system
 * messages other than a number change, and `errors[]` items of a `messages` change.
 * On failure the message names the JSON path but never a value (no personal data in errors).
 *
 * @example
 * const parsed = parseWebhook(JSON.parse(rawText));
 * if (!parsed.ok) return c.json({ error: { code: parsed.code, message: parsed.message } }, 400);
 * for (const event of parsed.events) { … }
 */
export function parseWebhook(json: unknown): ParseResult {
  const result = webhookSchema.safeParse(json);
  if (!result.success)
    return { ok: false, code: 'MALFORMED_PAYLOAD', message: describe(result.error.issues) };
  const events: InboundEvent[] = [];
  let ignored = 0;
  for (const entry of result.data.entry) {
    for (const change of entry.changes) {
      if (isMessagesChange(change)) {
        for (const message of change.value.messages ?? []) {
          const event = messageEvent(message);
          if (event) events.push(event);
          else ignored++;
        }
        for (const status of change.value.statuses ?? []) events.push(statusEvent(status));
        ignored += change.value.errors?.length ?? 0;
      } else if (isPreferencesChange(change)) {
        for (const p of change.value.user_preferences) {
          events.push({
            kind: 'preference',
            waId: p.wa_id,
            value: p.value,
            category: p.category,
            occurredAt: iso(p.timestamp),
          });
        }
      } else {
        ignored++;
      }
    }
  }
  return { ok: true, events, ignored };
}

// The schema routes on `field`, so the literal tells the variant; TS cannot see that through the
// catch-all branch (whose `field` is any string), hence these guards.
const isMessagesChange = (c: WebhookChange): c is MessagesChange => c.field === 'messages';
const isPreferencesChange = (c: WebhookChange): c is PreferencesChange => c.field === 'user_preferences';

function messageEvent(m: WebhookMessage): InboundEvent | null {
  const occurredAt = iso(m.timestamp);
  if ('system' in m) {
    // Only a number change matters (consent keyed by number must move); the body holds names, drop it.
    if (m.system.type !== 'user_changed_number' || m.system.wa_id === undefined) return null;
    return { kind: 'number_change', oldWaId: m.from, newWaId: m.system.wa_id, occurredAt };
  }
  return {
    kind: 'message',
    waMessageId: m.id,
    from: m.from,
    occurredAt,
    contextId: m.context?.id ?? null,
    content: content(m),
  };
}

function content(m: WebhookMessage): MessageContent {
  if ('text' in m) return { type: 'text', body: m.text.body };
  if ('button' in m) return { type: 'button', payload: m.button.payload, text: m.button.text };
  if ('interactive' in m) {
    const reply =
      m.interactive.type === 'button_reply' ? m.interactive.button_reply : m.interactive.list_reply;
    return { type: 'interactive', replyId: reply.id, title: reply.title };
  }
  return { type: 'other', messageType: m.type };
}

function statusEvent(s: WebhookStatus): InboundEvent {
  return {
    kind: 'status',
    waMessageId: s.id,
    recipientId: s.recipient_id,
    status: s.status,
    occurredAt: iso(s.timestamp),
    errorCodes: (s.errors ?? []).map((e) => e.code),
  };
}

const iso = (unixSeconds: number): string => new Date(unixSeconds * 1000).toISOString();

/**
 * First issue as `at <path>: <what was expected>`. Paths are built from schema keys and indices only
 * (objects are not strict, so no input key can appear), and messages come from the schema side.
 */
function describe(issues: readonly z.core.$ZodIssue[]): string {
  const first = issues[0];
  if (!first) return 'invalid webhook payload';
  const path = first.path.reduce<string>(
    (acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : `${acc}${acc ? '.' : ''}${String(key)}`),
    '',
  );
  // unrecognized_keys would list input keys; every other zod message states only the expectation.
  const what = first.code === 'unrecognized_keys' ? 'unexpected keys' : first.message;
  const more = issues.length > 1 ? ` (+${issues.length - 1} more)` : '';
  return `invalid webhook payload at ${path || '(root)'}: ${what}${more}`;
}
