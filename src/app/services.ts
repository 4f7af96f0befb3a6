import type { GetConnInfo } from 'hono/conninfo';
import type { Connector, ConnectorName, CrmSchema } from '../../connectors/types.ts';
import { createWhatsAppClient } from '../../connectors/whatsapp/client.ts';
import type { Config } from '../config.ts';
import { normalizePhone } from '../core/phone.ts';
import { fromBase64 } from '../crypto/encoding.ts';
import { createPiiCrypto, type PiiCrypto } from '../crypto/pii.ts';
import { type CryptoPrimitives, webCryptoPrimitives } from '../crypto/primitives.ts';
import { ErasureService } from '../erasure/erasure-service.ts';
import { purgeExpired, type RetentionReport } from '../erasure/retention.ts';
import { AuthThrottle } from '../http/throttle.ts';
import { type ApiKeyAuth, createApiKeyAuth } from '../service/api-keys.ts';
import { BackgroundTasks } from '../service/background.ts';
import type { Catalog } from '../service/catalog-service.ts';
import { ConsentService } from '../service/consent-service.ts';
import { DeadEvents } from '../service/dead-events.ts';
import { History } from '../service/history.ts';
import { InboundWhatsApp } from '../service/inbound-whatsapp.ts';
import { DurableInbox, type Inbox } from '../service/inbox/durable-inbox.ts';
import { type InboxMessage, type OptOutMarkers, QueueInbox } from '../service/inbox/queue-inbox.ts';
import type { Log } from '../service/log.ts';
import { Messaging } from '../service/messaging.ts';
import { Subjects } from '../service/subjects.ts';
import type { InboxStore } from '../store/inbox-store.ts';
import type { Store } from '../store/port.ts';
import { buildConnectors } from '../sync/connectors.ts';
import { CrmFields } from '../sync/crm-fields.ts';
import { Dispatcher } from '../sync/dispatcher.ts';
import { type MappingStorage, Mappings, memoryMappingStorage } from '../sync/mappings.ts';
import { type ReconcileOptions, type ReconcileReport, reconcile } from '../sync/reconcile.ts';
import { SyncService } from '../sync/sync-service.ts';

export interface Services {
  config: Config;
  store: Store;
  pii: PiiCrypto;
  /** HMAC and AES-GCM of this runtime (webhook signatures use it too) */
  crypto: CryptoPrimitives;
  subjects: Subjects;
  catalog: Catalog;
  consent: ConsentService;
  inbound: InboundWhatsApp;
  /**
   * The durable inbox and its decider (Node): webhooks are acknowledged once their minimised events
   * are stored, and decided in batches after. Null: events are decided before the answer (inline).
   */
  inbox: Inbox | null;
  /** Node: the inbox file the durable inbox appends to (closed by whoever closes `store`); else null */
  inboxStore: InboxStore | null;
  /** the Workers inbox: webhooks acknowledged once their events are in the `INBOX` queue; else null */
  queueInbox: QueueInbox | null;
  /** unreadable webhook events, kept encrypted for inspection (sync rule 8) */
  deadEvents: DeadEvents;
  messaging: Messaging;
  history: History;
  dispatcher: Dispatcher;
  /**
   * Says jobs were queued outside a consent commit (a retried dead letter, a reconciliation):
   * the same hook commits use (Node: a dispatcher pass in `background`; Workers: a queue message
   * sent through the invocation's `ctx.waitUntil`). Never a promise left to float.
   */
  jobsQueued(): void;
  /** work Node runs after a response (dispatcher passes); the server's shutdown awaits it */
  background: BackgroundTasks;
  mappings: Mappings;
  /** the CRMs' own properties and fields, for the mapping editor's picker and the check before a save */
  crmFields: CrmFields;
  sync: SyncService;
  erasure: ErasureService;
  auth: ApiKeyAuth;
  /** failed sign-ins and tokens per client address and key prefix (in memory: per process or isolate) */
  throttle: AuthThrottle;
  /** how this runtime finds the client's address (the socket on Node, `CF-Connecting-IP` on Workers) */
  connInfo: GetConnInfo;
  log: Log;
  clock: () => Date;
  /** Deletes what retention no longer allows, flags overdue erasures; counts only. */
  purgeExpired(): Promise<RetentionReport & { overdueErasures: number }>;
  /** Compares every CRM with the ledger and repairs drift (sync rules); counts only. */
  reconcile(options?: ReconcileOptions): Promise<ReconcileReport[]>;
  /** Expires pending double opt-ins that ran out; returns how many. */
  expirePending(limit?: number): Promise<number>;
}

