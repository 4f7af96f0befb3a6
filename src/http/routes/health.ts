import { createRoute, z } from '@hono/zod-openapi';
import type { Router } from '../app.ts';

const health = createRoute({
  method: 'get',
  path: '/healthz',
  tags: ['system'],
  summary: 'Liveness',
  responses: {
    200: {
      description: 'The service is up',
      content: { 'application/json': { schema: z.object({ status: z.literal('ok') }) } },
    },
  },
});

export function healthRoutes(app: Router) {
  app.openapi(health, (c) => c.json({ status: 'ok' as const }, 200));
}
