/**
 * The HubSpot connector: contacts through the official `@hubspot/api-client` (API-FACTS 2.3, 2.6),
 * with the SDK's own retries and limiter left off (no `numberOfApiCallRetries`, no `limiterOptions`:
 * they ignore Retry-After and are process-wide) and every request run under our call budget.
 */
import type {
  BatchResponseSimplePublicObject,
  BatchResponseSimplePublicObjectWithErrors,
  SimplePublicObject,
  SimplePublicObjectBatchInput,
  StandardError,
} from '@hubspot/api-client/lib/codegen/crm/contacts/index.js';
import {
  BasicApi,
  BatchApi,
  createConfiguration,
  FilterOperatorEnum,
  SearchApi,
  ServerConfiguration,
} from '@hubspot/api-client/lib/codegen/crm/contacts/index.js';
import { type CallBudget, createCallBudget } from '../call.ts';
import type { ConnectorError } from '../errors.ts';
import {
  type Connector,
  ConnectorFailure,
  type EraseOutcome,
  type LookupSpec,
  type RecordRef,
  type RecordWrite,
  type RemoteRecord,
  type RemoteValue,
  type WriteOutcome,
} from '../types.ts';
import { isSdkHttpError, missingResult, recordError, toConnectorError, unexpected } from './errors.ts';
import { fetchHttpLibrary } from './http.ts';
import { verifyV3 } from './signature.ts';
import { createCommPrefsClient, STATUS_BATCH, type StatusInput } from './subscriptions.ts';
import { parseHubSpotWebhook } from './webhook.ts';

export interface HubSpotConnectorOptions {
  /** Private app or OAuth access token. */
  accessToken: string;
  /** The app's client secret for webhook signatures; null when webhooks are not set up. */
  clientSecret: string | null;
  /** `https://api.hubapi.com`, or a simulator's URL. */
  baseUrl: string;
  /** Requests per window (default 100: Free/Starter; 190 on Professional/Enterprise). */
  requestsPerWindow?: number;
  /** Default 10 000 (TEN_SECONDLY_ROLLING). */
  windowMs?: number;
  /** Requests in flight at once (default 4). */
  concurrency?: number;
  /** In-call attempts for retryable failures (budget default 4). */
  attempts?: number;
  minBackoffMs?: number;
  maxWaitMs?: number;
  /** Per request, default 30 000 ms: the SDK's node-fetch has no timeout of its own. */
  timeoutMs?: number;
  /**
   * Added to the budget's window because HubSpot counts arrivals, not our starts, and network jitter
   * can bring two requests a window apart closer together: a fresh connection (TLS) is slower than a
   * kept-alive one (default 10 % of `windowMs`, at most 250 ms).
   */
  windowMarginMs?: number;
}

export type HubSpotConnector = Connector & { budget: CallBudget };

const OBJECT_TYPE = 'contact';
const BATCH = 100;
/** Search `limit` maximum; one page usually holds every match of 100 values. */
const PAGE = 200;
/** HubSpot stops search paging at 10 000 results. */
const MAX_PAGES = 50;

/**
 * @example
 * const hubspot = createHubSpotConnector({ accessToken: env.HUBSPOT_TOKEN, clientSecret: env.HUBSPOT_CLIENT_SECRET, baseUrl: 'https://api.hubapi.com' });
 * const found = await hubspot.find(['+447700900001'], spec); // example number
 */
