import type { LedgerRecord, NewLedgerEvent } from './types.ts';

/** prevHash of the first event in the chain. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * The exact string an event's hash is computed over: the previous hash, then the event's fields
 * in a fixed order, JSON-encoded so no separator can be forged inside a value.
 * The evidence is hashed as ciphertext, so crypto-shredding a person keeps the chain verifiable.
 *
 * @example
 * const h = sha256Hex(canonicalEvent(1, GENESIS_HASH, event));
 */
export function canonicalEvent(seq: number, prevHash: string, e: NewLedgerEvent): string {
  return JSON.stringify([
    'consent-sync/ledger/v1',
    seq,
    prevHash,
    e.id,
    e.subjectId,
    e.purpose,
    e.action,
    e.source,
    e.occurredAt,
    e.recordedAt,
    e.textVersion,
    e.textSha256,
    e.evidenceEnc,
  ]);
}

/** Where and why a chain stops verifying. */
export interface ChainBreak {
  seq: number;
  id: string | null;
  reason: 'gap' | 'prev_hash_mismatch' | 'hash_mismatch' | 'head_mismatch';
  message: string;
}

/**
 * Incremental chain verifier: feed records in `seq` order, then call `finish` with the stored head.
 * Pure apart from the injected digest, so it runs the same on Node and Workers.
 */
export class ChainVerifier {
  private expectedSeq = 1;
  private prev = GENESIS_HASH;
  count = 0;
  broken: ChainBreak | null = null;

  private readonly digest: (s: string) => Promise<string>;

  constructor(digest: (s: string) => Promise<string>) {
    this.digest = digest;
  }

  /** Returns false once the chain is broken; later records are ignored. */
  async add(r: LedgerRecord): Promise<boolean> {
    if (this.broken) return false;
    if (r.seq !== this.expectedSeq) {
      this.broken = {
        seq: this.expectedSeq,
        id: r.id,
        reason: 'gap',
        message: `expected event #${this.expectedSeq} but found #${r.seq}: events were deleted or reordered`,
      };
      return false;
    }
    if (r.prevHash !== this.prev) {
      this.broken = {
        seq: r.seq,
        id: r.id,
        reason: 'prev_hash_mismatch',
        message: `event #${r.seq} does not link to event #${r.seq - 1}: an event was removed, inserted or reordered`,
      };
      return false;
    }
    const computed = await this.digest(canonicalEvent(r.seq, r.prevHash, r));
    if (computed !== r.hash) {
      this.broken = {
        seq: r.seq,
        id: r.id,
        reason: 'hash_mismatch',
        message: `event #${r.seq} was edited after it was recorded`,
      };
      return false;
    }
    this.prev = r.hash;
    this.expectedSeq += 1;
    this.count += 1;
    return true;
  }

  /** Checks the stored head (last seq and hash) so a truncated tail is found too. */
  finish(head: { seq: number; hash: string } | null): ChainBreak | null {
    if (this.broken) return this.broken;
    const lastSeq = this.expectedSeq - 1;
    if ((head?.seq ?? 0) !== lastSeq || (head && head.hash !== this.prev)) {
      this.broken = {
        seq: lastSeq + 1,
        id: null,
        reason: 'head_mismatch',
        message: `the ledger head says #${head?.seq ?? 0} but the chain ends at #${lastSeq}: events at the end were deleted`,
      };
    }
    return this.broken;
  }
}

/** Only the named fields of an event (extra properties on the input never reach a record or its hash). */
export function ledgerFields(e: NewLedgerEvent): NewLedgerEvent {
  return {
    id: e.id,
    subjectId: e.subjectId,
    purpose: e.purpose,
    action: e.action,
    source: e.source,
    occurredAt: e.occurredAt,
    recordedAt: e.recordedAt,
    textVersion: e.textVersion,
    textSha256: e.textSha256,
    evidenceEnc: e.evidenceEnc,
  };
}
