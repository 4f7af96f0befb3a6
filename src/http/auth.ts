import type { MiddlewareHandler } from 'hono';
import type { Role } from '../config.ts';
import { authFailed, retryAfterSeconds, tooManyAttempts } from './auth-failures.ts';
import { AppError } from './errors.ts';
import type { AppEnv } from './types.ts';

/** The token of a `Bearer` header, or the whole value when it is something else. */
const credentialOf = (authorization: string) => /^Bearer\s+(\S+)/i.exec(authorization)?.[1] ?? authorization;

/**
 * Route guard: 401 without a valid token, 403 when the key's role may not use the route, 429 (with
 * `Retry-After`) while the client or the token's prefix has too many recent failures.
 * `admin` may use every guarded route.
 */
export function requireRole(...roles: Role[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const authorization = c.req.header('authorization');
    // A presented credential is throttled and counted when it fails; no header at all is no guess.
    const credential = authorization === undefined ? null : credentialOf(authorization);
    if (credential !== null) {
      const wait = retryAfterSeconds(c, credential);
      if (wait > 0) return tooManyAttempts(c, wait);
    }
    const actor = await c.var.services.auth.identify(authorization);
    if (!actor) {
      if (credential !== null) await authFailed(c, 'api.auth_failed', credential);
      throw new AppError(401, 'UNAUTHORIZED', 'a valid bearer token is required');
    }
    if (actor.role !== 'admin' && !roles.includes(actor.role)) {
      throw new AppError(403, 'FORBIDDEN', `the ${actor.role} role may not use this route`);
    }
    c.set('actor', actor);
    await next();
  };
}
