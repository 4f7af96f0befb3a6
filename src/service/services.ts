import { createWhatsAppClient } from '../../connectors/whatsapp/client.ts';
import type { Config } from '../config.ts';
import { fromBase64 } from '../crypto/encoding.ts';
import { createPiiCrypto, type PiiCrypto } from '../crypto/pii.ts';
import { type ApiKeyAuth, createApiKeyAuth } from '../http/auth.ts';
import type { Store } from '../store/port.ts';
import { Dispatcher } from '../sync/dispatcher.ts';
import type { Catalog } from './catalog-service.ts';
import { ConsentService } from './consent-service.ts';
import { History } from './history.ts';
import { InboundWhatsApp } from './inbound-whatsapp.ts';
import type { Log } from './log.ts';
import { Messaging } from './messaging.ts';
import { Subjects } from './subjects.ts';

export interface Services {
  config: Config;
  store: Store;
  pii: PiiCrypto;
  subjects: Subjects;
  catalog: Catalog;
  consent: ConsentService;
  inbound: InboundWhatsApp;
  messaging: Messaging;
  history: History;
  dispatcher: Dispatcher;
  auth: ApiKeyAuth;
  log: Log;
  clock: () => Date;
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
  /** dispatcher tuning (tests use short delays) */
  dispatcher?: { baseDelayMs?: number; maxAttempts?: number; random?: () => number };
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
  const clock = input.clock ?? (() => new Date());
  const pii = await createPiiCrypto(fromBase64(config.PII_KEY));
  const subjects = new Subjects(store, pii);
  let dispatcher: Dispatcher | undefined;
  const consent = new ConsentService({
    store,
    subjects,
    catalog,
    clock,
    ttlMs: config.DOI_TTL_HOURS * 3_600_000,
    log,
    onJobs: () => void dispatcher?.tick(),
  });
  const client =
    config.WHATSAPP_ACCESS_TOKEN && config.WHATSAPP_PHONE_NUMBER_ID
      ? createWhatsAppClient({
          graphUrl: config.WHATSAPP_GRAPH_URL,
          phoneNumberId: config.WHATSAPP_PHONE_NUMBER_ID,
          accessToken: config.WHATSAPP_ACCESS_TOKEN,
          fetch: input.fetch ?? globalThis.fetch.bind(globalThis),
        })
      : null;
  const messaging = new Messaging({
    store,
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
  dispatcher = new Dispatcher({
    store,
    clock,
    log,
    // Without WhatsApp credentials no handler is registered, so replies wait in the outbox
    // (pending, attempts untouched) instead of burning their retries and dying.
    handlers: client ? { 'whatsapp.send': messaging.handleJob } : {},
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

  return {
    config,
    store,
    pii,
    subjects,
    catalog,
    consent,
    inbound: new InboundWhatsApp(consent, catalog, log),
    messaging,
    history: new History(store, subjects),
    dispatcher,
    auth: await createApiKeyAuth(config.API_KEYS),
    log,
    clock,
    expirePending,
  };
}
