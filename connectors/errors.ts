/**
 * The one error shape every connector returns. The dispatcher decides from `retryable` (and
 * `retryAfterMs`) alone, so vendor specifics are folded into these fields at the connector's edge.
 */
export interface ConnectorError {
  /** Stable machine code, e.g. `RATE_LIMITED`, `RECIPIENT_STOPPED_MARKETING`, `NETWORK`. */
  code: string;
  /** For operators; never contains personal data (numbers, names, message text) or secrets. */
  message: string;
  retryable: boolean;
  /** How long the far side asked us to wait, from `Retry-After`; null when it did not say. */
  retryAfterMs: number | null;
  /** HTTP status, null when no response arrived. */
  status: number | null;
  /** The vendor's own error code (e.g. Meta's 131050), when it sent one. */
  vendorCode: number | string | null;
}

const HTTP_CODES: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  408: 'TIMEOUT',
  409: 'CONFLICT',
  422: 'BAD_REQUEST',
  429: 'RATE_LIMITED',
};

/**
 * Parses `Retry-After`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3). Unparseable → null.
 *
 * @example parseRetryAfter('120') // 120000
 * @example parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('Wed, 21 Oct 2015 07:27:00 GMT')) // 60000
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | null {
  if (typeof value !== 'string') return null;
  const v = value.trim();
  if (/^\d{1,10}$/.test(v)) return Number(v) * 1000;
  // All three HTTP-date forms start with a day name; this keeps Date.parse's leniency away from junk.
  if (!/^[A-Za-z]{3,9},? /.test(v)) return null;
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/**
 * Classifies an HTTP failure by status alone: 408, 429 and 5xx are retryable, every other status is not.
 *
 * @example classifyHttp(503, '5') // { code: 'SERVER_ERROR', retryable: true, retryAfterMs: 5000, status: 503, … }
 */
export function classifyHttp(
  status: number,
  retryAfterHeader?: string | null,
  now: number = Date.now(),
): ConnectorError {
  const retryable = status === 408 || status === 429 || status >= 500;
  return {
    code: HTTP_CODES[status] ?? (status >= 500 ? 'SERVER_ERROR' : 'HTTP_ERROR'),
    message: `HTTP ${status}`,
    retryable,
    retryAfterMs: retryable ? parseRetryAfter(retryAfterHeader, now) : null,
    status,
    vendorCode: null,
  };
}

/**
 * Turns a thrown `fetch` error (no response) into a retryable `NETWORK` error. Only the error's name
 * is kept: undici's messages and causes can carry URLs and addresses.
 *
 * @example networkError(new DOMException('timed out', 'TimeoutError'), 10_000).message // 'request timed out after 10000 ms'
 */
export function networkError(err: unknown, timeoutMs: number | null = null): ConnectorError {
  const name = err instanceof Error || err instanceof DOMException ? err.name : 'Error';
  const timedOut = name === 'TimeoutError';
  return {
    code: 'NETWORK',
    message:
      timedOut && timeoutMs !== null ? `request timed out after ${timeoutMs} ms` : `network error (${name})`,
    retryable: true,
    retryAfterMs: null,
    status: null,
    vendorCode: null,
  };
}
