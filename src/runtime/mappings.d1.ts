/**
 * Mappings on Workers: the defaults ship in the bundle (`mappings/*.json`), edits made through the
 * admin API live in D1 (`mapping_overrides`) and win over the defaults. Every isolate reads the rows
 * again at the start of each invocation (`Mappings.refresh()`), so an edit is in force everywhere at once.
 */
import type { D1Database } from '@cloudflare/workers-types/index.ts';
import type { ConnectorName } from '../../connectors/types.ts';
import type { Mapping } from '../core/mapping.ts';
import type { MappingStorage } from '../sync/mappings.ts';

export function d1MappingStorage(db: D1Database, clock: () => Date = () => new Date()): MappingStorage {
  return {
    async read(c: ConnectorName) {
      const row = await db
        .prepare('SELECT mapping FROM mapping_overrides WHERE connector = ?')
        .bind(c)
        .first<{ mapping: string }>();
      return row ? (JSON.parse(row.mapping) as unknown) : null;
    },
    async write(c: ConnectorName, mapping: Mapping) {
      // updated_at is the stamp `changes()` reports: always later than the row's last one, even when
      // the writing isolate's clock is behind the previous writer's.
      await db
        .prepare(
          `INSERT INTO mapping_overrides (connector, mapping, updated_at) VALUES (?, ?, ?)
           ON CONFLICT(connector) DO UPDATE SET mapping = excluded.mapping,
             updated_at = MAX(excluded.updated_at,
               strftime('%Y-%m-%dT%H:%M:%fZ', mapping_overrides.updated_at, '+0.001 seconds'))`,
        )
        .bind(c, JSON.stringify(mapping), clock().toISOString())
        .run();
    },
    describe: (c) => `D1 mapping_overrides (${c}; default: bundled mappings/${c}.json)`,
    // One small query (a row per edited connector) per request or queue batch.
    async changes() {
      const { results } = await db
        .prepare('SELECT connector, mapping, updated_at FROM mapping_overrides')
        .all<{ connector: ConnectorName; mapping: string; updated_at: string }>();
      return results.map((r) => ({ connector: r.connector, json: r.mapping, stamp: r.updated_at }));
    },
  };
}
