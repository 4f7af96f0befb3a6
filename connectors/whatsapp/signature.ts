/**
 * Meta's webhook signature: `X-Hub-Signature-256: sha256=<hex>`, the HMAC-SHA256 of the raw request
 * bytes keyed with the App Secret (API-FACTS 1.2). Web Crypto by default, so it runs on Node and
 * Workers; the server passes its runtime's primitives (node:crypto on Node).
 */

import { bytesEqual } from '../../src/crypto/encoding.ts';
import {
  type CryptoPrimitives,
  type SecretHandle,
  webCryptoPrimitives,
} from '../../src/crypto/primitives.ts';

const PREFIX = 'sha256=';
const HEX_64 = /^[0-9a-f]{64}$/;

/**
 * Constant-time equality of two byte arrays (the project's one implementation, re-exported here
 * for connector code). @example timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])) // true
 */
export const timingSafeEqual = bytesEqual;

/**
 * Signs a body the way Meta does; returns the full header value. For tests and simulators.
 *
 * @example await signMetaBody('test', 'secret') // 'sha256=0329a06b…0914'
 */
export async function signMetaBody(raw: string | Uint8Array | ArrayBuffer, secret: string): Promise<string> {
  const bytes = typeof raw === 'string' ? new TextEncoder().encode(raw) : raw;
  return PREFIX + toHex(await hmacSha256(secret, bytes));
}

/**
 * Verifies `X-Hub-Signature-256` against the exact bytes received (never re-serialised JSON).
 * A missing, malformed (not exactly 64 lowercase hex digits) or wrong header, or an empty secret, gives
 * `false`; it never throws on input.
 *
 * @example
 * const raw = await c.req.arrayBuffer();
 * if (!(await verifyMetaSignature(raw, c.req.header('x-hub-signature-256'), env.WHATSAPP_APP_SECRET))) return c.body(null, 401);
 */
export async function verifyMetaSignature(
  rawBody: Uint8Array | ArrayBuffer,
  header: string | null | undefined,
  appSecret: string,
  prims: CryptoPrimitives = webCryptoPrimitives,
): Promise<boolean> {
  // An unset secret must not turn into "any HMAC with an empty key is fine".
  if (!appSecret || typeof header !== 'string' || !header.startsWith(PREFIX)) return false;
  const hex = header.slice(PREFIX.length);
  if (!HEX_64.test(hex)) return false;
  const expected = await hmacSha256(appSecret, rawBody, prims);
  return timingSafeEqual(fromHex(hex), expected);
}

/** Imported App Secret keys, per primitives implementation: importing once per request costs more than the HMAC. */
const keys = new WeakMap<CryptoPrimitives, Map<string, Promise<SecretHandle>>>();

async function hmacSha256(
  secret: string,
  data: Uint8Array | ArrayBuffer,
  prims: CryptoPrimitives = webCryptoPrimitives,
): Promise<Uint8Array> {
  let byPrims = keys.get(prims);
  if (!byPrims) {
    byPrims = new Map();
    keys.set(prims, byPrims);
  }
  let key = byPrims.get(secret);
  if (!key) {
    // A rotated secret replaces the old one: at most a couple of entries ever live here.
    if (byPrims.size >= 4) byPrims.clear();
    key = prims.hmacKey(new TextEncoder().encode(secret));
    byPrims.set(secret, key);
  }
  return prims.hmac(await key, data instanceof ArrayBuffer ? new Uint8Array(data) : data);
}

const toHex = (bytes: Uint8Array): string =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/** Only called on strings already checked against HEX_64. */
function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}
