import { createRoute, z } from '@hono/zod-openapi';
import { audit } from '../audit.ts';
import { requireRole } from '../auth.ts';
import { AppError } from '../errors.ts';
import type { Router } from '../router.ts';
import { bearer, errorResponses } from './shared.ts';

const Job = z
  .object({
    id: z.string(),
    kind: z.string(),
    subjectId: z.string().nullable(),
    status: z.enum(['pending', 'leased', 'done', 'dead', 'cancelled']),
    attempts: z.number(),
    nextAttemptAt: z.string(),
    lastError: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('SyncJob');

const list = createRoute({
  method: 'get',
  path: '/v1/sync/jobs',
  operationId: 'listSyncJobs',
  tags: ['sync'],
  summary: 'Outbox jobs and dead letters',
  security: bearer,
  middleware: [requireRole('operator')],
  request: {
    query: z.object({
      status: z.enum(['pending', 'leased', 'done', 'dead', 'cancelled']).optional(),
      kind: z.string().max(64).optional(),
      limit: z.coerce.number().int().min(1).max(500).default(100),
      after: z.string().max(64).optional(),
    }),
  },
  responses: {
    200: {
      description: 'Jobs, oldest first, and counts per status',
      content: {
        'application/json': {
          schema: z.object({
            counts: z.record(z.string(), z.number()),
            jobs: z.array(Job),
            next: z.string().nullable(),
          }),
        },
      },
    },
    ...errorResponses,
  },
});

const retry = createRoute({
  method: 'post',
  path: '/v1/sync/jobs/{id}/retry',
  operationId: 'retrySyncJob',
  tags: ['sync'],
  summary: 'Put a dead letter back in the queue',
  security: bearer,
  middleware: [requireRole('operator')],
  request: { params: z.object({ id: z.string().min(1).max(64) }) },
  responses: {
    200: { description: 'Queued again', content: { 'application/json': { schema: Job } } },
    404: errorResponses[400],
    409: errorResponses[400],
    ...errorResponses,
  },
});

const view = ({
  payload: _p,
  idempotencyKey: _k,
  leaseUntil: _l,
  ...j
}: import('../../core/types.ts').OutboxJob) => j;

export function jobRoutes(app: Router) {
  app.openapi(list, async (c) => {
    const q = c.req.valid('query');
    const { store } = c.var.services;
    const jobs = await store.listJobs({
      limit: q.limit,
      ...(q.status ? { status: q.status } : {}),
      ...(q.kind ? { kind: q.kind } : {}),
      ...(q.after ? { after: q.after } : {}),
    });
    const next = jobs.length === q.limit ? (jobs.at(-1)?.id ?? null) : null;
    return c.json({ counts: await store.countJobs(), jobs: jobs.map(view), next }, 200);
  });

  app.openapi(retry, async (c) => {
    const { store, clock, jobsQueued } = c.var.services;
    const { id } = c.req.valid('param');
    const job = await store.getJob(id);
    if (!job) throw new AppError(404, 'NOT_FOUND', 'no such job');
    if (!(await store.requeueJob(id, clock().toISOString()))) {
      throw new AppError(409, 'NOT_DEAD', `only dead letters can be retried; this job is ${job.status}`);
    }
    await audit(c, 'job.retry', id, { kind: job.kind });
    jobsQueued(); // Node: a pass in the background registry; Workers: a queue message via waitUntil
    return c.json(view((await store.getJob(id))!), 200);
  });
}
