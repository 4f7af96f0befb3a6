/**
 * The durable inbox's rows and SQL (migration 0009), shared by the SQLite and D1 adapters. Rows
 * are read oldest first by rowid: SQLite gives a new row a rowid above every existing one.
 */
import type { InboxRow, UnitStatement } from './rows.ts';

export type { InboxRow };

export const INBOX_SQL = {
  insert: `INSERT INTO inbox (id, received_at, opt_out, hash1, hash2, hash3, payload_enc)
    VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING`,
  delete: 'DELETE FROM inbox WHERE id = ?',
  read: 'SELECT * FROM inbox ORDER BY rowid LIMIT ?',
  depth: 'SELECT COUNT(*) AS n FROM inbox',
  optOuts: `SELECT opt_out FROM inbox WHERE opt_out IS NOT NULL AND (
      hash1 IN (SELECT value FROM json_each(?1)) OR hash2 IN (SELECT value FROM json_each(?1))
      OR hash3 IN (SELECT value FROM json_each(?1)))`,
} as const;

/** The inbox writes of a unit: inserts, then deletes of decided rows. */
export function inboxStatements(unit: { inbox?: InboxRow[]; inboxDone?: string[] }): UnitStatement[] {
  const out: UnitStatement[] = [];
  for (const r of unit.inbox ?? []) {
    const [h1 = null, h2 = null, h3 = null] = r.hashes;
    out.push([INBOX_SQL.insert, [r.id, r.receivedAt, r.optOut, h1, h2, h3, r.payloadEnc]]);
  }
  for (const id of unit.inboxDone ?? []) out.push([INBOX_SQL.delete, [id]]);
  return out;
}

type Row = Record<string, unknown>;
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

export function toInboxRow(r: Row): InboxRow {
  return {
    id: String(r.id),
    receivedAt: String(r.received_at),
    optOut: strOrNull(r.opt_out),
    hashes: [r.hash1, r.hash2, r.hash3].flatMap((h) => (typeof h === 'string' ? [h] : [])),
    payloadEnc: String(r.payload_enc),
  };
}
