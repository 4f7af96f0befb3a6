/**
 * The Node transport against a real local `node:http` server, side by side with the platform `fetch`:
 * same status, headers and body; the request arrives as sent; aborts, refusals and oversize bodies
 * fail the way `connectors/errors.ts networkError` expects; kept-alive sockets are reused.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { networkError } from '../../connectors/errors.ts';
import { createWhatsAppClient, type SendResult } from '../../connectors/whatsapp/client.ts';
import { TEST_TLS_CERT, TEST_TLS_KEY } from '../../test/helpers/tls-localhost.ts';
import { type GraphFault, startGraphSimulator } from '../../test/sim/graph-api.ts';
import { createNodeHttpFetch, type NodeHttpFetch } from './node-http-fetch.ts';

interface Seen {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

const routes: Record<string, Handler> = {
  '/ok': (_q, res) => {
    res.setHeader('content-type', 'application/json');
    res.setHeader('x-multi', ['a', 'b']);
    res.end('{"messages":[{"id":"wamid.TEST"}]}');
  },
  '/bad': (_q, res) => {
    res.writeHead(400, 'Bad Request', { 'content-type': 'application/json' });
    res.end('{"error":{"code":100,"message":"Invalid parameter"}}');
  },
  '/busy': (_q, res) => {
    res.writeHead(429, { 'retry-after': '7', 'content-type': 'application/json' });
    res.end('{"error":{"code":130429}}');
  },
  '/boom': (_q, res) => {
    res.writeHead(500);
    res.end('internal');
  },
  '/empty': (_q, res) => {
    res.writeHead(204, { 'x-note': 'nothing' });
    res.end();
  },
  '/echo': (_q, res, body) => {
    res.setHeader('content-type', 'application/octet-stream');
    res.end(body);
  },
  '/hang': () => {},
  '/large': (_q, res) => {
    res.setHeader('content-length', String(2 * 1024 * 1024));
    res.end(Buffer.alloc(2 * 1024 * 1024, 0x61));
  },
  // no content-length: the cap is found while reading
  '/large-chunked': (_q, res) => {
    res.write(Buffer.alloc(700 * 1024, 0x61));
    res.end(Buffer.alloc(700 * 1024, 0x62));
  },
  '/gzip': (_q, res) => {
    res.writeHead(200, { 'content-encoding': 'gzip', 'content-type': 'text/plain' });
    res.end(gzipSync('compressed hello'));
  },
  '/cut': (_q, res) => {
    res.writeHead(200, { 'content-length': '100' });
    res.write('only part');
    setTimeout(() => res.socket?.destroy(), 10);
  },
  '/r307': (_q, res) => {
    res.writeHead(307, { location: '/echo' });
    res.end();
  },
  '/r303': (_q, res) => {
    res.writeHead(303, { location: '/echo' });
    res.end();
  },
  '/r307-away': (_q, res) => {
    res.writeHead(307, { location: `${otherUrl}/echo` });
    res.end();
  },
};

let server: Server;
let base = '';
let other: Server;
let otherUrl = '';
const seen: Seen[] = [];
let connections = 0;
let transport: NodeHttpFetch;

function listen(s: Server): Promise<string> {
  return new Promise((ok) =>
    s.listen(0, '127.0.0.1', () => ok(`http://127.0.0.1:${(s.address() as AddressInfo).port}`)),
  );
}

function handler(req: IncomingMessage, res: ServerResponse) {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const path = req.url ?? '/';
    seen.push({ method: req.method ?? '', path, headers: req.headers, body });
    const route = routes[path];
    if (route) route(req, res, body);
    else {
      res.writeHead(404);
      res.end();
    }
  });
}

beforeAll(async () => {
  server = createServer(handler);
  server.on('connection', () => connections++);
  base = await listen(server);
  other = createServer(handler);
  otherUrl = await listen(other);
});

afterEach(() => {
  transport?.close();
  seen.length = 0;
});

afterAll(async () => {
  server.closeAllConnections();
  other.closeAllConnections();
  await new Promise((ok) => server.close(ok));
  await new Promise((ok) => other.close(ok));
});

const headersOf = (res: Response) => {
  const out: Record<string, string> = {};
  res.headers.forEach((v, k) => {
    if (k !== 'date' && k !== 'keep-alive' && k !== 'connection') out[k] = v;
  });
  return out;
};

describe('node-http-fetch: the same answers as fetch', () => {
  it.each(['/ok', '/bad', '/busy', '/boom', '/empty', '/gzip'])('%s', async (path) => {
    transport = createNodeHttpFetch();
    const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' };
    const mine = await transport.fetch(`${base}${path}`, init);
    const theirs = await fetch(`${base}${path}`, init);
    expect(mine).toBeInstanceOf(Response);
    expect({ status: mine.status, statusText: mine.statusText, ok: mine.ok }).toEqual({
      status: theirs.status,
      statusText: theirs.statusText,
      ok: theirs.ok,
    });
    expect(headersOf(mine)).toEqual(headersOf(theirs));
    expect(mine.body === null).toBe(theirs.body === null);
    expect(await mine.text()).toBe(await theirs.text());
    expect(transport.stats()).toMatchObject({ requests: 1, fallbacks: 0 });
  });

  it('reads what the WhatsApp client reads: json(), retry-after, repeated headers', async () => {
    transport = createNodeHttpFetch();
    const busy = await transport.fetch(`${base}/busy`, { method: 'POST', body: '{}' });
    expect(busy.status).toBe(429);
    expect(busy.headers.get('retry-after')).toBe('7');
    expect(await busy.json()).toEqual({ error: { code: 130429 } });
    const ok = await transport.fetch(`${base}/ok`);
    expect(ok.headers.get('x-multi')).toBe('a, b');
    const empty = await transport.fetch(`${base}/empty`, { method: 'DELETE' });
    expect(empty.status).toBe(204);
    expect(empty.body).toBeNull();
  });
});

describe('node-http-fetch: the request arrives as sent', () => {
  it('string body and headers (object, pairs, Headers) byte for byte', async () => {
    transport = createNodeHttpFetch();
    const body = '{"messaging_product":"whatsapp","to":"+16505550101","text":{"body":"Grüße ✓"}}';
    const forms: HeadersInit[] = [
      { Authorization: 'Bearer test-token', 'Content-Type': 'application/json', 'X-Extra': 'one' },
      [
        ['authorization', 'Bearer test-token'],
        ['content-type', 'application/json'],
        ['x-extra', 'one'],
      ],
      new Headers({
        authorization: 'Bearer test-token',
        'content-type': 'application/json',
        'x-extra': 'one',
      }),
    ];
    for (const headers of forms) {
      const res = await transport.fetch(`${base}/echo`, { method: 'POST', headers, body });
      expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(body, 'utf8'))).toBe(true);
    }
    expect(seen).toHaveLength(3);
    for (const s of seen) {
      expect(s.method).toBe('POST');
      expect(s.body.equals(Buffer.from(body, 'utf8'))).toBe(true);
      expect(s.headers).toMatchObject({
        authorization: 'Bearer test-token',
        'content-type': 'application/json',
        'x-extra': 'one',
        'content-length': String(Buffer.byteLength(body)),
      });
    }
  });

  it('header values trimmed and repeated names joined like fetch; a bad header sends nothing', async () => {
    transport = createNodeHttpFetch();
    const headers: HeadersInit = [
      ['X-Pad', ' \t padded value \t '],
      ['x-rep', 'one'],
      ['X-Rep', 'two'],
    ];
    await transport.fetch(`${base}/echo`, { method: 'POST', headers, body: 'x' });
    await fetch(`${base}/echo`, { method: 'POST', headers, body: 'x' });
    const [mine, theirs] = seen.splice(0);
    expect(mine?.headers['x-pad']).toBe('padded value');
    expect(mine?.headers['x-rep']).toBe('one, two');
    expect([mine?.headers['x-pad'], mine?.headers['x-rep']]).toEqual([
      theirs?.headers['x-pad'],
      theirs?.headers['x-rep'],
    ]);
    for (const bad of [
      { 'bad name': 'x' },
      { 'x-value': 'line\r\nbreak' },
      [['x-only-name']],
    ] as HeadersInit[]) {
      await expect(
        transport.fetch(`${base}/echo`, { method: 'POST', headers: bad, body: 'x' }),
      ).rejects.toThrow(TypeError);
      await expect(fetch(`${base}/echo`, { method: 'POST', headers: bad, body: 'x' })).rejects.toThrow(
        TypeError,
      );
    }
    expect(seen).toHaveLength(0);
  });

  it('bytes, URLSearchParams and no body, with fetch default content types', async () => {
    transport = createNodeHttpFetch();
    const bytes = new Uint8Array([0, 1, 2, 250, 255]);
    await transport.fetch(`${base}/echo`, { method: 'PUT', body: bytes });
    await transport.fetch(`${base}/echo`, { method: 'POST', body: Buffer.from('buf') });
    await transport.fetch(`${base}/echo`, {
      method: 'POST',
      body: new URLSearchParams({ a: '1 2', b: 'ü' }),
    });
    await transport.fetch(`${base}/echo`, { method: 'POST', body: 'text' });
    await transport.fetch(`${base}/echo`);
    expect(seen.map((s) => [s.method, s.body.toString('hex'), s.headers['content-type'] ?? null])).toEqual([
      ['PUT', '000102faff', null],
      ['POST', Buffer.from('buf').toString('hex'), null],
      [
        'POST',
        Buffer.from('a=1+2&b=%C3%BC').toString('hex'),
        'application/x-www-form-urlencoded;charset=UTF-8',
      ],
      ['POST', Buffer.from('text').toString('hex'), 'text/plain;charset=UTF-8'],
      ['GET', '', null],
    ]);
  });
});

describe('node-http-fetch: methods as fetch sends them', () => {
  it('method case, content-length without a body, and what fetch refuses', async () => {
    transport = createNodeHttpFetch();
    const requests: Array<[string, RequestInit]> = [
      ['PATCH', { method: 'PATCH', body: 'x' }],
      ['post', { method: 'post' }],
      ['DELETE', { method: 'DELETE' }],
      ['GET', {}],
    ];
    const line = (s: Seen) => [s.method, s.headers['content-length'] ?? null, s.body.toString()];
    for (const [, init] of requests) {
      await transport.fetch(`${base}/echo`, init);
      const mine = seen.splice(0);
      await fetch(`${base}/echo`, init);
      const theirs = seen.splice(0);
      expect(mine.map(line)).toEqual(theirs.map(line));
    }
    expect(transport.stats()).toMatchObject({ requests: 4, fallbacks: 0 });
    for (const init of [{ body: 'x' }, { method: 'HEAD', body: 'x' }, { method: 'TRACE' }]) {
      const mine = await transport.fetch(`${base}/echo`, init).catch((e: unknown) => e);
      const theirs = await fetch(`${base}/echo`, init).catch((e: unknown) => e);
      expect(mine).toBeInstanceOf(TypeError);
      expect((mine as TypeError).message).toBe((theirs as TypeError).message);
    }
    expect(seen).toHaveLength(0);
    // 'purge' in lower case: fetch sends it as it is (a Node server answers 400), node:http cannot
    await transport.fetch(`${base}/echo`, { method: 'purge', body: 'x' }).catch(() => undefined);
    expect(transport.stats()).toMatchObject({ requests: 4, fallbacks: 4 });
  });
});

describe('node-http-fetch: failures look like fetch failures', () => {
  it('a timeout rejects with TimeoutError, which networkError names', async () => {
    transport = createNodeHttpFetch();
    const started = Date.now();
    const err = await transport
      .fetch(`${base}/hang`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(100) })
      .catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(err).toBeInstanceOf(DOMException);
    expect((err as DOMException).name).toBe('TimeoutError');
    expect(networkError(err, 100).message).toBe('request timed out after 100 ms');
  });

  it('an abort while waiting for a socket (maxSockets reached) rejects, and the pool recovers', async () => {
    transport = createNodeHttpFetch({ maxSockets: 1 });
    const hung = transport
      .fetch(`${base}/hang`, { signal: AbortSignal.timeout(300) })
      .catch((e: unknown) => e);
    const controller = new AbortController();
    const queued = transport.fetch(`${base}/ok`, { signal: controller.signal }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 50));
    controller.abort(new Error('gave up'));
    expect(await queued).toEqual(new Error('gave up'));
    expect((await hung) as DOMException).toMatchObject({ name: 'TimeoutError' });
    const after = await transport.fetch(`${base}/ok`, { signal: AbortSignal.timeout(2_000) });
    expect(after.status).toBe(200);
    expect(seen.map((s) => s.path)).toEqual(['/hang', '/ok']);
  });

  it('an aborted signal rejects at once with its reason, sending nothing', async () => {
    transport = createNodeHttpFetch();
    const controller = new AbortController();
    const reason = new Error('stop');
    controller.abort(reason);
    await expect(transport.fetch(`${base}/ok`, { signal: controller.signal })).rejects.toBe(reason);
    expect(transport.stats().requests).toBe(0);
    expect(seen).toHaveLength(0);
  });

  it('a refused connection is a TypeError with the cause, classified as a retryable network error', async () => {
    transport = createNodeHttpFetch();
    const closed = createServer();
    const url = await listen(closed);
    await new Promise((ok) => closed.close(ok));
    const err = await transport.fetch(`${url}/x`, { method: 'POST', body: '{}' }).catch((e: unknown) => e);
    const theirs = await fetch(`${url}/x`, { method: 'POST', body: '{}' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect((err as TypeError).message).toBe((theirs as TypeError).message);
    expect(((err as TypeError).cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    expect(networkError(err)).toEqual(networkError(theirs));
    expect(networkError(err).retryable).toBe(true);
  });

  it('a body over the cap is refused (declared or streamed)', async () => {
    transport = createNodeHttpFetch({ maxBodyBytes: 1024 * 1024 });
    for (const path of ['/large', '/large-chunked']) {
      const err = await transport.fetch(`${base}${path}`).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TypeError);
      expect(String((err as TypeError).cause)).toContain('over 1048576 bytes');
    }
  });

  it('a body cut short is a network error', async () => {
    transport = createNodeHttpFetch();
    const err = await transport.fetch(`${base}/cut`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect((err as TypeError).message).toBe('fetch failed');
  });
});

describe('node-http-fetch: keep-alive', () => {
  it('20 sequential calls share one connection', async () => {
    transport = createNodeHttpFetch();
    const before = connections;
    for (let i = 0; i < 20; i++) {
      const res = await transport.fetch(`${base}/ok`, { method: 'POST', body: '{}' });
      await res.text();
    }
    expect(connections - before).toBe(1);
    expect(transport.stats()).toEqual({ requests: 20, sockets: 1, fallbacks: 0 });
  });

  it('at most maxSockets connections; the rest wait for a free one', async () => {
    transport = createNodeHttpFetch({ maxSockets: 2 });
    const before = connections;
    const all = await Promise.all(Array.from({ length: 10 }, () => transport.fetch(`${base}/ok`)));
    expect(all.every((r) => r.status === 200)).toBe(true);
    expect(connections - before).toBe(2);
  });

  it('an idle socket is closed after idleMs; the next call opens a new one', async () => {
    transport = createNodeHttpFetch({ idleMs: 200 });
    const before = connections;
    await (await transport.fetch(`${base}/ok`)).text();
    await (await transport.fetch(`${base}/ok`)).text();
    expect(connections - before).toBe(1);
    await new Promise((r) => setTimeout(r, 600));
    await (await transport.fetch(`${base}/ok`)).text();
    expect(connections - before).toBe(2);
    expect(transport.stats()).toEqual({ requests: 3, sockets: 2, fallbacks: 0 });
  });

  it('close() destroys the idle sockets', async () => {
    transport = createNodeHttpFetch();
    await (await transport.fetch(`${base}/ok`)).text();
    const open = await new Promise<number>((ok) => server.getConnections((_e, n) => ok(n)));
    expect(open).toBeGreaterThanOrEqual(1);
    transport.close();
    await new Promise((ok) => setTimeout(ok, 50));
    const after = await new Promise<number>((ok) => server.getConnections((_e, n) => ok(n)));
    expect(after).toBe(open - 1);
    // a call after close() opens a new socket
    expect((await transport.fetch(`${base}/ok`)).status).toBe(200);
    expect(transport.stats()).toMatchObject({ requests: 2, sockets: 2 });
  });
});

describe('node-http-fetch: https', () => {
  it('sends over TLS on a kept-alive socket, and refuses a certificate it does not trust', async () => {
    const tls = createHttpsServer({ cert: TEST_TLS_CERT, key: TEST_TLS_KEY }, handler);
    let tlsConnections = 0;
    tls.on('secureConnection', () => tlsConnections++);
    const port = await new Promise<number>((ok) =>
      tls.listen(0, '127.0.0.1', () => ok((tls.address() as AddressInfo).port)),
    );
    try {
      transport = createNodeHttpFetch({ ca: TEST_TLS_CERT });
      for (let i = 0; i < 5; i++) {
        const res = await transport.fetch(`https://127.0.0.1:${port}/echo`, {
          method: 'POST',
          body: `tls ${i}`,
        });
        expect(await res.text()).toBe(`tls ${i}`);
      }
      expect(tlsConnections).toBe(1);
      expect(transport.stats()).toEqual({ requests: 5, sockets: 1, fallbacks: 0 });
      const untrusting = createNodeHttpFetch();
      const err = await untrusting.fetch(`https://127.0.0.1:${port}/ok`).catch((e: unknown) => e);
      untrusting.close();
      expect(err).toBeInstanceOf(TypeError);
      expect(((err as TypeError).cause as NodeJS.ErrnoException).code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    } finally {
      transport.close();
      tls.closeAllConnections();
      await new Promise((ok) => tls.close(ok));
    }
  });
});

describe('node-http-fetch: redirects and what falls back to fetch', () => {
  it('307 keeps method and body (the rest through fetch); 303 becomes a GET without body', async () => {
    transport = createNodeHttpFetch();
    const kept = await transport.fetch(`${base}/r307`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"x":1}',
    });
    expect(await kept.text()).toBe('{"x":1}');
    const got = await transport.fetch(`${base}/r303`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"x":1}',
    });
    expect(got.status).toBe(200);
    expect(seen.map((s) => [s.path, s.method, s.body.length, s.headers['content-type'] ?? null])).toEqual([
      ['/r307', 'POST', 7, 'application/json'],
      ['/echo', 'POST', 7, 'application/json'],
      ['/r303', 'POST', 7, 'application/json'],
      ['/echo', 'GET', 0, null],
    ]);
    expect(transport.stats()).toMatchObject({ requests: 2, fallbacks: 2 });
  });

  it('a redirect to another origin drops the authorization header', async () => {
    transport = createNodeHttpFetch();
    await transport.fetch(`${base}/r307-away`, {
      method: 'POST',
      headers: { authorization: 'Bearer test-token' },
      body: 'x',
    });
    expect(seen.map((s) => [s.path, s.headers.authorization ?? null])).toEqual([
      ['/r307-away', 'Bearer test-token'],
      ['/echo', null],
    ]);
  });

  it("redirect: 'manual' returns the 3xx as it is; 'error' rejects like fetch", async () => {
    transport = createNodeHttpFetch();
    const manual = await transport.fetch(`${base}/r307`, { method: 'POST', body: 'x', redirect: 'manual' });
    expect(manual.status).toBe(307);
    expect(manual.headers.get('location')).toBe('/echo');
    await expect(transport.fetch(`${base}/r307`, { redirect: 'error' })).rejects.toThrow(TypeError);
    await expect(fetch(`${base}/r307`, { redirect: 'error' })).rejects.toThrow(TypeError);
    expect(seen.map((s) => s.path)).toEqual(['/r307', '/r307', '/r307']);
  });

  it('a Request object, a stream body and a data: URL go to fetch unchanged', async () => {
    transport = createNodeHttpFetch();
    const viaRequest = await transport.fetch(new Request(`${base}/echo`, { method: 'POST', body: 'req' }));
    expect(await viaRequest.text()).toBe('req');
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode('streamed'));
        c.close();
      },
    });
    const viaStream = await transport.fetch(`${base}/echo`, {
      method: 'POST',
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(await viaStream.text()).toBe('streamed');
    const data = await transport.fetch('data:text/plain,hello');
    expect(await data.text()).toBe('hello');
    expect(transport.stats()).toEqual({ requests: 0, sockets: 0, fallbacks: 3 });
  });
});

describe('node-http-fetch: the WhatsApp client gets the same results as with fetch', () => {
  it('success, 429, 500, 131050, 131056, a dropped connection and a timeout', async () => {
    transport = createNodeHttpFetch();
    const graph = await startGraphSimulator({ accessToken: 'test-token', phoneNumberId: '106540352242922' });
    try {
      const viaBoth = async (fault: GraphFault | null): Promise<SendResult[]> => {
        const results: SendResult[] = [];
        for (const f of [transport.fetch, fetch]) {
          graph.reset();
          if (fault) graph.failNext(1, fault);
          const client = createWhatsAppClient({
            graphUrl: graph.url,
            phoneNumberId: '106540352242922',
            accessToken: 'test-token',
            fetch: f,
            timeoutMs: 200,
          });
          results.push(await client.sendText({ to: '+16505550101', body: 'Hi' })); // example number
        }
        return results;
      };
      const [ok, okFetch] = await viaBoth(null);
      expect(ok).toMatchObject({ ok: true, waId: '16505550101' });
      expect(okFetch).toMatchObject({ ok: true, waId: '16505550101' });
      for (const fault of ['429', '500', '131050', '131056', 'network', 'hang'] as const) {
        const [mine, theirs] = await viaBoth(fault);
        expect(mine, fault).toEqual(theirs);
        expect(mine?.ok, fault).toBe(false);
      }
    } finally {
      await graph.close();
    }
  });
});
