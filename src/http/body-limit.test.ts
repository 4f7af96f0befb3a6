import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { type ServerType, serve } from '@hono/node-server';
import { Hono } from 'hono';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { bodyLimit } from './body-limit.ts';

const MAX = 64;
let server: ServerType | undefined;

async function start(): Promise<string> {
  const app = new Hono();
  app.use(bodyLimit(MAX, (c) => c.json({ error: { code: 'PAYLOAD_TOO_LARGE', message: 'too large' } }, 413)));
  app.post('/echo', async (c) => c.text(String(new Uint8Array(await c.req.arrayBuffer()).length)));
  app.get('/ping', (c) => c.text('pong'));
  server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((ok) => server?.once('listening', () => ok()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  vi.restoreAllMocks();
  await new Promise<void>((ok) => (server ? server.close(() => ok()) : ok()));
  server = undefined;
});

describe('bodyLimit over a real Node socket', () => {
  it('a declared Content-Length within the cap passes, and the body is read straight from the socket', async () => {
    const url = await start();
    const toWeb = vi.spyOn(Readable, 'toWeb');
    const res = await fetch(`${url}/echo`, { method: 'POST', body: 'x'.repeat(MAX) });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(String(MAX));
    // Hono's own bodyLimit touched `c.req.raw.body`, which wraps the socket in a web stream.
    expect(toWeb).not.toHaveBeenCalled();
  });

  it('a declared Content-Length over the cap → 413 before the body is read', async () => {
    const url = await start();
    const res = await fetch(`${url}/echo`, { method: 'POST', body: 'x'.repeat(MAX + 1) });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('a chunked body (no length up front) is counted as it streams: over the cap → 413, within → 200', async () => {
    const url = await start();
    const chunked = (n: number) =>
      fetch(`${url}/echo`, {
        method: 'POST',
        body: new ReadableStream({
          start(c) {
            for (let i = 0; i < n; i += 16)
              c.enqueue(new TextEncoder().encode('y'.repeat(Math.min(16, n - i))));
            c.close();
          },
        }),
        duplex: 'half',
      } as RequestInit);
    expect((await chunked(MAX * 4)).status).toBe(413);
    const ok = await chunked(MAX);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe(String(MAX));
  });

  it('GET passes untouched', async () => {
    const url = await start();
    const res = await fetch(`${url}/ping`);
    expect(await res.text()).toBe('pong');
  });
});
