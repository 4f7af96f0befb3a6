/**
 * A `fetch` for outgoing calls on Node built on `node:http`/`node:https` with a keep-alive agent
 * (issue 17: a Graph API send through Node's undici `fetch` cost about 1 ms more CPU than the same
 * call through `node:http`). Node only: the Worker bundle never imports it (Workers keep `fetch`).
 *
 * What it keeps from `fetch` (docs/operations.md, "Outgoing HTTP on Node"):
 * - input a string or `URL` (http: or https:); `init.method`, `init.headers` (object, pairs or
 *   `Headers`), `init.body` a string, `URLSearchParams`, bytes (`ArrayBuffer`, a typed array,
 *   `Buffer`, `DataView`) or none, with fetch's default `content-type` for strings and forms;
 * - `init.signal`: an aborted signal rejects at once with its reason; an abort while the request runs
 *   destroys it and rejects with the reason (`AbortSignal.timeout` → a `TimeoutError` DOMException);
 * - no response (refused, reset, DNS, a body cut short or over the cap) → `TypeError('fetch failed')`
 *   with the original error as `cause`, like undici;
 * - a real `Response` with the body read in full (at most `maxBodyBytes`; `null` for 204, 205 and
 *   304), header values as received (repeated headers joined with ", "), gzip/deflate/br decoded;
 * - redirects: `redirect: 'manual'` returns the 3xx as it is; `'error'` rejects like fetch; `'follow'`
 *   (the default) takes fetch's first step itself (301/302 after a POST and 303 become a GET without
 *   body; 307/308 keep method and body; credentials dropped when the origin changes) and hands the
 *   request to `globalThis.fetch` for the rest, so nothing the server acted on is sent twice.
 * Anything else (a `Request` as input, a stream, Blob or FormData body, another scheme, undici's
 * `dispatcher`, a method fetch sends in lower case, what fetch refuses) goes to `globalThis.fetch`
 * unchanged. `Response.url` and `redirected` are not set.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';

export interface NodeHttpFetchOptions {
  /** concurrent sockets per host (more requests wait in the agent's queue); default 64 */
  maxSockets?: number;
  /** an idle kept-alive socket is closed after this long; default 4 000 ms */
  idleMs?: number;
  /** a longer response body rejects like a network error; default 1 MiB */
  maxBodyBytes?: number;
  /** extra CA certificates for https (tests against a local TLS server) */
  ca?: string | Buffer;
}

export interface NodeHttpFetchStats {
  /** requests sent over `node:http`/`node:https` */
  requests: number;
  /** sockets opened (fewer than `requests` when kept-alive sockets were reused) */
  sockets: number;
  /** calls handed to `globalThis.fetch` (unsupported input, or the rest of a redirect) */
  fallbacks: number;
}

export interface NodeHttpFetch {
  fetch: typeof fetch;
  stats(): NodeHttpFetchStats;
  /** destroys every socket, idle or in use; later calls still work (on new sockets) */
  close(): void;
}

type Bytes = Buffer | null;

/** Fetch's null body statuses: a Response with any of these must have a null body. */
const NULL_BODY = new Set([101, 204, 205, 304]);
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Request headers that describe a body: dropped with the body when a redirect turns into a GET. */
const BODY_HEADERS = [
  'content-type',
  'content-length',
  'content-encoding',
  'content-language',
  'content-location',
];
/** Credentials fetch drops when a redirect leaves the origin. */
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];

/** Fetch's method normalisation: only these are upper-cased ('patch' stays 'patch'). */
const NORMALISED = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT']);
const FORBIDDEN_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK']);

/**
 * The method as fetch sends it; null for one this transport cannot send as fetch would: a method fetch
 * refuses (it rejects those itself) or one fetch sends in lower case (node:http upper-cases every method).
 */
