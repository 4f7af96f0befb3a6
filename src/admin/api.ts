/**
 * The console calls the JSON API in-process with the signed-in person's own key, so every action
 * takes exactly the path (validation, role check, audit, service) the API takes.
 */
import type { Context } from 'hono';
import type { AdminEnv } from './guard.ts';

export interface ApiResult<T> {
  status: number;
  body: T;
  headers: Headers;
}

export interface ApiError {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

type Fetcher = {
  request(input: string, init?: RequestInit, env?: unknown, ctx?: unknown): Response | Promise<Response>;
};

export type Api = <T>(
  c: Context<AdminEnv>,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  json?: unknown,
) => Promise<ApiResult<T>>;

function executionCtx(c: Context): unknown {
  try {
    return c.executionCtx;
  } catch {
    return undefined;
  }
}

/** The raw response of an in-process API call made with the signed-in person's key. */
export type RawApi = (
  c: Context<AdminEnv>,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  json?: unknown,
) => Promise<Response>;

/** Builds the in-process caller over the app the console is mounted on. */
export function rawApiOver(app: Fetcher): RawApi {
  return async (c, method, path, json) => {
    const headers: Record<string, string> = { authorization: `Bearer ${c.var.session.key}` };
    if (json !== undefined) headers['content-type'] = 'application/json';
    return app.request(
      path,
      { method, headers, ...(json !== undefined ? { body: JSON.stringify(json) } : {}) },
      c.env,
      executionCtx(c),
    );
  };
}

/** The same, with the JSON body read. */
export function apiOver(raw: RawApi): Api {
  return async <T>(
    c: Context<AdminEnv>,
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    json?: unknown,
  ) => {
    const res = await raw(c, method, path, json);
    // 204 (a revoked key) has no body
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as T, headers: res.headers };
  };
}
