/**
 * An in-process consent-sync for integration tests: a real SQLite file in a temp dir, the real
 * catalog, the Graph API simulator on loopback, captured pino logs, and a controllable clock.
 */

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Connector, ConnectorName } from '../../connectors/types.ts';
import { buildServices, type Services } from '../../src/app/services.ts';
import { parseConfig } from '../../src/config.ts';
import { toBase64 } from '../../src/crypto/encoding.ts';
import { nodeCryptoPrimitives } from '../../src/crypto/primitives.node.ts';
import { createApp } from '../../src/http/app.ts';
import { createLogger } from '../../src/runtime/logger.ts';
import { defaultMappings, fileMappingStorage } from '../../src/runtime/mappings.node.ts';
import { Catalog } from '../../src/service/catalog-service.ts';
import type { InboundSummary } from '../../src/service/inbound-whatsapp.ts';
import { INBOX_FILE, moveLegacyInbox, openInboxStore } from '../../src/store/inbox-store.ts';
import type { Store } from '../../src/store/port.ts';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import { crmSchemasFor } from '../../src/sync/crm-schemas.ts';
import { type GraphSimulator, startGraphSimulator } from '../sim/graph-api.ts';
import { envelope, PHONE_NUMBER_ID, signedRequest, type WebhookChange } from './whatsapp.ts';

export const TOKENS = {
  admin: 'test-admin-token-0123456789',
  editor: 'test-editor-token-0123456789',
  operator: 'test-operator-token-0123456789',
  auditor: 'test-auditor-token-0123456789',
  intake: 'test-intake-token-0123456789',
} as const;
export type TestRole = keyof typeof TOKENS;

export const APP_SECRET = 'test-app-secret';

/**
 * For load, fuzz and whitelist suites that send many double opt-in requests from one key: the
 * intake rate limits (tested in double-opt-in.test.ts) are not what they are about.
 */
export const NO_INTAKE_LIMITS = { INTAKE_RATE_PER_KEY_PER_MINUTE: '0', INTAKE_RATE_PER_NUMBER_PER_HOUR: '0' };
export const VERIFY_TOKEN = 'test-verify-token';
const ACCESS_TOKEN = 'test-graph-token';

type CatalogFiles = { texts: Record<string, unknown>; keywords: unknown; templates: unknown };

const readCatalog = (edit?: (files: CatalogFiles) => void) => {
  const read = (f: string) =>
    JSON.parse(readFileSync(new URL(`../../catalog/${f}`, import.meta.url), 'utf8'));
  const files: CatalogFiles = {
    texts: read('texts.json'),
    keywords: read('keywords.json'),
    templates: read('templates.json'),
  };
  edit?.(files);
  return Catalog.load(files);
};

