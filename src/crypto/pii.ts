import { fromBase64, randomBytes, toBase64, toHex, utf8 } from './encoding.ts';
import { type CryptoPrimitives, hkdfBytes, type SecretHandle, webCryptoPrimitives } from './primitives.ts';

/** A person's data key, unwrapped (an opaque handle of the runtime's primitives). */
export type DataKey = SecretHandle;

/** A retired key's lookup key, wrapped under the current KEK (a row of `pii_lookup_keys`). */
export interface WrappedLookupKey {
  /** the lookup key's id (see `PiiCrypto.keyId`) */
  id: string;
  wrapped: string;
}

/**
 * Personal-data cryptography over `CryptoPrimitives` (Web Crypto by default, so the same code runs on
 * Node and Workers; Node passes its faster node:crypto primitives).
 *
 * - `PII_KEY` (32 bytes) is never used directly: HKDF derives a key-encryption key (KEK), a lookup
 *   key and a service key from it.
 * - Every person gets a random data key (DEK), stored only wrapped by the KEK. Their identifiers
 *   and ledger evidence are encrypted under it; destroying the wrapped DEK crypto-shreds them.
 * - Identifiers are found by HMAC-SHA256 under the lookup key, so the store never sees them in clear.
 *
 * Rotation (docs/key-rotation.md): new data always uses the current key. Keys in `PII_KEYS_RETIRED`
 * still open what they wrapped or sealed, and every lookup matches under them too. Lookup keys of
 * keys retired for good (loaded from the store with `loadLookupKeys`) only match: they keep the
 * hashes of erased people (tombstones), which can never be recomputed, matching.
 */
export interface PiiCrypto {
  /** the current key's id: 16 hex of an HMAC of a fixed label under its lookup key (no secret) */
  readonly keyId: string;
  /** ids of the keys in `PII_KEYS_RETIRED`, in their order */
  readonly retiredKeyIds: readonly string[];
  /** hex HMAC of an identifier under the current lookup key: what is stored for new data */
  lookupHash(value: string): Promise<string>;
  /**
   * Every lookup hash of an identifier, the current key's first, then each retired and archived
   * key's: what finding anything by hash must match (one rule for every lookup).
   */
  lookupHashes(value: string): Promise<string[]>;
  /** a fresh data key, and its wrapped form for the store */
  newSubjectKey(subjectId: string): Promise<{ key: DataKey; wrapped: string }>;
  /** unwraps (and caches) a subject's data key: under the current KEK, else a retired one */
  subjectKey(subjectId: string, wrapped: string): Promise<DataKey>;
  /**
   * The data key re-wrapped under the current KEK, or null when it already is (the unwrapped key
   * is cached as `subjectKey` would). Throws when no configured key opens it.
   */
  rewrap(subjectId: string, wrapped: string): Promise<string | null>;
  /** forgets a cached key (after crypto-shredding) */
  forget(subjectId: string): void;
  encrypt(key: DataKey, plaintext: string, context: string): Promise<string>;
  decrypt(key: DataKey, ciphertext: string, context: string): Promise<string>;
  /**
   * Encrypts data that belongs to no one person yet (an unreadable webhook event kept for
   * inspection) under a service key derived from `PII_KEY`; retention deletes it.
   */
  sealService(plaintext: string, context: string): Promise<string>;
  /** opens under the current service key, else a retired one */
  openService(ciphertext: string, context: string): Promise<string>;
  /** sealed again under the current service key, or null when it already is; throws when nothing opens it */
  reseal(ciphertext: string, context: string): Promise<string | null>;
  /** the lookup keys of the retired and archived keys, each wrapped under the current KEK */
  wrapLookupKeys(): Promise<WrappedLookupKey[]>;
  /**
   * Adds archived lookup keys (read from the store) to the keys lookups match under. Returns the ids
   * of rows that neither the current nor a retired KEK opens (their hashes no longer match).
   */
  loadLookupKeys(rows: readonly WrappedLookupKey[]): Promise<string[]>;
  /** ids of every lookup key that only matches (retired and archived), without duplicates */
  matchingKeyIds(): string[];
}

const SALT = utf8('consent-sync/v1');
const KEY_ID_LABEL = utf8('consent-sync/key-id');
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

