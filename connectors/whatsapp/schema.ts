/**
 * zod schemas for Meta's WhatsApp Business Account webhooks (API-FACTS 1.3–1.9, 7;
 * docs/whatsapp-identity-facts.md).
 *
 * Two levels (sync rule 8, readers skip, never drop):
 * - the envelope (`object`, `entry[]`, `changes[]` with a `field` and an object `value`, and the
 *   sizes of every array) is checked strictly: only a wrong envelope rejects a delivery;
 * - each `messages[]`, `statuses[]`, `user_preferences[]` and `contacts[]` item is checked on its
 *   own by `parse.ts`, so one unreadable item is skipped while the rest of the delivery counts.
 *
 * Objects are not strict (Meta adds fields every quarter): unknown keys are stripped, never passed
 * on, while the fields we act on are checked for type and length. Whatever an item schema does not
 * name (profile names, usernames, system bodies, error texts, pricing, media) never leaves this file.
 */
import { z } from 'zod';

const MAX_ID = 256;
const MAX_TEXT = 4096;
/** Items per array of a change value (`messages`, `statuses`, `contacts`, …). */
export const MAX_ITEMS = 1000;
/** Year 5138: a bigger number is almost surely milliseconds passed off as seconds. */
const MAX_UNIX_SECONDS = 100_000_000_000;

const id = z.string().min(1).max(MAX_ID);
const text = z.string().max(MAX_TEXT);
const shortName = z.string().min(1).max(64);

/**
 * Unix seconds. Meta documents strings in `messages[]`/`statuses[]` and integers in
 * `user_preferences[]`; both forms are accepted everywhere because rejecting one would lose an
 * event (possibly an opt-out) over a formatting change. Output: a number.
 */
export const unixSecondsSchema = z
  .union([z.string().regex(/^\d{1,12}$/), z.number().int().nonnegative()], {
    error: 'expected Unix seconds (a string of digits or an integer)',
  })
  .transform(Number)
  .pipe(z.number().max(MAX_UNIX_SECONDS));

// ---- envelope -----------------------------------------------------------------------------------

/** An optional value that, when it is an array, holds at most MAX_ITEMS items (a size guard). */
const capped = z
  .unknown()
  .refine((v) => !Array.isArray(v) || v.length <= MAX_ITEMS, `expected at most ${MAX_ITEMS} items`)
  .optional();

/**
 * `value` of any change: an object whose item arrays are within the size guard. Its items are kept
 * raw here and read one by one by the parser.
 */
const changeValue = z.looseObject({
  contacts: capped,
  messages: capped,
  statuses: capped,
  user_preferences: capped,
  errors: capped,
});

/** The whole webhook body, down to each change's `field` and object `value`. */
export const envelopeSchema = z.object({
  object: z.literal('whatsapp_business_account'),
  entry: z
    .array(z.object({ id, changes: z.array(z.object({ field: shortName, value: changeValue })).max(100) }))
    .min(1)
    .max(100),
});

export type Envelope = z.output<typeof envelopeSchema>;
export type ChangeValue = z.output<typeof changeValue>;

// ---- items --------------------------------------------------------------------------------------

/**
 * One `contacts[]` item: the identifiers that complete a message's or preference's sender. Profile
 * names and usernames are deliberately not named, so they are stripped here (minimisation).
 */
export const contactSchema = z.object({
  wa_id: id.optional(),
  user_id: id.optional(),
  parent_user_id: id.optional(),
});

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

/** Who sent a message: `from` (phone, may be withheld) and the business-scoped user ids. */
const messageFields = {
  from: id.optional(),
  from_user_id: id.optional(),
  from_parent_user_id: id.optional(),
  id,
  timestamp: unixSecondsSchema,
  context: z.object({ id: id.optional() }).optional(),
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
    z.object({ type: z.literal('list_reply'), list_reply: z.object({ id, title: text }) }),
  ]),
});
/**
 * Identity changes (…/webhooks/reference/messages/system): `wa_id` is the new number of a
 * `user_changed_number`; `user_id`/`parent_user_id` are the new BSUIDs and `previous_*` the old
 * ones. The body quotes names and numbers and is not named, so it is dropped.
 */
const systemMessage = z.object({
  ...messageFields,
  type: z.literal('system'),
  system: z.object({
    type: shortName.optional(),
    wa_id: id.optional(),
    user_id: id.optional(),
    parent_user_id: id.optional(),
    previous_user_id: id.optional(),
    previous_parent_user_id: id.optional(),
  }),
});
/** Any other type (image, reaction, unsupported…) keeps only the common fields and its type. */
const otherMessage = z.object({ ...messageFields, type: shortName });

const INTERACTIVE_REPLIES = new Set(['button_reply', 'list_reply']);

/**
 * One `messages[]` item; known types are validated, the rest are kept as `{ type }` only. An
 * `interactive` message without its object, or with a reply type other than a button or list reply
 * (flows, products…), is "other": it is no consent signal, and nothing in it is worth rejecting.
 */
export const messageSchema = routed(z.object({ type: shortName }), (raw) => {
  switch (raw.type) {
    case 'text':
      return textMessage;
    case 'button':
      return buttonMessage;
    case 'system':
      return systemMessage;
    case 'interactive': {
      const sub: unknown = isObject(raw.interactive) ? raw.interactive.type : undefined;
      return typeof sub === 'string' && INTERACTIVE_REPLIES.has(sub) ? interactiveMessage : otherMessage;
    }
    default:
      return otherMessage;
  }
});

/** Meta documents integer codes; a string of digits is read too (an opt-out is not lost to quoting). */
const errorCode = z.union(
  [
    z.number().int(),
    z
      .string()
      .regex(/^\d{1,9}$/)
      .transform(Number),
  ],
  {
    error: 'expected an integer error code',
  },
);

/** One `statuses[]` item (API-FACTS 1.8); pricing, conversation and error texts are dropped. */
export const statusSchema = z.object({
  id,
  status: shortName,
  timestamp: unixSecondsSchema,
  recipient_id: id.optional(),
  recipient_user_id: id.optional(),
  recipient_parent_user_id: id.optional(),
  errors: z
    .array(z.object({ code: errorCode }))
    .max(100)
    .optional(),
});

/**
 * One `user_preferences[]` item (API-FACTS 1.9): marketing `stop`/`resume`, and `signup` (the
 * person subscribed through an In-App Signup deep link, with its `signup_id`). Other values are
 * unknown to us and the item is skipped, not guessed at.
 */
export const userPreferenceSchema = z.object({
  wa_id: id.optional(),
  user_id: id.optional(),
  parent_user_id: id.optional(),
  value: z.enum(['stop', 'resume', 'signup']),
  category: shortName,
  timestamp: unixSecondsSchema,
  signup_id: id.optional(),
});

export type WebhookContact = z.output<typeof contactSchema>;
export type WebhookMessage = z.output<typeof messageSchema>;
export type WebhookStatus = z.output<typeof statusSchema>;
export type WebhookUserPreference = z.output<typeof userPreferenceSchema>;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}
