/**
 * One REST request through jsforce under the shared budget: jsforce's own transport retries are off
 * (it retries GET and DELETE but never PATCH or POST, API-FACTS 3.1; ours cover every method and honour
 * the budget), the session is renewed once on 401, and every failure becomes a `ConnectorError` that
 * names Salesforce's `errorCode` but never its message, which can quote the query or field values.
 */
import type { Connection, HttpRequest, HttpRequestOptions, HttpResponse } from 'jsforce';
import type { CallBudget } from '../call.ts';
import { type ConnectorError, classifyHttp, networkError } from '../errors.ts';
import { ConnectorFailure } from '../types.ts';
import type { Session } from './auth.ts';

export interface SfRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Relative to `/services/data/vXX.X` (`/query?q=…`) or from `/services/…` (a `nextRecordsUrl`). */
  url: string;
  body?: unknown;
}

/** A field Salesforce named in an INVALID_FIELD answer (only the names are kept from its message). */
export interface InvalidField {
  field: string;
  objectType: string;
}

/** A whole-call failure from Salesforce, with the field it complained about when there was one. */
export class SalesforceFailure extends ConnectorFailure {
  readonly invalidField: InvalidField | null;
  constructor(error: ConnectorError, invalidField: InvalidField | null = null) {
    super(error);
    this.name = 'SalesforceFailure';
    this.invalidField = invalidField;
  }
}

export interface ApiUsage {
  used: number;
  limit: number;
}

export interface Caller {
  /** Runs one request under the budget; resolves with the parsed body (undefined for 204). */
  call<T>(req: SfRequest): Promise<T>;
  /** The last `Sforce-Limit-Info: api-usage=N/M` seen, or null before the first answer. */
  apiUsage(): ApiUsage | null;
}

export interface CallerOptions {
  /** Per-request timeout (jsforce aborts the fetch). */
  timeoutMs: number;
  /** How long to wait after REQUEST_LIMIT_EXCEEDED, which comes without Retry-After. */
  rateLimitWaitMs: number;
}

type Attempt =
  | { kind: 'ok'; body: unknown }
  | { kind: 'expired' }
  | { kind: 'failed'; failure: SalesforceFailure };

/**
 * @example
 * const api = createCaller(session, budget, { timeoutMs: 30_000, rateLimitWaitMs: 2_000 });
 * const page = await api.call<QueryPage>({ method: 'GET', url: `/query?q=${encodeURIComponent(soql)}` });
 */
export function createCaller(session: Session, budget: CallBudget, opts: CallerOptions): Caller {
  let usage: ApiUsage | null = null;

  async function attempt(conn: Connection, req: SfRequest): Promise<Attempt> {
    const seen: { status: number | null; headers: Record<string, string> } = { status: null, headers: {} };
    // A pass-through transport that notes the status, which jsforce's errors do not carry.
    const transport = {
      httpRequest(r: HttpRequest, o?: HttpRequestOptions) {
        const p = conn._transport.httpRequest(r, o);
        p.then(
          (res: HttpResponse) => {
            seen.status = res.statusCode;
            seen.headers = res.headers ?? {};
          },
          () => undefined,
        );
        return p;
      },
    };
    const request: HttpRequest =
      req.body === undefined
        ? { method: req.method, url: req.url }
        : {
            method: req.method,
            url: req.url,
            body: JSON.stringify(req.body),
            headers: { 'content-type': 'application/json' },
          };
    // jsforce's `timeout` stops waiting for the headers only: a connection dropped in the middle of
    // the body leaves its response stream open for ever. One deadline covers the whole exchange.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DOMException('timed out', 'TimeoutError')), opts.timeoutMs);
    });
    try {
      const body = await Promise.race([
        conn.request(request, { transport, retry: { maxRetries: 0 }, timeout: opts.timeoutMs }),
        deadline,
      ]);
      noteUsage(seen.headers);
      return { kind: 'ok', body };
    } catch (err) {
      noteUsage(seen.headers);
      if (err instanceof DOMException && err.name === 'TimeoutError') {
        return { kind: 'failed', failure: new SalesforceFailure(networkError(err, opts.timeoutMs)) };
      }
      if (seen.status === 401) return { kind: 'expired' };
      return { kind: 'failed', failure: classifyFailure(err, seen.status, seen.headers, opts) };
    } finally {
      clearTimeout(timer);
    }
  }

  function noteUsage(headers: Record<string, string>): void {
    const m = /api-usage=(\d+)\/(\d+)/.exec(headers['sforce-limit-info'] ?? '');
    if (m) usage = { used: Number(m[1]), limit: Number(m[2]) };
  }

  return {
    call<T>(req: SfRequest): Promise<T> {
      return budget.run(async () => {
        let conn = await session.connection();
        let out = await attempt(conn, req);
        if (out.kind === 'expired') {
          conn = await session.renew(conn);
          out = await attempt(conn, req);
        }
        if (out.kind === 'expired') {
          throw new SalesforceFailure({
            code: 'UNAUTHORIZED',
            message: 'Salesforce INVALID_SESSION_ID (HTTP 401) with a new token',
            retryable: false,
            retryAfterMs: null,
            status: 401,
            vendorCode: 'INVALID_SESSION_ID',
          });
        }
        if (out.kind === 'failed') throw out.failure;
        return out.body as T;
      });
    },
    apiUsage: () => usage,
  };
}

