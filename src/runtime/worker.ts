/**
 * The Cloudflare Workers entry point: the same Hono app, services and core as on Node, over D1.
 *
 * - `fetch`: the app. Configuration is read from the bindings (vars and `wrangler secret`s)
 *   through the same zod schema; the services are built once per isolate and reused. Mapping
 *   edits live in D1: every invocation (request, queue batch, cron) first reads their stamps, so a
 *   `PUT /v1/mappings/…` served by one isolate is in force in all the others from their next one.
 * - Outbox: a commit that queued jobs sends one message to the `OUTBOX` queue (after the response,
 *   through `waitUntil`). The queue consumer runs the same dispatcher over D1: jobs are leased,
 *   retried with the same backoff and dead-lettered by the same rules, with the same idempotency
 *   keys. A queue message only says "there is work"; the jobs themselves live in D1, so a lost or
 *   repeated message loses or repeats nothing, and the every-minute Cron sweeps the outbox anyway
 *   (retries whose backoff has run out, leases that expired).
 * - `scheduled`: every minute the outbox sweep and the double opt-in expiry, and while
 *   `PII_KEYS_RETIRED` is set a bounded batch of the key rotation (docs/key-rotation.md); hourly the
 *   retention purge and the overdue-erasure check; daily (03:00 UTC) the CRM reconciliation.
 */
import type {
  D1Database,
  ExecutionContext,
  MessageBatch,
  Queue,
  ScheduledController,
} from '@cloudflare/workers-types/index.ts';
import keywords from '../../catalog/keywords.json' with { type: 'json' };
import templates from '../../catalog/templates.json' with { type: 'json' };
import texts from '../../catalog/texts.json' with { type: 'json' };
import hubspotMapping from '../../mappings/hubspot.json' with { type: 'json' };
import salesforceMapping from '../../mappings/salesforce.json' with { type: 'json' };
import { buildServices, type Services } from '../app/services.ts';
import { parseConfig } from '../config.ts';
import { createApp } from '../http/app.ts';
import { Catalog } from '../service/catalog-service.ts';
import { type InboxMessage, isInboxMessage } from '../service/inbox/queue-inbox.ts';
import { cronBatch, rotateKeys } from '../service/key-rotation.ts';
import { openD1Store } from '../store/d1.ts';
import { MIGRATIONS } from '../store/migrations.bundle.ts';
import { type StoreFailure, storeFailure } from '../store/unavailable.ts';
import { crmSchemasFor } from '../sync/crm-schemas.ts';
import { consoleLog } from './console-log.ts';
import { type MeteredD1, meteredD1 } from './d1-meter.ts';
import { d1OptOutMarkers } from './inbox-markers.ts';
import { d1MappingStorage } from './mappings.d1.ts';

export interface Env {
  DB: D1Database;
  OUTBOX?: Queue<{ kick: number }>;
  /** the inbox queue: when bound, WhatsApp webhooks are acknowledged once their events are in it */
  INBOX?: Queue<InboxMessage>;
  [name: string]: unknown;
}

/**
 * Queue names in wrangler.toml: the outbox's "there is work" messages, the webhook inbox, and their
 * dead-letter queues. One Worker consumes all four; a batch names its queue (`batch.queue`).
 */
export const QUEUES = {
  outbox: 'consent-sync-outbox',
  dlq: 'consent-sync-outbox-dlq',
  inbox: 'consent-sync-inbox',
  inboxDlq: 'consent-sync-inbox-dlq',
} as const;

/**
 * What one `sendBatch` call may carry: 100 messages or 256 KB in all
 * (https://developers.cloudflare.com/queues/platform/limits/); each message counts up to ~100 bytes
 * of metadata, and a margin is kept.
 */
const SEND_BATCH = { messages: 100, bytes: 240_000, overhead: 100 } as const;

/** Splits inbox messages into `sendBatch` calls within Queues' limits, sent one after another. */
export async function sendInbox(queue: Queue<InboxMessage>, messages: InboxMessage[]): Promise<number> {
  let calls = 0;
  let part: InboxMessage[] = [];
  let bytes = 0;
  const flush = async () => {
    if (part.length === 0) return;
    await queue.sendBatch(part.map((body) => ({ body })));
    calls++;
    part = [];
    bytes = 0;
  };
  for (const m of messages) {
    const size = JSON.stringify(m).length + SEND_BATCH.overhead;
    if (part.length === SEND_BATCH.messages || (part.length > 0 && bytes + size > SEND_BATCH.bytes))
      await flush();
    part.push(m);
    bytes += size;
  }
  await flush();
  return calls;
}

