/**
 * The console's cookie session, with no session table: the cookie holds the API key itself,
 * sealed with AES-GCM under a key derived from `PII_KEY` (HKDF, its own label), plus an expiry.
 * Every request opens it and identifies the key again, so a revoked key or a changed role applies
 * at once. The CSRF token is an HMAC of the sealed cookie: bound to this sign-in, never stored.
 * Web Crypto only, so it runs on Node and Workers alike.
 */
import { bytesEqual, fromBase64, toBase64, toHex, utf8 } from '../crypto/encoding.ts';

export const COOKIE = 'consent_sync_console';
/** How long a sign-in lasts. */
export const SESSION_SECONDS = 8 * 3600;

export interface SessionKeys {
  seal: CryptoKey;
  mac: CryptoKey;
}

export interface SessionData {
  /** the API key (token) the person signed in with */
  key: string;
  /** epoch ms */
  issuedAt: number;
  expiresAt: number;
}

const subtle = () => globalThis.crypto.subtle;
const AAD = utf8('consent-sync/console-session/v1');

/**
 * Derives the session keys from the raw `PII_KEY` bytes (labels distinct from the PII keys).
 *
 * @example const keys = await deriveSessionKeys(fromBase64(config.PII_KEY));
 */
export async function deriveSessionKeys(piiKey: Uint8Array<ArrayBuffer>): Promise<SessionKeys> {
  const master = await subtle().importKey('raw', piiKey, 'HKDF', false, ['deriveKey']);
  const params = (info: string) => ({
    name: 'HKDF',
    hash: 'SHA-256',
    salt: utf8('consent-sync/v1'),
    info: utf8(info),
  });
  return {
    seal: await subtle().deriveKey(
      params('console-session'),
      master,
      { name: 'AES-GCM', length: 256 },
      false,
      ['encrypt', 'decrypt'],
    ),
    mac: await subtle().deriveKey(
      params('console-csrf'),
      master,
      { name: 'HMAC', hash: 'SHA-256', length: 256 },
      false,
      ['sign'],
    ),
  };
}

const b64url = (bytes: Uint8Array) =>
  toBase64(bytes).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
const fromB64url = (s: string) => fromBase64(s.replaceAll('-', '+').replaceAll('_', '/'));

/** Seals a session into a cookie value (random IV; URL-safe base64). */
export async function sealSession(keys: SessionKeys, data: SessionData): Promise<string> {
  const iv = globalThis.crypto.getRandomValues(new Uint8Array(12));
  const body = utf8(JSON.stringify({ k: data.key, iat: data.issuedAt, exp: data.expiresAt }));
  const ct = new Uint8Array(
    await subtle().encrypt({ name: 'AES-GCM', iv, additionalData: AAD }, keys.seal, body),
  );
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
    const pt = await subtle().decrypt(
      { name: 'AES-GCM', iv: bytes.subarray(0, 12), additionalData: AAD },
      keys.seal,
      bytes.subarray(12),
    );
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
  return toHex(new Uint8Array(await subtle().sign('HMAC', keys.mac, utf8(`csrf:${cookie}`))));
}

/** Compares a submitted token with the session's, in constant time. */
export async function csrfValid(keys: SessionKeys, cookie: string, submitted: unknown): Promise<boolean> {
  if (typeof submitted !== 'string' || submitted.length !== 64) return false;
  return bytesEqual(utf8(await csrfToken(keys, cookie)), utf8(submitted));
}
