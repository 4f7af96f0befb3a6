import { createRoute, z } from '@hono/zod-openapi';
import { stateView } from '../../service/views.ts';
import type { Router } from '../app.ts';
import { requireRole } from '../auth.ts';
import { AppError } from '../errors.ts';
import { bearer, errorResponses, phoneOrThrow, StateSchema } from './shared.ts';

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
  .openapi('ConsentRequest');

const ConsentResponse = z
  .object({
    subjectId: z.string(),
    purposes: z.record(z.string(), StateSchema),
    confirmation: z.object({ status: z.enum(['queued', 'not_needed']), jobId: z.string().nullable() }),
  })
  .openapi('ConsentResponse');

const route = createRoute({
  method: 'post',
  path: '/v1/consents',
  tags: ['consent'],
  summary: 'Start a WhatsApp double opt-in (web forms)',
  security: bearer,
  middleware: [requireRole('intake')],
  request: { body: { content: { 'application/json': { schema: ConsentRequest } }, required: true } },
  responses: {
    202: {
      description: 'Purposes pending; confirmation message queued',
      content: { 'application/json': { schema: ConsentResponse } },
    },
    200: {
      description:
        'Already opted in, or already pending (one confirmation per request): nothing new to confirm',
      content: { 'application/json': { schema: ConsentResponse } },
    },
    ...errorResponses,
    422: errorResponses[400],
  },
});

export function consentRoutes(app: Router) {
  app.openapi(route, async (c) => {
    const body = c.req.valid('json');
    const { catalog, consent, clock } = c.var.services;
    const e164 = phoneOrThrow(body.phone);
    const unknown = body.purposes.filter((p) => !catalog.purposes.includes(p));
    if (unknown.length) throw new AppError(422, 'UNKNOWN_PURPOSE', `unknown purposes: ${unknown.join(', ')}`);
    if (body.textVersion && !body.purposes.includes(catalog.textPurpose(body.textVersion) ?? '')) {
      throw new AppError(422, 'UNKNOWN_TEXT_VERSION', 'textVersion is not a version of a requested purpose');
    }
    const result = await consent.change({
      e164,
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
