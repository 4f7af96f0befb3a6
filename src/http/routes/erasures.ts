import { createRoute, z } from '@hono/zod-openapi';
import type { ErasureView } from '../../erasure/erasure-service.ts';
import { audit } from '../audit.ts';
import { requireRole } from '../auth.ts';
import { AppError } from '../errors.ts';
import type { Router } from '../router.ts';
import { bearer, errorResponses, PersonField, refOrThrow } from './shared.ts';

const Task = z.object({
  system: z.string(),
  status: z.enum(['pending', 'done', 'not_found', 'failed']),
  attempts: z.number(),
  records: z.number(),
  lastError: z.string().nullable(),
  updatedAt: z.string(),
  finishedAt: z.string().nullable(),
});
const Erasure = z
  .object({
    id: z.string(),
    subject: z.string().openapi({ description: 'keyed hash of the number (no personal data)' }),
    status: z.enum(['open', 'completed']),
    source: z.string(),
    receivedAt: z.string(),
    dueAt: z.string(),
    completedAt: z.string().nullable(),
    overdue: z.boolean(),
    tasks: z.array(Task),
    receipt: z.record(z.string(), z.unknown()).nullable(),
  })
  .openapi('Erasure');
const Id = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: 'id', in: 'path' } }),
});

/** An erasure as the API shows it (also in the Art. 15 export). */
export const erasureView = (e: ErasureView) => ({
  id: e.id,
  subject: e.subjectHash,
  status: e.status,
  source: e.source,
  receivedAt: e.receivedAt,
  dueAt: e.dueAt,
  completedAt: e.completedAt,
  overdue: e.overdue,
  tasks: e.tasks.map(({ erasureId: _e, ...t }) => t),
  receipt: e.receipt,
});

const create = createRoute({
  method: 'post',
  path: '/v1/erasures',
  operationId: 'startErasure',
  tags: ['erasures'],
  summary: 'Start erasing a person everywhere (Art. 17, 19); a second request returns the open one',
  security: bearer,
  middleware: [requireRole('operator')],
  request: {
    body: {
      content: {
        'application/json': {
          schema: z
            .object({ phone: PersonField })
            .strict()
            .openapi({ example: { phone: '+4915112345678' } }),
        },
      },
      required: true,
    },
  },
  responses: {
    202: { description: 'Erasure opened', content: { 'application/json': { schema: Erasure } } },
    200: {
      description: 'An erasure for this person was already open',
      content: { 'application/json': { schema: Erasure } },
    },
    ...errorResponses,
  },
});

const get = createRoute({
  method: 'get',
  path: '/v1/erasures/{id}',
  operationId: 'getErasure',
  tags: ['erasures'],
  summary: 'Per-system status, due date, overdue flag and (when finished) the receipt',
  security: bearer,
  middleware: [requireRole('operator')],
  request: { params: Id },
  responses: {
    200: { description: 'The erasure', content: { 'application/json': { schema: Erasure } } },
    404: errorResponses[400],
    ...errorResponses,
  },
});

const list = createRoute({
  method: 'get',
  path: '/v1/erasures',
  operationId: 'listErasures',
  tags: ['erasures'],
  summary: 'Erasure requests, newest first; `overdue=true` lists open ones past their due date',
  security: bearer,
  middleware: [requireRole('operator')],
  request: {
    query: z.object({
      status: z.enum(['open', 'completed']).optional(),
      overdue: z.enum(['true', 'false']).optional(),
      limit: z.coerce.number().int().min(1).max(500).default(100),
    }),
  },
  responses: {
    200: {
      description: 'Erasures',
      content: {
        'application/json': { schema: z.object({ erasures: z.array(Erasure), overdue: z.number() }) },
      },
    },
    ...errorResponses,
  },
});

const receipt = createRoute({
  method: 'get',
  path: '/v1/erasures/{id}/receipt',
  operationId: 'getErasureReceipt',
  tags: ['erasures'],
  summary: 'The receipt as a JSON download (no personal data); 409 until every task has ended',
  security: bearer,
  middleware: [requireRole('operator')],
  request: { params: Id },
  responses: {
    200: {
      description: 'The receipt',
      content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } },
    },
    404: errorResponses[400],
    409: errorResponses[400],
    ...errorResponses,
  },
});

export function erasureRoutes(app: Router) {
  app.openapi(create, async (c) => {
    const { erasure, config } = c.var.services;
    // An erasure request may name a number or a BSUID.
    const identifier = refOrThrow(c.req.valid('json').phone, config.DEFAULT_COUNTRY);
    const r = await erasure.request({ identifier, source: 'api' });
    if (r.created) await audit(c, 'erasure.request', r.erasure.id, { source: 'api' });
    return r.created ? c.json(erasureView(r.erasure), 202) : c.json(erasureView(r.erasure), 200);
  });

  app.openapi(list, async (c) => {
    const q = c.req.valid('query');
    const { erasure } = c.var.services;
    const rows = await erasure.list({
      limit: q.limit,
      ...(q.status ? { status: q.status } : {}),
      ...(q.overdue === 'true' ? { overdue: true } : {}),
    });
    const overdue = (await erasure.list({ overdue: true, limit: 1000 })).length;
    return c.json({ erasures: rows.map(erasureView), overdue }, 200);
  });

  app.openapi(get, async (c) => {
    const e = await c.var.services.erasure.get(c.req.valid('param').id);
    if (!e) throw new AppError(404, 'NOT_FOUND', 'no such erasure');
    return c.json(erasureView(e), 200);
  });

  app.openapi(receipt, async (c) => {
    const e = await c.var.services.erasure.get(c.req.valid('param').id);
    if (!e) throw new AppError(404, 'NOT_FOUND', 'no such erasure');
    if (!e.receipt) throw new AppError(409, 'NOT_FINISHED', 'the erasure has tasks still running');
    c.header('content-disposition', `attachment; filename="erasure-receipt-${e.id}.json"`);
    return c.json(e.receipt, 200);
  });
}
