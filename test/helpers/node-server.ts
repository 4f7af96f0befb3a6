/**
 * What tests that start the real Node server (`startNode`, or `npm start` in a child process) share:
 * the production environment of a server talking to the Graph API simulator, and a logger whose
 * lines a test reads back.
 */
import { Writable } from 'node:stream';
import { toBase64 } from '../../src/crypto/encoding.ts';
import { createLogger } from '../../src/runtime/logger.ts';
import type { Log } from '../../src/service/log.ts';
import { APP_SECRET, TOKENS, VERIFY_TOKEN } from './harness.ts';
import { PHONE_NUMBER_ID } from './whatsapp.ts';

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
    PII_KEY: toBase64(crypto.getRandomValues(new Uint8Array(32))),
    API_KEYS: Object.entries(TOKENS)
      .map(([role, token]) => `${role}:${token}`)
      .join(','),
    WHATSAPP_APP_SECRET: APP_SECRET,
    WHATSAPP_VERIFY_TOKEN: VERIFY_TOKEN,
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