/** A lookup key: its handle, its id, and (for keys that are not current) its raw bytes to wrap. */
interface LookupKey {
  id: string;
  handle: SecretHandle;
  raw: Uint8Array | null;
}

/** Everything derived from one PII key. */
interface KeySet {
  kek: SecretHandle;
  service: SecretHandle;
  lookup: LookupKey;
}

async function lookupKey(prims: CryptoPrimitives, raw: Uint8Array, keep: boolean): Promise<LookupKey> {
  const handle = await prims.hmacKey(raw);
  const id = toHex(await prims.hmac(handle, KEY_ID_LABEL)).slice(0, 16);
  return { id, handle, raw: keep ? new Uint8Array(raw) : null };
}

async function deriveKeys(prims: CryptoPrimitives, piiKey: Uint8Array, current: boolean): Promise<KeySet> {
  if (piiKey.length !== 32) throw new Error('PII_KEY must be 32 bytes');
  const kekRaw = await hkdfBytes(piiKey, SALT, utf8('kek'));
  const lookupRaw = await hkdfBytes(piiKey, SALT, utf8('lookup'));
  const serviceRaw = await hkdfBytes(piiKey, SALT, utf8('service'));
  const set: KeySet = {
    kek: await prims.aesKey(kekRaw),
    service: await prims.aesKey(serviceRaw),
    // A retired key's lookup key is kept to be wrapped into the store (`keys rotate`).
    lookup: await lookupKey(prims, lookupRaw, !current),
  };
  kekRaw.fill(0);
  lookupRaw.fill(0);
  serviceRaw.fill(0);
  return set;
}

/** The first key of `keys` under which `open` succeeds, with its result; null when none does. */
async function firstOpening<T>(
  keys: readonly SecretHandle[],
  open: (key: SecretHandle) => Promise<T>,
): Promise<{ index: number; value: T } | null> {
  for (const [index, key] of keys.entries()) {
    try {
      return { index, value: await open(key) };
    } catch {
      // not this key: try the next
    }
  }
  return null;
}

export interface PiiCryptoOptions {
  /** the keys of `PII_KEYS_RETIRED` (32 bytes each) */
  retired?: readonly Uint8Array[];
  /** data keys kept unwrapped (LRU) */
  cacheSize?: number;
  prims?: CryptoPrimitives;
}

/**
 * Builds the PII crypto from the raw 32-byte `PII_KEY` and the retired keys.
 *
 * @example
 * const pii = await createPiiCrypto(fromBase64(config.PII_KEY), {
 *   retired: config.PII_KEYS_RETIRED.map(fromBase64),
 * });
 * const hash = await pii.lookupHash('+4915112345678'); // example number
 */
