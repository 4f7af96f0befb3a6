/**
 * Mapping files on Node: `MAPPINGS_DIR/<connector>.json`, read and written with lowdb so an edit
 * from the admin API is an atomic rename (steno) and the file stays human-editable JSON.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { JSONFile } from 'lowdb/node';
import type { ConnectorName } from '../../connectors/types.ts';
import type { Mapping } from '../core/mapping.ts';
import type { MappingStorage } from '../sync/mappings.ts';

/** The defaults shipped in the repository's `mappings/` folder (used when `MAPPINGS_DIR` has no file yet). */
export const DEFAULT_MAPPINGS_DIR = new URL('../../mappings/', import.meta.url);

export function defaultMappings(): Record<ConnectorName, unknown> {
  const read = (name: string) =>
    JSON.parse(readFileSync(new URL(`${name}.json`, DEFAULT_MAPPINGS_DIR), 'utf8'));
  return { hubspot: read('hubspot'), salesforce: read('salesforce') };
}

/**
 * @example
 * const storage = fileMappingStorage(config.MAPPINGS_DIR);
 * await storage.read('hubspot'); // the parsed mappings/hubspot.json, or null
 */
export function fileMappingStorage(dir: string): MappingStorage {
  const file = (c: ConnectorName) => join(dir, `${c}.json`);
  const adapters = new Map<ConnectorName, JSONFile<unknown>>();
  const adapter = (c: ConnectorName) => {
    let a = adapters.get(c);
    if (!a) {
      a = new JSONFile<unknown>(file(c));
      adapters.set(c, a);
    }
    return a;
  };
  return {
    read: (c) => adapter(c).read(),
    async write(c, mapping: Mapping) {
      mkdirSync(dir, { recursive: true });
      await adapter(c).write({ $schema: './mapping.schema.json', ...mapping });
    },
    describe: file,
  };
}
