/**
 * The live mappings: loaded and validated at start, replaced through the admin API without a
 * restart. Where they are kept is a port: lowdb JSON files on Node (`MAPPINGS_DIR`), the bundled
 * defaults plus edits in D1 on Workers.
 */
import type { ConnectorName, LookupSpec } from '../../connectors/types.ts';
import { type Mapping, type MappingIssue, readableProperties, validateMapping } from '../core/mapping.ts';
import type { Purpose } from '../core/types.ts';

export interface MappingStorage {
  /** The stored mapping as raw JSON, or null when there is none (the default applies). */
  read(connector: ConnectorName): Promise<unknown | null>;
  write(connector: ConnectorName, mapping: Mapping): Promise<void>;
  /** Where it is kept, for messages (`mappings/hubspot.json`, `D1`). */
  describe(connector: ConnectorName): string;
  /**
   * Every stored mapping, as JSON text, with a stamp that grows with each write of it. Storage that
   * several processes or isolates share (D1) has it: `Mappings.refresh()` reads it once per request
   * or batch, so an edit made through one is in force in all at once. Storage one process owns (the
   * files in MAPPINGS_DIR on Node) needs none.
   */
  changes?(): Promise<StoredMapping[]>;
}

/** One stored mapping as `changes()` returns it. */
export interface StoredMapping {
  connector: ConnectorName;
  json: string;
  /** sorts after the stamp of every earlier write of this connector's mapping */
  stamp: string;
}

export class MappingError extends Error {
  readonly issues: MappingIssue[];
  constructor(where: string, issues: MappingIssue[]) {
    super(`invalid mapping in ${where}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
    this.name = 'MappingError';
    this.issues = issues;
  }
}

export type ReplaceResult =
  | { ok: true; before: Mapping; after: Mapping }
  | { ok: false; issues: MappingIssue[] };

/**
 * @example
 * const mappings = await Mappings.load(storage, defaults, ['hubspot'], catalog.purposes);
 * mappings.get('hubspot').fields // the whitelist
 */
export class Mappings {
  private readonly current = new Map<ConnectorName, Mapping>();
  /** The stored mapping `refresh()` last applied (or skipped) per connector. */
  private readonly seen = new Map<ConnectorName, { json: string; stamp: string }>();
  private readonly storage: MappingStorage;
  private readonly purposes: readonly Purpose[];

  private constructor(storage: MappingStorage, purposes: readonly Purpose[]) {
    this.storage = storage;
    this.purposes = purposes;
  }

  /** Loads (and validates) the mapping of every named connector; an invalid one stops the start. */
  static async load(
    storage: MappingStorage,
    defaults: Partial<Record<ConnectorName, unknown>>,
    connectors: readonly ConnectorName[],
    purposes: readonly Purpose[],
  ): Promise<Mappings> {
    const m = new Mappings(storage, purposes);
    for (const name of connectors) {
      const raw = (await storage.read(name)) ?? defaults[name];
      if (raw === undefined || raw === null)
        throw new MappingError(storage.describe(name), [
          { path: '(root)', message: 'no mapping file and no default' },
        ]);
      const r = validateMapping(raw, purposes, name);
      if (!r.ok) throw new MappingError(storage.describe(name), r.issues);
      m.current.set(name, r.mapping);
    }
    return m;
  }

  /** Where the mapping is kept, for the admin API (`mappings/hubspot.json`, `memory:hubspot`). */
  storedIn(connector: ConnectorName): string {
    return this.storage.describe(connector);
  }

  connectors(): ConnectorName[] {
    return [...this.current.keys()];
  }

  has(connector: string): connector is ConnectorName {
    return this.current.has(connector as ConnectorName);
  }

  get(connector: ConnectorName): Mapping {
    const m = this.current.get(connector);
    if (!m) throw new Error(`connector ${connector} is not enabled`);
    return m;
  }

  /** What the connector may look up and read: the match and BSUID fields and the pull/both properties. */
  spec(connector: ConnectorName): LookupSpec {
    const m = this.get(connector);
    return {
      objectTypes: m.match.objects,
      matchField: m.match.field,
      ...(m.match.fields.length > 1 ? { matchFields: m.match.fields } : {}),
      ...(m.match.bsuidField ? { bsuidField: m.match.bsuidField } : {}),
      properties: readableProperties(m),
    };
  }

  /** Validates, stores and switches to a new mapping; an invalid one changes nothing. */
  async replace(connector: ConnectorName, input: unknown): Promise<ReplaceResult> {
    const before = this.get(connector);
    const r = validateMapping(input, this.purposes, connector);
    if (!r.ok) return { ok: false, issues: r.issues };
    await this.storage.write(connector, r.mapping);
    this.current.set(connector, r.mapping);
    return { ok: true, before, after: r.mapping };
  }

  /**
   * Puts in force what another process or isolate stored since this one last looked (storage with
   * `changes()`; otherwise nothing to do). One read of the storage; a mapping is validated again only
   * when its stored text changed. A read that finishes after a newer one (an older stamp) is ignored.
   * A stored mapping this deployment cannot validate (written by one with other purposes) leaves the
   * mapping in force as it is. Returns the connectors whose mapping changed.
   *
   * @example await services.mappings.refresh(); // at the start of every Workers invocation
   */
  async refresh(): Promise<ConnectorName[]> {
    if (!this.storage.changes) return [];
    const changed: ConnectorName[] = [];
    for (const row of await this.storage.changes()) {
      const inForce = this.current.get(row.connector);
      const seen = this.seen.get(row.connector);
      if (!inForce || (seen && (seen.json === row.json || row.stamp < seen.stamp))) continue;
      this.seen.set(row.connector, { json: row.json, stamp: row.stamp });
      let raw: unknown;
      try {
        raw = JSON.parse(row.json);
      } catch {
        continue;
      }
      const r = validateMapping(raw, this.purposes, row.connector);
      if (!r.ok || JSON.stringify(r.mapping) === JSON.stringify(inForce)) continue;
      this.current.set(row.connector, r.mapping);
      changed.push(row.connector);
    }
    return changed;
  }

  /** Checks a mapping without storing it (the preview and the console's editor). */
  validate(connector: ConnectorName, input: unknown) {
    return validateMapping(input, this.purposes, connector);
  }
}

/**
 * Keeps mappings in memory (tests). Two service graphs given the same storage share it as two
 * isolates share D1: `changes()` stamps each write with a counter.
 */
export function memoryMappingStorage(initial: Partial<Record<ConnectorName, unknown>> = {}): MappingStorage {
  const data = new Map<ConnectorName, unknown>(Object.entries(initial) as Array<[ConnectorName, unknown]>);
  const stamps = new Map<ConnectorName, number>();
  let writes = 0;
  return {
    read: async (c) => data.get(c) ?? null,
    write: async (c, m) => {
      data.set(c, structuredClone(m));
      stamps.set(c, ++writes);
    },
    describe: (c) => `memory:${c}`,
    changes: async () =>
      [...data].map(([connector, m]) => ({
        connector,
        json: JSON.stringify(m),
        stamp: String(stamps.get(connector) ?? 0).padStart(12, '0'),
      })),
  };
}
