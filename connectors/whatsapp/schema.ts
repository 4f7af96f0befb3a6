/**
 * zod schemas for Meta's WhatsApp Business Account webhooks (API-FACTS 1.3–1.9).
 *
 * Objects are not strict: Meta adds fields over time and a rejected webhook is retried for days, so
 * unknown keys are stripped (never passed on) while required fields, types and lengths are enforced.
 * Whatever a schema does not name (contact profile names, pricing, media) never leaves this file.
 */
import { z } from 'zod';

const MAX_ID = 256;
const MAX_TEXT = 4096;
const MAX_ITEMS = 1000;
/** Year 5138: a bigger number is almost surely milliseconds passed off as seconds. */
const MAX_UNIX_SECONDS = 100_000_000_000;

const id = z.string().min(1).max(MAX_ID);
const text = z.string().max(MAX_TEXT);
const shortName = z.string().min(1).max(64);

/**
 * Unix seconds. Meta documents strings in `messages[]`/`statuses[]` and integers in
 * `user_preferences[]`; both forms are accepted everywhere because rejecting one would drop a
 * whole batch (possibly an opt-out) over a formatting change. Output: a number.
 */
export const unixSecondsSchema = z
  .union([z.string().regex(/^\d{1,12}$/), z.number().int().nonnegative()], {
    error: 'expected Unix seconds (a string of digits or an integer)',
  })
  .transform(Number)
  .pipe(z.number().max(MAX_UNIX_SECONDS));

/**
 * Parses with the schema `select` picks for the raw object, so each variant reports its own precise
 * paths (a plain z.union would only say "invalid input" at the item).
 */
function routed<S extends z.ZodType>(base: z.ZodObject, select: (raw: Record<string, unknown>) => S) {
  return base.loose().transform((raw, ctx): z.output<S> => {
    const result = select(raw).safeParse(raw);
    if (result.success) return result.data;
    // The variant's paths are relative to this item; zod prefixes the parents' keys as issues bubble up.
    for (const issue of result.error.issues) ctx.addIssue({ ...issue });
    return z.NEVER;
  });
}

const messageFields = {
  from: id,
  id,
  timestamp: unixSecondsSchema,
  context: z.object({ from: id.optional(), id: id.optional() }).optional(),
};

const textMessage = z.object({ ...messageFields, type: z.literal('text'), text: z.object({ body: text }) });
const buttonMessage = z.object({
  ...messageFields,
  type: z.literal('button'),
  button: z.object({ payload: text, text }),
});
const interactiveMessage = z.object({
  ...messageFields,
  type: z.literal('interactive'),
  interactive: z.discriminatedUnion('type', [
    z.object({ type: z.literal('button_reply'), button_reply: z.object({ id, title: text }) }),
    z.object({
      type: z.literal('list_reply'),
      list_reply: z.object({ id, title: text, description: text.optional() }),
    }),
  ]),
});
const systemMessage = z.object({
  ...messageFields,
  type: z.literal('system'),
  system: z.object({ body: text.optional(), wa_id: id.optional(), type: shortName.optional() }),
});
/** Any other type (image, reaction, unsupported…) keeps only the common fields and its type. */
const otherMessage = z.object({ ...messageFields, type: shortName });

const INTERACTIVE_REPLIES = new Set(['button_reply', 'list_reply']);

/** One `messages[]` item; known types are validated, the rest are kept as `{ type }` only. */
export const messageSchema = routed(z.object({ type: shortName }), (raw) => {
  switch (raw.type) {
    case 'text':
      return textMessage;
    case 'button':
      return buttonMessage;
    case 'system':
      return systemMessage;
    case 'interactive': {
      // Other interactive replies (e.g. flows) are not consent signals: keep them as "other".
      const sub: unknown = isObject(raw.interactive) ? raw.interactive.type : undefined;
      return typeof sub === 'string' && !INTERACTIVE_REPLIES.has(sub) ? otherMessage : interactiveMessage;
    }
    default:
      return otherMessage;
  }
});

/** One `statuses[]` item (API-FACTS 1.8); pricing and conversation are dropped. */
export const statusSchema = z.object({
  id,
  status: shortName,
  timestamp: unixSecondsSchema,
  recipient_id: id,
  errors: z
    .array(z.object({ code: z.number().int(), title: text.optional(), message: text.optional() }))
    .max(100)
    .optional(),
});

const metadata = z.object({
  display_phone_number: z.string().max(64).optional(),
  phone_number_id: id.optional(),
});
/** Profile names are deliberately not named, so they are stripped here (minimisation). */
const contacts = z.array(z.object({ wa_id: id.optional() })).max(MAX_ITEMS);

/** `value` of a `messages` change: inbound messages, delivery statuses, and errors. */
export const messagesValueSchema = z.object({
  metadata: metadata.optional(),
  contacts: contacts.optional(),
  messages: z.array(messageSchema).max(MAX_ITEMS).optional(),
  statuses: z.array(statusSchema).max(MAX_ITEMS).optional(),
  errors: z
    .array(z.object({ code: z.number().int(), title: text.optional() }))
    .max(100)
    .optional(),
});

/** One `user_preferences[]` item (API-FACTS 1.9): marketing stop/resume. */
export const userPreferenceSchema = z.object({
  wa_id: id,
  value: z.enum(['stop', 'resume']),
  category: shortName,
  timestamp: unixSecondsSchema,
  detail: text.optional(),
});

/** `value` of a `user_preferences` change. */
export const userPreferencesValueSchema = z.object({
  metadata: metadata.optional(),
  contacts: contacts.optional(),
  user_preferences: z.array(userPreferenceSchema).max(MAX_ITEMS),
});

const messagesChange = z.object({ field: z.literal('messages'), value: messagesValueSchema });
const preferencesChange = z.object({
  field: z.literal('user_preferences'),
  value: userPreferencesValueSchema,
});
/** Fields we do not subscribe to are accepted (an object `value`, emptied) and ignored by the parser. */
const otherChange = z.object({ field: shortName, value: z.object({}) });

/** One `changes[]` item, validated according to its `field`. */
export const changeSchema = routed(z.object({ field: shortName }), (raw) => {
  if (raw.field === 'messages') return messagesChange;
  if (raw.field === 'user_preferences') return preferencesChange;
  return otherChange;
});

/** The whole webhook body. */
export const webhookSchema = z.object({
  object: z.literal('whatsapp_business_account'),
  entry: z
    .array(z.object({ id, changes: z.array(changeSchema).max(100) }))
    .min(1)
    .max(100),
});

export type WebhookPayload = z.output<typeof webhookSchema>;
export type WebhookChange = z.output<typeof changeSchema>;
export type MessagesChange = z.output<typeof messagesChange>;
export type PreferencesChange = z.output<typeof preferencesChange>;
export type WebhookMessage = z.output<typeof messageSchema>;
export type WebhookStatus = z.output<typeof statusSchema>;
export type WebhookUserPreference = z.output<typeof userPreferenceSchema>;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}
