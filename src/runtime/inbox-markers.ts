/**
 * The Workers inbox's opt-out markers over D1 (`inbox` table, migration 0009): one statement to write
 * a delivery's markers, one to delete the decided ones, one for the send guard's lookup. D1 allows 100
 * bound parameters per query and 2 MB per string or row, 100 KB per SQL statement
 * (https://developers.cloudflare.com/d1/platform/limits/), so the rows travel as one JSON parameter
 * read with `json_each`, split only past `MAX_JSON_BYTES` (about 5,000 markers).
 */
import type { D1Database } from '@cloudflare/workers-types/index.ts';
import type { OptOutMarkers } from '../service/inbox/queue-inbox.ts';
import { INBOX_SQL } from '../store/inbox-sql.ts';

/** Bytes of JSON per statement: half of D1's 2 MB string limit. */
const MAX_JSON_BYTES = 1_000_000;

const INSERT = `INSERT INTO inbox (id, received_at, opt_out, hash1, hash2, hash3, payload_enc)
  SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),
    json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]'), ''
  FROM json_each(?1) WHERE true
  ON CONFLICT(id) DO NOTHING`;
const DELETE = 'DELETE FROM inbox WHERE id IN (SELECT value FROM json_each(?1))';

/** Splits `items` into JSON arrays of at most `MAX_JSON_BYTES` each. */
function chunks(items: unknown[]): string[] {
  const out: string[] = [];
  let part: string[] = [];
  let size = 2;
  for (const item of items) {
    const json = JSON.stringify(item);
    if (part.length > 0 && size + json.length + 1 > MAX_JSON_BYTES) {
      out.push(`[${part.join(',')}]`);
      part = [];
      size = 2;
    }
    part.push(json);
    size += json.length + 1;
  }
  if (part.length > 0) out.push(`[${part.join(',')}]`);
  return out;
}

export function d1OptOutMarkers(db: D1Database): OptOutMarkers {
  return {
    async add(rows) {
      const tuples = rows.map((r) => [
        r.id,
        r.receivedAt,
        r.optOut,
        r.hashes[0] ?? null,
        r.hashes[1] ?? null,
        r.hashes[2] ?? null,
      ]);
      for (const json of chunks(tuples)) await db.prepare(INSERT).bind(json).run();
    },
    async remove(ids) {
      for (const json of chunks(ids)) await db.prepare(DELETE).bind(json).run();
    },
    async scopes(hashes) {
      const { results } = await db
        .prepare(INBOX_SQL.optOuts)
        .bind(JSON.stringify(hashes))
        .all<{ opt_out: string }>();
      return results.map((r) => r.opt_out);
    },
  };
}