export interface ServiceInputs {
  config: Config;
  store: Store;
  catalog: Catalog;
  log: Log;
  clock?: () => Date;
  fetch?: typeof fetch;
  /** the WhatsApp sends' `fetch` when `fetch` is not injected (Node: the keep-alive transport, node-http-fetch.ts) */
  sendFetch?: typeof fetch;
  /** dispatcher tuning (tests use short delays) */
  dispatcher?: { baseDelayMs?: number; maxAttempts?: number; random?: () => number; concurrency?: number };
  /** where mappings are kept (Node: files in MAPPINGS_DIR) and the shipped defaults */
  mappings?: { storage: MappingStorage; defaults: Partial<Record<ConnectorName, unknown>> };
  /** readers of the CRMs' data models (Node: `crmSchemasFor(config)`); none: saves are not checked against the CRM */
  crmSchemas?: Partial<Record<ConnectorName, CrmSchema>>;
  /**
   * Called when a commit queued jobs. Default: run the dispatcher at once (Node). Workers pass a
   * function that sends a Queue message instead, so the jobs run in the queue consumer.
   */
  onJobs?: () => void;
  /** connectors to use instead of the ones built from config (tests, benchmarks) */
  connectors?: Partial<Record<ConnectorName, Connector>>;
  /** HMAC and AES-GCM; default Web Crypto (Workers), Node passes node:crypto (primitives.node.ts) */
  crypto?: CryptoPrimitives;
  /** the client's address; default none known (in-process requests, tests): every client is `unknown` */
  connInfo?: GetConnInfo;
  /**
   * `durable` (Node): WhatsApp webhooks are acknowledged on the inbox table and decided by its loop
   * (start it with `services.inbox.start()`); `inline` (default): decided before the answer.
   */
  inbox?: 'durable' | 'inline';
  /** Node, with `inbox: 'durable'`: the inbox file (`DATA_DIR/inbox.db`, see `openInboxStore`) */
  inboxStore?: InboxStore;
  /** Workers: sends minimised webhook events to the inbox queue (acknowledged once it resolves) */
  inboxQueue?: (messages: InboxMessage[]) => Promise<void>;
  /** Workers: opt-out markers in D1, so the send guard sees opt-outs still in the inbox queue */
  inboxMarkers?: OptOutMarkers;
}

/**
 * The one composition root: builds every service from config and ports, for both runtimes.
 *
 * @example
 * const services = await buildServices({ config, store, catalog, log });
 * const app = createApp(services);
 */