export function createHubSpotConnector(opts: HubSpotConnectorOptions): HubSpotConnector {
  const windowMs = opts.windowMs ?? 10_000;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const budget = createCallBudget({
    requestsPerWindow: opts.requestsPerWindow ?? 100,
    windowMs: windowMs + (opts.windowMarginMs ?? Math.min(250, Math.ceil(windowMs * 0.1))),
    concurrency: opts.concurrency ?? 4,
    ...(opts.attempts === undefined ? {} : { attempts: opts.attempts }),
    ...(opts.minBackoffMs === undefined ? {} : { minBackoffMs: opts.minBackoffMs }),
    ...(opts.maxWaitMs === undefined ? {} : { maxWaitMs: opts.maxWaitMs }),
  });
  // The SDK's generated CRM-contacts client on its own, not the whole `Client`: the Worker bundle
  // carries only what is used (the full client is ~900 KiB gzipped), and no process-wide retry or
  // limiter decorators (the SDK keeps those in a singleton shared by every Client) can reach it.
  const config = createConfiguration({
    baseServer: new ServerConfiguration(opts.baseUrl.replace(/\/+$/, ''), {}),
    authMethods: { oauth2: { accessToken: opts.accessToken } },
    httpApi: fetchHttpLibrary(),
  });
  const searchApi = new SearchApi(config);
  const batchApi = new BatchApi(config);
  const basicApi = new BasicApi(config);

  const call = sdkCaller(budget, timeoutMs);

  const prefs = createCommPrefsClient({ baseUrl: opts.baseUrl, accessToken: opts.accessToken });

  /** One search per chunk of values: one filter group per property, ORed (at most 5 groups). */
  async function searchChunk(values: string[], properties: string[], fields: string[]) {
    const found: SimplePublicObject[] = [];
    let after: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const from = after;
      const res = await call(() =>
        searchApi.doSearch({
          filterGroups: fields.map((propertyName) => ({
            filters: [{ propertyName, operator: FilterOperatorEnum.In, values }],
          })),
          properties,
          limit: PAGE,
          ...(from === undefined ? {} : { after: from }),
        }),
      );
      found.push(...res.results);
      after = res.paging?.next?.after;
      if (!after) break;
    }
    return found;
  }

  async function find(
    values: string[],
    spec: LookupSpec,
    by: 'phone' | 'bsuid' = 'phone',
  ): Promise<RemoteRecord[]> {
    checkObjectTypes(spec.objectTypes);
    const fields = by === 'bsuid' ? (spec.bsuidField ? [spec.bsuidField] : []) : matchFields(spec);
    const unique = [...new Set(values.filter((v) => v !== ''))];
    if (fields.length === 0 || unique.length === 0) return [];
    const pages = await Promise.all(chunk(unique, BATCH).map((c) => searchChunk(c, readable(spec), fields)));
    // Search may match more loosely (case, tokens) than "exactly one of these values": numbers are
    // compared case-insensitively (as before), BSUIDs exactly.
    const key = (v: string) => (by === 'bsuid' ? v : v.toLowerCase());
    const wanted = new Set(unique.map(key));
    // For each value, the records matched by the earliest property in the mapping's order win.
    const best = new Map<string, { rank: number; records: Map<string, RemoteRecord> }>();
    for (const object of pages.flat()) {
      const source = object.properties ?? {};
      const rank = fields.findIndex((f) => {
        const v = source[f];
        return typeof v === 'string' && v !== '' && wanted.has(key(v));
      });
      if (rank < 0) continue;
      const value = source[fields[rank] as string] as string;
      const record = toRecord(object, spec, by === 'bsuid' ? undefined : value);
      const slot = best.get(key(value));
      if (!slot || rank < slot.rank) best.set(key(value), { rank, records: new Map([[record.id, record]]) });
      else if (rank === slot.rank) slot.records.set(record.id, record);
    }
    const records = new Map<string, RemoteRecord>();
    for (const slot of best.values()) for (const [id, r] of slot.records) records.set(id, r);
    return [...records.values()];
  }

  async function read(refs: RecordRef[], spec: LookupSpec): Promise<RemoteRecord[]> {
    checkObjectTypes(refs.map((r) => r.objectType));
    const ids = [...new Set(refs.map((r) => r.id))];
    const properties = readable(spec);
    const batches = await Promise.all(
      chunk(ids, BATCH).map((c) =>
        call(async () => {
          const res = await batchApi.read(
            { inputs: c.map((id) => ({ id })), properties, propertiesWithHistory: [] },
            false,
          );
          // A 207 resolves (BatchResponseSimplePublicObjectWithErrors); missing ids are OBJECT_NOT_FOUND.
          const other = errorsOf(res).find((e) => e.category !== 'OBJECT_NOT_FOUND');
          if (other) throw new ConnectorFailure(recordError(other));
          return res.results;
        }),
      ),
    );
    const byId = new Map(batches.flat().map((o) => [o.id, toRecord(o, spec)]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  async function updateChunk(items: Array<{ index: number; input: SimplePublicObjectBatchInput }>) {
    const res = await call(() => batchApi.update({ inputs: items.map((i) => i.input) }));
    const ok = new Set(res.results.map((r) => r.id));
    const byKey = new Map<string, StandardError>();
    const unmatched: StandardError[] = [];
    for (const error of errorsOf(res)) {
      const keys = [...(error.context?.ids ?? []), ...(error.context?.objectWriteTraceId ?? [])];
      if (keys.length === 0) unmatched.push(error);
      for (const key of keys) byKey.set(key, error);
    }
    return items.map(({ index, input }): [number, WriteOutcome] => {
      const error = byKey.get(input.id) ?? (input.objectWriteTraceId && byKey.get(input.objectWriteTraceId));
      if (error) return [index, { ok: false, error: recordError(error) }];
      if (ok.has(input.id)) return [index, { ok: true }];
      return [index, { ok: false, error: unmatched[0] ? recordError(unmatched[0]) : missingResult() }];
    });
  }

  async function write(writes: RecordWrite[]): Promise<WriteOutcome[]> {
    const outcomes: WriteOutcome[] = writes.map(() => ({ ok: true }));
    const items: Array<{ index: number; input: SimplePublicObjectBatchInput }> = [];
    writes.forEach((w, index) => {
      if (w.objectType !== OBJECT_TYPE) {
        outcomes[index] = { ok: false, error: unsupported(w.objectType) };
        return;
      }
      const properties = serialise(w.properties);
      if (!properties) {
        outcomes[index] = { ok: false, error: invalidValue() };
        return;
      }
      items.push({ index, input: { id: w.id, properties, objectWriteTraceId: w.key } });
    });
    const chunks = chunkUnique(items, BATCH);
    // A record written twice sits in two batches, which must then land in order.
    const sequential = new Set(items.map((i) => i.input.id)).size < items.length;
    const settled: Array<PromiseSettledResult<Array<[number, WriteOutcome]>>> = [];
    if (sequential) for (const c of chunks) settled.push(...(await Promise.allSettled([updateChunk(c)])));
    else settled.push(...(await Promise.allSettled(chunks.map(updateChunk))));
    const failures = settled.flatMap((s) => (s.status === 'rejected' ? [asFailure(s.reason)] : []));
    if (chunks.length > 0 && failures.length === chunks.length) throw failures[0];
    settled.forEach((s, i) => {
      if (s.status === 'fulfilled') {
        for (const [index, outcome] of s.value) outcomes[index] = outcome;
      } else {
        const error = asFailure(s.reason).error;
        for (const { index } of chunks[i] ?? []) outcomes[index] = { ok: false, error };
      }
    });
    await writeSubscriptions(writes, outcomes);
    return outcomes;
  }

  /**
   * Communication-preferences mode: the statuses of the records whose properties were written go to
   * `statuses/batch/write`, addressed by the contact's number (its first match property that holds
   * one, read back in one batch). A refusal marks those records failed; the properties stay written.
   */
  async function writeSubscriptions(writes: RecordWrite[], outcomes: WriteOutcome[]): Promise<void> {
    const pending = writes
      .map((w, index) => ({ w, index }))
      .filter(({ w, index }) => (w.subscriptions?.length ?? 0) > 0 && outcomes[index]?.ok === true);
    if (pending.length === 0) return;
    const fields = [...new Set(pending.flatMap(({ w }) => w.subscriptions?.[0]?.subscriberFrom ?? []))];
    const numbers = new Map<string, string>();
    try {
      for (const c of chunk([...new Set(pending.map(({ w }) => w.id))], BATCH)) {
        const res = await call(() =>
          batchApi.read(
            { inputs: c.map((id) => ({ id })), properties: fields, propertiesWithHistory: [] },
            false,
          ),
        );
        for (const o of res.results) {
          const n = fields.map((f) => o.properties?.[f]).find((v) => !!v);
          if (n) numbers.set(o.id, n);
        }
      }
    } catch (err) {
      for (const { index } of pending) outcomes[index] = { ok: false, error: asFailure(err).error };
      return;
    }
    const byChannel = new Map<string, Array<{ index: number; input: StatusInput }>>();
    for (const { w, index } of pending) {
      const subscriber = numbers.get(w.id);
      if (!subscriber) continue; // no number on the record: nothing to address, properties suffice
      for (const s of w.subscriptions ?? []) {
        const list = byChannel.get(s.channel) ?? [];
        list.push({
          index,
          input: {
            subscriberIdString: subscriber,
            subscriptionId: s.subscriptionId,
            statusState: s.state,
            legalBasis: s.legalBasis,
          },
        });
        byChannel.set(s.channel, list);
      }
    }
    for (const [channel, items] of byChannel)
      for (const c of chunk(items, STATUS_BATCH)) {
        try {
          await call(() =>
            prefs.write(
              channel,
              c.map((i) => i.input),
            ),
          );
        } catch (err) {
          const error = asFailure(err).error;
          for (const { index } of c) outcomes[index] = { ok: false, error };
        }
      }
  }

  async function eraseOne(ref: RecordRef): Promise<EraseOutcome> {
    if (ref.objectType !== OBJECT_TYPE) return { status: 'failed', error: unsupported(ref.objectType) };
    try {
      const status = await call(async () => {
        try {
          await basicApi.purge({ objectId: ref.id });
          return 'done' as const;
        } catch (err) {
          // Gone already (or never there): for an erasure that is success, not a failure to retry.
          if (isSdkHttpError(err) && err.code === 404) return 'not_found' as const;
          throw err;
        }
      });
      return { status };
    } catch (err) {
      return { status: 'failed', error: asFailure(err).error };
    }
  }

  return {
    name: 'hubspot',
    limits: { writeBatch: BATCH, findBatch: BATCH, readBatch: BATCH },
    budget,
    find,
    read,
    write,
    erase: (refs) => Promise.all(refs.map(eraseOne)),
    verifyWebhook: (req) => verifyV3(req, opts.clientSecret),
    parseWebhook: (req, spec) => parseHubSpotWebhook(req.rawBody, spec),
  };
}

/**
 * Runs one SDK request under the budget with a timeout; whatever it throws becomes a ConnectorFailure.
 * Shared with the properties client (schema.ts).
 */
export function sdkCaller(budget: CallBudget, timeoutMs: number) {
  return function call<T>(fn: () => Promise<T>): Promise<T> {
    return budget.run(async () => {
      try {
        return await withTimeout(fn(), timeoutMs);
      } catch (err) {
        if (err instanceof ConnectorFailure) throw err;
        throw new ConnectorFailure(toConnectorError(err, Date.now(), timeoutMs));
      }
    });
  };
}

/** The number's properties in order of precedence. */
function matchFields(spec: LookupSpec): string[] {
  return spec.matchFields && spec.matchFields.length > 0 ? spec.matchFields : [spec.matchField];
}

/** What is asked of HubSpot: the match fields, the BSUID field (when mapped) and the whitelist. */
function readable(spec: LookupSpec): string[] {
  return [
    ...new Set([...matchFields(spec), ...(spec.bsuidField ? [spec.bsuidField] : []), ...spec.properties]),
  ];
}

/**
 * Only the match and BSUID fields and whitelisted properties leave the connector. `matched`: the
 * value a search matched; otherwise the first match property that holds a number.
 */
function toRecord(object: SimplePublicObject, spec: LookupSpec, matched?: string): RemoteRecord {
  const source = object.properties ?? {};
  const properties: Record<string, RemoteValue> = {};
  for (const name of spec.properties) {
    if (Object.hasOwn(source, name)) properties[name] = source[name] ?? null;
  }
  const bsuid = spec.bsuidField ? source[spec.bsuidField] : null;
  return {
    objectType: OBJECT_TYPE,
    id: object.id,
    matchValue:
      matched ??
      matchFields(spec)
        .map((f) => source[f])
        .find((v) => !!v) ??
      null,
    bsuid: bsuid ? bsuid : null,
    properties,
  };
}

/** HubSpot wants strings: booleans as "true"/"false", null as "" (which clears the value). */
function serialise(values: Record<string, RemoteValue>): Record<string, string> | null {
  const out: Record<string, string> = {};
  for (const [name, v] of Object.entries(values)) {
    if (v === null) out[name] = '';
    else if (typeof v === 'boolean') out[name] = v ? 'true' : 'false';
    else if (typeof v === 'number') {
      if (!Number.isFinite(v)) return null;
      out[name] = String(v);
    } else out[name] = v;
  }
  return out;
}

function errorsOf(
  res: BatchResponseSimplePublicObject | BatchResponseSimplePublicObjectWithErrors,
): StandardError[] {
  return 'errors' in res && Array.isArray(res.errors) ? res.errors : [];
}

function checkObjectTypes(types: string[]): void {
  const other = types.find((t) => t !== OBJECT_TYPE);
  if (other !== undefined) throw new ConnectorFailure(unsupported(other));
}

function unsupported(objectType: string): ConnectorError {
  return {
    code: 'UNSUPPORTED_OBJECT_TYPE',
    message: `the HubSpot connector handles contacts only, not ${objectType.slice(0, 40)}`,
    retryable: false,
    retryAfterMs: null,
    status: null,
    vendorCode: null,
  };
}

function invalidValue(): ConnectorError {
  return {
    code: 'INVALID_VALUE',
    message: 'a property value is not a finite number, string, boolean or null',
    retryable: false,
    retryAfterMs: null,
    status: null,
    vendorCode: null,
  };
}

function asFailure(err: unknown): ConnectorFailure {
  return err instanceof ConnectorFailure
    ? err
    : new ConnectorFailure(unexpected('unexpected error in HubSpot call'));
}

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Batches of at most `size` in which no contact id appears twice (HubSpot rejects duplicate ids). */
function chunkUnique<T extends { input: { id: string } }>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let ids = new Set<string>();
  for (const item of items) {
    if (current.length === size || ids.has(item.input.id)) {
      out.push(current);
      current = [];
      ids = new Set();
    }
    current.push(item);
    ids.add(item.input.id);
  }
  if (current.length > 0) out.push(current);
  return out;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DOMException(`timed out after ${ms} ms`, 'TimeoutError')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
