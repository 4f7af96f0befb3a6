/**
 * Writes and deletes through sObject Collections (API-FACTS 3.2): at most 200 records per call,
 * `allOrNone: false`, one result per record in request order.
 *
 * - Records Salesforce reports UNABLE_TO_LOCK_ROW are sent again (alone) after a backoff, up to
 *   `attempts` rounds; still locked after that, they come back as retryable `LOCKED`.
 * - A whole-call 400 INVALID_FIELD (an unknown field fails the call, not the record) rejects the
 *   records that carry that field and sends the others again.
 * - A whole-call failure before any record is settled is thrown (`ConnectorFailure`); after some
 *   are settled, the rest get that error as their outcome, so finished work is still reported.
 * - Per-record errors keep only Salesforce's `statusCode`; its message can quote field values.
 */
import type { ConnectorError } from '../errors.ts';
import type { EraseOutcome, RecordRef, RecordWrite, RemoteValue, WriteOutcome } from '../types.ts';
import { ConnectorFailure } from '../types.ts';
import type { Caller, InvalidField } from './http.ts';
import { SalesforceFailure } from './http.ts';
import { chunk, isApiName, isSalesforceId } from './soql.ts';

export const COLLECTION_BATCH = 200;
/** Salesforce processes a mixed-type collection in chunks of one type each, at most 10. */
const MAX_TYPE_CHUNKS = 10;
const NOT_FOUND_CODES = new Set([
  'ENTITY_IS_DELETED',
  'INVALID_CROSS_REFERENCE_KEY',
  'NOT_FOUND',
  'MALFORMED_ID',
  'INVALID_ID_FIELD',
]);

export interface RoundOptions {
  /** Rounds for locked records, the first included. */
  attempts: number;
  minBackoffMs: number;
  maxWaitMs: number;
}

/** One record's result, reduced to what decides its outcome. */
interface ItemResult {
  success: boolean;
  codes: string[];
  /** The record's id when Salesforce gave one (creates and upserts). */
  id?: string;
}

/** Shared by the batches of one `write`/`erase` call. */
interface CallState {
  settled: boolean;
  failure: ConnectorError | null;
}

/**
 * Applies absolute values; one outcome per write, in order. Booleans stay booleans, null clears.
 *
 * @example
 * const out = await writeRecords(api, [{ objectType: 'Contact', id, key: 'k1', properties: { WhatsApp_Opted_Out__c: true } }], rounds);
 */
export async function writeRecords(
  api: Caller,
  writes: RecordWrite[],
  opts: RoundOptions,
): Promise<WriteOutcome[]> {
  const outcomes: Array<WriteOutcome | undefined> = new Array(writes.length);
  const todo: number[] = [];
  writes.forEach((w, i) => {
    if (!isSalesforceId(w.id)) outcomes[i] = { ok: false, error: recordError('NOT_FOUND', 'MALFORMED_ID') };
    else if (!isApiName(w.objectType) || !Object.keys(w.properties).every(isWritableName)) {
      outcomes[i] = { ok: false, error: recordError('RECORD_REJECTED', 'INVALID_FIELD') };
    } else todo.push(i);
  });
  const state: CallState = { settled: false, failure: null };
  for (const batch of planBatches(todo, (i) => (writes[i] as RecordWrite).objectType)) {
    const results = await rounds(
      batch,
      async (items) => {
        const body = {
          allOrNone: false,
          records: items.map((i) => {
            const w = writes[i] as RecordWrite;
            return { attributes: { type: w.objectType }, id: w.id, ...w.properties };
          }),
        };
        return itemResults(
          await api.call({ method: 'PATCH', url: '/composite/sobjects', body }),
          items.length,
        );
      },
      state,
      opts,
      (items, bad) => items.filter((i) => carries(writes[i] as RecordWrite, bad)),
    );
    for (const [i, r] of results) outcomes[i] = toWriteOutcome(r);
  }
  return outcomes.map((o) => o ?? { ok: false, error: recordError('RECORD_REJECTED', 'NO_RESULT') });
}

/** A created or upserted record: its id, or why not. */
export type SaveOutcome = { ok: true; id: string } | { ok: false; error: ConnectorError };

/**
 * Creates records of one type (`POST /composite/sobjects`), or upserts them on an External ID field
 * (`PATCH /composite/sobjects/{type}/{field}`, API 46.0+), 200 per call; one outcome per record, in
 * order, with the record's id. Locked records are sent again like updates.
 *
 * @example await saveRecords(api, 'Individual', [{ LastName: 'WhatsApp consent' }], null, rounds) // [{ ok: true, id: '0PK…' }]
 */
