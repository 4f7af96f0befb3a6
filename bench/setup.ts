/**
 * What the CRM benchmarks share: the simulators in a worker thread (bench/sync-sims.ts, off the
 * service's event loop), and the real services over a fresh SQLite file with given connectors.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Connector, ConnectorName } from '../connectors/types.ts';
import { buildServices, type Services } from '../src/app/services.ts';
import { parseConfig } from '../src/config.ts';
import { toBase64 } from '../src/crypto/encoding.ts';
import { defaultMappings, fileMappingStorage } from '../src/runtime/mappings.node.ts';
import { Catalog } from '../src/service/catalog-service.ts';
import { silentLog } from '../src/service/log.ts';
import { openSqliteStore, type SqliteStore } from '../src/store/sqlite.ts';

export const ROOT = resolve(import.meta.dirname, '..');

export interface SimLimits {
  hubspot: { requests: number; windowMs: number };
  salesforce: { requests: number; windowMs: number };
}

export interface Sims {
  urls: { hubspot: string; salesforce: string };
  /** sends a command to the worker thread and waits for its answer */
  ask<T>(msg: unknown): Promise<T>;
  close(): Promise<void>;
}

/** Starts both simulators in a worker thread with `phones` seeded as HubSpot contacts and Salesforce Contacts. */
export async function startSims(phones: string[], limits: SimLimits, latencyMs: number): Promise<Sims> {
  const worker = new Worker(new URL('./sync-sims.ts', import.meta.url), {
    workerData: { n: phones.length, limits, latencyMs, phones },
  });
  const ask = <T>(msg: unknown): Promise<T> =>
    new Promise((ok) => {
      worker.once('message', ok);
      if (msg) worker.postMessage(msg);
    });
  const urls = await ask<{ hubspot: string; salesforce: string }>(null);
  return {
    urls,
    ask,
    async close() {
      await ask({ cmd: 'close' });
      await worker.terminate();
    },
  };
}

/** The services over a fresh SQLite file in a temp dir, with the given connectors. */
export async function benchServices(
  name: string,
  connectors: Partial<Record<ConnectorName, Connector>>,
): Promise<{ services: Services; store: SqliteStore; dbPath: string; close(): Promise<void> }> {
  const dir = mkdtempSync(join(os.tmpdir(), `consent-sync-bench-${name}-`));
  const readJson = (f: string) => JSON.parse(readFileSync(join(ROOT, 'catalog', f), 'utf8'));
  // The name `npm start` and the CLI use, so `consent-sync` commands with DATA_DIR=dir find it.
  const dbPath = join(dir, 'consent-sync.db');
  const store = openSqliteStore({ path: dbPath });
  await store.migrate();
  const services = await buildServices({
    config: parseConfig({
      NODE_ENV: 'test',
      PII_KEY: toBase64(crypto.getRandomValues(new Uint8Array(32))),
      API_KEYS: 'admin:bench-admin-token-0123456789',
      WHATSAPP_APP_SECRET: 'bench',
      WHATSAPP_VERIFY_TOKEN: 'bench',
    }),
    store,
    catalog: Catalog.load({
      texts: readJson('texts.json'),
      keywords: readJson('keywords.json'),
      templates: readJson('templates.json'),
    }),
    log: silentLog,
    mappings: { storage: fileMappingStorage(join(dir, 'mappings')), defaults: defaultMappings() },
    connectors,
  });
  return {
    services,
    store,
    dbPath,
    async close() {
      await services.dispatcher.stop();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export { writeResult } from './results.ts';