export async function createPiiCrypto(
  piiKey: Uint8Array<ArrayBuffer>,
  options: PiiCryptoOptions = {},
): Promise<PiiCrypto> {
  const prims = options.prims ?? webCryptoPrimitives;
  const cacheSize = options.cacheSize ?? 10_000;
  const current = await deriveKeys(prims, piiKey, true);
  // The current key listed as retired too (a half-done configuration change) is just the current key.
  const retired = (await Promise.all((options.retired ?? []).map((k) => deriveKeys(prims, k, false)))).filter(
    (r, i, all) =>
      r.lookup.id !== current.lookup.id && all.findIndex((x) => x.lookup.id === r.lookup.id) === i,
  );
  const keks = [current.kek, ...retired.map((r) => r.kek)];
  const services = [current.service, ...retired.map((r) => r.service)];
  /** lookup keys that only match: the retired keys', then archived ones (no duplicates, never current) */
  const matching: LookupKey[] = [];
  const addMatching = (k: LookupKey) => {
    if (k.id !== current.lookup.id && !matching.some((m) => m.id === k.id)) matching.push(k);
  };
  for (const r of retired) addMatching(r.lookup);

  // Map keeps insertion order: a small LRU without a dependency. Each key is kept with the wrapped
  // form it came from: another connection (the decider thread, another process) may have given the
  // person a new key (a shredded record that comes back), and the stored wrapped key then differs.
  const cache = new Map<string, { key: DataKey; wrapped: string }>();
  const remember = (id: string, key: DataKey, wrapped: string) => {
    cache.delete(id);
    cache.set(id, { key, wrapped });
    if (cache.size > cacheSize) cache.delete(cache.keys().next().value as string);
  };
  const hashUnder = async (k: LookupKey, value: string) => toHex(await prims.hmac(k.handle, utf8(value)));
  const unwrap = async (subjectId: string, wrapped: string) => {
    const hit = await firstOpening(keks, (kek) => aesDecrypt(prims, kek, wrapped, `dek:${subjectId}`));
    if (!hit) throw new Error('no configured PII key opens this data key');
    return hit;
  };

  return {
    keyId: current.lookup.id,
    retiredKeyIds: retired.map((r) => r.lookup.id),
    lookupHash: (value) => hashUnder(current.lookup, value),
    async lookupHashes(value) {
      const hashes = [await hashUnder(current.lookup, value)];
      for (const k of matching) hashes.push(await hashUnder(k, value));
      return hashes;
    },
    async newSubjectKey(subjectId) {
      const raw = randomBytes(32);
      const wrapped = await aesEncrypt(prims, current.kek, raw, `dek:${subjectId}`);
      const key = await prims.aesKey(raw);
      raw.fill(0);
      remember(subjectId, key, wrapped);
      return { key, wrapped };
    },
    async subjectKey(subjectId, wrapped) {
      const hit = cache.get(subjectId);
      if (hit?.wrapped === wrapped) return hit.key;
      const { value: raw } = await unwrap(subjectId, wrapped);
      const key = await prims.aesKey(raw);
      raw.fill(0);
      remember(subjectId, key, wrapped);
      return key;
    },
    async rewrap(subjectId, wrapped) {
      const { index, value: raw } = await unwrap(subjectId, wrapped);
      const again = index === 0 ? null : await aesEncrypt(prims, current.kek, raw, `dek:${subjectId}`);
      // The caller reads the person's identifiers next (a rotation): no second unwrap.
      if (!cache.has(subjectId)) remember(subjectId, await prims.aesKey(raw), wrapped);
      raw.fill(0);
      return again;
    },
    forget(subjectId) {
      cache.delete(subjectId);
    },
    encrypt: (key, plaintext, context) => aesEncrypt(prims, key, utf8(plaintext), context),
    async decrypt(key, ciphertext, context) {
      return UTF8.decode(await aesDecrypt(prims, key, ciphertext, context));
    },
    sealService: (plaintext, context) => aesEncrypt(prims, current.service, utf8(plaintext), context),
    async openService(ciphertext, context) {
      const hit = await firstOpening(services, (k) => aesDecrypt(prims, k, ciphertext, context));
      if (!hit) throw new Error('no configured PII key opens this sealed data');
      return UTF8.decode(hit.value);
    },
    async reseal(ciphertext, context) {
      const hit = await firstOpening(services, (k) => aesDecrypt(prims, k, ciphertext, context));
      if (!hit) throw new Error('no configured PII key opens this sealed data');
      if (hit.index === 0) return null;
      return aesEncrypt(prims, current.service, hit.value, context);
    },
    async wrapLookupKeys() {
      return Promise.all(
        matching.map(async (k) => ({
          id: k.id,
          wrapped: await aesEncrypt(prims, current.kek, k.raw as Uint8Array, `lookup-key:${k.id}`),
        })),
      );
    },
    async loadLookupKeys(rows) {
      const unopened: string[] = [];
      for (const row of rows) {
        if (row.id === current.lookup.id || matching.some((m) => m.id === row.id)) continue;
        const hit = await firstOpening(keks, (kek) =>
          aesDecrypt(prims, kek, row.wrapped, `lookup-key:${row.id}`),
        );
        if (!hit) {
          unopened.push(row.id);
          continue;
        }
        const k = await lookupKey(prims, hit.value, true);
        hit.value.fill(0);
        // The id is bound into the ciphertext (AAD): a row cannot pass off one key as another.
        if (k.id === row.id) addMatching(k);
        else unopened.push(row.id);
      }
      return unopened;
    },
    matchingKeyIds: () => matching.map((m) => m.id),
  };
}
