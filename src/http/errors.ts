import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
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

/**
 * Renders every error thrown by a route; unknown errors become a 500 whose message says nothing
 * about the cause (it is logged by name only).
 */
export function renderError(err: Error, c: Context): Response {
  if (err instanceof AppError) return c.json(errorBody(err.code, err.message, err.details), err.status);
  if (err instanceof HTTPException) {
    const status = err.status;
    // Hono's JSON validator rejects an unparsable body with a 400 naming JSON: one code everywhere.
    if (status === 400 && /json/i.test(err.message))
      return c.json(errorBody('MALFORMED_JSON', 'the body is not valid JSON'), 400);
    // The JSON validator refuses a body sent without `Content-Type: application/json`.
    if (status === 415)
      return c.json(
        errorBody(
          'UNSUPPORTED_MEDIA_TYPE',
          'send the body as JSON with the header Content-Type: application/json',
        ),
        415,
      );
    const code = status === 413 ? 'PAYLOAD_TOO_LARGE' : status === 401 ? 'UNAUTHORIZED' : 'HTTP_ERROR';
    return c.json(errorBody(code, err.message || 'request rejected'), status);
  }
  if (err instanceof SyntaxError)
    return c.json(errorBody('MALFORMED_JSON', 'the body is not valid JSON'), 400);
  const store = storeFailure(err);
  if (store) {
    c.var.log?.error({ err: store }, 'store unavailable');
    return c.json(
      errorBody('STORE_UNAVAILABLE', `the database failed: ${store.name}: ${store.message}`),
      503,
    );
  }
  c.var.log?.error({ err: { name: err.name, code: (err as { code?: unknown }).code } }, 'unhandled error');
  return c.json(errorBody('INTERNAL', 'internal error; the request id is in the x-request-id header'), 500);
}
