/**
 * Mapping files on Node. Two layers, so the running service never rewrites a file it ships or a
 * file the operator keeps under version control:
 * - defaults: `MAPPINGS_DIR/<connector>.json` (default `./mappings`, the repository's files), and
 *   the files shipped with the package for a connector that folder has no file for;
 * - edits made through the console or `PUT /v1/mappings/{connector}`: `DATA_DIR/mappings/<connector>.json`,
 *   written with lowdb (an atomic rename through steno). An edit there wins over the default.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JSONFile } from 'lowdb/node';
import type { ConnectorName } from '../../connectors/types.ts';
import type { Mapping } from '../core/mapping.ts';
import { MappingError, type MappingStorage } from '../sync/mappings.ts';

/** The defaults shipped in the repository's `mappings/` folder. */
export const DEFAULT_MAPPINGS_DIR = new URL('../../mappings/', import.meta.url);
const CONNECTOR_NAMES: readonly ConnectorName[] = ['hubspot', 'salesforce'];

/**
 * The default mapping of each connector: `dir/<connector>.json` when `dir` is given and has one,
 * else the shipped file. A file that is not JSON stops the start with its path.
 *
 * @example defaultMappings('./mappings').hubspot // the parsed mappings/hubspot.json
 */
export function defaultMappings(dir?: string): Record<ConnectorName, unknown> {
  const read = (name: ConnectorName) => {
    const own = dir === undefined ? null : join(dir, `${name}.json`);
    const file = own && existsSync(own) ? own : fileURLToPath(new URL(`${name}.json`, DEFAULT_MAPPINGS_DIR));
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as unknown;
    } catch (e) {
      throw new MappingError(file, [{ path: '(root)', message: `not valid JSON (${(e as Error).message})` }]);
    }
  };
  return { hubspot: read('hubspot'), salesforce: read('salesforce') };
}

/**
 * Where a Node deployment keeps its mappings: the defaults from `MAPPINGS_DIR` (or the shipped
 * files) and the edits under `DATA_DIR/mappings`.
 *
 * @example
 * const { storage, defaults } = nodeMappings({ dataDir: '/var/lib/consent-sync', mappingsDir: './mappings' });
 */
export function nodeMappings(opts: { dataDir: string; mappingsDir: string }): {
  storage: MappingStorage;
  defaults: Record<ConnectorName, unknown>;
} {
  const mappingsDir = resolve(opts.mappingsDir);
  const editsDir = resolve(opts.dataDir, 'mappings');
  const shipped = resolve(fileURLToPath(DEFAULT_MAPPINGS_DIR));
  const defaultFile = (c: ConnectorName) =>
    existsSync(join(mappingsDir, `${c}.json`)) ? join(mappingsDir, `${c}.json`) : join(shipped, `${c}.json`);
  return {
    defaults: defaultMappings(mappingsDir),
    storage: fileMappingStorage(editsDir, defaultFile),
  };
}

/**
 * Edits as lowdb JSON files in `dir`. `defaultFile` names the file in force while there is no edit
 * (for `describe`).
 *
 * @example
 * const storage = fileMappingStorage('/var/lib/consent-sync/mappings');
 * await storage.read('hubspot'); // the parsed edit, or null (the default applies)
 */
export function fileMappingStorage(dir: string, defaultFile?: (c: ConnectorName) => string): MappingStorage {
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
      if (!CONNECTOR_NAMES.includes(c)) throw new Error(`unknown connector ${c}`);
      mkdirSync(dir, { recursive: true });
      await adapter(c).write(mapping);
    },
    describe: (c) =>
      defaultFile && !existsSync(file(c))
        ? `${defaultFile(c)} (default; an edit is saved as ${file(c)})`
        : file(c),
  };
}
