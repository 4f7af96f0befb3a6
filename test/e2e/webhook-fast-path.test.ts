/**
 * The Node server answers `POST /webhooks/whatsapp` from the socket (src/runtime/node-webhook.ts,
 * issue 17) and sends every other request to Hono. The fast path must be invisible: the same
 * status, body and headers as the Hono route for every kind of delivery, and the unusual requests
 * (query string, chunked body, oversize, other methods) still answered by Hono.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type NodeServer, startNode } from '../../src/runtime/node.ts';
import { serverWithFastPath } from '../../src/runtime/node-webhook.ts';
import { freePort } from '../helpers/net.ts';
import { collectingLogger } from '../helpers/node-server.ts';
import { envelope, signedRequest, statusUpdate, textMessage } from '../helpers/whatsapp.ts';

const SECRET = 'fast-path-app-secret-0123456789';
const SENDER = '4915123450001'; // example number (fictitious)
const dirs: string[] = [];
const servers: NodeServer[] = [];
const raw: Server[] = [];
afterEach(async () => {
  for (const s of raw.splice(0)) await new Promise((ok) => s.close(ok));
  for (const s of servers.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function start(lines: string[] = []): Promise<NodeServer> {
  const dir = mkdtempSync(join(tmpdir(), 'consent-sync-fast-'));
  dirs.push(dir);
  const server = await startNode({
    env: {
      NODE_ENV: 'development',
      DATA_DIR: dir,
      PORT: String(await freePort()),
      WHATSAPP_APP_SECRET: SECRET,
      MAX_BODY_BYTES: '4096',
    },
    log: collectingLogger(lines),
    dispatchEveryMs: 3_600_000,
    sweepEveryMs: 3_600_000,
  });
  servers.push(server);
  return server;
}

interface Answer {
  status: number;
  body: unknown;
  type: string | null;
  requestId: string | null;
}
async function post(url: string, body: string, headers: Record<string, string>): Promise<Answer> {
  const res = await fetch(url, { method: 'POST', body, headers });
  return {
    status: res.status,
    body: await res.json(),
    type: res.headers.get('content-type'),
    requestId: res.headers.get('x-request-id'),
  };
}

describe('the webhook fast path answers like the Hono route', () => {
  it('same status, body and headers for stored, dropped, refused and malformed deliveries', async () => {
    const lines: string[] = [];
    const s = await start(lines);
    const cases: Array<[string, () => Promise<{ body: string; headers: Record<string, string> }>]> = [
      ['a STOP (stored)', async () => signedRequest(envelope(textMessage(SENDER, 'STOP')), SECRET)],
      [
        'a delivery status (dropped)',
        async () => signedRequest(envelope(statusUpdate(SENDER, 'wamid.X', 'read')), SECRET),
      ],
      [
        'a wrong signature',
        async () => {
          const r = await signedRequest(envelope(textMessage(SENDER, 'STOP')), SECRET);
          return { ...r, headers: { ...r.headers, 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` } };
        },
      ],
      ['no signature', async () => ({ body: '{}', headers: { 'content-type': 'application/json' } })],
      ['malformed JSON', async () => signedRequest('{"object":', SECRET)],
      ['a wrong envelope', async () => signedRequest({ object: 'page', entry: [] }, SECRET)],
      [
        'a body over MAX_BODY_BYTES',
        async () => signedRequest(envelope(textMessage(SENDER, 'x'.repeat(5000))), SECRET),
      ],
    ];
    for (const [name, make] of cases) {
      const fast = await make();
      const viaHono = await make();
      const a = await post(`${s.url}/webhooks/whatsapp`, fast.body, fast.headers);
      // A query string sends the request to Hono (the fast path takes the bare path only).
      const b = await post(`${s.url}/webhooks/whatsapp?via=hono`, viaHono.body, viaHono.headers);
      expect({ name, status: a.status, body: a.body, type: a.type }).toEqual({
        name,
        status: b.status,
        body: b.body,
        type: b.type,
      });
      expect(a.requestId).toMatch(/^[0-9a-f-]{36}$/);
    }
    // A client's own request id is kept on both paths.
    const r = await signedRequest(envelope(statusUpdate(SENDER, 'wamid.Y', 'read')), SECRET);
    const given = { ...r.headers, 'x-request-id': 'meta-delivery-42' };
    expect((await post(`${s.url}/webhooks/whatsapp`, r.body, given)).requestId).toBe('meta-delivery-42');
    expect((await post(`${s.url}/webhooks/whatsapp?via=hono`, r.body, given)).requestId).toBe(
      'meta-delivery-42',
    );
    // One request line per webhook on either path, with the route pattern and never a number.
    const requests = lines
      .map((l) => JSON.parse(l))
      .filter((l) => l.msg === 'request' && l.route === '/webhooks/whatsapp');
    expect(requests.length).toBe(cases.length * 2 + 2);
    expect(lines.join('')).not.toContain(SENDER);
  });

  it('takes only POST /webhooks/whatsapp with a declared length within the cap; Hono gets the rest', async () => {
    const s = await start();
    const toHono: string[] = [];
    const server = serverWithFastPath(s.services)({}, (req: IncomingMessage, res: ServerResponse) => {
      toHono.push(`${req.method} ${req.url} ${req.headers['transfer-encoding'] ?? ''}`.trim());
      req.resume();
      req.on('end', () => res.writeHead(599).end());
    });
    raw.push(server);
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const ok = await signedRequest(envelope(statusUpdate(SENDER, 'wamid.Z', 'delivered')), SECRET);
    const fast = await fetch(`${url}/webhooks/whatsapp`, {
      method: 'POST',
      body: ok.body,
      headers: ok.headers,
    });
    expect(fast.status).toBe(200);
    expect(await fast.json()).toEqual({ received: 1, stored: 0, dropped: 1, skipped: 0 });
    const big = await signedRequest(envelope(textMessage(SENDER, 'x'.repeat(5000))), SECRET);
    const answers = [
      await fetch(`${url}/webhooks/whatsapp?x=1`, { method: 'POST', body: ok.body, headers: ok.headers }),
      await fetch(`${url}/webhooks/whatsapp`, { method: 'POST', body: big.body, headers: big.headers }),
      await fetch(`${url}/webhooks/whatsapp`, {
        method: 'POST',
        headers: ok.headers,
        body: new ReadableStream({
          start(c) {
            c.enqueue(new TextEncoder().encode(ok.body));
            c.close();
          },
        }),
        duplex: 'half',
      } as RequestInit),
      await fetch(`${url}/webhooks/whatsapp?hub.mode=subscribe`),
      await fetch(`${url}/healthz`),
    ];
    expect(answers.map((a) => a.status)).toEqual([599, 599, 599, 599, 599]);
    expect(toHono).toEqual([
      'POST /webhooks/whatsapp?x=1',
      'POST /webhooks/whatsapp',
      'POST /webhooks/whatsapp chunked',
      'GET /webhooks/whatsapp?hub.mode=subscribe',
      'GET /healthz',
    ]);
  });
});
