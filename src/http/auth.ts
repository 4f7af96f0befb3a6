import type { MiddlewareHandler } from 'hono';
import type { Role } from '../config.ts';
import { bytesEqual, sha256Hex, utf8 } from '../crypto/encoding.ts';
import { AppError } from './errors.ts';
import type { AppEnv } from './types.ts';

/** Who is calling: the role and a short key id (a hash prefix, safe for logs and the audit log). */
export interface Actor {
  role: Role;
  keyId: string;
}

export interface ApiKeyAuth {
  identify(authorization: string | undefined): Promise<Actor | null>;
}

/**
 * Bearer-token auth over `API_KEYS`. Tokens are compared as SHA-256 digests in constant time,
 * against every key (no early exit), so timing says nothing about which key nearly matched.
 *
 * @example
 * const auth = await createApiKeyAuth([{ role: 'admin', token: '…' }]);
 * await auth.identify('Bearer …'); // { role: 'admin', keyId: '3f2a…' }
 */
export async function createApiKeyAuth(keys: Array<{ role: Role; token: string }>): Promise<ApiKeyAuth> {
  const hashed = await Promise.all(
    keys.map(async (k) => {
      const hex = await sha256Hex(k.token);
      return { role: k.role, digest: utf8(hex), keyId: hex.slice(0, 12) };
    }),
  );
  return {
    async identify(authorization) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
      if (!m?.[1]) return null;
      const digest = utf8(await sha256Hex(m[1]));
      let found: Actor | null = null;
      for (const k of hashed) {
        if (bytesEqual(k.digest, digest) && !found) found = { role: k.role, keyId: k.keyId };
      }
      return found;
    },
  };
}

/**
 * Route guard: 401 without a valid token, 403 when the key's role may not use the route.
 * `admin` may use every guarded route.
 */
export function requireRole(...roles: Role[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const actor = await c.var.services.auth.identify(c.req.header('authorization'));
    if (!actor) throw new AppError(401, 'UNAUTHORIZED', 'a valid bearer token is required');
    if (actor.role !== 'admin' && !roles.includes(actor.role)) {
      throw new AppError(403, 'FORBIDDEN', `the ${actor.role} role may not use this route`);
    }
    c.set('actor', actor);
    await next();
  };
}
