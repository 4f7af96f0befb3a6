import { fromBase64, toBase64, utf8 } from './encoding.ts';

/**
 * Personal-data cryptography on Web Crypto, so the same code runs on Node and Workers.
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
  newSubjectKey(subjectId: string): Promise<{ key: CryptoKey; wrapped: string }>;
  /** unwraps (and caches) a subject's data key */
  subjectKey(subjectId: string, wrapped: string): Promise<CryptoKey>;
  /** forgets a cached key (after crypto-shredding) */
  forget(subjectId: string): void;
  encrypt(key: CryptoKey, plaintext: string, context: string): Promise<string>;
  decrypt(key: CryptoKey, ciphertext: string, context: string): Promise<string>;
}

const subtle = () => globalThis.crypto.subtle;

async function hkdf(master: CryptoKey, info: string, algo: AesKeyAlgorithm | HmacImportParams) {
  const params = { name: 'HKDF', hash: 'SHA-256', salt: utf8('consent-sync/v1'), info: utf8(info) };
  const usages: KeyUsage[] = algo.name === 'HMAC' ? ['sign'] : ['encrypt', 'decrypt'];
  return subtle().deriveKey(params, master, algo, false, usages);
}

async function aesEncrypt(key: CryptoKey, data: Uint8Array<ArrayBuffer>, aad: string): Promise<string> {
  const iv = globalThis.crypto.getRandomValues(new Uint8Array(12));
  const ct = new Uint8Array(
    await subtle().encrypt({ name: 'AES-GCM', iv, additionalData: utf8(aad) }, key, data),
  );
  const out = new Uint8Array(iv.length + ct.length);
  out.set(iv);
  out.set(ct, iv.length);
  return toBase64(out);
}

async function aesDecrypt(key: CryptoKey, b64: string, aad: string): Promise<Uint8Array<ArrayBuffer>> {
  const bytes = fromBase64(b64);
  const iv = bytes.subarray(0, 12);
  const pt = await subtle().decrypt(
    { name: 'AES-GCM', iv, additionalData: utf8(aad) },
    key,
    bytes.subarray(12),
  );
  return new Uint8Array(pt);
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
): Promise<PiiCrypto> {
  if (piiKey.length !== 32) throw new Error('PII_KEY must be 32 bytes');
  const master = await subtle().importKey('raw', piiKey, 'HKDF', false, ['deriveKey']);
  const kek = await hkdf(master, 'kek', { name: 'AES-GCM', length: 256 });
  const lookup = await hkdf(master, 'lookup', { name: 'HMAC', hash: 'SHA-256', length: 256 });
  // Map keeps insertion order: a small LRU without a dependency.
  const cache = new Map<string, CryptoKey>();
  const remember = (id: string, key: CryptoKey) => {
    cache.delete(id);
    cache.set(id, key);
    if (cache.size > cacheSize) cache.delete(cache.keys().next().value as string);
  };
  const importDek = (raw: Uint8Array<ArrayBuffer>) =>
    subtle().importKey('raw', raw, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);

  return {
    async lookupHash(value) {
      const mac = new Uint8Array(await subtle().sign('HMAC', lookup, utf8(value)));
      return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join('');
    },
    async newSubjectKey(subjectId) {
      const raw = globalThis.crypto.getRandomValues(new Uint8Array(32));
      const wrapped = await aesEncrypt(kek, raw, `dek:${subjectId}`);
      const key = await importDek(raw);
      raw.fill(0);
      remember(subjectId, key);
      return { key, wrapped };
    },
    async subjectKey(subjectId, wrapped) {
      const hit = cache.get(subjectId);
      if (hit) return hit;
      const raw = await aesDecrypt(kek, wrapped, `dek:${subjectId}`);
      const key = await importDek(raw);
      raw.fill(0);
      remember(subjectId, key);
      return key;
    },
    forget(subjectId) {
      cache.delete(subjectId);
    },
    encrypt: (key, plaintext, context) => aesEncrypt(key, utf8(plaintext), context),
    async decrypt(key, ciphertext, context) {
      return new TextDecoder().decode(await aesDecrypt(key, ciphertext, context));
    },
  };
}
