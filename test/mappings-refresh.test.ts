/**
 * `Mappings.refresh()` (issue 14, item 10), what a shared storage makes necessary: an edit stored by
 * another service graph is put in force, an older read never undoes a newer one, and a stored
 * mapping this deployment cannot validate leaves the mapping in force alone. The same over D1 in
 * workerd: test/workers/mappings-consistency.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { ConnectorName } from '../connectors/types.ts';
import type { Mapping } from '../src/core/mapping.ts';
import { defaultMappings } from '../src/runtime/mappings.node.ts';
import {
  type MappingStorage,
  Mappings,
  memoryMappingStorage,
  type StoredMapping,
} from '../src/sync/mappings.ts';

const PURPOSES = ['marketing', 'transactional'];
const NAMES: ConnectorName[] = ['hubspot'];
const defaults = defaultMappings();
const load = (storage: MappingStorage) => Mappings.load(storage, defaults, NAMES, PURPOSES);
const describedAs = (m: Mappings) => m.get('hubspot').fields[0]?.description;
const withDescription = (m: Mappings, description: string): Mapping => {
  const copy = structuredClone(m.get('hubspot'));
  copy.fields[0]!.description = description;
  return copy;
};

describe('Mappings.refresh', () => {
  it('puts in force what another graph stored on the same storage; nothing when nothing changed', async () => {
    const shared = memoryMappingStorage();
    const a = await load(shared);
    const b = await load(shared);
    expect(await b.refresh()).toEqual([]);
    expect((await a.replace('hubspot', withDescription(a, 'from a'))).ok).toBe(true);
    expect(describedAs(b)).not.toBe('from a');
    expect(await b.refresh()).toEqual(['hubspot']);
    expect(describedAs(b)).toBe('from a');
    expect(await b.refresh()).toEqual([]);
  });

  it('a read that finishes after a newer one (an older stamp) does not undo it', async () => {
    const base = memoryMappingStorage();
    const m = await load(base);
    let rows: StoredMapping[] = [];
    const storage: MappingStorage = { ...base, changes: async () => rows };
    const stale = await load(storage);
    const row = (description: string, stamp: string): StoredMapping => ({
      connector: 'hubspot',
      json: JSON.stringify(withDescription(m, description)),
      stamp,
    });
    rows = [row('newer', '2026-03-02T09:00:00.002Z')];
    expect(await stale.refresh()).toEqual(['hubspot']);
    rows = [row('older', '2026-03-02T09:00:00.001Z')];
    expect(await stale.refresh()).toEqual([]);
    expect(describedAs(stale)).toBe('newer');
  });

  it('a stored mapping that does not validate here leaves the mapping in force', async () => {
    const shared = memoryMappingStorage();
    const a = await load(shared);
    const inForce = describedAs(a);
    await shared.write('hubspot', { connector: 'hubspot', fields: 'not a list' } as unknown as Mapping);
    expect(await a.refresh()).toEqual([]);
    expect(describedAs(a)).toBe(inForce);
  });

  it('storage without changes() (files on Node, one process) has nothing to refresh', async () => {
    const { changes: _none, ...files } = memoryMappingStorage();
    expect(await (await load(files)).refresh()).toEqual([]);
  });
});
