import { fromBase64, randomBytes, toBase64, toHex, utf8 } from './encoding.ts';
import { type CryptoPrimitives, hkdfBytes, type SecretHandle, webCryptoPrimitives } from './primitives.ts';

/** A person's data key, unwrapped (an opaque handle of the runtime's primitives). */
export type DataKey = SecretHandle;

/**
 * Personal-data cryptography over `CryptoPrimitives` (Web Crypto by default, so the same code runs on
 * Node and Workers; Node passes its faster node:crypto primitives).
 *
 * - `PII_KEY` (32 bytes) is never used directly: HKDF derives a key-encryption key (KEK) and a
 *   lookup key from it.
 * - Every person gets a random data key (DEK), stored only wrapped by the KEK. Their phone number
 *   and ledger evidence are encrypted under it; destroying the wrapped DEK crypto-shreds them.
 * - Numbers are found by HMAC-SHA256 under the lookup key, so the store never sees them in clear.
 */
export interface PiiCrypto {
  /** hex HMAC of an E.164 number (or any identifier) under the lookup key */
  lookupHash(value: string): Promise<string>;
  /** a fresh data key, and its wrapped form for the store */
  newSubjectKey(subjectId: string): Promise<{ key: DataKey; wrapped: string }>;
  /** unwraps (and caches) a subject's data key */
  subjectKey(subjectId: string, wrapped: string): Promise<DataKey>;
  /** forgets a cached key (after crypto-shredding) */
  forget(subjectId: string): void;
  encrypt(key: DataKey, plaintext: string, context: string): Promise<string>;
  decrypt(key: DataKey, ciphertext: string, context: string): Promise<string>;
  /**
   * Encrypts data that belongs to no one person yet (an unreadable webhook event kept for
   * inspection) under a service key derived from `PII_KEY`; retention deletes it.
   */
  sealService(plaintext: string, context: string): Promise<string>;
  openService(ciphertext: string, context: string): Promise<string>;
}

const SALT = utf8('consent-sync/v1');
const UTF8 = new TextDecoder();

async function aesEncrypt(
  prims: CryptoPrimitives,
  key: SecretHandle,
  data: Uint8Array,
  aad: string,
): Promise<string> {
  const iv = randomBytes(12);
  const ct = await prims.seal(key, iv, data, utf8(aad));
  const out = new Uint8Array(iv.length + ct.length);
  out.set(iv);
  out.set(ct, iv.length);
  return toBase64(out);
}

async function aesDecrypt(prims: CryptoPrimitives, key: SecretHandle, b64: string, aad: string) {
  const bytes = fromBase64(b64);
  return prims.open(key, bytes.subarray(0, 12), bytes.subarray(12), utf8(aad));
}

/**
 * Builds the PII crypto from the raw 32-byte `PII_KEY`.
 *
 * @example
 * const pii = await createPiiCrypto(fromBase64(config.PII_KEY));
 * const hash = await pii.lookupHash('+4915112345678'); // example number
 */
export async function createPiiCrypto(
  piiKey: Uint8Array<ArrayBuffer>,
  cacheSize = 10_000,
  prims: CryptoPrimitives = webCryptoPrimitives,
): Promise<PiiCrypto> {
  if (piiKey.length !== 32) throw new Error('PII_KEY must be 32 bytes');
  const kekRaw = await hkdfBytes(piiKey, SALT, utf8('kek'));
  const lookupRaw = await hkdfBytes(piiKey, SALT, utf8('lookup'));
  const serviceRaw = await hkdfBytes(piiKey, SALT, utf8('service'));
  const kek = await prims.aesKey(kekRaw);
  const lookup = await prims.hmacKey(lookupRaw);
  const service = await prims.aesKey(serviceRaw);
  kekRaw.fill(0);
  lookupRaw.fill(0);
  serviceRaw.fill(0);
  // Map keeps insertion order: a small LRU without a dependency.
  const cache = new Map<string, DataKey>();
  const remember = (id: string, key: DataKey) => {
    cache.delete(id);
    cache.set(id, key);
    if (cache.size > cacheSize) cache.delete(cache.keys().next().value as string);
  };

  return {
    async lookupHash(value) {
      return toHex(await prims.hmac(lookup, utf8(value)));
    },
    async newSubjectKey(subjectId) {
      const raw = randomBytes(32);
      const wrapped = await aesEncrypt(prims, kek, raw, `dek:${subjectId}`);
      const key = await prims.aesKey(raw);
      raw.fill(0);
      remember(subjectId, key);
      return { key, wrapped };
    },
    async subjectKey(subjectId, wrapped) {
      const hit = cache.get(subjectId);
      if (hit) return hit;
      const raw = await aesDecrypt(prims, kek, wrapped, `dek:${subjectId}`);
      const key = await prims.aesKey(raw);
      raw.fill(0);
      remember(subjectId, key);
      return key;
    },
    forget(subjectId) {
      cache.delete(subjectId);
    },
    encrypt: (key, plaintext, context) => aesEncrypt(prims, key, utf8(plaintext), context),
    async decrypt(key, ciphertext, context) {
      return UTF8.decode(await aesDecrypt(prims, key, ciphertext, context));
    },
    sealService: (plaintext, context) => aesEncrypt(prims, service, utf8(plaintext), context),
    async openService(ciphertext, context) {
      return UTF8.decode(await aesDecrypt(prims, service, ciphertext, context));
    },
  };
}
