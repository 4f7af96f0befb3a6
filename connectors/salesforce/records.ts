/**
 * `find` and `read`: SOQL `IN` queries of at most 200 values (API-FACTS 3.2) per object type,
 * following `nextRecordsUrl`, selecting only `Id`, the match field, the BSUID field (when mapped)
 * and the whitelisted properties. `find` searches the match field (phone numbers) or the BSUID field.
 *
 * A whitelisted property one object type lacks (say a field that exists on Contact but not on Lead)
 * makes Salesforce answer 400 INVALID_FIELD naming it; the field is then left out for that type
 * (remembered for the connector's lifetime) and the query re-sent; so is the BSUID field when it is
 * only read. The match field missing, or the BSUID field when searched by, is a configuration
 * error and fails the call.
 */
import type { LookupSpec, RecordRef, RemoteRecord, RemoteValue } from '../types.ts';
import type { Caller } from './http.ts';
import { SalesforceFailure } from './http.ts';
import { chunk, isSalesforceId, selectIn } from './soql.ts';

export const QUERY_BATCH = 200;

interface QueryPage {
  done: boolean;
  nextRecordsUrl?: string;
  records: Array<Record<string, unknown>>;
}

export interface Reader {
  /** By phone (the match field) or, with `by: 'bsuid'`, by the spec's `bsuidField` (none: nothing found). */
  find(values: string[], spec: LookupSpec, by?: 'phone' | 'bsuid'): Promise<RemoteRecord[]>;
  read(refs: RecordRef[], spec: LookupSpec): Promise<RemoteRecord[]>;
  /** Raw rows of `SELECT <fields> FROM <type> WHERE Id IN (…)`, for callers other than `read`. */
  byIds(type: string, ids: string[], fields: string[]): Promise<Array<Record<string, unknown>>>;
}

/**
 * @example
 * const reader = createReader(api);
 * const found = await reader.find(['+447700900001'], { objectTypes: ['Contact', 'Lead'], matchField: 'MobilePhone', properties: [] }); // example number
 */
export function createReader(api: Caller): Reader {
  /** Whitelisted fields Salesforce said a type does not have, lower-cased, per type. */
  const missing = new Map<string, Set<string>>();

  async function selectAll(soql: string): Promise<Array<Record<string, unknown>>> {
    let page = await api.call<QueryPage>({ method: 'GET', url: `/query?q=${encodeURIComponent(soql)}` });
    const rows = [...checkedPage(page).records];
    while (!page.done && page.nextRecordsUrl) {
      page = checkedPage(await api.call<QueryPage>({ method: 'GET', url: page.nextRecordsUrl }));
      rows.push(...page.records);
    }
    return rows;
  }

  /** Queries with `properties` minus the ones the type lacks, dropping more as Salesforce names them. */
  async function query(
    type: string,
    required: string[],
    properties: string[],
    whereField: string,
    values: string[],
  ): Promise<Array<Record<string, unknown>>> {
    const key = type.toLowerCase();
    const lacks = missing.get(key) ?? new Set<string>();
    missing.set(key, lacks); // one set per type, shared by concurrent queries
    for (;;) {
      const sent = properties.filter((p) => !lacks.has(p.toLowerCase()));
      try {
        return await selectAll(selectIn(type, [...required, ...sent], whereField, values));
      } catch (err) {
        const bad = err instanceof SalesforceFailure ? err.invalidField : null;
        const name = bad?.field.toLowerCase() ?? '';
        // Droppable only when this query sent it as a property; each retry sends one field fewer.
        const droppable =
          bad !== null &&
          bad.objectType.toLowerCase() === key &&
          !required.some((r) => r.toLowerCase() === name) &&
          sent.some((p) => p.toLowerCase() === name);
        if (!droppable) throw err;
        lacks.add(name);
      }
    }
  }

  return {
    async find(values, spec, by = 'phone') {
      const unique = [...new Set(values)];
      const bsuid = spec.bsuidField;
      if (unique.length === 0 || (by === 'bsuid' && !bsuid)) return [];
      // Searching by BSUID needs its field; otherwise it is read like a whitelisted property,
      // left out for an object type that lacks it.
      const where = by === 'bsuid' ? (bsuid as string) : spec.matchField;
      const required = by === 'bsuid' ? ['Id', spec.matchField, where] : ['Id', spec.matchField];
      const optional = by === 'bsuid' ? spec.properties : readable(spec);
      const jobs = spec.objectTypes.flatMap((type) =>
        chunk(unique, QUERY_BATCH).map((slice) =>
          query(type, required, optional, where, slice).then((rows) =>
            rows.map((row) => toRemote(type, row, spec)),
          ),
        ),
      );
      return (await Promise.all(jobs)).flat();
    },

    async read(refs, spec) {
      const byType = new Map<string, string[]>();
      const seen = new Set<string>();
      for (const ref of refs) {
        // A malformed id cannot name a record (it is "gone") and must not reach the SOQL.
        if (!isSalesforceId(ref.id)) continue;
        const key = `${ref.objectType}/${ref.id.slice(0, 15)}`;
        if (seen.has(key)) continue;
        seen.add(key);
        byType.set(ref.objectType, [...(byType.get(ref.objectType) ?? []), ref.id]);
      }
      const jobs = [...byType.entries()].flatMap(([type, ids]) =>
        chunk(ids, QUERY_BATCH).map((slice) =>
          query(type, ['Id', spec.matchField], readable(spec), 'Id', slice).then((rows) =>
            rows.map((row) => toRemote(type, row, spec)),
          ),
        ),
      );
      return (await Promise.all(jobs)).flat();
    },

    async byIds(type, ids, fields) {
      const valid = ids.filter(isSalesforceId);
      const pages = await Promise.all(
        chunk(valid, QUERY_BATCH).map((slice) => selectAll(selectIn(type, ['Id', ...fields], 'Id', slice))),
      );
      return pages.flat();
    },
  };
}

