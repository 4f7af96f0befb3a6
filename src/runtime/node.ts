import { readFileSync } from 'node:fs';
import type { Server as HttpServer, ServerOptions } from 'node:http';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { buildServices, type Services } from '../app/services.ts';
import { type Config, ConfigError, parseConfig } from '../config.ts';
import { nodeCryptoPrimitives } from '../crypto/primitives.node.ts';
import { createApp } from '../http/app.ts';
import { Catalog } from '../service/catalog-service.ts';
import type { Log } from '../service/log.ts';
import { INBOX_FILE, type InboxStore, moveLegacyInbox, openInboxStore } from '../store/inbox-store.ts';
import { DB_FILE, openSqliteStore } from '../store/sqlite.ts';
import { crmSchemasFor } from '../sync/crm-schemas.ts';
import { MappingError } from '../sync/mappings.ts';
import { type BannerInfo, bannerLines } from './banner.ts';
import { prepareDataDir, requireDatabase } from './data-dir.ts';
import { DeciderThread } from './decider-host.ts';
import { withDevSecrets } from './dev-secrets.ts';
import { serveScalarBundle } from './docs-bundle.node.ts';
import { createNodeLogger, logFormat } from './logger.ts';
import { nodeMappings } from './mappings.node.ts';
import { createNodeHttpFetch, type NodeHttpFetch } from './node-http-fetch.ts';
import { serverWithFastPath } from './node-webhook.ts';

export interface NodeServer {
  url: string;
  services: Services;
  /** what the start-up banner shows */
  banner: BannerInfo;
  /** the keep-alive transport WhatsApp sends go through; null when `StartOptions.fetch` was injected */
  outboundHttp: NodeHttpFetch | null;
  close(): Promise<void>;
}

export interface StartOptions {
  env: Record<string, string | undefined>;
  log?: Log;
  fetch?: typeof fetch;
  clock?: () => Date;
  /** interval of the outbox loop and of the periodic jobs */
  dispatchEveryMs?: number;
  sweepEveryMs?: number;
  /** interval of the retention purge and the overdue-erasure check (default hourly) */
  purgeEveryMs?: number;
}

const readJson = (dir: string, file: string): unknown => JSON.parse(readFileSync(join(dir, file), 'utf8'));

/**
 * Timeouts for slow or idle clients. Node's defaults let a client hold a connection for 60 s without
 * finishing its headers (checked every 30 s) and 5 minutes without finishing its body; a few hundred
 * such connections (slowloris) tie up the process. Node requires headers <= request timeout.
 */
export function serverLimits(
  config: Pick<Config, 'HEADERS_TIMEOUT_SECONDS' | 'REQUEST_TIMEOUT_SECONDS'>,
): ServerOptions {
  const requestTimeout = config.REQUEST_TIMEOUT_SECONDS * 1000;
  const headersTimeout = Math.min(config.HEADERS_TIMEOUT_SECONDS * 1000, requestTimeout);
  return {
    headersTimeout,
    requestTimeout,
    // How often Node looks for expired requests: a timeout is enforced within this much of its expiry.
    connectionsCheckingInterval: Math.min(1000, headersTimeout),
  };
}

/** The address clients on this machine reach the server at (the wildcard addresses mean loopback). */
function localHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * Starts the Node service: config (dev secrets when not in production), SQLite store, catalog,
 * HTTP server, outbox loop and periodic jobs.
 *
 * @example
 * const server = await startNode({ env: process.env });
 */
/**
 * Whether the decider gets a thread of its own: `auto` asks for two cores or more. On one core a
 * thread only adds the cost of two connections (each discards its page cache when the other commits).
 *
 * @example deciderThreadWanted('auto', os.availableParallelism()) // true on 2 cores
 */
export function deciderThreadWanted(setting: Config['DECIDER_THREAD'], cores: number): boolean {
  return setting === 'on' || (setting === 'auto' && cores >= 2);
}

