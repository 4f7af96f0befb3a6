/**
 * The console's cookie session, with no session table: the cookie holds the API key itself,
 * sealed with AES-GCM under a key derived from `PII_KEY` (HKDF, its own label), plus an expiry.
 * Every request opens it and identifies the key again, so a revoked key or a changed role applies
 * at once. The CSRF token is an HMAC of the sealed cookie: bound to this sign-in, never stored.
 * Built on the runtime's crypto primitives (the same HKDF, AES-GCM and HMAC as the PII crypto), so
 * it runs on Node and Workers alike.
 */
import { bytesEqual, fromBase64, toBase64, toHex, utf8 } from '../crypto/encoding.ts';
import {
  type CryptoPrimitives,
  hkdfBytes,
  type SecretHandle,
  webCryptoPrimitives,
} from '../crypto/primitives.ts';

export const COOKIE = 'consent_sync_console';
/** How long a sign-in lasts. */
export const SESSION_SECONDS = 8 * 3600;

export interface SessionKeys {
  prims: CryptoPrimitives;
  seal: SecretHandle;
  mac: SecretHandle;
}

export interface SessionData {
  /** the API key (token) the person signed in with */
  key: string;
  /** epoch ms */
  issuedAt: number;
  expiresAt: number;
}

const AAD = utf8('consent-sync/console-session/v1');
const SALT = utf8('consent-sync/v1');

/**
 * Derives the session keys from the raw `PII_KEY` bytes (labels distinct from the PII keys).
 *
 * @example const keys = await deriveSessionKeys(fromBase64(config.PII_KEY), services.crypto);
 */
export async function deriveSessionKeys(
  piiKey: Uint8Array<ArrayBuffer>,
  prims: CryptoPrimitives = webCryptoPrimitives,
): Promise<SessionKeys> {
  const sealRaw = await hkdfBytes(piiKey, SALT, utf8('console-session'));
  const macRaw = await hkdfBytes(piiKey, SALT, utf8('console-csrf'));
  const keys = { prims, seal: await prims.aesKey(sealRaw), mac: await prims.hmacKey(macRaw) };
  sealRaw.fill(0);
  macRaw.fill(0);
  return keys;
}

const b64url = (bytes: Uint8Array) =>
  toBase64(bytes).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
const fromB64url = (s: string) => fromBase64(s.replaceAll('-', '+').replaceAll('_', '/'));

/** Seals a session into a cookie value (random IV; URL-safe base64). */
export async function sealSession(keys: SessionKeys, data: SessionData): Promise<string> {
  const iv = globalThis.crypto.getRandomValues(new Uint8Array(12));
  const body = utf8(JSON.stringify({ k: data.key, iat: data.issuedAt, exp: data.expiresAt }));
  const ct = await keys.prims.seal(keys.seal, iv, body, AAD);
  const out = new Uint8Array(iv.length + ct.length);
  out.set(iv);
  out.set(ct, iv.length);
  return b64url(out);
}

/** Opens a cookie value; null when it was not sealed by us, is malformed, or has expired at `now`. */
export async function openSession(
  keys: SessionKeys,
  value: string,
  now: number,
): Promise<SessionData | null> {
  if (!/^[A-Za-z0-9_-]{40,2048}$/.test(value)) return null;
  try {
    const bytes = fromB64url(value);
    const pt = await keys.prims.open(keys.seal, bytes.subarray(0, 12), bytes.subarray(12), AAD);
    const d = JSON.parse(new TextDecoder().decode(pt)) as { k?: unknown; iat?: unknown; exp?: unknown };
    if (typeof d.k !== 'string' || typeof d.iat !== 'number' || typeof d.exp !== 'number') return null;
    if (now >= d.exp || now < d.iat - 60_000) return null;
    return { key: d.k, issuedAt: d.iat, expiresAt: d.exp };
  } catch {
    return null;
  }
}

/** The CSRF token of a session: an HMAC of its cookie value. */
export async function csrfToken(keys: SessionKeys, cookie: string): Promise<string> {
  return toHex(await keys.prims.hmac(keys.mac, utf8(`csrf:${cookie}`)));
}

/** Compares a submitted token with the session's, in constant time. */
export async function csrfValid(keys: SessionKeys, cookie: string, submitted: unknown): Promise<boolean> {
  if (typeof submitted !== 'string' || submitted.length !== 64) return false;
  return bytesEqual(utf8(await csrfToken(keys, cookie)), utf8(submitted));
}