export async function saveRecords(
  api: Caller,
  type: string,
  records: Array<Record<string, RemoteValue>>,
  externalIdField: string | null,
  opts: RoundOptions,
): Promise<SaveOutcome[]> {
  const outcomes: Array<SaveOutcome | undefined> = new Array(records.length);
  if (!isApiName(type) || (externalIdField !== null && !isApiName(externalIdField)))
    throw new SalesforceFailure(recordError('RECORD_REJECTED', 'INVALID_TYPE'));
  const todo: number[] = [];
  records.forEach((r, i) => {
    if (Object.keys(r).every(isWritableName)) todo.push(i);
    else outcomes[i] = { ok: false, error: recordError('RECORD_REJECTED', 'INVALID_FIELD') };
  });
  const state: CallState = { settled: false, failure: null };
  const url = externalIdField ? `/composite/sobjects/${type}/${externalIdField}` : '/composite/sobjects';
  for (const batch of chunk(todo, COLLECTION_BATCH)) {
    const results = await rounds(
      batch,
      async (items) => {
        const body = {
          allOrNone: false,
          records: items.map((i) => ({ attributes: { type }, ...records[i] })),
        };
        return itemResults(
          await api.call({ method: externalIdField ? 'PATCH' : 'POST', url, body }),
          items.length,
        );
      },
      state,
      opts,
    );
    for (const [i, r] of results) {
      if ('code' in r) outcomes[i] = { ok: false, error: r };
      else if (r.success && r.id) outcomes[i] = { ok: true, id: r.id };
      else outcomes[i] = { ok: false, error: recordFailure(r) };
    }
  }
  return outcomes.map((o) => o ?? { ok: false, error: recordError('RECORD_REJECTED', 'NO_RESULT') });
}

/**
 * Deletes records (they go to Salesforce's recycle bin); ids it does not know are `not_found`.
 *
 * @example await deleteRecords(api, [{ objectType: 'Contact', id }], rounds) // [{ status: 'done' }]
 */
export async function deleteRecords(
  api: Caller,
  refs: RecordRef[],
  opts: RoundOptions,
): Promise<EraseOutcome[]> {
  const outcomes: Array<EraseOutcome | undefined> = new Array(refs.length);
  const byId = new Map<string, number[]>(); // one DELETE item per record, even when asked twice
  refs.forEach((ref, i) => {
    if (!isSalesforceId(ref.id)) outcomes[i] = { status: 'not_found' };
    else byId.set(ref.id, [...(byId.get(ref.id) ?? []), i]);
  });
  const state: CallState = { settled: false, failure: null };
  for (const batch of chunk([...byId.keys()], COLLECTION_BATCH)) {
    const results = await rounds(
      batch,
      async (ids) =>
        itemResults(
          await api.call({
            method: 'DELETE',
            url: `/composite/sobjects?ids=${ids.map(encodeURIComponent).join(',')}&allOrNone=false`,
          }),
          ids.length,
        ),
      state,
      opts,
    );
    for (const [id, r] of results) {
      const outcome: EraseOutcome =
        'code' in r
          ? { status: 'failed', error: r }
          : r.success
            ? { status: 'done' }
            : r.codes.some((c) => NOT_FOUND_CODES.has(c))
              ? { status: 'not_found' }
              : { status: 'failed', error: recordFailure(r) };
      for (const i of byId.get(id) ?? []) outcomes[i] = outcome;
    }
  }
  return outcomes.map((o) => o ?? { status: 'failed', error: recordError('RECORD_REJECTED', 'NO_RESULT') });
}

/**
 * Sends `items` in rounds until none is locked. Returns each item's final result, or the whole-call
 * error it was left with.
 */
