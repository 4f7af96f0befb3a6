/**
 * API keys as a service (no HTTP): who a token is, issuing keys. The route guard that uses it is
 * `src/http/auth.ts`; the composition root builds it without importing the HTTP layer.
 */
import { ROLES, type Role } from '../config.ts';
import { bytesEqual, sha256Hex, toBase64, utf8 } from '../crypto/encoding.ts';
import type { ApiKeyRow } from '../store/api-keys-sql.ts';
import type { Store } from '../store/port.ts';

/** Who is calling: the role and a short key id (a hash prefix, safe for logs and the audit log). */
export interface Actor {
  role: Role;
  keyId: string;
}

export interface ApiKeyAuth {
  identify(authorization: string | undefined): Promise<Actor | null>;
}

/** Tokens of keys made through the API start with this, so they are recognisable (e.g. by secret scanners). */
export const STORED_KEY_PREFIX = 'csk_';
/** `lastUsedAt` of a stored key is written at most this often (one write, not one per request). */
export const TOUCH_EVERY_MS = 5 * 60_000;

/** Where stored keys are looked up; the store, or any part of it that does this. */
export type KeyStore = Pick<Store, 'findApiKey' | 'commit'>;

/** The public id of a token: the first 12 hex digits of its SHA-256 (safe for logs and the audit log). */
export async function keyIdOf(token: string): Promise<string> {
  return (await sha256Hex(token)).slice(0, 12);
}

const isRole = (r: string): r is Role => (ROLES as readonly string[]).includes(r);

/**
 * Bearer-token auth over `API_KEYS` and, with a store, the keys made through `POST /v1/keys`.
 * Tokens are compared as SHA-256 digests in constant time, against every `API_KEYS` key (no early
 * exit), so timing says nothing about which key nearly matched. A token with the stored-key prefix
 * that is not an `API_KEYS` key is then looked up by its digest (one indexed read, no cache): a
 * revocation holds from the next request on, in every process and every Workers isolate.
 *
 * @example
 * const auth = await createApiKeyAuth([{ role: 'admin', token: '…' }], { store, clock });
 * await auth.identify('Bearer …'); // { role: 'admin', keyId: '3f2a…' }
 */
export async function createApiKeyAuth(
  keys: Array<{ role: Role; token: string }>,
  options: { store?: KeyStore; clock?: () => Date } = {},
): Promise<ApiKeyAuth> {
  const { store } = options;
  const clock = options.clock ?? (() => new Date());
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
      const hex = await sha256Hex(m[1]);
      const digest = utf8(hex);
      let found: Actor | null = null;
      for (const k of hashed) {
        if (bytesEqual(k.digest, digest) && !found) found = { role: k.role, keyId: k.keyId };
      }
      if (found || !store || !m[1].startsWith(STORED_KEY_PREFIX)) return found;
      const row = await store.findApiKey(hex);
      if (!row || row.revokedAt !== null || !isRole(row.role) || !bytesEqual(utf8(row.digest), digest)) {
        return null;
      }
      const now = clock();
      if (row.lastUsedAt === null || Date.parse(row.lastUsedAt) <= now.getTime() - TOUCH_EVERY_MS) {
        await store.commit({ touchApiKeys: [{ id: row.id, at: now.toISOString() }] });
      }
      return { role: row.role, keyId: row.id };
    },
  };
}

/**
 * A new key: the token (shown once, never stored) and the row to store (its SHA-256 only).
 * 32 random bytes, base64url, behind `csk_`.
 *
 * @example
 * const { token, row } = await issueApiKey({ role: 'auditor', label: 'DPO laptop', createdBy: actor.keyId, now });
 */
export async function issueApiKey(input: {
  role: Role;
  label: string;
  createdBy: string;
  now: Date;
}): Promise<{ token: string; row: ApiKeyRow }> {
  const random = toBase64(crypto.getRandomValues(new Uint8Array(32)));
  const token = `${STORED_KEY_PREFIX}${random.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')}`;
  const digest = await sha256Hex(token);
  return {
    token,
    row: {
      id: digest.slice(0, 12),
      digest,
      role: input.role,
      label: input.label,
      createdAt: input.now.toISOString(),
      createdBy: input.createdBy,
      lastUsedAt: null,
      revokedAt: null,
      revokedBy: null,
    },
  };
}