export async function buildServices(input: ServiceInputs): Promise<Services> {
  const { config, store, catalog, log } = input;
  // After an erasure (and each retention purge) the inbox file's WAL is emptied too: it holds sealed
  // copies of decided events' identifiers. The store itself is unchanged for everyone else.
  const inboxFile = input.inboxStore;
  const scrubbing: Store = inboxFile
    ? Object.assign(Object.create(store) as Store, {
        async scrub() {
          const main = (await store.scrub?.().catch(() => false)) ?? true;
          const own = await inboxFile.scrub().catch(() => false);
          return main && own;
        },
      })
    : store;
  const clock = input.clock ?? (() => new Date());
  const crypto = input.crypto ?? webCryptoPrimitives;
  const pii = await createPiiCrypto(fromBase64(config.PII_KEY), {
    retired: config.PII_KEYS_RETIRED.map(fromBase64),
    prims: crypto,
  });
  // Lookup keys of keys retired for good (stored by `keys rotate`): erased people's hashes keep matching.
  const unopened = await pii.loadLookupKeys(await store.listLookupKeys());
  if (unopened.length > 0) {
    log.warn(
      { keys: unopened },
      'archived lookup keys open under neither PII_KEY nor PII_KEYS_RETIRED: hashes made under them no longer match',
    );
  }
  const subjects = new Subjects(store, pii);
  let dispatcher: Dispatcher | undefined;
  let sync: SyncService | undefined;
  const background = new BackgroundTasks(log);
  const onJobs =
    input.onJobs ?? (() => background.run('dispatch', () => dispatcher?.tick() ?? Promise.resolve(0)));
  const consent = new ConsentService({
    store,
    subjects,
    catalog,
    clock,
    ttlMs: config.DOI_TTL_HOURS * 3_600_000,
    clockSkewMs: config.CLOCK_SKEW_SECONDS * 1000,
    replyThrottleMs: config.REPLY_THROTTLE_SECONDS * 1000,
    log,
    onJobs,
    syncJobs: (subjectId, cause, now) => sync?.jobsFor(subjectId, cause, now) ?? [],
  });
  const connectors = buildConnectors(config, input.connectors);
  const mappings = await Mappings.load(
    input.mappings?.storage ?? memoryMappingStorage(),
    input.mappings?.defaults ?? {},
    [...connectors.keys()],
    catalog.purposes,
  );
  sync = new SyncService({
    store,
    subjects,
    consent,
    mappings,
    connectors,
    clock,
    log,
    onJobs,
  });
  const client =
    config.WHATSAPP_ACCESS_TOKEN && config.WHATSAPP_PHONE_NUMBER_ID
      ? createWhatsAppClient({
          graphUrl: config.WHATSAPP_GRAPH_URL,
          phoneNumberId: config.WHATSAPP_PHONE_NUMBER_ID,
          accessToken: config.WHATSAPP_ACCESS_TOKEN,
          fetch: input.fetch ?? input.sendFetch ?? globalThis.fetch.bind(globalThis),
        })
      : null;
  let inbox: DurableInbox | null = null;
  let queueInbox: QueueInbox | null = null;
  const messaging = new Messaging({
    store,
    undecidedOptOut: (hashes, purpose) =>
      (inbox ?? queueInbox)?.optOutPending(hashes, purpose) ?? Promise.resolve(false),
    subjects,
    catalog,
    clock,
    log,
    client,
    onRecipientStopped: async (subject, reason) => {
      await consent.changeFor(subject, {
        intent: 'opt_out',
        purposes: ['marketing'],
        source: 'meta_status',
        occurredAt: clock().toISOString(),
        evidence: { reason },
        reply: null,
      });
    },
  });
  const erasure = new ErasureService({
    store: scrubbing,
    subjects,
    pii,
    mappings,
    connectors,
    clock,
    log,
    dueDays: config.ERASURE_DUE_DAYS,
    onJobs,
  });
  sync.onPrivacyDeletion = async (name, change) => {
    if (await erasure.isOwnErasure(name, change.ref)) return 'echo';
    const link = await store.findLink(name, change.ref.objectType, change.ref.id);
    if (link) {
      await erasure.request({ subjectId: link.subjectId, source: name });
      return 'erasure';
    }
    const phone = change.matchValue ? normalizePhone(change.matchValue) : null;
    if (phone?.ok) {
      await erasure.request({ e164: phone.e164, source: name });
      return 'erasure';
    }
    return 'unknown';
  };
  dispatcher = new Dispatcher({
    store,
    clock,
    log,
    // Without WhatsApp credentials no handler is registered, so replies wait in the outbox
    // (pending, attempts untouched) instead of burning their retries and dying.
    handlers: {
      ...(client ? { 'whatsapp.send': messaging.handleJob } : {}),
      ...sync.handlers(),
      ...erasure.handlers(),
    },
    ...input.dispatcher,
  });

  async function expirePending(limit = 500): Promise<number> {
    const due = await store.findExpiredPending(clock().toISOString(), limit);
    let n = 0;
    for (const state of due) {
      const subject = await subjects.byId(state.subjectId);
      if (!subject) continue;
      const r = await consent.changeFor(subject, {
        intent: 'expire',
        purposes: [state.purpose],
        source: 'system',
        occurredAt: clock().toISOString(),
        evidence: { reason: 'double_opt_in_not_confirmed_in_time' },
        reply: null,
      });
      if (r.status === 'applied') n++;
    }
    if (n > 0) log.info({ expired: n }, 'pending double opt-ins expired');
    return n;
  }

  const inbound = new InboundWhatsApp(consent, catalog, log, config.CLOCK_SKEW_SECONDS * 1000);
  const deadEvents = new DeadEvents({ store, pii, clock, log });
  if (input.inbox === 'durable') {
    if (!input.inboxStore) throw new Error("inbox 'durable' needs the inbox file (inboxStore)");
    inbox = new DurableInbox({ inbox: input.inboxStore, pii, inbound, deadEvents, clock, log });
  }
  if (input.inboxQueue)
    queueInbox = new QueueInbox({
      pii,
      inbound,
      deadEvents,
      log,
      clock,
      send: input.inboxQueue,
      ...(input.inboxMarkers ? { markers: input.inboxMarkers } : {}),
    });
  inbound.erasure = {
    async askedBy(contextId, identity) {
      const sent = await store.findSentMessage(await subjects.hashesOf(contextId));
      if (sent?.kind !== 'reply:erasureQuestion') return null;
      const subject = await subjects.findIdentity(identity);
      const fresh = Date.parse(sent.sentAt) > clock().getTime() - 7 * 86_400_000;
      return fresh && subject?.row.id === sent.subjectId ? subject.row.id : null;
    },
    async request(subjectId, keys) {
      const first = await store.commit(keys);
      if (first.status === 'duplicate') return 'duplicate';
      const r = await erasure.request({ subjectId, source: 'whatsapp' });
      return r.created ? 'opened' : 'open';
    },
  };

  return {
    config,
    store,
    pii,
    crypto,
    subjects,
    catalog,
    consent,
    inbound,
    inbox,
    inboxStore: input.inboxStore ?? null,
    queueInbox,
    deadEvents,
    messaging,
    history: new History(store, subjects),
    dispatcher,
    jobsQueued: onJobs,
    background,
    mappings,
    crmFields: new CrmFields(
      Object.fromEntries(
        Object.entries(input.crmSchemas ?? {}).filter(([n]) => connectors.has(n as ConnectorName)),
      ),
      clock,
    ),
    sync,
    erasure,
    auth: await createApiKeyAuth(config.API_KEYS, { store, clock }),
    throttle: new AuthThrottle(
      { perAddress: config.AUTH_FAILURES_PER_MINUTE, perKeyPrefix: config.AUTH_KEY_FAILURES_PER_MINUTE },
      clock,
    ),
    connInfo: input.connInfo ?? (() => ({ remote: {} })),
    log,
    clock,
    expirePending,
    purgeExpired: async () => ({
      ...(await purgeExpired({ store: scrubbing, pii, clock, log, config })),
      overdueErasures: await erasure.flagOverdue(),
    }),
    reconcile: async (options) => {
      const reports = await reconcile({ store, subjects, consent, mappings, sync, clock, log }, options);
      onJobs();
      return reports;
    },
  };
}
