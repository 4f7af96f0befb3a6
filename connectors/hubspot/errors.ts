/**
 * Folds what `@hubspot/api-client` throws into `ConnectorError`s (API-FACTS 2.3, 2.5, 2.6).
 *
 * The SDK throws a generated `ApiException { code, body, headers }` for any non-2xx answer (its
 * `message` embeds the whole body, which can quote property values such as phone numbers, so it is
 * never read), and plain errors from `node-fetch` when no answer came. Only named, enum-like fields
 * (`category`, `policyName`, error codes, property names, `correlationId`) reach our messages.
 */
import type { ConnectorError } from '../errors.ts';
import { classifyHttp, networkError, parseRetryAfter } from '../errors.ts';

/** The fields of the SDK's `ApiException` that we use (one class per generated module, so no instanceof). */
export interface SdkHttpError {
  code: number;
  body: unknown;
  headers: Record<string, string>;
}

/** HubSpot's 429 body when the per-app 10-second window is full. */
const TEN_SECONDLY = 'TEN_SECONDLY_ROLLING';
/** The search endpoint's own per-second limit (SDK RetryDecorator waits 1 s for it). */
const SECONDLY_MESSAGE = 'You have reached your secondly limit.';
/** An identifier with at least one letter: enum values, property names, UUIDs; never a bare number. */
const SAFE_TOKEN = /^(?=[^A-Za-z]*[A-Za-z])[A-Za-z0-9_.:-]{1,100}$/;
const HOUR_MS = 3_600_000;

export function isSdkHttpError(err: unknown): err is SdkHttpError {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as Record<string, unknown>;
  return typeof e.code === 'number' && 'body' in e && typeof e.headers === 'object' && e.headers !== null;
}

/**
 * Classifies anything a SDK call threw.
 *
 * - 429 TEN_SECONDLY_ROLLING: retryable after Retry-After, or 10 s when HubSpot did not say.
 * - 429 DAILY: retryable, but only after the next full UTC hour (+1 min). HubSpot resets the daily
 *   quota at midnight in the account's time zone, which we do not know; every zone's midnight falls
 *   on a full UTC hour or within 45 minutes after one, so the dispatcher probes at most hourly and
 *   resumes within an hour of the reset. The wait is longer than any in-call wait, so the budget
 *   hands it straight back to the dispatcher.
 * - 5xx, 408 and network failures (timeouts included): retryable.
 * - 400/422 `VALIDATION_ERROR`: `INVALID_REQUEST`; 401 `UNAUTHORIZED`; 403 `FORBIDDEN`; none retryable.
 *
 * @example
 * try { await api.doSearch(req) } catch (err) { throw new ConnectorFailure(toConnectorError(err)) }
 */
export function toConnectorError(
  err: unknown,
  now: number = Date.now(),
  timeoutMs: number | null = null,
): ConnectorError {
  if (!isSdkHttpError(err)) {
    if (isNoResponse(err)) return networkError(err, timeoutMs);
    const name = err instanceof Error ? err.name : 'error';
    // The SDK could not read the answer (no content type, broken JSON): a later attempt may pass.
    return unexpected(`unreadable HubSpot response (${safe(name) ?? 'error'})`);
  }
  const status = err.code;
  const body = typeof err.body === 'object' && err.body !== null ? (err.body as Record<string, unknown>) : {};
  const retryAfter = header(err.headers, 'retry-after');
  const base = classifyHttp(status, retryAfter, now);
  const category = safe(body.category);
  const policy = safe(body.policyName);
  const detail = describe(status, body);

  if (status === 429) {
    if (policy === 'DAILY') {
      return {
        ...base,
        code: 'RATE_LIMITED',
        message: `HubSpot daily API limit reached${detail}`,
        retryable: true,
        retryAfterMs: parseRetryAfter(retryAfter, now) ?? untilNextHour(now),
        vendorCode: 'DAILY',
      };
    }
    const fallback = policy === TEN_SECONDLY ? 10_000 : body.message === SECONDLY_MESSAGE ? 1_000 : null;
    return {
      ...base,
      code: 'RATE_LIMITED',
      message: `HubSpot rate limit reached${detail}`,
      retryAfterMs: base.retryAfterMs ?? fallback,
      vendorCode: policy ?? category,
    };
  }
  const code =
    (status === 400 || status === 422) && (category === 'VALIDATION_ERROR' || !category)
      ? 'INVALID_REQUEST'
      : base.code;
  return { ...base, code, message: `HubSpot answered${detail}`, vendorCode: category };
}

