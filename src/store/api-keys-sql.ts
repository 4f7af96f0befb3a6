/**
 * API keys made through the API (issue 7): the row type, the SQL shared by the SQLite and D1
 * adapters, and the row mapping. Only the SHA-256 of a token is ever stored. Runtime-free.
 */
import type { WriteUnit } from './port.ts';
import type { ApiKeyRow } from './rows.ts';

export type { ApiKeyRow };

export const API_KEY_SQL = {
  insert: `INSERT INTO api_keys (id, digest, role, label, created_at, created_by, last_used_at, revoked_at, revoked_by)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  // A revoked key stays revoked: the first revocation's time and author are kept.
  revoke: 'UPDATE api_keys SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL',
  touch: 'UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)',
  byDigest: 'SELECT * FROM api_keys WHERE digest = ?',
  byId: 'SELECT * FROM api_keys WHERE id = ?',
  list: 'SELECT * FROM api_keys ORDER BY created_at, id',
} as const;

/** The unit's API-key writes, in the order the adapters apply them (inserts, revocations, touches). */
export function apiKeyStatements(unit: WriteUnit): Array<[string, Array<string | null>]> {
  const out: Array<[string, Array<string | null>]> = [];
  for (const k of unit.apiKeys ?? []) {
    out.push([
      API_KEY_SQL.insert,
      [k.id, k.digest, k.role, k.label, k.createdAt, k.createdBy, k.lastUsedAt, k.revokedAt, k.revokedBy],
    ]);
  }
  for (const r of unit.revokeApiKeys ?? []) out.push([API_KEY_SQL.revoke, [r.at, r.by, r.id]]);
  for (const t of unit.touchApiKeys ?? []) out.push([API_KEY_SQL.touch, [t.at, t.id, t.at]]);
  return out;
}

const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

/** Maps a driver row (SQLite or D1) to an `ApiKeyRow`. */
export function toApiKey(r: Record<string, unknown>): ApiKeyRow {
  return {
    id: String(r.id),
    digest: String(r.digest),
    role: String(r.role),
    label: String(r.label),
    createdAt: String(r.created_at),
    createdBy: String(r.created_by),
    lastUsedAt: strOrNull(r.last_used_at),
    revokedAt: strOrNull(r.revoked_at),
    revokedBy: strOrNull(r.revoked_by),
  };
}
