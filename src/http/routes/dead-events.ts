import { createRoute, z } from '@hono/zod-openapi';
import { audit } from '../audit.ts';
import { requireRole } from '../auth.ts';
import type { Router } from '../router.ts';
import { bearer, errorResponses } from './shared.ts';

const DeadEvent = z
  .object({
    id: z.string(),
    source: z.enum(['whatsapp', 'hubspot', 'salesforce']).or(z.string()),
    kind: z.string(),
    reason: z.string().openapi({ description: 'the JSON path and what was expected; never a value' }),
    receivedAt: z.string(),
    raw: z
      .unknown()
      .optional()
      .openapi({ description: 'the event as received (decrypted): auditor and admin only' }),
  })
  .openapi('DeadEvent');

const list = createRoute({
  method: 'get',
  path: '/v1/dead-events',
  operationId: 'listDeadEvents',
  tags: ['sync'],
  summary: 'Webhook events that could not be read (skipped, never the reason a delivery was refused)',
  description:
    'A signed delivery is acknowledged once every readable event is stored; each event that could not be read is kept here, encrypted, for inspection (the newest 10,000; purged with the dead letters after RETENTION_DEAD_LETTERS_DAYS). Operators see kinds and reasons; auditors and admins also the raw event.',
  security: bearer,
  middleware: [requireRole('operator', 'auditor')],
  request: { query: z.object({ limit: z.coerce.number().int().min(1).max(500).default(100) }) },
  responses: {
    200: {
      description: 'Newest first, with the total kept',
      content: {
        'application/json': { schema: z.object({ total: z.number(), events: z.array(DeadEvent) }) },
      },
    },
    ...errorResponses,
  },
});

export function deadEventRoutes(app: Router) {
  app.openapi(list, async (c) => {
    const withRaw = c.var.actor.role === 'auditor' || c.var.actor.role === 'admin';
    const out = await c.var.services.deadEvents.list(c.req.valid('query').limit, withRaw);
    if (withRaw) await audit(c, 'dead_events.read', null, { count: out.events.length });
    return c.json(out, 200);
  });
}