function normalizeMethod(method: string | undefined): string | null {
  const upper = (method ?? 'GET').toUpperCase();
  if (FORBIDDEN_METHODS.has(upper) || !/^[!#$%&'*+.^`|~\w-]+$/.test(upper)) return null;
  return NORMALISED.has(upper) || method === upper ? upper : null;
}

/** fetch's own failure: a TypeError named after nothing the caller sent (the cause has the detail). */
const fetchFailed = (cause: unknown) => new TypeError('fetch failed', { cause });

type HeaderRecord = Record<string, string>;
/** HTTP whitespace fetch strips from both ends of a header value. */
const EDGE_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;

/**
 * The request headers as fetch's `Headers` would hold them (names lower-cased, values trimmed, a
 * repeated name joined with ", "), without building one: node:http validates names and values itself.
 */
function headerRecord(init: HeadersInit | undefined): HeaderRecord {
  const out: HeaderRecord = Object.create(null);
  if (init === undefined) return out;
  const add = (name: string, value: string) => {
    const key = name.toLowerCase();
    const v = String(value).replace(EDGE_WHITESPACE, '');
    out[key] = out[key] === undefined ? v : `${out[key]}, ${v}`;
  };
  if (init instanceof Headers) {
    init.forEach((value, name) => {
      add(name, value);
    });
  } else if (Array.isArray(init)) {
    for (const pair of init) {
      if (pair.length !== 2) throw new TypeError('a header pair must have a name and a value');
      add(pair[0] as string, pair[1] as string);
    }
  } else for (const name of Object.keys(init)) add(name, init[name] as string);
  return out;
}

/** The body as bytes and fetch's default content type; `undefined` when it must go to fetch. */
function encodeBody(body: RequestInit['body']): { bytes: Bytes; type: string | null } | undefined {
  if (body === undefined || body === null) return { bytes: null, type: null };
  if (typeof body === 'string') return { bytes: Buffer.from(body, 'utf8'), type: 'text/plain;charset=UTF-8' };
  if (body instanceof URLSearchParams) {
    return {
      bytes: Buffer.from(body.toString(), 'utf8'),
      type: 'application/x-www-form-urlencoded;charset=UTF-8',
    };
  }
  if (body instanceof ArrayBuffer) return { bytes: Buffer.from(body), type: null };
  if (ArrayBuffer.isView(body)) {
    return { bytes: Buffer.from(body.buffer, body.byteOffset, body.byteLength), type: null };
  }
  return undefined;
}

function decode(encoding: string | null, raw: Buffer, max: number): Buffer {
  const opts = { maxOutputLength: max };
  switch (encoding?.trim().toLowerCase()) {
    case 'gzip':
    case 'x-gzip':
      return gunzipSync(raw, opts);
    case 'deflate':
      return inflateSync(raw, opts);
    case 'br':
      return brotliDecompressSync(raw, opts);
    default:
      return raw;
  }
}

/**
 * Creates the transport: one keep-alive agent for http and one for https, shared by every call.
 *
 * @example
 * const http = createNodeHttpFetch({ maxSockets: 64 });
 * const res = await http.fetch('https://graph.facebook.com/v23.0/106540352242922/messages', {
 *   method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', signal: AbortSignal.timeout(10_000),
 * });
 * http.close(); // on shutdown
 */
export function createNodeHttpFetch(options: NodeHttpFetchOptions = {}): NodeHttpFetch {
  const maxBody = options.maxBodyBytes ?? 1024 * 1024;
  // `timeout` on a keep-alive agent destroys a socket idle in its free pool (Node's http docs); the
  // request's own deadline is its signal. Below the 5 s many servers keep an idle connection, so we
  // close first instead of sending on a socket the far side is closing.
  const agentOptions = {
    keepAlive: true,
    maxSockets: options.maxSockets ?? 64,
    timeout: options.idleMs ?? 4_000,
  };
  const agents = {
    'http:': new HttpAgent(agentOptions),
    'https:': new HttpsAgent({ ...agentOptions, ...(options.ca ? { ca: options.ca } : {}) }),
  };
  const stats: NodeHttpFetchStats = { requests: 0, sockets: 0, fallbacks: 0 };
  const seen = new WeakSet<Socket>();

  const fallback: typeof fetch = (input, init) => {
    stats.fallbacks++;
    return globalThis.fetch(input, init);
  };

  function send(url: URL, method: string, outgoing: HeaderRecord, bytes: Bytes, signal: AbortSignal | null) {
    return new Promise<Response>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      if (bytes) outgoing['content-length'] = String(bytes.byteLength);
      else if (method === 'POST' || method === 'PUT') outgoing['content-length'] = '0'; // as fetch does
      const protocol = url.protocol as 'http:' | 'https:';
      let req: ReturnType<typeof httpRequest>;
      try {
        req = (protocol === 'https:' ? httpsRequest : httpRequest)(url, {
          method,
          headers: outgoing,
          agent: agents[protocol],
        });
      } catch (err) {
        return reject(fetchFailed(err)); // a header value node:http refuses
      }
      stats.requests++;
      let settled = false;
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        req.destroy();
        reject(err);
      };
      const onAbort = () => fail(signal?.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('socket', (socket: Socket) => {
        if (seen.has(socket)) return;
        seen.add(socket);
        stats.sockets++;
      });
      req.on('error', (err) => fail(fetchFailed(err)));
      req.on('response', (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        // As pairs: Response appends them to its own Headers (repeated names joined with ", ")
        const raw = res.rawHeaders;
        const received: Array<[string, string]> = [];
        let encoding: string | null = null;
        let declared = 0;
        for (let i = 0; i + 1 < raw.length; i += 2) {
          const name = raw[i] as string;
          const value = raw[i + 1] as string;
          received.push([name, value]);
          if (name.length === 16 && name.toLowerCase() === 'content-encoding') encoding = value;
          else if (name.length === 14 && name.toLowerCase() === 'content-length') declared = Number(value);
        }
        if (declared > maxBody) return fail(fetchFailed(new Error(`response body over ${maxBody} bytes`)));
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.byteLength;
          if (size > maxBody) fail(fetchFailed(new Error(`response body over ${maxBody} bytes`)));
          else chunks.push(chunk);
        });
        res.on('error', (err) => fail(fetchFailed(err)));
        res.on('close', () => {
          if (!res.complete) fail(fetchFailed(new Error('response body cut short')));
        });
        res.on('end', () => {
          if (settled) return;
          let body: Uint8Array<ArrayBuffer> | null = null;
          if (!NULL_BODY.has(status) && method !== 'HEAD') {
            try {
              body = decode(encoding, Buffer.concat(chunks, size), maxBody) as Uint8Array<ArrayBuffer>;
            } catch (err) {
              return fail(fetchFailed(err));
            }
          }
          settled = true;
          signal?.removeEventListener('abort', onAbort);
          try {
            resolve(new Response(body, { status, statusText: res.statusMessage ?? '', headers: received }));
          } catch (err) {
            reject(fetchFailed(err)); // a status `Response` cannot carry (below 200 or above 599)
          }
        });
      });
      req.end(bytes ?? undefined);
    });
  }

  /** Fetch's redirect step for a 3xx this transport received (`redirect: 'follow'`). */
  function follow(
    res: Response,
    from: URL,
    method: string,
    headers: HeaderRecord,
    bytes: Bytes,
    init: RequestInit,
  ) {
    const location = res.headers.get('location');
    if (location === null) return res; // fetch too returns a 3xx without Location as it is
    let next: URL;
    try {
      next = new URL(location, from);
    } catch (err) {
      throw fetchFailed(err);
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:')
      throw fetchFailed(new Error('redirect to another scheme'));
    const toGet =
      ((res.status === 301 || res.status === 302) && method === 'POST') ||
      (res.status === 303 && method !== 'GET' && method !== 'HEAD');
    const nextHeaders = new Headers(Object.entries(headers));
    nextHeaders.delete('content-length'); // fetch sets it from the body it sends
    if (toGet) for (const name of BODY_HEADERS) nextHeaders.delete(name);
    if (next.origin !== from.origin) for (const name of CREDENTIAL_HEADERS) nextHeaders.delete(name);
    const body = toGet || bytes === null ? null : new Uint8Array(bytes);
    return fallback(next, { ...init, method: toGet ? 'GET' : method, headers: nextHeaders, body });
  }

  const nodeFetch: typeof fetch = async (input, init = {}) => {
    const url = typeof input === 'string' ? URL.parse(input) : input instanceof URL ? input : null;
    const encoded = url ? encodeBody(init.body) : undefined;
    const dispatcher = (init as { dispatcher?: unknown }).dispatcher;
    if (
      !url ||
      !encoded ||
      (url.protocol !== 'http:' && url.protocol !== 'https:') ||
      dispatcher !== undefined
    ) {
      return fallback(input, init);
    }
    const method = normalizeMethod(init.method);
    // fetch refuses these itself (a forbidden method, a GET or HEAD with a body: same TypeError) or
    // sends them in a way node:http cannot (a method such as 'patch' in lower case)
    if (!method || (encoded.bytes && (method === 'GET' || method === 'HEAD'))) return fallback(input, init);
    const headers = headerRecord(init.headers);
    if (encoded.type && headers['content-type'] === undefined) headers['content-type'] = encoded.type;
    // fetch's defaults, so the far side sees the same request either way
    headers.accept ??= '*/*';
    headers['user-agent'] ??= 'node';
    const res = await send(url, method, headers, encoded.bytes, init.signal ?? null);
    if (!REDIRECTS.has(res.status) || init.redirect === 'manual') return res;
    if (init.redirect === 'error') throw fetchFailed(new Error('unexpected redirect'));
    return follow(res, url, method, headers, encoded.bytes, init);
  };

  return {
    fetch: nodeFetch,
    stats: () => ({ ...stats }),
    close() {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  };
}