export async function startNode(options: StartOptions): Promise<NodeServer> {
  const { services, config, env, log, store, dataDir, devFile, outboundHttp } = await bootNode(options);
  // One server per DATA_DIR: what is still leased was leased by a process that is gone.
  await services.dispatcher.reclaimLeases();
  // The decider on a worker thread (its own connection to the database file), unless switched off or
  // the caller injected a clock or fetch (functions cannot cross threads: that decider stays here).
  const threaded = deciderThreadWanted(config.DECIDER_THREAD, availableParallelism());
  if (services.inbox && threaded && !options.clock && !options.fetch) {
    services.inbox = new DeciderThread({
      local: services.inbox,
      env,
      dataDir,
      log,
      pii: services.pii,
      onJobs: () => services.jobsQueued(),
      forwardLogs: options.log !== undefined,
    });
  }
  // The decider: first what a previous run acknowledged and did not decide, then each new delivery.
  services.inbox?.start();
  if (services.inbox instanceof DeciderThread) await services.inbox.started();
  const app = createApp(services, { docsScript: serveScalarBundle });
  const server = serve({
    fetch: app.fetch,
    port: config.PORT,
    hostname: config.HOST,
    serverOptions: serverLimits(config),
    // Meta's webhook straight from the socket; every other request through Hono.
    createServer: serverWithFastPath(services),
  }) as HttpServer;
  server.keepAliveTimeout = config.KEEP_ALIVE_TIMEOUT_SECONDS * 1000;
  // Past this many open sockets Node closes a new connection at once (its 'drop' event).
  server.maxConnections = config.MAX_CONNECTIONS;
  await new Promise<void>((ok) => server.once('listening', () => ok()));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;

  // Timer work goes through the background registry, so shutdown waits for a run in flight.
  const every = (ms: number, what: string, fn: () => Promise<unknown>) =>
    setInterval(() => services.background.run(what, fn), ms);
  const timers = [
    every(options.dispatchEveryMs ?? 1_000, 'dispatch', () => services.dispatcher.tick()),
    every(options.sweepEveryMs ?? 60_000, 'expiry', () => services.expirePending()),
    every(options.purgeEveryMs ?? 3_600_000, 'retention', () => services.purgeExpired()),
  ];
  if (config.RECONCILE_EVERY_HOURS > 0 && services.sync.enabled().length > 0) {
    timers.push(
      every(config.RECONCILE_EVERY_HOURS * 3_600_000, 'reconciliation', () => services.reconcile()),
    );
  }
  services.jobsQueued(); // what the last run left due
  if (!services.config.WHATSAPP_ACCESS_TOKEN || !services.config.WHATSAPP_PHONE_NUMBER_ID) {
    log.warn({}, 'WhatsApp sending is not configured: confirmation messages wait in the outbox');
  }
  log.info(
    { host: config.HOST, port, dataDir, env: config.NODE_ENV, crm: services.sync.enabled() },
    'consent-sync listening',
  );

  const url = `http://${localHost(config.HOST)}:${port}`;
  return {
    url,
    services,
    banner: { url, mode: config.NODE_ENV, dataDir, devSecretsFile: devFile, crm: services.sync.enabled() },
    outboundHttp,
    async close() {
      for (const t of timers) clearInterval(t);
      await new Promise<void>((ok) => server.close(() => ok()));
      await services.inbox?.stop();
      await services.background.settle();
      await services.dispatcher.stop();
      outboundHttp?.close();
      await store.close();
      await services.inboxStore?.close();
    },
  };
}

/**
 * Everything but the HTTP server and timers: config, store, catalog, mappings, services. The
 * server and the CLI commands (`npm run reconcile`) share it.
 */
