/**
 * What a failed sign-in or bearer token costs the client: it counts against the throttle (429 with
 * `Retry-After` past the limits) and, in the audit log, adds to one row per client and hour rather
 * than writing a row per attempt (300 failed attempts used to write 300 rows in under a second).
 *
 * The audit row never holds the credential, nor the exact address: its id and target carry a keyed
 * hash of the address (repeated attempts from one client line up across hours), its details the
 * network (IPv4 /24, IPv6 /48), the count and the last attempt's time.
 */
import type { Context } from 'hono';
import { addressBucket, clientAddress, networkOf } from './client-address.ts';
import { errorBody } from './errors.ts';
import type { AppEnv } from './types.ts';

/** One audit row per client and this window. */
export const AUDIT_WINDOW_MS = 3_600_000;

export type FailureAction = 'api.auth_failed' | 'console.sign_in_failed';

/** The throttling unit of this request's client (its address, an IPv6 /64). */
export function clientOf(c: Context<AppEnv>): string {
  const { connInfo, config } = c.var.services;
  return addressBucket(clientAddress(c, connInfo, config.CLIENT_ADDRESS_HEADER));
}

/** Whole seconds the client must wait before `credential` is checked; 0: check it now. */
export function retryAfterSeconds(c: Context<AppEnv>, credential: string): number {
  const ms = c.var.services.throttle.wait(clientOf(c), credential);
  return ms > 0 ? Math.max(1, Math.ceil(ms / 1000)) : 0;
}

/** The JSON API's 429. */
export function tooManyAttempts(c: Context<AppEnv>, seconds: number): Response {
  return c.json(
    errorBody(
      'TOO_MANY_ATTEMPTS',
      'too many failed authentication attempts; try again after Retry-After seconds',
    ),
    429,
    { 'retry-after': String(seconds) },
  );
}

/**
 * Records a failed credential: one more against the throttle, one more in this client's audit row
 * for the hour.
 *
 * @example if (!actor) { await authFailed(c, 'api.auth_failed', token); throw new AppError(401, …); }
 */
export async function authFailed(
  c: Context<AppEnv>,
  action: FailureAction,
  credential: string,
): Promise<void> {
  const { services } = c.var;
  const client = clientOf(c);
  services.throttle.failed(client, credential);
  const now = services.clock();
  const window = new Date(Math.floor(now.getTime() / AUDIT_WINDOW_MS) * AUDIT_WINDOW_MS).toISOString();
  // Domain-separated from the phone numbers the same lookup key hashes.
  const tag = (await services.pii.lookupHash(`client-address:${client}`)).slice(0, 16);
  const at = now.toISOString();
  await services.store.commit({
    auditCounts: [
      {
        id: `${action}:${window}:${tag}`,
        at,
        actor: 'anonymous',
        role: 'none',
        action,
        target: `client:${tag}`,
        details: { count: 1, lastAt: at, network: networkOf(client), window },
      },
    ],
  });
}
