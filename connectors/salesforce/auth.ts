/**
 * The OAuth 2.0 client-credentials session of one connected app (API-FACTS 3.1), shared by every call.
 *
 * jsforce's own 401 handling is not used: with a clientId it installs a refresh-token delegate, and
 * the client-credentials flow issues no refresh token, so a 401 would end in "No refresh token
 * found"; a custom `refreshFn` would be re-run without bound while the org keeps answering 401.
 * Instead tokens come from `OAuth2.requestToken({ grant_type: 'client_credentials' })` and each one
 * gets its own plain `Connection` (no refresh delegate, so a 401 surfaces as an error). The caller
 * renews once on 401 (http.ts); concurrent callers share one token request.
 */

import type { Connection, TokenResponse } from 'jsforce';
import jsforce from 'jsforce';
import { type ConnectorError, classifyHttp, networkError } from '../errors.ts';
import { ConnectorFailure } from '../types.ts';

export interface SessionOptions {
  loginUrl: string;
  clientId: string;
  clientSecret: string;
  apiVersion: string;
  /** When set, a token for another org is refused (e.g. sandbox credentials against production config). */
  orgId: string | null;
}

export interface Session {
  /** The current connection, requesting a token first when there is none. */
  connection(): Promise<Connection>;
  /**
   * Drops `stale` (its token got 401) and returns a connection with a new token. When another caller
   * has already renewed, returns that one without another token request.
   */
  renew(stale: Connection): Promise<Connection>;
  /** Token requests made so far. */
  tokenRequests(): number;
}

const OAUTH_REFUSALS = new Set([
  'invalid_client',
  'invalid_client_id',
  'invalid_grant',
  'invalid_request',
  'unauthorized_client',
  'unsupported_grant_type',
]);

/**
 * @example
 * const session = createSession({ loginUrl: 'https://login.salesforce.com', clientId, clientSecret, apiVersion: '62.0', orgId: null });
 * const conn = await session.connection(); // one token request, however many callers wait for it
 */
export function createSession(opts: SessionOptions): Session {
  const oauth2 = new jsforce.OAuth2({
    loginUrl: opts.loginUrl,
    clientId: opts.clientId,
    clientSecret: opts.clientSecret,
  });
  let pending: Promise<Connection> | null = null;
  let current: Connection | null = null;
  let requests = 0;

  async function authorize(): Promise<Connection> {
    requests += 1;
    let res: TokenResponse;
    try {
      res = await oauth2.requestToken({ grant_type: 'client_credentials' });
    } catch (err) {
      throw new ConnectorFailure(tokenError(err));
    }
    const instanceUrl = checkedInstanceUrl(res?.instance_url);
    if (typeof res?.access_token !== 'string' || res.access_token === '' || !instanceUrl) {
      throw new ConnectorFailure(
        authFailure('AUTH_FAILED', 'token response without a usable token or instance URL'),
      );
    }
    const tokenOrg = typeof res.id === 'string' ? (res.id.split('/').at(-2) ?? '') : '';
    if (opts.orgId !== null && tokenOrg.slice(0, 15) !== opts.orgId.slice(0, 15)) {
      throw new ConnectorFailure(authFailure('ORG_MISMATCH', 'token was issued for another Salesforce org'));
    }
    return new jsforce.Connection({
      instanceUrl,
      accessToken: res.access_token,
      version: opts.apiVersion,
      // jsforce's debug log prints request URLs, and query URLs carry phone numbers.
      logLevel: 'NONE',
    });
  }

  function connection(): Promise<Connection> {
    if (!pending) {
      const started = authorize().then(
        (conn) => {
          current = conn;
          return conn;
        },
        (err: unknown) => {
          if (pending === started) pending = null; // the next call tries again
          throw err;
        },
      );
      pending = started;
    }
    return pending;
  }

  return {
    connection,
    renew(stale) {
      // Someone else renewed already (current differs) or is renewing (current is null, pending set).
      if (pending && current !== stale) return pending;
      pending = null;
      current = null;
      return connection();
    },
    tokenRequests: () => requests,
  };
}

/** Only https, or http to this machine (local simulators and tests). */
function checkedInstanceUrl(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  try {
    const u = new URL(value);
    const local = u.hostname === '127.0.0.1' || u.hostname === 'localhost' || u.hostname === '[::1]';
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && local)) return null;
    return u.origin;
  } catch {
    return null;
  }
}

/** jsforce throws token errors named after OAuth's `error` (`invalid_client`), or `ERROR_HTTP_<status>`. */
function tokenError(err: unknown): ConnectorError {
  const name = err instanceof Error ? err.name : '';
  if (OAUTH_REFUSALS.has(name)) {
    return {
      ...authFailure('AUTH_FAILED', `token request refused (${name})`),
      status: 400,
      vendorCode: name,
    };
  }
  const http = /^ERROR_HTTP_(\d{3})$/.exec(name);
  if (http) {
    const e = classifyHttp(Number(http[1]));
    return e.retryable
      ? { ...e, message: `token request failed (${e.message})` }
      : authFailure('AUTH_FAILED', e.message);
  }
  return networkError(err);
}

function authFailure(code: string, message: string): ConnectorError {
  return { code, message, retryable: false, retryAfterMs: null, status: null, vendorCode: null };
}
