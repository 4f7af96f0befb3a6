import { afterEach, describe, expect, it } from 'vitest';
import { APP_SECRET } from '../helpers/harness.ts';
import { startWhatsAppServer } from '../helpers/node-server.ts';
import { envelope, signedRequest, textMessage } from '../helpers/whatsapp.ts';

const GRAPH_TOKEN = 'test-outbound-http-graph-token';
// Fictitious German mobile numbers +4915123459100 … (example range of the tests).
const waOf = (i: number) => `4915123459${String(100 + i)}`;

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function until(what: string, ok: () => boolean, withinMs = 10_000): Promise<void> {
  const end = Date.now() + withinMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function start(fetchOption?: typeof fetch) {
  const { server, graph } = await startWhatsAppServer({
    name: 'outbound-http',
    graphToken: GRAPH_TOKEN,
    cleanup,
    ...(fetchOption ? { fetch: fetchOption } : {}),
  });
  let closed = false;
  cleanup.push(() => (closed ? undefined : server.close()));
  return {
    server,
    graph,
    close: async () => {
      closed = true;
      await server.close();
    },
  };
}

async function stop(url: string, wa: string): Promise<void> {
  const req = await signedRequest(envelope(textMessage(wa, 'STOP')), APP_SECRET);
  const res = await fetch(`${url}/webhooks/whatsapp`, { method: 'POST', ...req });
  expect(res.status).toBe(200);
}

describe('outgoing WhatsApp sends on Node', () => {
  it('go through the keep-alive node:http transport, not the platform fetch', async () => {
    const s = await start();
    const transport = s.server.outboundHttp;
    expect(transport).not.toBeNull();
    const people = 8;
    for (let i = 0; i < people; i++) {
      await stop(s.server.url, waOf(i));
      await until(`confirmation ${i}`, () => s.graph.sent().length === i + 1);
    }
    const sends = s.graph.requests.filter((r) => r.method === 'POST');
    expect(sends).toHaveLength(people);
    // what undici's fetch adds to every request, and node:http does not
    for (const r of sends) {
      expect(r.headers['sec-fetch-mode']).toBeUndefined();
      expect(r.headers['accept-language']).toBeUndefined();
      expect(r.headers.authorization).toBe(`Bearer ${GRAPH_TOKEN}`);
      expect(r.headers['content-type']).toBe('application/json');
    }
    const stats = transport?.stats();
    expect(stats?.requests).toBe(people);
    expect(stats?.fallbacks).toBe(0);
    // sends a second or less apart share a kept-alive connection
    expect(stats?.sockets).toBeLessThan(people);

    await s.close();
    expect(transport?.stats().requests).toBe(people);
  });

  it('an injected fetch (tests) still wins', async () => {
    let calls = 0;
    const counting: typeof fetch = (input, init) => {
      calls++;
      return fetch(input, init);
    };
    const s = await start(counting);
    expect(s.server.outboundHttp).toBeNull();
    await stop(s.server.url, waOf(50));
    await until('the confirmation', () => s.graph.sent().length === 1);
    expect(calls).toBe(1);
    expect(s.graph.requests[0]?.headers['sec-fetch-mode']).toBe('cors');
  });
});
