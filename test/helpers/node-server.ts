/**
 * What tests that start the real Node server (`startNode`, or `npm start` in a child process) share:
 * the production environment of a server talking to the Graph API simulator, and a logger whose
 * lines a test reads back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { toBase64 } from '../../src/crypto/encoding.ts';
import { createLogger } from '../../src/runtime/logger.ts';
import { type NodeServer, startNode } from '../../src/runtime/node.ts';
import type { Log } from '../../src/service/log.ts';
import { type GraphSimulator, startGraphSimulator } from '../sim/graph-api.ts';
import { APP_SECRET, NO_INTAKE_LIMITS, TOKENS, VERIFY_TOKEN } from './harness.ts';
import { freePort } from './net.ts';
import { PHONE_NUMBER_ID } from './whatsapp.ts';

/** The secrets every server needs: a fresh PII key, the test API keys, the WhatsApp app secret and verify token. */
export function secretsEnv(): Record<string, string> {
  return {
    PII_KEY: toBase64(crypto.getRandomValues(new Uint8Array(32))),
    API_KEYS: Object.entries(TOKENS)
      .map(([role, token]) => `${role}:${token}`)
      .join(','),
    WHATSAPP_APP_SECRET: APP_SECRET,
    WHATSAPP_VERIFY_TOKEN: VERIFY_TOKEN,
  };
}

/**
 * A production environment (fresh PII key, the test API keys, WhatsApp pointed at the simulator).
 *
 * @example startNode({ env: { ...whatsappServerEnv({ dataDir, port, graphUrl: graph.url, graphToken }), ...more } })
 */
export function whatsappServerEnv(o: {
  dataDir: string;
  port: number;
  graphUrl: string;
  graphToken: string;
}): Record<string, string> {
  return {
    NODE_ENV: 'production',
    PORT: String(o.port),
    DATA_DIR: o.dataDir,
    ...secretsEnv(),
    WHATSAPP_ACCESS_TOKEN: o.graphToken,
    WHATSAPP_PHONE_NUMBER_ID: PHONE_NUMBER_ID,
    WHATSAPP_GRAPH_URL: o.graphUrl,
  };
}

/** A pino logger at `level` whose every line is pushed, as written, onto `lines`. */
export function collectingLogger(lines: string[], level = 'info'): Log {
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return createLogger(level, sink);
}

/**
 * The Graph API simulator and the real Node server (`startNode`) on a fresh DATA_DIR, wired to each
 * other, with no reconciliation, no intake limits and the dispatcher's and sweeper's timers an hour
 * apart (only jobs messages and explicit drains send). Each part is closed by `cleanup` (a test's
 * afterEach list), the server first.
 *
 * @example const { server, graph } = await startWhatsAppServer({ name: 'outbound-http', graphToken, cleanup });
 */
export async function startWhatsAppServer(o: {
  /** names the temp DATA_DIR (consent-sync-<name>-…) */
  name: string;
  graphToken: string;
  cleanup: Array<() => unknown>;
  env?: Record<string, string>;
  /** collects the server's log lines */
  lines?: string[];
  fetch?: typeof fetch;
}): Promise<{ server: NodeServer; graph: GraphSimulator; dataDir: string }> {
  const graph = await startGraphSimulator({ accessToken: o.graphToken, phoneNumberId: PHONE_NUMBER_ID });
  o.cleanup.push(() => graph.close());
  const dataDir = mkdtempSync(join(tmpdir(), `consent-sync-${o.name}-`));
  o.cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const server = await startNode({
    env: {
      ...whatsappServerEnv({
        dataDir,
        port: await freePort(),
        graphUrl: graph.url,
        graphToken: o.graphToken,
      }),
      HOST: '127.0.0.1',
      RECONCILE_EVERY_HOURS: '0',
      ...NO_INTAKE_LIMITS,
      ...o.env,
    },
    log: collectingLogger(o.lines ?? []),
    ...(o.fetch ? { fetch: o.fetch } : {}),
    dispatchEveryMs: 3_600_000,
    sweepEveryMs: 3_600_000,
  });
  return { server, graph, dataDir };
}