/**
 * Boot of one isolate. A boot still unsettled after `deadlineMs` (its invocation was cancelled)
 * is abandoned and the next request starts another; a failed boot is not retried before its
 * backoff ran out (`firstRetryMs`, doubling up to `maxRetryMs`), so an outage of D1 does not
 * make every request re-run the migrations.
 */
export const BOOT = { deadlineMs: 30_000, firstRetryMs: 1_000, maxRetryMs: 60_000 } as const;

/** The longest delay Cloudflare Queues accepts for `retry({ delaySeconds })` (12 hours). */
const MAX_RETRY_DELAY_SECONDS = 43_200;

/** Cron expressions in wrangler.toml, and what each runs. */
export const CRONS = {
  everyMinute: '* * * * *',
  hourly: '0 * * * *',
  daily: '0 3 * * *',
} as const;

interface Booted {
  services: Services;
  app: ReturnType<typeof createApp>;
  /** jobs were queued since the last kick */
  dirty: boolean;
  /** D1 statements run by this isolate (the inbox consumer's per-invocation budget) */
  meter: MeteredD1;
}

/**
 * D1 queries one inbox consumer invocation may use: Cloudflare allows 1,000 per invocation on
 * Workers Paid and 50 on Free (https://developers.cloudflare.com/d1/platform/limits/); the rest of
 * the limit is kept for the outbox kick and the mapping refresh. `INBOX_D1_BUDGET` sets another.
 */
const INBOX_D1_BUDGET = 900;

/** The string bindings (vars and secrets); other bindings (DB, queues) are not configuration. */
function settings(env: Env): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = { NODE_ENV: 'production' };
  for (const [k, v] of Object.entries(env)) if (typeof v === 'string') out[k] = v;
  return out;
}

/** Sends the "there is work" message when a request or job queued jobs. */
async function kick(b: Booted, env: Env): Promise<void> {
  if (!b.dirty) return;
  b.dirty = false;
  if (env.OUTBOX) await env.OUTBOX.send({ kick: Date.now() });
  else await b.services.dispatcher.drain(); // no queue bound (local dev): run them here
}

/**
 * The Worker's handlers over services built once (per isolate) and reused. Each call makes an
 * independent one: the default export is one, tests make two to play two isolates on one D1.
 *
 * @example export default createWorker();
 */
