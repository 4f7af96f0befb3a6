/**
 * Ledger chaining for the Node-side stores (SQLite and memory). Synchronous on purpose: the SQLite
 * group commit runs inside one synchronous transaction, and Web Crypto's digest is async-only.
 * node:crypto SHA-256 over the UTF-8 string gives the same hex as `crypto.subtle.digest`, which is
 * what `ChainVerifier` and the Workers adapter use (the contract suite checks this).
 */
import { createHash } from 'node:crypto';
import { canonicalEvent, GENESIS_HASH, ledgerFields } from '../core/ledger.ts';
import type { LedgerRecord, NewLedgerEvent } from '../core/types.ts';

/** The last appended event (the `ledger_head` row). */
export interface LedgerHead {
  seq: number;
  hash: string;
}

/** Hex SHA-256 of a string's UTF-8 bytes. */
export function sha256Hex(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex');
}

/**
 * Sequences and hashes events after `head`, in array order.
 *
 * @example
 * const [first] = chainEvents(null, [event]); // first.seq === 1, first.prevHash === GENESIS_HASH
 */
export function chainEvents(head: LedgerHead | null, events: readonly NewLedgerEvent[]): LedgerRecord[] {
  let seq = head?.seq ?? 0;
  let prevHash = head?.hash ?? GENESIS_HASH;
  return events.map((e) => {
    seq += 1;
    const base = ledgerFields(e);
    const hash = sha256Hex(canonicalEvent(seq, prevHash, base));
    const record: LedgerRecord = { ...base, seq, prevHash, hash };
    prevHash = hash;
    return record;
  });
}
