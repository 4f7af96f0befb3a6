/**
 * Mappings on Workers: the defaults ship in the bundle (`mappings/*.json`), edits made through the
 * admin API live in D1 (`mapping_overrides`) and win over the defaults.
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
      await db
        .prepare(
          `INSERT INTO mapping_overrides (connector, mapping, updated_at) VALUES (?, ?, ?)
           ON CONFLICT(connector) DO UPDATE SET mapping = excluded.mapping, updated_at = excluded.updated_at`,
        )
        .bind(c, JSON.stringify(mapping), clock().toISOString())
        .run();
    },
    describe: (c) => `D1 mapping_overrides (${c}; default: bundled mappings/${c}.json)`,
  };
}