export function createWorker() {
  let booted: Booted | null = null;
  let attempt: { promise: Promise<Booted>; started: number } | null = null;
  let failed: { error: unknown; until: number; delayMs: number } | null = null;

  function boot(env: Env): Promise<Booted> {
    if (booted) return Promise.resolve(booted);
    const now = Date.now();
    if (attempt && now - attempt.started < BOOT.deadlineMs) return attempt.promise;
    if (failed && now < failed.until) return Promise.reject(failed.error);
    const mine = { started: now, promise: start(env) };
    attempt = mine;
    mine.promise.then(
      (b) => {
        booted = b;
        failed = null;
        if (attempt === mine) attempt = null;
      },
      (error: unknown) => {
        if (attempt === mine) attempt = null;
        const delayMs = failed ? Math.min(BOOT.maxRetryMs, failed.delayMs * 2) : BOOT.firstRetryMs;
        failed = { error, until: Date.now() + delayMs, delayMs };
      },
    );
    return mine.promise;
  }

  /** The 503 a request gets while the isolate cannot start (the cause logged without personal data). */
  function bootFailed(err: unknown, request: Request | null): Response {
    const store = storeFailure(err);
    const retryAfter = String(Math.max(1, Math.ceil(((failed?.until ?? Date.now()) - Date.now()) / 1000)));
    const headers = { 'retry-after': retryAfter };
    if (store) {
      consoleLog('error').error({ err: store }, 'store unavailable: start failed');
      const error = storeError(store);
      if (request && new URL(request.url).pathname === '/healthz')
        return Response.json(
          { status: 'unavailable', store: 'unavailable', ...error },
          { status: 503, headers },
        );
      return Response.json(error, { status: 503, headers });
    }
    consoleLog('error').error({ err: (err as Error).message }, 'start failed');
    return Response.json(
      { error: { code: 'MISCONFIGURED', message: 'the service is not configured; see the Worker logs' } },
      { status: 503, headers },
    );
  }

  function start(env: Env): Promise<Booted> {
    return (async () => {
      const config = parseConfig(settings(env));
      const log = consoleLog(config.LOG_LEVEL);
      const meter = meteredD1(env.DB);
      const store = openD1Store({ db: meter.db, migrations: MIGRATIONS });
      await store.migrate();
      const catalog = Catalog.load({ texts, keywords, templates });
      const changed = await catalog.checkUsedTexts(await store.allTexts());
      if (changed.length) throw new Error(`catalog texts changed after use: ${changed.join('; ')}`);
      const booted: Booted = {
        services: undefined as unknown as Services,
        app: undefined as never,
        dirty: false,
        meter,
      };
      booted.services = await buildServices({
        config,
        store,
        catalog,
        log,
        // Cloudflare sets CF-Connecting-IP to the client's address (a client's own value is replaced).
        connInfo: (c) => {
          const address = c.req.header('cf-connecting-ip');
          return { remote: address ? { address } : {} };
        },
        // The CRMs' data models: the mapping editor's picker and the check before a save.
        crmSchemas: crmSchemasFor(config),
        mappings: {
          storage: d1MappingStorage(env.DB),
          defaults: { hubspot: hubspotMapping, salesforce: salesforceMapping },
        },
        onJobs: () => {
          booted.dirty = true;
        },
        ...(env.INBOX
          ? {
              inboxQueue: async (messages: InboxMessage[]) => {
                if (env.INBOX) await sendInbox(env.INBOX, messages);
              },
              inboxMarkers: d1OptOutMarkers(meter.db),
            }
          : {}),
      });
      booted.app = createApp(booted.services);
      return booted;
    })();
  }

  return {
    async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
      let b: Booted;
      try {
        b = await boot(env);
      } catch (err) {
        return bootFailed(err, request);
      }
      try {
        // Mapping edits made through another isolate: in force from this request on (one D1 read).
        await b.services.mappings.refresh();
      } catch (err) {
        // Rather no answer than one given under a whitelist that may be out of date.
        const store = storeFailure(err) ?? {
          name: (err as Error).name,
          message: 'mappings could not be read',
        };
        consoleLog('error').error({ err: store }, 'store unavailable: mappings could not be read');
        return Response.json(storeError(store), { status: 503 });
      }
      const res = await b.app.fetch(request);
      ctx.waitUntil(kick(b, env));
      return res;
    },

    /**
     * Outbox consumer: drains due jobs from D1, then acknowledges the messages when no job waits
     * on a retry, or retries them with the delay until the earliest one is due (Queues then
     * redelivers them, up to `max_retries`, then hands them to the DLQ). A thrown error (D1 down)
     * makes the platform retry the whole batch. Messages of the DLQ are recorded as dead events.
     * Inbox consumer: decides the webhook events within the invocation's D1 budget; what reaches
     * the inbox DLQ is kept as dead events (sealed as it was), and its opt-out markers stay.
     */
    async queue(
      batch: MessageBatch<{ kick: number } | InboxMessage>,
      env: Env,
      _ctx: ExecutionContext,
    ): Promise<void> {
      const b = await boot(env);
      if (batch.queue === QUEUES.dlq || batch.queue === QUEUES.inboxDlq) {
        await recordDeadLetters(b.services, batch);
        batch.ackAll();
        return;
      }
      await b.services.mappings.refresh(); // per batch; a failure makes the queue retry it
      if (batch.queue === QUEUES.inbox) {
        const queueInbox = b.services.queueInbox;
        // Messages left in the queue by a deployment that has since removed the INBOX binding: the
        // batch fails (and is retried, then kept by the DLQ consumer) rather than being dropped.
        if (!queueInbox)
          throw new Error('inbox messages arrived but the INBOX producer binding is not configured');
        const inbox = batch.messages.flatMap((m) => (isInboxMessage(m.body) ? [m.body] : []));
        const budget = Number(env.INBOX_D1_BUDGET ?? INBOX_D1_BUDGET);
        const lastAttempt = batch.messages.some((m) => m.attempts >= 3);
        const r = await queueInbox.consume(inbox, b.meter, { budget, lastAttempt });
        b.services.log.info({ ...r }, 'inbox batch decided');
        await kick(b, env);
        batch.ackAll();
        return;
      }
      await b.services.dispatcher.drain();
      await kick(b, env);
      const delaySeconds = await retryDelaySeconds(env.DB, b.services.clock());
      for (const message of batch.messages) {
        if (delaySeconds === null) message.ack();
        else message.retry({ delaySeconds });
      }
    },

    async scheduled(controller: ScheduledController, env: Env, ctx: ExecutionContext): Promise<void> {
      const b = await boot(env);
      const s = b.services;
      await s.mappings.refresh();
      if (controller.cron === CRONS.hourly) await s.purgeExpired();
      else if (controller.cron === CRONS.daily) await s.reconcile();
      else {
        await s.expirePending();
        await s.dispatcher.drain();
        if (s.config.PII_KEYS_RETIRED.length > 0) await rotateOnCron(s);
      }
      ctx.waitUntil(kick(b, env));
    },
  };
}

