import { createRoute, z } from '@hono/zod-openapi';
import type { Router } from '../router.ts';
import { ErrorSchema } from './shared.ts';

const health = createRoute({
  method: 'get',
  path: '/healthz',
  operationId: 'getHealth',
  tags: ['system'],
  summary: 'Liveness',
  security: [],
  responses: {
    200: {
      description: 'The service is up',
      content: { 'application/json': { schema: z.object({ status: z.literal('ok') }) } },
    },
    413: {
      description:
        'PAYLOAD_TOO_LARGE: a body larger than MAX_BODY_BYTES is refused before any route, this one included',
      content: { 'application/json': { schema: ErrorSchema } },
    },
  },
});

export function healthRoutes(app: Router) {
  app.openapi(health, (c) => c.json({ status: 'ok' as const }, 200));
}
