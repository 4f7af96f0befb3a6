/**
 * Byte helpers that work the same on Node 22 and Workers. Node's `Buffer` encodes and decodes base64
 * natively; where it is missing (Workers without nodejs_compat) the portable path below is used. On
 * Node the portable path was 5 % of a decided STOP's CPU (a string built per byte, then `btoa`).
 */

import { v7 as uuidv7 } from 'uuid';

const ENCODER = new TextEncoder();
export const utf8 = (s: string): Uint8Array<ArrayBuffer> => ENCODER.encode(s);

/** Node's Buffer when the platform has one (Node; Workers with nodejs_compat), else null. */
const NodeBuffer: typeof Buffer | null = typeof globalThis.Buffer === 'function' ? globalThis.Buffer : null;
/** base64 with padding and no line breaks, and `fromBase64` refusing what is not base64. */
const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** @example toBase64(new Uint8Array([1, 2])) // 'AQI=' */
export function toBase64(bytes: Uint8Array): string {
  if (NodeBuffer) return NodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  return portableToBase64(bytes);
}

/** Throws on input that is not base64 (as `atob` does), on every platform. */
export function fromBase64(b64: string): Uint8Array<ArrayBuffer> {
  if (NodeBuffer) {
    // Buffer decodes leniently (it skips what is not base64): check first, as `atob` would.
    if (!B64.test(b64)) return portableFromBase64(b64);
    const buf = NodeBuffer.from(b64, 'base64');
    const out = new Uint8Array(buf.length);
    out.set(buf);
    return out;
  }
  return portableFromBase64(b64);
}

/** The Web platform's way (`btoa` over a binary string); exported for tests of both paths. */
export function portableToBase64(bytes: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

/** The Web platform's way (`atob`, which throws on input that is not base64). */
export function portableFromBase64(b64: string): Uint8Array<ArrayBuffer> {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/** Lowercase hex of `bytes` (a table lookup per byte: lookup hashes are taken on every request). */
export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]!];
  return out;
}

/** SHA-256 of a UTF-8 string, lowercase hex. */
export async function sha256Hex(s: string): Promise<string> {
  return toHex(new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', utf8(s))));
}

/** Constant-time equality of two byte arrays (length is not secret). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

const POOL_BYTES = 4096;
let pool = new Uint8Array(0);
let poolAt = 0;

/**
 * `n` bytes (at most 256) from the platform's CSPRNG, drawn from a 4 KiB buffer refilled in one call.
 * On Node each `getRandomValues` call costs about 9 µs whatever its size (it was 5% of a STOP's CPU
 * for 12-byte IVs); Node pools `randomUUID` the same way. Every byte is handed out once, in a copy.
 */
export function randomBytes(n: number): Uint8Array<ArrayBuffer> {
  if (n > 256) return globalThis.crypto.getRandomValues(new Uint8Array(n));
  if (poolAt + n > pool.length) {
    pool = globalThis.crypto.getRandomValues(new Uint8Array(POOL_BYTES));
    poolAt = 0;
  }
  const out = pool.slice(poolAt, poolAt + n);
  // Bytes handed out are wiped from the pool, so a later memory dump cannot recover a key.
  pool.fill(0, poolAt, poolAt + n);
  poolAt += n;
  return out;
}

/**
 * A time-ordered id (UUID v7, RFC 9562: 48 bits of Unix milliseconds, then 74 random bits from the
 * pool above) for the rows written in bulk: ledger events, inbox rows, outbox jobs, dead events,
 * erasures. Each lands at the right-hand end of its table's id index instead of at a random page, so
 * a group commit dirties a few pages instead of one per row: the decider's STOP storm ran about
 * 20 % faster than with v4 ids (`bench:decider`). The time in the id is no secret: each of these rows
 * stores its time in the clear beside it.
 */
export const newId = (): string => uuidv7({ random: randomBytes(16) });

/**
 * A random id (UUID v4) where the id must not tell when it was made: a person's subject id is shown
 * to API clients and CRM admins, and when we first heard of someone is theirs to keep.
 */
export const newRandomId = (): string => globalThis.crypto.randomUUID();
