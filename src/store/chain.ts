/**
 * Ledger chaining with Web Crypto, for runtimes without node:crypto (the D1 adapter on Workers).
 * Same rules as `chain.node.ts` (seq after the head, prevHash from the previous event, SHA-256 hex
 * of `canonicalEvent` over its UTF-8 bytes), so both give byte-identical hashes; only async, because
 * `crypto.subtle.digest` is.
 */
import { canonicalEvent, GENESIS_HASH, ledgerFields } from '../core/ledger.ts';
import type { LedgerRecord, NewLedgerEvent } from '../core/types.ts';
import type { LedgerHead } from './chain.node.ts';

export type { LedgerHead };

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * Hex SHA-256 of a string's UTF-8 bytes.
 *
 * @example
 * await sha256HexAsync('abc'); // 'ba7816bf…'
 */
export async function sha256HexAsync(s: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(s));
  let out = '';
  for (const b of new Uint8Array(digest)) out += HEX[b];
  return out;
}

/**
 * Sequences and hashes events after `head`, in array order (the async twin of `chainEvents`).
 *
 * @example
 * const [first] = await chainEventsAsync(null, [event]); // first.seq === 1, first.prevHash === GENESIS_HASH
 */
export async function chainEventsAsync(
  head: LedgerHead | null,
  events: readonly NewLedgerEvent[],
): Promise<LedgerRecord[]> {
  let seq = head?.seq ?? 0;
  let prevHash = head?.hash ?? GENESIS_HASH;
  const records: LedgerRecord[] = [];
  for (const e of events) {
    seq += 1;
    const base = ledgerFields(e);
    const hash = await sha256HexAsync(canonicalEvent(seq, prevHash, base));
    records.push({ ...base, seq, prevHash, hash });
    prevHash = hash;
  }
  return records;
}