async function rounds<I>(
  items: I[],
  send: (items: I[]) => Promise<ItemResult[]>,
  state: CallState,
  opts: RoundOptions,
  rejectForField?: (items: I[], bad: InvalidField) => I[],
): Promise<Map<I, ItemResult | ConnectorError>> {
  const out = new Map<I, ItemResult | ConnectorError>();
  let pending = items;
  let round = 0;
  while (pending.length > 0) {
    if (state.failure) {
      for (const item of pending) out.set(item, state.failure);
      break;
    }
    let results: ItemResult[];
    try {
      results = await send(pending);
    } catch (err) {
      const failure = err instanceof ConnectorFailure ? err : new ConnectorFailure(badResponse());
      const bad = failure instanceof SalesforceFailure ? failure.invalidField : null;
      const rejected = bad && rejectForField ? rejectForField(pending, bad) : [];
      if (rejected.length > 0) {
        for (const item of rejected) out.set(item, { success: false, codes: ['INVALID_FIELD'] });
        state.settled = true;
        pending = pending.filter((item) => !rejected.includes(item));
        continue;
      }
      if (!state.settled) throw failure;
      state.failure = failure.error;
      continue;
    }
    round += 1;
    const locked: I[] = [];
    results.forEach((r, k) => {
      const item = pending[k] as I;
      if (r.codes.includes('UNABLE_TO_LOCK_ROW') && round < opts.attempts) locked.push(item);
      else {
        out.set(item, r);
        state.settled = true;
      }
    });
    pending = locked;
    if (pending.length > 0) await sleep(backoff(round, opts));
  }
  return out;
}

/** Groups by type (stable) and cuts at 200 records or before an eleventh type chunk. */
export function planBatches(indices: number[], typeOf: (i: number) => string): number[][] {
  const order = new Map<string, number>();
  for (const i of indices) if (!order.has(typeOf(i))) order.set(typeOf(i), order.size);
  const sorted = [...indices].sort(
    (a, b) => (order.get(typeOf(a)) ?? 0) - (order.get(typeOf(b)) ?? 0) || a - b,
  );
  const batches: number[][] = [];
  let current: number[] = [];
  let types = new Set<string>();
  for (const i of sorted) {
    const type = typeOf(i);
    if (current.length === COLLECTION_BATCH || (!types.has(type) && types.size === MAX_TYPE_CHUNKS)) {
      batches.push(current);
      current = [];
      types = new Set();
    }
    current.push(i);
    types.add(type);
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

function itemResults(body: unknown, expected: number): ItemResult[] {
  if (!Array.isArray(body) || body.length !== expected) throw new SalesforceFailure(badResponse());
  return body.map((item) => {
    const r = item as { success?: unknown; errors?: unknown; id?: unknown };
    const errors = Array.isArray(r?.errors) ? r.errors : [];
    const codes = errors
      .map((e) => (e as { statusCode?: unknown })?.statusCode)
      .map((c) => (typeof c === 'string' && /^[A-Z0-9_]{1,64}$/.test(c) ? c : 'UNKNOWN_ERROR'));
    const id = typeof r?.id === 'string' && isSalesforceId(r.id) ? r.id : undefined;
    return id ? { success: r?.success === true, codes, id } : { success: r?.success === true, codes };
  });
}

function toWriteOutcome(r: ItemResult | ConnectorError): WriteOutcome {
  if ('code' in r) return { ok: false, error: r };
  if (r.success) return { ok: true };
  return { ok: false, error: recordFailure(r) };
}

function recordFailure(r: ItemResult): ConnectorError {
  if (r.codes.includes('UNABLE_TO_LOCK_ROW')) {
    return { ...recordError('LOCKED', 'UNABLE_TO_LOCK_ROW'), retryable: true };
  }
  const code = r.codes[0] ?? 'UNKNOWN_ERROR';
  return recordError(NOT_FOUND_CODES.has(code) ? 'NOT_FOUND' : 'RECORD_REJECTED', code);
}

/** A per-record error: the message is Salesforce's statusCode and nothing else. */
function recordError(code: string, statusCode: string): ConnectorError {
  return {
    code,
    message: statusCode,
    retryable: false,
    retryAfterMs: null,
    status: null,
    vendorCode: statusCode,
  };
}

function badResponse(): ConnectorError {
  return {
    code: 'BAD_RESPONSE',
    message: 'unexpected sObject Collections response shape',
    retryable: true,
    retryAfterMs: null,
    status: null,
    vendorCode: null,
  };
}

/** Property names the body can carry next to `attributes` and `id`. */
const isWritableName = (name: string) =>
  isApiName(name) && !['id', 'attributes'].includes(name.toLowerCase());

function carries(w: RecordWrite, bad: InvalidField): boolean {
  if (w.objectType.toLowerCase() !== bad.objectType.toLowerCase()) return false;
  return Object.keys(w.properties).some((p) => p.toLowerCase() === bad.field.toLowerCase());
}

function backoff(round: number, opts: RoundOptions): number {
  return Math.min(opts.maxWaitMs, opts.minBackoffMs * 2 ** (round - 1) * (1 + Math.random()));
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
