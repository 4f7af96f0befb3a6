/** Raw-SQL tampering helpers for ledger tests (store level and through the API). */
import type { DatabaseSync, SQLInputValue } from 'node:sqlite';

/** The ledger columns an event's content is made of (everything but seq and the chain links). */
export const LEDGER_CONTENT = [
  'id',
  'subject_id',
  'purpose',
  'action',
  'source',
  'occurred_at',
  'recorded_at',
  'text_version',
  'text_sha256',
  'evidence_enc',
];

/** Swaps the given columns between two ledger rows in one transaction (via a placeholder id, since id is UNIQUE). */
export function swapLedgerRows(db: DatabaseSync, a: number, b: number, columns: string[]): void {
  const get = (seq: number) => db.prepare(`SELECT ${columns.join(', ')} FROM ledger WHERE seq = ?`).get(seq)!;
  const ra = get(a);
  const rb = get(b);
  const set = columns.map((c) => `${c} = ?`).join(', ');
  const write = (seq: number, r: Record<string, unknown>) =>
    db
      .prepare(`UPDATE ledger SET ${set} WHERE seq = ?`)
      .run(...columns.map((c) => r[c] as SQLInputValue), seq);
  db.exec('BEGIN');
  db.prepare("UPDATE ledger SET id = 'placeholder' WHERE seq = ?").run(a);
  write(b, ra);
  write(a, rb);
  db.exec('COMMIT');
}