function checkedPage(page: QueryPage): QueryPage {
  const ok =
    typeof page === 'object' &&
    page !== null &&
    Array.isArray(page.records) &&
    (page.done !== false ||
      (typeof page.nextRecordsUrl === 'string' && page.nextRecordsUrl.startsWith('/services/')));
  if (!ok) {
    throw new SalesforceFailure({
      code: 'BAD_RESPONSE',
      message: 'unexpected query response shape',
      retryable: true,
      retryAfterMs: null,
      status: 200,
      vendorCode: null,
    });
  }
  // Every query selects Id; a row without one is not a record we could name.
  return { ...page, records: page.records.filter((r) => typeof r?.Id === 'string') };
}

/** The whitelisted properties plus the BSUID field, when the spec names one. */
function readable(spec: LookupSpec): string[] {
  return spec.bsuidField ? [...spec.properties, spec.bsuidField] : spec.properties;
}

/** Keeps `Id`, the match and BSUID fields and whitelisted properties; everything else in the row is dropped here. */
function toRemote(type: string, row: Record<string, unknown>, spec: LookupSpec): RemoteRecord {
  const byLower = new Map<string, unknown>();
  for (const [key, value] of Object.entries(row)) byLower.set(key.toLowerCase(), value);
  const properties: Record<string, RemoteValue> = {};
  for (const name of spec.properties) {
    const key = name.toLowerCase();
    if (!byLower.has(key)) continue;
    const value = byLower.get(key);
    if (
      value === null ||
      typeof value === 'string' ||
      typeof value === 'boolean' ||
      typeof value === 'number'
    ) {
      properties[name] = value;
    }
  }
  const match = byLower.get(spec.matchField.toLowerCase());
  const bsuid = spec.bsuidField ? byLower.get(spec.bsuidField.toLowerCase()) : undefined;
  const attributes = row.attributes as { type?: unknown } | undefined;
  return {
    objectType: typeof attributes?.type === 'string' ? attributes.type : type,
    id: row.Id as string,
    matchValue: typeof match === 'string' ? match : null,
    bsuid: typeof bsuid === 'string' && bsuid !== '' ? bsuid : null,
    properties,
  };
}
