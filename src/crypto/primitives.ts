/**
 * The few symmetric primitives the app needs (HMAC-SHA256, AES-256-GCM), behind one small port so
 * each runtime can use its fastest implementation: Web Crypto everywhere (the default, and what
 * Workers use), `node:crypto` on Node (primitives.node.ts), where Web Crypto sends every call through
 * the thread pool. Both give byte-identical results; test/crypto-primitives.test.ts checks it.
 *
 * Keys are opaque handles made once from raw bytes; AES-GCM output is ciphertext followed by the
 * 16-byte tag, as Web Crypto returns it.
 */
export interface CryptoPrimitives {
  /** a handle for HMAC-SHA256 under `raw` */
  hmacKey(raw: Uint8Array): Promise<SecretHandle>;
  /** a handle for AES-256-GCM under `raw` (32 bytes) */
  aesKey(raw: Uint8Array): Promise<SecretHandle>;
  hmac(key: SecretHandle, data: Uint8Array): Promise<Uint8Array>;
  /** ciphertext ‖ tag */
  seal(key: SecretHandle, iv: Uint8Array, data: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
  /** rejects when the tag does not verify */
  open(key: SecretHandle, iv: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
}

/** An imported key; only the implementation that made it can use it. */
export type SecretHandle = { readonly __secret: unique symbol };

const subtle = () => globalThis.crypto.subtle;
/** Web Crypto's types want ArrayBuffer-backed views. */
const own = (b: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(b);
const asKey = (h: SecretHandle) => h as unknown as CryptoKey;

/** Web Crypto: runs on Node and Workers alike. */
export const webCryptoPrimitives: CryptoPrimitives = {
  async hmacKey(raw) {
    const key = await subtle().importKey('raw', own(raw), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    return key as unknown as SecretHandle;
  },
  async aesKey(raw) {
    const key = await subtle().importKey('raw', own(raw), { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
    return key as unknown as SecretHandle;
  },
  async hmac(key, data) {
    return new Uint8Array(await subtle().sign('HMAC', asKey(key), own(data)));
  },
  async seal(key, iv, data, aad) {
    const params = { name: 'AES-GCM', iv: own(iv), additionalData: own(aad) };
    return new Uint8Array(await subtle().encrypt(params, asKey(key), own(data)));
  },
  async open(key, iv, sealed, aad) {
    const params = { name: 'AES-GCM', iv: own(iv), additionalData: own(aad) };
    return new Uint8Array(await subtle().decrypt(params, asKey(key), own(sealed)));
  },
};

/**
 * HKDF-SHA256 of the master key, `length` bytes for `info` (the same bytes Web Crypto's deriveKey
 * gives an AES-256 or HMAC-256 key with these parameters).
 */
export async function hkdfBytes(master: Uint8Array, salt: Uint8Array, info: Uint8Array, length = 32) {
  const base = await subtle().importKey('raw', own(master), 'HKDF', false, ['deriveBits']);
  const params = { name: 'HKDF', hash: 'SHA-256', salt: own(salt), info: own(info) };
  return new Uint8Array(await subtle().deriveBits(params, base, length * 8));
}
