import { createRoute, z } from '@hono/zod-openapi';
import { stateView } from '../../service/views.ts';
import { requireRole } from '../auth.ts';
import { AppError } from '../errors.ts';
import { SlidingWindowLimits } from '../rate-limit.ts';
import type { Router } from '../router.ts';
import {
  bearer,
  ErrorSchema,
  errorResponses,
  phoneOrThrow,
  requireKnownLocale,
  requireKnownPurposes,
  StateSchema,
} from './shared.ts';

const ConsentRequest = z
  .object({
    phone: z.string().min(1).max(40),
    purposes: z.array(z.string().min(1).max(64)).min(1).max(20),
    textVersion: z.string().min(1).max(128).optional(),
    locale: z
      .string()
      .regex(/^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})?$/)
      .optional(),
    evidence: z
      .object({
        formUrl: z
          .url({ protocol: /^https?$/ })
          .max(2048)
          .optional(),
        reference: z.string().max(200).optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .openapi('ConsentRequest', {
    example: {
      phone: '+4915112345678', // example number
      purposes: ['marketing'],
      locale: 'de',
      evidence: { formUrl: 'https://shop.example/newsletter', reference: 'form-2026-12' },
    },
  });

const ConsentResponse = z
  .object({
    subjectId: z.string(),
    purposes: z.record(z.string(), StateSchema),
    confirmation: z.object({ status: z.enum(['queued', 'not_needed']), jobId: z.string().nullable() }),
  })
  .openapi('ConsentResponse', {
    description: 'The answer other roles (admin) get: the person and their states after the request',
  });

/**
 * What an intake key gets, always (issue 14, finding 5): web forms are public, so the answer must
 * not tell whether the number is known, pending, opted in, opted out or erased.
 */
const IntakeAccepted = z
  .object({
    status: z.literal('accepted'),
    purposes: z.array(z.string()).openapi({ description: 'the purposes asked for, as sent' }),
  })
  .openapi('ConsentAccepted', {
    description:
      'The answer an intake key gets whatever the state of the number: the same status and shape for a new, pending, opted-in, opted-out or erased person',
  });

const route = createRoute({
  method: 'post',
  path: '/v1/consents',
  operationId: 'startDoubleOptIn',
  tags: ['consent'],
  summary: 'Start a WhatsApp double opt-in (web forms)',
  security: bearer,
  middleware: [requireRole('intake')],
  request: { body: { content: { 'application/json': { schema: ConsentRequest } }, required: true } },
  responses: {
    202: {
      description:
        'intake: always this answer, `{ status: "accepted", purposes }`, whatever the state of the number (a confirmation is queued only when one is needed, and nothing is recorded for an erased person). Other roles: purposes pending, confirmation message queued, with the states',
      content: { 'application/json': { schema: z.union([IntakeAccepted, ConsentResponse]) } },
    },
    200: {
      description:
        'Not for intake keys. Already opted in, or already pending (one confirmation per request): nothing new to confirm',
      content: { 'application/json': { schema: ConsentResponse } },
    },
    400: {
      description: 'INVALID_PHONE, VALIDATION_FAILED or MALFORMED_JSON (the number is never echoed)',
      content: { 'application/json': { schema: ErrorSchema } },
    },
    401: errorResponses[401],
    403: errorResponses[403],
    409: {
      description:
        'Not for intake keys (they get 202). ERASED: the person asked to be erased; nothing is recorded and every send is blocked',
      content: { 'application/json': { schema: ErrorSchema } },
    },
    413: {
      description: 'PAYLOAD_TOO_LARGE: the body exceeds MAX_BODY_BYTES',
      content: { 'application/json': { schema: ErrorSchema } },
    },
    422: {
      description:
        'UNKNOWN_PURPOSE (the message and error.details.validPurposes list the valid ones), UNKNOWN_TEXT_VERSION, or UNKNOWN_LOCALE (error.details.locales lists the configured ones)',
      content: { 'application/json': { schema: ErrorSchema } },
    },
    429: {
      description:
        'RATE_LIMITED: this key made more than INTAKE_RATE_PER_KEY_PER_MINUTE requests in the last minute, or the number was asked for more than INTAKE_RATE_PER_NUMBER_PER_HOUR times in the last hour; nothing was recorded or sent',
      headers: z.object({
        'Retry-After': z
          .string()
          .openapi({ description: 'seconds until a request can succeed', example: '42' }),
      }),
      content: { 'application/json': { schema: ErrorSchema } },
    },
  },
});

/** One answer for both limits, so a refusal says nothing about which one (or about the number). */
function rateLimited(c: { header(name: string, value: string): void }, seconds: number): never {
  c.header('Retry-After', String(seconds));
  throw new AppError(429, 'RATE_LIMITED', `too many double opt-in requests; retry after ${seconds} s`);
}

export function consentRoutes(app: Router) {
  // Per app, so per Node process and per Workers isolate (README: Security → API policy).
  const limits = new SlidingWindowLimits();
  app.openapi(route, async (c) => {
    const body = c.req.valid('json');
    const { catalog, consent, clock, config, log } = c.var.services;
    const now = clock().getTime();
    const perKey = limits.take(
      `key:${c.var.actor.keyId}`,
      config.INTAKE_RATE_PER_KEY_PER_MINUTE,
      60_000,
      now,
    );
    if (!perKey.ok) {
      log.info({ limit: 'per_key', keyId: c.var.actor.keyId }, 'double opt-in request rate-limited');
      rateLimited(c, perKey.retryAfterSeconds);
    }
    // Typed by a person into a form: validated strictly (a national format only with DEFAULT_COUNTRY).
    const e164 = phoneOrThrow(body.phone, config.DEFAULT_COUNTRY);
    requireKnownPurposes(body.purposes, catalog.purposes);
    requireKnownLocale(body.locale, catalog.texts.locales);
    if (body.textVersion && !body.purposes.includes(catalog.textPurpose(body.textVersion) ?? '')) {
      throw new AppError(422, 'UNKNOWN_TEXT_VERSION', 'textVersion is not a version of a requested purpose');
    }
    // Keyed by the number's lookup hash (HMAC under PII_KEY): no number is kept in clear.
    const perNumber = limits.take(
      `number:${await consent.hashOf(e164)}`,
      config.INTAKE_RATE_PER_NUMBER_PER_HOUR,
      3_600_000,
      now,
    );
    if (!perNumber.ok) {
      log.info({ limit: 'per_number' }, 'double opt-in request rate-limited');
      rateLimited(c, perNumber.retryAfterSeconds);
    }
    const result = await consent.change({
      identity: { phone: e164 },
      intent: 'request',
      purposes: [...new Set(body.purposes)],
      source: 'form',
      occurredAt: clock().toISOString(),
      evidence: {
        actor: c.var.actor.keyId,
        ...(body.evidence?.formUrl ? { formUrl: body.evidence.formUrl } : {}),
        ...(body.evidence?.reference ? { reference: body.evidence.reference } : {}),
      },
      locale: body.locale ?? null,
      textVersion: body.textVersion ?? null,
      create: true,
    });
    // Intake keys sit behind public forms: one answer whatever the person's state (finding 5).
    if (c.var.actor.role === 'intake') {
      return c.json({ status: 'accepted' as const, purposes: [...new Set(body.purposes)] }, 202);
    }
    if (result.status === 'erased') {
      throw new AppError(
        409,
        'ERASED',
        'this person asked to be erased: nothing is recorded and every send is blocked',
      );
    }
    if (result.status !== 'applied') throw new Error(`unexpected ${result.status}`);
    const purposes = Object.fromEntries(
      Object.entries(result.outcomes).map(([p, o]) => [p, stateView(o.state)]),
    );
    const jobId = result.jobIds[0] ?? null;
    const payload = {
      subjectId: result.subjectId,
      purposes,
      confirmation: { status: jobId ? ('queued' as const) : ('not_needed' as const), jobId },
    };
    return jobId ? c.json(payload, 202) : c.json(payload, 200);
  });
}