/** One entry of a 207's `errors`: `OBJECT_NOT_FOUND` → `NOT_FOUND`, anything else `RECORD_REJECTED`; neither retryable. */
export function recordError(entry: unknown): ConnectorError {
  const e = typeof entry === 'object' && entry !== null ? (entry as Record<string, unknown>) : {};
  const category = safe(e.category);
  const notFound = category === 'OBJECT_NOT_FOUND';
  return {
    code: notFound ? 'NOT_FOUND' : 'RECORD_REJECTED',
    message: notFound
      ? 'HubSpot has no such contact'
      : `HubSpot rejected the record (${[category ?? 'no category', ...errorCodes(e)].join(', ')})`,
    retryable: false,
    retryAfterMs: null,
    status: 207,
    vendorCode: category,
  };
}

/** For a record the answer said nothing about: writes are absolute, so trying again is safe. */
export function missingResult(): ConnectorError {
  return {
    code: 'MISSING_RESULT',
    message: 'HubSpot reported neither a result nor an error for the record',
    retryable: true,
    retryAfterMs: null,
    status: 207,
    vendorCode: null,
  };
}

export function unexpected(message: string): ConnectorError {
  return { code: 'UNEXPECTED', message, retryable: true, retryAfterMs: null, status: null, vendorCode: null };
}

/** ` 400 VALIDATION_ERROR [PROPERTY_DOESNT_EXIST property no_such] (correlationId …)`, from named fields only. */
function describe(status: number, body: Record<string, unknown>): string {
  const parts = [` (HTTP ${status}`];
  const category = safe(body.category) ?? safe(body.policyName);
  if (category) parts.push(` ${category}`);
  const codes = errorCodes(body);
  if (codes.length > 0) parts.push(` [${codes.join(', ')}]`);
  const correlation = safe(body.correlationId);
  if (correlation) parts.push(`, correlationId ${correlation}`);
  return `${parts.join('')})`;
}

/** `errors[].code` and `errors[].context.propertyName[]`: enum values and property names, never values. */
function errorCodes(body: Record<string, unknown>): string[] {
  const out = new Set<string>();
  const errors = Array.isArray(body.errors) ? body.errors.slice(0, 10) : [];
  for (const item of errors) {
    if (typeof item !== 'object' || item === null) continue;
    const e = item as Record<string, unknown>;
    const code = safe(e.code);
    const context = e.context as Record<string, unknown> | undefined;
    const names = Array.isArray(context?.propertyName) ? context.propertyName.map(safe).filter(Boolean) : [];
    if (code) out.add(names.length > 0 ? `${code} ${names.join(' ')}` : code);
  }
  return [...out];
}

function isNoResponse(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const name = (err as { name?: unknown }).name;
  // Our fetch layer (http.ts) throws FetchError when no response came; our own timeout throws a TimeoutError DOMException.
  return name === 'FetchError' || name === 'TimeoutError' || name === 'AbortError';
}

function header(headers: Record<string, string>, name: string): string | null {
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
  return null;
}

function untilNextHour(now: number): number {
  return Math.ceil((now + 1) / HOUR_MS) * HOUR_MS - now + 60_000;
}

/** Keeps a value only when it looks like an identifier, so nothing personal can slip through. */
function safe(v: unknown): string | null {
  return typeof v === 'string' && SAFE_TOKEN.test(v) ? v : null;
}
