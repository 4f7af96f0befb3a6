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

  /** Checks a mapping without storing it (the preview and the console's editor). */
  validate(connector: ConnectorName, input: unknown) {
    return validateMapping(input, this.purposes, connector);
  }
}

/** Keeps mappings in memory (tests; Workers before D1 edits are wired). */
export function memoryMappingStorage(initial: Partial<Record<ConnectorName, unknown>> = {}): MappingStorage {
  const data = new Map<ConnectorName, unknown>(Object.entries(initial) as Array<[ConnectorName, unknown]>);
  return {
    read: async (c) => data.get(c) ?? null,
    write: async (c, m) => {
      data.set(c, structuredClone(m));
    },
    describe: (c) => `memory:${c}`,
  };
}
