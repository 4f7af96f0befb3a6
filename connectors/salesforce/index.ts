/**
 * The Salesforce connector: jsforce over REST (query, sObject Collections) with a client-credentials
 * token, our own request budget and retries, and Flow callout / Outbound Message webhooks.
 *
 * Budget defaults: Salesforce has no per-second limit; what runs out is the org's rolling 24-hour
 * allocation (100 000 plus a per-licence adder) and the 25 concurrent long-running requests
 * (API-FACTS 3.2). So the defaults are a burst cap of 25 requests per second, 4 in flight, and
 * REQUEST_LIMIT_EXCEEDED (403, no Retry-After) is retried after `rateLimitWaitMs` (2 s); when the
 * daily allocation is what ran out, the in-call retries fail too and the durable dispatcher takes
 * over. `apiUsage()` reports the last `Sforce-Limit-Info` for monitoring.
 */
import { type CallBudget, createCallBudget } from '../call.ts';
import type { Connector } from '../types.ts';
import { createSession } from './auth.ts';
import { COLLECTION_BATCH, type RoundOptions, writeRecords } from './collections.ts';
import { type EraseMode, eraseRecords } from './erase.ts';
import { type ApiUsage, createCaller } from './http.ts';
import { createNative, type NativeConsent } from './native.ts';
import { createReader, QUERY_BATCH } from './records.ts';
import { parseSalesforceWebhook, verifySalesforceWebhook } from './webhook.ts';

export type { EraseMode } from './erase.ts';

export interface SalesforceConnectorOptions {
  /** `https://login.salesforce.com`, `https://test.salesforce.com` or the org's My Domain URL. */
  loginUrl: string;
  clientId: string;
  clientSecret: string;
  /** e.g. `62.0` */
  apiVersion: string;
  /** 15 or 18 characters; Outbound Messages from other orgs and tokens for other orgs are refused. Null: SOAP webhooks are refused. */
  orgId: string | null;
  /** Shared secret of Flow HTTP callouts; null: Flow callouts are refused. */
  webhookSecret: string | null;
  /**
   * Accept Outbound Messages (`SALESFORCE_OUTBOUND_MESSAGES=on`), as signals the service reads back
   * through the API (sync rule 7). Default false: refused with 403 before any parsing.
   */
  outboundMessages?: boolean;
  /** Default 25 per `windowMs`. */
  requestsPerWindow?: number;
  /** Default 1000 ms. */
  windowMs?: number;
  /** Requests in flight, default 4. */
  concurrency?: number;
  /** Attempts per request for retryable failures, and rounds for locked records; default 4. */
  attempts?: number;
  /** Default 250 ms. */
  minBackoffMs?: number;
  /** Longest single wait, default 15 000 ms. */
  maxWaitMs?: number;
  /** Wait after REQUEST_LIMIT_EXCEEDED, default 2000 ms. */
  rateLimitWaitMs?: number;
  /** Per-request timeout, default 30 000 ms. */
  timeoutMs?: number;
  /** `delete` (default) or `should_forget` (flag the records' Individuals). */
  eraseMode?: EraseMode;
}

export type SalesforceConnector = Connector & {
  budget: CallBudget;
  /** The last `Sforce-Limit-Info: api-usage=N/M`, or null before the first answer. */
  apiUsage(): ApiUsage | null;
  /** Token requests made so far. */
  tokenRequests(): number;
  native: NativeConsent;
};

/**
 * @example
 * const salesforce = createSalesforceConnector({
 *   loginUrl: 'https://login.salesforce.com', clientId, clientSecret, apiVersion: '62.0',
 *   orgId: '00D5e000000KQ2eEAG', webhookSecret: env.SALESFORCE_WEBHOOK_SECRET,
 * });
 * const records = await salesforce.find(['+447700900001'], spec); // an example number
 */
export function createSalesforceConnector(opts: SalesforceConnectorOptions): SalesforceConnector {
  const attempts = opts.attempts ?? 4;
  const minBackoffMs = opts.minBackoffMs ?? 250;
  const maxWaitMs = opts.maxWaitMs ?? 15_000;
  const budget = createCallBudget({
    requestsPerWindow: opts.requestsPerWindow ?? 25,
    windowMs: opts.windowMs ?? 1000,
    concurrency: opts.concurrency ?? 4,
    attempts,
    minBackoffMs,
    maxWaitMs,
  });
  const session = createSession({
    loginUrl: opts.loginUrl,
    clientId: opts.clientId,
    clientSecret: opts.clientSecret,
    apiVersion: opts.apiVersion,
    orgId: opts.orgId,
  });
  const api = createCaller(session, budget, {
    timeoutMs: opts.timeoutMs ?? 30_000,
    rateLimitWaitMs: opts.rateLimitWaitMs ?? 2000,
  });
  const reader = createReader(api);
  const rounds: RoundOptions = { attempts, minBackoffMs, maxWaitMs };
  const hooks = {
    orgId: opts.orgId,
    webhookSecret: opts.webhookSecret,
    outboundMessages: opts.outboundMessages ?? false,
  };

  return {
    name: 'salesforce',
    limits: { writeBatch: COLLECTION_BATCH, findBatch: QUERY_BATCH, readBatch: QUERY_BATCH },
    budget,
    apiUsage: api.apiUsage,
    tokenRequests: session.tokenRequests,
    find: (values, spec, by) => reader.find(values, spec, by),
    read: (refs, spec) => reader.read(refs, spec),
    write: (writes) => writeRecords(api, writes, rounds),
    erase: (refs) => eraseRecords(api, reader, refs, opts.eraseMode ?? 'delete', rounds),
    native: createNative(api, rounds, opts.eraseMode ?? 'delete'),
    verifyWebhook: (req) => verifySalesforceWebhook(req, hooks),
    parseWebhook: (req, spec) => parseSalesforceWebhook(req, spec, hooks),
  };
}