export interface Harness {
  services: Services;
  graph: GraphSimulator;
  dir: string;
  dbPath: string;
  logs: string[];
  /** moves the clock forward */
  advance(ms: number): void;
  now(): Date;
  request(path: string, init?: RequestInit & { role?: TestRole; json?: unknown }): Promise<Response>;
  /**
   * POSTs a signed WhatsApp webhook carrying the given changes, then waits until the decider has
   * decided what it acknowledged (`drained`), so the test reads the state the webhook leads to.
   */
  webhook(...changes: WebhookChange[]): Promise<Response>;
  /** POSTs a signed WhatsApp webhook and returns at its acknowledgement (events may be undecided). */
  acknowledge(...changes: WebhookChange[]): Promise<Response>;
  /**
   * waits until every acknowledged webhook event is decided (the inbox is empty); what the decider
   * did since the last call (applied, duplicates, ignored)
   */
  drained(): Promise<InboundSummary>;
  /** runs the outbox until nothing is due */
  drain(): Promise<number>;
  /**
   * Closes the store and reopens everything on the same file (a restart); `env` changes the
   * environment from then on (a value `undefined` removes the variable), e.g. a new `PII_KEY`.
   */
  restart(env?: Record<string, string | undefined>): Promise<void>;
  /** the environment the service graph was built from (after restarts' changes) */
  readonly env: Readonly<Record<string, string>>;
  /**
   * A second, independent service graph on the same database file (its own connection, per-person
   * locks and caches), as a second process on the same `DATA_DIR` would have.
   */
  twin(): Promise<{ services: Services; close(): Promise<void> }>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  env?: Record<string, string>;
  whatsapp?: boolean;
  piiKey?: string;
  /** edits the shipped catalog files before they are loaded */
  catalog?: (files: CatalogFiles) => void;
  /** CRM connectors (built over the simulators with fast retry budgets) */
  connectors?: () => Partial<Record<ConnectorName, Connector>>;
  /** `real`: the clock follows the wall clock (CRM simulators sign webhooks with it); `advance` still works */
  clock?: 'fake' | 'real';
  /** edits the shipped mappings before they are loaded */
  mappings?: (defaults: Record<ConnectorName, Record<string, unknown>>) => void;
  /** receives the app's fetch (and again after a restart), to serve it on a port */
  expose?: (fetch: (req: Request) => Response | Promise<Response>) => void;
  /** wraps the store the (first) service graph uses, to interleave other work with its calls */
  wrapStore?: (store: Store) => Store;
  /** runs before the service graph opens the database (e.g. writes one made by an older version) */
  prepare?: (dbPath: string, piiKey: string) => Promise<void>;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'consent-sync-'));
  const dbPath = join(dir, 'consent-sync.db');
  const graph = await startGraphSimulator({ accessToken: ACCESS_TOKEN, phoneNumberId: PHONE_NUMBER_ID });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  let t = Date.parse('2026-03-02T09:00:00.000Z');
  let offset = 0;
  const clock = options.clock === 'real' ? () => new Date(Date.now() + offset) : () => new Date(t);
  const piiKey = options.piiKey ?? toBase64(crypto.getRandomValues(new Uint8Array(32)));
  let env: Record<string, string> = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'debug',
    PII_KEY: piiKey,
    API_KEYS: Object.entries(TOKENS)
      .map(([r, tok]) => `${r}:${tok}`)
      .join(','),
    WHATSAPP_APP_SECRET: APP_SECRET,
    WHATSAPP_VERIFY_TOKEN: VERIFY_TOKEN,
    ...(options.whatsapp === false
      ? {}
      : {
          WHATSAPP_ACCESS_TOKEN: ACCESS_TOKEN,
          WHATSAPP_PHONE_NUMBER_ID: PHONE_NUMBER_ID,
          WHATSAPP_GRAPH_URL: graph.url,
        }),
    ...options.env,
  };
  let config = parseConfig(env);
  const catalog = readCatalog(options.catalog);
  const log = createLogger('debug', sink);
  await options.prepare?.(dbPath, piiKey);

  async function build(wrap = options.wrapStore) {
    const opened = openSqliteStore({ path: dbPath, clock });
    await opened.migrate();
    // the inbox file next to it, as `npm start` opens it (rows an older version left moved first)
    const inboxStore = await openInboxStore(join(dir, INBOX_FILE));
    await moveLegacyInbox(opened, inboxStore);
    const store = wrap ? wrap(opened) : opened;
    const services = await buildServices({
      config,
      store,
      catalog,
      log,
      clock,
      // what `npm start` uses; Web Crypto (the Workers path) runs in the workers project
      crypto: nodeCryptoPrimitives,
      inbox: 'durable',
      inboxStore,
      dispatcher: { baseDelayMs: 10, random: () => 0.5 },
      mappings: { storage: fileMappingStorage(join(dir, 'mappings')), defaults: mappingDefaults },
      // the CRMs' data models, read from the configured (simulated) CRMs as `npm start` does
      crmSchemas: crmSchemasFor(config),
      ...(options.connectors ? { connectors: options.connectors() } : {}),
    });
    services.inbox?.start();
    return { services, app: createApp(services) };
  }
  const mappingDefaults = defaultMappings() as Record<ConnectorName, Record<string, unknown>>;
  options.mappings?.(mappingDefaults);
  let current = await build();
  options.expose?.((req) => current.app.fetch(req));

  const h: Harness = {
    get services() {
      return current.services;
    },
    graph,
    dir,
    dbPath,
    logs,
    advance(ms) {
      t += ms;
      offset += ms;
    },
    now: clock,
    async request(path, init = {}) {
      const { role, json, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (role) headers.set('authorization', `Bearer ${TOKENS[role]}`);
      if (json !== undefined) headers.set('content-type', 'application/json');
      return current.app.request(path, {
        ...rest,
        headers,
        ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
      });
    },
    async webhook(...changes) {
      const res = await h.acknowledge(...changes);
      await h.drained();
      return res;
    },
    async acknowledge(...changes) {
      const req = await signedRequest(envelope(...changes), APP_SECRET);
      return current.app.request('/webhooks/whatsapp', {
        method: 'POST',
        headers: req.headers,
        body: req.body,
      });
    },
    drained: async () =>
      (await current.services.inbox?.drained()) ?? { applied: 0, duplicates: 0, ignored: 0 },
    get env() {
      return env;
    },
    drain: () => current.services.dispatcher.drain(),
    async twin() {
      const { services } = await build((s) => s);
      return {
        services,
        async close() {
          await services.inbox?.stop();
          await services.dispatcher.stop();
          await services.store.close();
          await services.inboxStore?.close();
        },
      };
    },
    async restart(changes) {
      await current.services.inbox?.stop();
      await current.services.dispatcher.stop();
      await current.services.store.close();
      await current.services.inboxStore?.close();
      if (changes) {
        const next: Record<string, string | undefined> = { ...env, ...changes };
        env = Object.fromEntries(
          Object.entries(next).filter((e): e is [string, string] => e[1] !== undefined),
        );
        config = parseConfig(env);
      }
      current = await build();
    },
    async close() {
      await current.services.inbox?.stop();
      await current.services.dispatcher.stop();
      await current.services.store.close();
      await current.services.inboxStore?.close();
      await graph.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
}

/** Reads a JSON response body with its status. */
export async function json<T = Record<string, unknown>>(res: Response): Promise<T> {
  return (await res.json()) as T;
}