export async function bootNode(
  options: Pick<StartOptions, 'env' | 'log' | 'fetch' | 'clock'> & {
    /** a read command: the database must exist already; nothing is created (folder, secrets) */
    existingData?: boolean;
  },
) {
  const dataDir = resolve(options.env.DATA_DIR ?? './data');
  // Checked before anything is written: a clear sentence instead of SQLite's stack trace.
  let created = false;
  if (options.existingData) requireDatabase(dataDir);
  else ({ created } = prepareDataDir(dataDir));
  let env = options.env;
  let devFromFile: string[] = [];
  let devFile = '';
  let narrowedFrom: number | undefined;
  if ((env.NODE_ENV ?? 'development') !== 'production') {
    ({
      env,
      fromFile: devFromFile,
      file: devFile,
      narrowedFrom,
    } = await withDevSecrets(env, dataDir, { generate: !options.existingData }));
  }
  const config = parseConfig(env);
  const log = options.log ?? (await createNodeLogger(config.LOG_LEVEL, logFormat(config)));
  if (created) log.info({ dataDir }, `created the data folder ${dataDir} (DATA_DIR)`);
  if (narrowedFrom !== undefined) {
    log.warn(
      { file: devFile, mode: narrowedFrom.toString(8) },
      'the development secrets file was readable by others; its mode is now 0600',
    );
  }
  if (devFromFile.length) {
    log.warn(
      { generated: devFromFile, file: devFile },
      `DEVELOPMENT MODE: ${devFromFile.join(', ')} come from ${devFile} (generated on first start). ` +
        'Never use these in production: set NODE_ENV=production and real secrets.',
    );
  }
  const { services, store, outboundHttp } = await openNodeServices({
    config,
    log,
    dataDir,
    // A read command decides no webhook: it neither opens nor creates the inbox file.
    inbox: options.existingData ? 'inline' : 'durable',
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  return {
    services,
    config,
    env,
    log,
    store,
    dataDir,
    devFile: devFromFile.length ? devFile : undefined,
    outboundHttp,
  };
}

/**
 * The store on `DATA_DIR`'s database file (migrated), the catalog and the services: the part of the
 * boot the server and the decider thread share (each with its own SQLite connection to the file).
 */
export async function openNodeServices(
  options: Pick<StartOptions, 'fetch' | 'clock'> & {
    config: Config;
    log: Log;
    dataDir: string;
    inbox: 'durable' | 'inline';
    /** called when a commit queued jobs (the decider thread tells the main thread) */
    onJobs?: () => void;
    /** false: the schema is current already (the decider thread: the server migrated before starting it) */
    migrate?: boolean;
    /** open the inbox file with `inbox: 'inline'` too (the decider thread decides its rows) */
    inboxFile?: boolean;
  },
) {
  const { config, log, dataDir } = options;
  const store = openSqliteStore({ path: join(dataDir, DB_FILE) });
  if (options.migrate !== false) await store.migrate();
  // The inbox in a file of its own (both threads open it; the server creates it and, on an upgrade,
  // moves what the main database's `inbox` table still holds before any decider starts).
  let inboxStore: InboxStore | undefined;
  if (options.inbox === 'durable' || options.inboxFile) {
    inboxStore = await openInboxStore(join(dataDir, INBOX_FILE), { migrate: options.migrate !== false });
    if (options.migrate !== false) {
      const moved = await moveLegacyInbox(store, inboxStore);
      if (moved > 0) log.info({ moved }, `inbox rows moved from ${DB_FILE} to ${INBOX_FILE}`);
    }
  }
  const catalogDir = resolve(config.CATALOG_DIR);
  const catalog = Catalog.load({
    texts: readJson(catalogDir, 'texts.json'),
    keywords: readJson(catalogDir, 'keywords.json'),
    templates: readJson(catalogDir, 'templates.json'),
  });
  const changed = await catalog.checkUsedTexts(await store.allTexts());
  if (changed.length) throw new ConfigError(['CATALOG_DIR'], changed.join('; '));

  // WhatsApp sends on node:http with a keep-alive agent: about 1 ms less CPU per call than the platform
  // fetch (issue 17; docs/operations.md, "Outgoing HTTP on Node"). An injected fetch (tests) wins.
  const outboundHttp = options.fetch ? null : createNodeHttpFetch();
  const services = await buildServices({
    config,
    store,
    catalog,
    log,
    crypto: nodeCryptoPrimitives,
    ...(outboundHttp ? { sendFetch: outboundHttp.fetch } : {}),
    inbox: options.inbox,
    ...(inboxStore ? { inboxStore } : {}),
    // The TCP peer (from the socket, which a client cannot forge); throttling and the audit log use it.
    connInfo: getConnInfo,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.onJobs ? { onJobs: options.onJobs } : {}),
    // Edits go to DATA_DIR/mappings; MAPPINGS_DIR (default ./mappings) holds the defaults, never rewritten.
    mappings: nodeMappings({ dataDir, mappingsDir: config.MAPPINGS_DIR }),
    crmSchemas: crmSchemasFor(config),
  });
  return { services, store, outboundHttp };
}

async function main() {
  try {
    const server = await startNode({ env: process.env });
    const lines = bannerLines(server.banner);
    const json = logFormat(server.services.config) === 'json';
    // JSON logs stay one object per line (collectors parse stdout); readable logs get the banner as text.
    if (json) server.services.log.info({ ...server.banner, console: `${server.url}/admin` }, lines[0] ?? '');
    else process.stdout.write(`\n${lines.join('\n')}\n\n`);
    const stop = () => {
      server.close().then(
        () => process.exit(0),
        (err: Error) => {
          console.error(`shutdown failed: ${err.name}`);
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof MappingError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
}

if (import.meta.main) await main();
