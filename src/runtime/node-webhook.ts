/**
 * Node's fast path for Meta's webhook, the one route that takes bursts of thousands of requests a
 * second (issue 17): `POST /webhooks/whatsapp` with a declared Content-Length is read straight from
 * the socket and answered by the same function the Hono route calls (`receiveWhatsApp`), without
 * building a web `Request`, a Hono context and a `Response` for it. Everything else, including
 * this route's unusual requests (a query string, a chunked body, a body over MAX_BODY_BYTES), goes
 * to Hono exactly as before. Answers, headers (X-Request-Id) and the request log line are the
 * same on both paths (test/e2e/webhook-fast-path.test.ts compares them).
 */
import { randomUUID } from 'node:crypto';
import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type ServerOptions,
  type ServerResponse,
} from 'node:http';
import type { Services } from '../app/services.ts';
import { errorResult } from '../http/errors.ts';
import { receiveWhatsApp } from '../http/routes/webhooks-whatsapp.ts';
import { lazyChild } from '../service/log.ts';

export const WHATSAPP_WEBHOOK_PATH = '/webhooks/whatsapp';
/** What Hono's requestId middleware accepts from a client (at most 255 of these characters). */
const CLIENT_REQUEST_ID = /^[\w\-=]{1,255}$/;

/**
 * The request handler of the fast path: true when it took the request (and will answer it),
 * false when Hono should.
 */
export function whatsappFastPath(services: Services): (req: IncomingMessage, res: ServerResponse) => boolean {
  const max = services.config.MAX_BODY_BYTES;
  return (req, res) => {
    if (req.method !== 'POST' || req.url !== WHATSAPP_WEBHOOK_PATH) return false;
    const declared = req.headers['content-length'];
    if (declared === undefined || req.headers['transfer-encoding'] !== undefined) return false;
    const length = Number(declared);
    if (!Number.isSafeInteger(length) || length > max) return false; // Hono's 413, as before
    const started = performance.now();
    const given = req.headers['x-request-id'];
    const reqId = typeof given === 'string' && CLIENT_REQUEST_ID.test(given) ? given : randomUUID();
    const log = lazyChild(services.log, { reqId });
    const answer = (status: number, body: unknown): void => {
      const text = JSON.stringify(body);
      res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
        'x-request-id': reqId,
      });
      res.end(text);
      // The route pattern, never the path: the same line Hono's request logger writes.
      log.info(
        {
          method: 'POST',
          route: WHATSAPP_WEBHOOK_PATH,
          status,
          ms: Math.round((performance.now() - started) * 10) / 10,
        },
        'request',
      );
    };
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
    });
    // A client that goes away before its body ends: nothing was stored, nothing is acknowledged.
    req.on('error', () => res.destroy());
    req.on('end', () => {
      const raw = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
      const signature = req.headers['x-hub-signature-256'];
      receiveWhatsApp(services, raw, Array.isArray(signature) ? signature.join(', ') : signature, log).then(
        (receipt) => answer(200, receipt),
        (err: Error) => {
          const { status, body } = errorResult(err, log);
          answer(status, body);
        },
      );
    });
    return true;
  };
}

/**
 * `createServer` for @hono/node-server's `serve`: the webhook fast path first, then Hono's listener.
 *
 * @example
 * serve({ fetch: app.fetch, createServer: serverWithFastPath(services), serverOptions });
 */
export function serverWithFastPath(services: Services): typeof createServer {
  const fast = whatsappFastPath(services);
  const withFastPath = (options: ServerOptions, hono: RequestListener) =>
    createServer(options, (req, res) => {
      if (!fast(req, res)) hono(req, res);
    });
  // @hono/node-server calls it as createServer(serverOptions, listener), the one overload used here.
  return withFastPath as typeof createServer;
}
