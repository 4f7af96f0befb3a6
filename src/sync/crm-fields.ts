/**
 * What a CRM defines for a mapping's object types (HubSpot properties API, Salesforce sObject
 * describe), for the console's property picker and for the check made before a mapping is saved:
 * every remote property must exist on every matched object type and fit the field's transform, so
 * a typo is refused at save time instead of turning into dead letters (`PROPERTY_DOESNT_EXIST`).
 */
import {
  ConnectorFailure,
  type ConnectorName,
  type CrmSchema,
  type RemoteField,
} from '../../connectors/types.ts';
import { acceptedKinds, enumValues } from '../cli/doctor-fields.ts';
import type { Mapping, MappingField, MappingIssue } from '../core/mapping.ts';

/** A CRM's fields per object type (`null`: the CRM has no such object type), when read. */
export type Described =
  | { ok: true; objects: Record<string, RemoteField[] | null>; at: string }
  | { ok: false; reason: string };

export type CrmCheck =
  /** every remote property exists on every object type and fits */
  | { status: 'ok'; at: string }
  /** `issues` name each problem by path (`fields.3.remote`) */
  | { status: 'mismatch'; issues: MappingIssue[] }
  /** the CRM could not be asked (network, 5xx, refused credentials): `reason` in words */
  | { status: 'unreachable'; reason: string }
  /** this deployment has no way to read the CRM's data model (Workers) */
  | { status: 'unavailable' };

const KIND_WORD: Record<RemoteField['kind'], string> = {
  boolean: 'a checkbox (boolean)',
  enum: 'a dropdown',
  date: 'a date',
  text: 'text',
  number: 'a number',
  other: 'another type',
};

/**
 * Why a CRM field cannot hold what a mapping field writes, or null when it fits.
 *
 * @example fieldFit({ remote: 'x', transform: { type: 'boolean' }, … }, { name: 'x', type: 'string', kind: 'text', options: [] })
 * // 'x is string (text); the transform writes a checkbox (boolean)'
 */
export function fieldFit(f: Pick<MappingField, 'remote' | 'transform'>, remote: RemoteField): string | null {
  const accepted = acceptedKinds(f as MappingField);
  if (!accepted.includes(remote.kind))
    return `${remote.name} is ${remote.type} (${KIND_WORD[remote.kind]}); the transform writes ${KIND_WORD[accepted[0] as RemoteField['kind']]}`;
  const lacking =
    remote.kind === 'enum' ? enumValues(f as MappingField).filter((v) => !remote.options.includes(v)) : [];
  if (lacking.length > 0) return `${remote.name} has no option(s) ${lacking.join(', ')}`;
  return null;
}

/**
 * Pure: every problem of `mapping` against what the CRM describes, by path.
 *
 * @example compareMapping(mapping, { contact: fields }) // [{ path: 'fields.3.remote', message: 'contact has no property whatsapp_consent_sorce' }]
 */
export function compareMapping(
  mapping: Mapping,
  objects: Record<string, RemoteField[] | null>,
): MappingIssue[] {
  const issues: MappingIssue[] = [];
  const lookups = mapping.match.objects.map((type) => {
    const fields = objects[type] ?? null;
    if (fields === null)
      issues.push({ path: 'match.objects', message: `the CRM has no object type ${type}` });
    return {
      type,
      byName: new Map((fields ?? []).map((f) => [f.name.toLowerCase(), f])),
      known: fields !== null,
    };
  });
  const missingOn = (name: string) =>
    lookups.filter((l) => l.known && !l.byName.has(name.toLowerCase())).map((l) => l.type);
  const where = (types: string[]) => types.join(' and ');
  const missingMatch = missingOn(mapping.match.field);
  if (missingMatch.length)
    issues.push({
      path: 'match.field',
      message: `${where(missingMatch)} has no field ${mapping.match.field}`,
    });
  if (mapping.match.bsuidField) {
    const missing = missingOn(mapping.match.bsuidField);
    if (missing.length)
      issues.push({
        path: 'match.bsuidField',
        message: `${where(missing)} has no field ${mapping.match.bsuidField}`,
      });
  }
  mapping.fields.forEach((f, i) => {
    const missing = missingOn(f.remote);
    if (missing.length) {
      issues.push({
        path: `fields.${i}.remote`,
        message: `${where(missing)} has no property ${f.remote}: pick one the CRM has, or create it first (consent-sync doctor --fix creates HubSpot properties)`,
      });
      return;
    }
    for (const l of lookups) {
      const remote = l.byName.get(f.remote.toLowerCase());
      const misfit = remote ? fieldFit(f, remote) : null;
      if (misfit) {
        issues.push({ path: `fields.${i}.transform`, message: `on ${l.type}: ${misfit}` });
        return;
      }
    }
  });
  return issues;
}

/** The failure of a describe call in words, without values. */
function unreachable(err: unknown): string {
  if (err instanceof ConnectorFailure) {
    const e = err.error;
    if (e.status === 401 || e.status === 403)
      return `the CRM refused the credentials (${e.status} ${e.code})`;
    if (e.status === null) return `the CRM could not be reached (${e.code})`;
    return `the CRM answered ${e.status} (${e.code})`;
  }
  return `the CRM could not be asked (${(err as Error).name})`;
}

/**
 * @example
 * const fields = new CrmFields({ hubspot: createHubSpotSchema(opts) });
 * await fields.check('hubspot', mapping); // { status: 'ok', at } | mismatch | unreachable | unavailable
 */
export class CrmFields {
  private readonly cache = new Map<string, { at: number; described: Described }>();
  private readonly schemas: Partial<Record<ConnectorName, CrmSchema>>;
  private readonly clock: () => Date;
  private readonly maxAgeMs: number;

  constructor(
    schemas: Partial<Record<ConnectorName, CrmSchema>>,
    clock: () => Date = () => new Date(),
    /** how long the picker reuses what it read (saves always read afresh) */
    maxAgeMs = 60_000,
  ) {
    this.schemas = schemas;
    this.clock = clock;
    this.maxAgeMs = maxAgeMs;
  }

  /** Whether this deployment can read the connector's data model. */
  available(connector: ConnectorName): boolean {
    return this.schemas[connector] !== undefined;
  }

  /** The fields of `objectTypes`; `fresh` skips the short cache (the picker may use it, a save does not). */
  async describe(connector: ConnectorName, objectTypes: string[], fresh = false): Promise<Described | null> {
    const schema = this.schemas[connector];
    if (!schema) return null;
    const key = `${connector}:${objectTypes.join(',')}`;
    const now = this.clock().getTime();
    const hit = this.cache.get(key);
    if (!fresh && hit && now - hit.at < this.maxAgeMs) return hit.described;
    let described: Described;
    try {
      const snapshot = await schema.describe(objectTypes);
      described = { ok: true, objects: snapshot.objects, at: this.clock().toISOString() };
    } catch (err) {
      described = { ok: false, reason: unreachable(err) };
    }
    // A failure is not kept: the next look asks again.
    if (described.ok) this.cache.set(key, { at: now, described });
    else this.cache.delete(key);
    return described;
  }

  /** Reads the CRM afresh and compares the mapping with it. */
  async check(connector: ConnectorName, mapping: Mapping): Promise<CrmCheck> {
    const d = await this.describe(connector, mapping.match.objects, true);
    if (d === null) return { status: 'unavailable' };
    if (!d.ok) return { status: 'unreachable', reason: d.reason };
    const issues = compareMapping(mapping, d.objects);
    return issues.length ? { status: 'mismatch', issues } : { status: 'ok', at: d.at };
  }
}
