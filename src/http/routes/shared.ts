import { z } from '@hono/zod-openapi';
import { type Identifier, parseSubjectRef } from '../../core/identity.ts';
import { normalizePhone } from '../../core/phone.ts';
import { AppError } from '../errors.ts';

/** Error response schema for the OpenAPI description. */
export const ErrorSchema = z
  .object({ error: z.object({ code: z.string(), message: z.string() }) })
  .openapi('Error');

export const errorResponses = {
  400: { description: 'Invalid input', content: { 'application/json': { schema: ErrorSchema } } },
  401: { description: 'Missing or invalid token', content: { 'application/json': { schema: ErrorSchema } } },
  403: { description: 'Role not allowed', content: { 'application/json': { schema: ErrorSchema } } },
  429: {
    description:
      'Too many failed tokens from this client or for this key prefix (AUTH_FAILURES_PER_MINUTE); the Retry-After header says when to try again',
    content: { 'application/json': { schema: ErrorSchema } },
  },
} as const;

export const bearer = [{ bearer: [] }];

export const PhoneParam = z.object({
  phone: z
    .string()
    .min(1)
    .max(400)
    .openapi({
      param: { name: 'phone', in: 'path' },
      example: '+4915112345678',
      description:
        'Who: an E.164 number (URL-encoded), a WhatsApp id (the digits without +), a WhatsApp business-scoped user id (BSUID, e.g. `DE.1234567890123456789`) or a parent BSUID (`DE.ENT.…`). With `DEFAULT_COUNTRY` set, a national number of that country is read too.',
    }),
});

/** A `phone` body field that names a person: a number, a WhatsApp id or a BSUID. */
export const PersonField = z
  .string()
  .min(1)
  .max(200)
  .openapi({ description: 'E.164 number, WhatsApp id or BSUID (DE.123…)', example: '+4915112345678' });

/** Normalises a phone number from a request, or fails with a 400 that does not echo it. */
export function phoneOrThrow(input: string, defaultCountry?: string): string {
  const p = normalizePhone(input, defaultCountry);
  if (!p.ok) throw new AppError(400, 'INVALID_PHONE', 'phone must be an E.164 number or a WhatsApp id');
  return p.e164;
}

/**
 * Reads `{phone}`: a number, a BSUID or a parent BSUID; a 400 that does not echo the input otherwise.
 *
 * @example refOrThrow('DE.1234567890123456789') // { kind: 'bsuid', value: 'DE.1234567890123456789' }
 */
export function refOrThrow(input: string, defaultCountry?: string): Identifier {
  const r = parseSubjectRef(input, defaultCountry);
  if (!r.ok)
    throw new AppError(
      400,
      'INVALID_IDENTIFIER',
      'expected an E.164 number, a WhatsApp id, or a business-scoped user id such as DE.1234567890123456789',
    );
  return r.id;
}

export const StateSchema = z
  .object({
    status: z.enum(['none', 'pending', 'opted_in', 'opted_out']),
    changedAt: z.string().nullable(),
    source: z.string().nullable(),
    doubleOptInAt: z.string().nullable().optional(),
    pendingExpiresAt: z.string().nullable().optional(),
    textVersion: z.string().nullable().optional(),
  })
  .openapi('PurposeState');

/**
 * Refuses purposes the catalog does not define with a 422 that lists the ones it does.
 *
 * @example
 * requireKnownPurposes(['newsletter'], ['marketing', 'transactional']);
 * // AppError 422 UNKNOWN_PURPOSE: unknown purpose "newsletter"; valid purposes: marketing, transactional
 */
export function requireKnownPurposes(asked: readonly string[], valid: readonly string[]): void {
  const unknown = asked.filter((p) => !valid.includes(p));
  if (unknown.length === 0) return;
  const names = unknown.map((p) => `"${p.slice(0, 64)}"`).join(', ');
  throw new AppError(
    422,
    'UNKNOWN_PURPOSE',
    `unknown purpose${unknown.length === 1 ? '' : 's'} ${names}; valid purposes: ${valid.join(', ')}`,
    { validPurposes: [...valid] },
  );
}

/**
 * Refuses a locale the catalog has no texts for (neither the tag nor its language) with a 422 that
 * lists the configured ones, instead of silently asking in the default language.
 *
 * @example
 * requireKnownLocale('de-AT', ['de', 'en']); // fine: German texts
 * requireKnownLocale('xx', ['de', 'en']);    // AppError 422 UNKNOWN_LOCALE
 */
export function requireKnownLocale(locale: string | undefined, configured: readonly string[]): void {
  if (locale === undefined) return;
  const tag = locale.replaceAll('_', '-').toLowerCase();
  const lower = configured.map((l) => l.toLowerCase());
  if (lower.includes(tag) || lower.includes(tag.split('-')[0] ?? '')) return;
  throw new AppError(
    422,
    'UNKNOWN_LOCALE',
    `locale "${locale}" has no texts; configured locales: ${configured.join(', ')}`,
    { locales: [...configured] },
  );
}