function storeError(store: StoreFailure) {
  return {
    error: { code: 'STORE_UNAVAILABLE', message: `the database failed: ${store.name}: ${store.message}` },
  };
}

/**
 * Seconds until the earliest outbox job waiting on a retry is due (a job that failed and will be
 * tried again), or null when none waits: every job is done, dead or not yet attempted. One D1 read.
 */
async function retryDelaySeconds(db: D1Database, now: Date): Promise<number | null> {
  const row = await db
    .prepare(`SELECT MIN(next_attempt_at) AS next FROM outbox WHERE status = 'pending' AND attempts > 0`)
    .first<{ next: string | null }>();
  if (!row?.next) return null;
  const seconds = Math.ceil((Date.parse(row.next) - now.getTime()) / 1000);
  return Math.min(MAX_RETRY_DELAY_SECONDS, Math.max(1, seconds)); // never an immediate redelivery loop
}

/**
 * What reached a DLQ, kept as dead events (GET /v1/dead-events). A "there is work" message Queues
 * gave up on after `max_retries` (jobs that kept failing; they stay in the outbox, where the cron
 * keeps retrying them until they are done or dead), without personal data. An inbox message whose
 * events could not be decided: kept sealed as it was (the dead-event table encrypts it again), and
 * its opt-out markers stay in D1, so the send guard keeps refusing those people until an operator
 * has dealt with the dead event.
 */
async function recordDeadLetters(s: Services, batch: MessageBatch<unknown>): Promise<void> {
  const inbox = batch.queue === QUEUES.inboxDlq;
  await s.deadEvents.record(
    batch.messages.map((m) => {
      const meta = { queue: batch.queue, messageId: m.id, attempts: m.attempts, sentAt: m.timestamp };
      const body = isInboxMessage(m.body) ? m.body : null;
      return inbox
        ? {
            source: 'queue',
            kind: 'inbox.message',
            reason: `inbox queue message gave up after ${m.attempts} attempts (reached ${QUEUES.inboxDlq})`,
            raw: {
              ...meta,
              ...(body ? { id: body.id, sealed: body.sealed, markers: body.markers ?? [] } : {}),
            },
          }
        : {
            source: 'queue',
            kind: 'outbox.kick',
            reason: `outbox queue message gave up after ${m.attempts} attempts (reached ${QUEUES.dlq})`,
            raw: meta,
          };
    }),
  );
  s.log.warn({ messages: batch.messages.length, queue: batch.queue }, 'queue messages reached the DLQ');
}

/** A bounded batch of the key rotation (the same module `consent-sync keys rotate` runs on Node). */
async function rotateOnCron(s: Services): Promise<void> {
  let r: Awaited<ReturnType<typeof rotateKeys>>;
  try {
    r = await rotateKeys(s, cronBatch(s.config.KEY_ROTATION_BATCH));
  } catch (err) {
    // Reported every run until fixed (a data key no configured key opens); the rest of the cron ran.
    s.log.error({ err: (err as Error).message }, 'key rotation stopped');
    return;
  }
  if (r.alreadyDone) return;
  const { subjects, rewrapped, rehashed, resealed } = r;
  if (!r.done)
    s.log.info({ subjects, rewrapped, rehashed, resealed }, 'key rotation: a batch moved to PII_KEY');
  else s.log.warn({ people: r.state.subjects }, 'key rotation complete: PII_KEYS_RETIRED can now be removed');
}

const worker = createWorker();
export default worker;
