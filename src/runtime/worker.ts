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
import { parseConfig } from '../config.ts';
import { createApp } from '../http/app.ts';
import { Catalog } from '../service/catalog-service.ts';
import { type InboxMessage, isInboxMessage } from '../service/inbox/queue-inbox.ts';
import { cronBatch, rotateKeys } from '../service/key-rotation.ts';
import { buildServices, type Services } from '../service/services.ts';
import { openD1Store } from '../store/d1.ts';
import { MIGRATIONS } from '../store/migrations.bundle.ts';
import { crmSchemasFor } from '../sync/crm-schemas.ts';
import { consoleLog } from './console-log.ts';
import { type MeteredD1, meteredD1 } from './d1-meter.ts';
import { d1MappingStorage } from './mappings.d1.ts';

export interface Env {
  DB: D1Database;
  OUTBOX?: Queue<{ kick: number }>;
  /** the inbox queue: when bound, WhatsApp webhooks are acknowledged once their events are in it */
  INBOX?: Queue<InboxMessage>;
  [name: string]: unknown;
}

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
  let booting: Promise<Booted> | null = null;

  function boot(env: Env): Promise<Booted> {
    booting ??= (async () => {
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
                await env.INBOX?.sendBatch(messages.map((body) => ({ body })));
              },
            }
          : {}),
      });
      booted.app = createApp(booted.services);
      return booted;
    })().catch((err: unknown) => {
      booting = null; // a bad configuration is reported on every request until it is fixed
      throw err;
    });
    return booting;
  }

  return {
    async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
      let b: Booted;
      try {
        b = await boot(env);
      } catch (err) {
        consoleLog('error').error({ err: (err as Error).message }, 'start failed');
        return Response.json(
          { error: { code: 'MISCONFIGURED', message: 'the service is not configured; see the Worker logs' } },
          { status: 503 },
        );
      }
      try {
        // Mapping edits made through another isolate: in force from this request on (one D1 read).
        await b.services.mappings.refresh();
      } catch (err) {
        // Rather no answer than one given under a whitelist that may be out of date.
        consoleLog('error').error({ err: (err as Error).name }, 'mappings could not be read');
        return Response.json(
          { error: { code: 'UNAVAILABLE', message: 'the database could not be read; try again' } },
          { status: 503 },
        );
      }
      const res = await b.app.fetch(request);
      ctx.waitUntil(kick(b, env));
      return res;
    },

    /**
     * Outbox consumer: drains due jobs from D1; failures make the queue retry the message. Inbox
     * consumer: decides the webhook events within the invocation's D1 budget.
     */
    async queue(
      batch: MessageBatch<{ kick: number } | InboxMessage>,
      env: Env,
      _ctx: ExecutionContext,
    ): Promise<void> {
      const b = await boot(env);
      await b.services.mappings.refresh(); // per batch; a failure makes the queue retry it
      const inbox = batch.messages.flatMap((m) => (isInboxMessage(m.body) ? [m.body] : []));
      if (inbox.length > 0 && b.services.queueInbox) {
        const budget = Number(env.INBOX_D1_BUDGET ?? INBOX_D1_BUDGET);
        const lastAttempt = batch.messages.some((m) => m.attempts >= 3);
        const r = await b.services.queueInbox.consume(inbox, b.meter, { budget, lastAttempt });
        b.services.log.info({ ...r }, 'inbox batch decided');
        await kick(b, env);
        batch.ackAll();
        return;
      }
      await b.services.dispatcher.drain();
      await kick(b, env);
      batch.ackAll();
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
