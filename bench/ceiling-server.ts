/**
 * The ceiling for `bench/ingest.ts`: a bare Hono route on @hono/node-server, on the same Node as the
 * service, that only reads the body. Whatever the service does beyond this is its own cost.
 * Listens on PORT (127.0.0.1); `GET /healthz` lets the bench wait for it.
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const app = new Hono();
app.get('/healthz', (c) => c.text('ok'));
app.post('/webhooks/whatsapp', async (c) => {
  await c.req.arrayBuffer();
  return c.text('ok');
});

const server = serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 8788), hostname: '127.0.0.1' });
const stop = () => server.close(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
