import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { serve } from '@hono/node-server';
import { ConfigError, parseConfig } from '../config.ts';
import { createApp } from '../http/app.ts';
import { Catalog } from '../service/catalog-service.ts';
import type { Log } from '../service/log.ts';
import { buildServices, type Services } from '../service/services.ts';
import { openSqliteStore } from '../store/sqlite.ts';
import { withDevSecrets } from './dev-secrets.ts';
import { createLogger } from './logger.ts';

export interface NodeServer {
  url: string;
  services: Services;
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
}

const readJson = (dir: string, file: string): unknown => JSON.parse(readFileSync(join(dir, file), 'utf8'));

/**
 * Starts the Node service: config (dev secrets when not in production), SQLite store, catalog,
 * HTTP server, outbox loop and periodic jobs.
 *
 * @example
 * const server = await startNode({ env: process.env });
 */
export async function startNode(options: StartOptions): Promise<NodeServer> {
  const dataDir = resolve(options.env.DATA_DIR ?? './data');
  let env = options.env;
  let devFromFile: string[] = [];
  let devFile = '';
  if ((env.NODE_ENV ?? 'development') !== 'production') {
    ({ env, fromFile: devFromFile, file: devFile } = await withDevSecrets(env, dataDir));
  }
  const config = parseConfig(env);
  const log = options.log ?? createLogger(config.LOG_LEVEL);
  if (devFromFile.length) {
    log.warn(
      { generated: devFromFile, file: devFile },
      `DEVELOPMENT MODE: ${devFromFile.join(', ')} come from ${devFile} (generated on first start). ` +
        'Never use these in production: set NODE_ENV=production and real secrets.',
    );
  }
  const store = openSqliteStore({ path: join(dataDir, 'consent-sync.db') });
  await store.migrate();
  const catalogDir = resolve(config.CATALOG_DIR);
  const catalog = Catalog.load({
    texts: readJson(catalogDir, 'texts.json'),
    keywords: readJson(catalogDir, 'keywords.json'),
    templates: readJson(catalogDir, 'templates.json'),
  });
  const changed = await catalog.checkUsedTexts(await store.allTexts());
  if (changed.length) throw new ConfigError(['CATALOG_DIR'], changed.join('; '));

  const services = await buildServices({
    config,
    store,
    catalog,
    log,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const app = createApp(services);
  const server = serve({ fetch: app.fetch, port: config.PORT, hostname: '0.0.0.0' });
  await new Promise<void>((ok) => server.once('listening', () => ok()));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;

  const timers = [
    setInterval(
      () => void services.dispatcher.tick().catch((e) => log.error({ err: e.name }, 'dispatch failed')),
      options.dispatchEveryMs ?? 1_000,
    ),
    setInterval(
      () => void services.expirePending().catch((e) => log.error({ err: e.name }, 'expiry failed')),
      options.sweepEveryMs ?? 60_000,
    ),
  ];
  void services.dispatcher.tick();
  if (!services.config.WHATSAPP_ACCESS_TOKEN || !services.config.WHATSAPP_PHONE_NUMBER_ID) {
    log.warn({}, 'WhatsApp sending is not configured: confirmation messages wait in the outbox');
  }
  log.info({ port, dataDir, env: config.NODE_ENV }, 'consent-sync listening');

  return {
    url: `http://127.0.0.1:${port}`,
    services,
    async close() {
      for (const t of timers) clearInterval(t);
      await new Promise<void>((ok) => server.close(() => ok()));
      await services.dispatcher.stop();
      await store.close();
    },
  };
}

async function main() {
  try {
    const server = await startNode({ env: process.env });
    const stop = () => void server.close().then(() => process.exit(0));
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
}

if (import.meta.main) await main();