const INVALID_FIELD_TEXT =
  /No such column '([A-Za-z0-9_]+)' on (?:entity|sobject of type) '?([A-Za-z0-9_]+)'?/;

/**
 * Folds a jsforce error into a `SalesforceFailure`. REQUEST_LIMIT_EXCEEDED (403, no Retry-After)
 * is retryable after `rateLimitWaitMs`; 400 is INVALID_REQUEST and 404 ENDPOINT_NOT_FOUND (both not
 * retryable); 5xx, 408 and 429 are retryable; no response at all is NETWORK (retryable).
 */
export function classifyFailure(
  err: unknown,
  status: number | null,
  headers: Record<string, string>,
  opts: CallerOptions,
): SalesforceFailure {
  if (status === null) {
    const name = err instanceof Error ? err.name : '';
    const timedOut = name === 'AbortError' || name === 'TimeoutError';
    return new SalesforceFailure(
      timedOut
        ? networkError(new DOMException('timed out', 'TimeoutError'), opts.timeoutMs)
        : networkError(err),
    );
  }
  const errorCode = salesforceCode(err);
  const vendorCode = errorCode && !errorCode.startsWith('ERROR_HTTP_') ? errorCode : null;
  const label = `Salesforce ${vendorCode ?? 'error'} (HTTP ${status})`;
  if (status === 403 && vendorCode === 'REQUEST_LIMIT_EXCEEDED') {
    return new SalesforceFailure({
      code: 'RATE_LIMITED',
      message: label,
      retryable: true,
      retryAfterMs: opts.rateLimitWaitMs,
      status,
      vendorCode,
    });
  }
  const base = classifyHttp(status, headers['retry-after'] ?? null);
  // A whole-call 404 (wrong API version or path) must not read like the per-record NOT_FOUND.
  const code = status === 400 ? 'INVALID_REQUEST' : status === 404 ? 'ENDPOINT_NOT_FOUND' : base.code;
  let invalidField: InvalidField | null = null;
  if (vendorCode === 'INVALID_FIELD' && err instanceof Error) {
    const m = INVALID_FIELD_TEXT.exec(err.message);
    if (m) invalidField = { field: m[1] as string, objectType: m[2] as string };
  }
  return new SalesforceFailure({ ...base, code, message: label, vendorCode }, invalidField);
}

/** Salesforce's `errorCode` (the first of several), shaped like one or dropped. */
function salesforceCode(err: unknown): string | null {
  const e = err as { errorCode?: unknown; data?: unknown };
  let code = e?.errorCode;
  if (code === 'MULTIPLE_API_ERRORS' && Array.isArray(e.data))
    code = (e.data[0] as { errorCode?: unknown })?.errorCode;
  return typeof code === 'string' && /^[A-Z0-9_]{1,64}$/.test(code) ? code : null;
}
