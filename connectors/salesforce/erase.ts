/**
 * Erasure in one of two modes:
 * - `delete` (default): the records are deleted through sObject Collections (they stay in the
 *   recycle bin for 15 days, which Salesforce then empties).
 * - `should_forget`: the records' Individuals get `ShouldForget = true` (API-FACTS 3.3); Salesforce
 *   deletes nothing by itself, the org's Right-to-be-Forgotten policy or process acts on the flag.
 *   A ref to an Individual is flagged directly; a Contact or Lead without an Individual fails
 *   (`NO_INDIVIDUAL`, not retryable), one that is gone is `not_found`.
 */
import type { ConnectorError } from '../errors.ts';
import type { EraseOutcome, RecordRef, RecordWrite } from '../types.ts';
import { deleteRecords, type RoundOptions, writeRecords } from './collections.ts';
import type { Caller } from './http.ts';
import type { Reader } from './records.ts';
import { isSalesforceId } from './soql.ts';

export type EraseMode = 'delete' | 'should_forget';

/**
 * @example await eraseRecords(api, reader, refs, 'should_forget', rounds) // [{ status: 'done' }, …]
 */
export async function eraseRecords(
  api: Caller,
  reader: Reader,
  refs: RecordRef[],
  mode: EraseMode,
  opts: RoundOptions,
): Promise<EraseOutcome[]> {
  if (mode === 'delete') return deleteRecords(api, refs, opts);
  return forget(api, reader, refs, opts);
}

async function forget(
  api: Caller,
  reader: Reader,
  refs: RecordRef[],
  opts: RoundOptions,
): Promise<EraseOutcome[]> {
  const outcomes: Array<EraseOutcome | undefined> = new Array(refs.length);
  /** Individual id (15 chars) → indices of the refs it stands for. */
  const individuals = new Map<string, { id: string; refs: number[] }>();
  const addIndividual = (id: string, i: number) => {
    const entry = individuals.get(id.slice(0, 15)) ?? { id, refs: [] };
    entry.refs.push(i);
    individuals.set(id.slice(0, 15), entry);
  };

  const byType = new Map<string, number[]>();
  refs.forEach((ref, i) => {
    if (!isSalesforceId(ref.id)) outcomes[i] = { status: 'not_found' };
    else if (ref.objectType === 'Individual') addIndividual(ref.id, i);
    else byType.set(ref.objectType, [...(byType.get(ref.objectType) ?? []), i]);
  });

  for (const [type, indices] of byType) {
    const rows = await reader.byIds(
      type,
      indices.map((i) => (refs[i] as RecordRef).id),
      ['IndividualId'],
    );
    const found = new Map(rows.map((r) => [String(r.Id).slice(0, 15), r.IndividualId]));
    for (const i of indices) {
      const key = (refs[i] as RecordRef).id.slice(0, 15);
      if (!found.has(key)) outcomes[i] = { status: 'not_found' };
      else {
        const individual = found.get(key);
        if (typeof individual === 'string' && isSalesforceId(individual)) addIndividual(individual, i);
        else outcomes[i] = { status: 'failed', error: noIndividual() };
      }
    }
  }

  const entries = [...individuals.values()];
  const writes: RecordWrite[] = entries.map((e, k) => ({
    objectType: 'Individual',
    id: e.id,
    key: `should-forget-${k}`,
    properties: { ShouldForget: true },
  }));
  const results = writes.length > 0 ? await writeRecords(api, writes, opts) : [];
  results.forEach((result, k) => {
    for (const i of entries[k]?.refs ?? []) {
      const direct = (refs[i] as RecordRef).objectType === 'Individual';
      outcomes[i] = result.ok
        ? { status: 'done' }
        : direct && result.error.code === 'NOT_FOUND'
          ? { status: 'not_found' }
          : { status: 'failed', error: result.error };
    }
  });
  return outcomes.map((o) => o ?? { status: 'failed', error: noIndividual() });
}

function noIndividual(): ConnectorError {
  return {
    code: 'NO_INDIVIDUAL',
    message: 'record has no Individual to flag ShouldForget on',
    retryable: false,
    retryAfterMs: null,
    status: null,
    vendorCode: null,
  };
}
