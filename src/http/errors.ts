import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Log } from '../service/log.ts';
import { storeFailure } from '../store/unavailable.ts';

/**
 * The one error type the HTTP edge renders: `{ "error": { "code", "message" } }`.
 * Messages never contain personal data (numbers, names, message text) or secrets.
 */
export class AppError extends Error {
  readonly status: ContentfulStatusCode;
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    status: ContentfulStatusCode,
    code: string,
    message: string,
    details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'AppError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

export const errorBody = (code: string, message: string, details?: Record<string, unknown>): ErrorBody => ({
  error: details ? { code, message, details } : { code, message },
});

/** What an error becomes on the wire: a status and the `{ error }` body. */
export interface ErrorResult {
  status: ContentfulStatusCode;
  body: ErrorBody;
}

/**
 * What every error thrown by a route becomes; unknown errors become a 500 whose message says
 * nothing about the cause (it is logged by name only). Runtime-free: `renderError` (Hono) and the
 * Node webhook fast path (src/runtime/node-webhook.ts) both answer with it.
 */
export function errorResult(err: Error, log: Log | undefined): ErrorResult {
  if (err instanceof AppError)
    return { status: err.status, body: errorBody(err.code, err.message, err.details) };
  if (err instanceof HTTPException) {
    const status = err.status;
    // Hono's JSON validator rejects an unparsable body with a 400 naming JSON: one code everywhere.
    if (status === 400 && /json/i.test(err.message))
      return { status: 400, body: errorBody('MALFORMED_JSON', 'the body is not valid JSON') };
    // The JSON validator refuses a body sent without `Content-Type: application/json`.
    if (status === 415)
      return {
        status: 415,
        body: errorBody(
          'UNSUPPORTED_MEDIA_TYPE',
          'send the body as JSON with the header Content-Type: application/json',
        ),
      };
    const code = status === 413 ? 'PAYLOAD_TOO_LARGE' : status === 401 ? 'UNAUTHORIZED' : 'HTTP_ERROR';
    return {
      status: status as ContentfulStatusCode,
      body: errorBody(code, err.message || 'request rejected'),
    };
  }
  if (err instanceof SyntaxError)
    return { status: 400, body: errorBody('MALFORMED_JSON', 'the body is not valid JSON') };
  const store = storeFailure(err);
  if (store) {
    log?.error({ err: store }, 'store unavailable');
    return {
      status: 503,
      body: errorBody('STORE_UNAVAILABLE', `the database failed: ${store.name}: ${store.message}`),
    };
  }
  // Names and codes only (SQLite's extended `errcode` says which lock or constraint), never a message.
  const { code, errcode } = err as { code?: unknown; errcode?: unknown };
  log?.error(
    { err: { name: err.name, code, ...(typeof errcode === 'number' ? { errcode } : {}) } },
    'unhandled error',
  );
  return {
    status: 500,
    body: errorBody('INTERNAL', 'internal error; the request id is in the x-request-id header'),
  };
}

/** Renders every error thrown by a route (see `errorResult`). */
export function renderError(err: Error, c: Context): Response {
  const { status, body } = errorResult(err, c.var.log);
  return c.json(body, status);
}
