import { z } from '@hono/zod-openapi';
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
    .max(40)
    .openapi({
      param: { name: 'phone', in: 'path' },
      example: '+4915112345678',
      description: 'E.164 (URL-encoded) or WhatsApp id',
    }),
});

/** Normalises a phone number from a request, or fails with a 400 that does not echo it. */
export function phoneOrThrow(input: string): string {
  const p = normalizePhone(input);
  if (!p.ok) throw new AppError(400, 'INVALID_PHONE', 'phone must be an E.164 number or a WhatsApp id');
  return p.e164;
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
