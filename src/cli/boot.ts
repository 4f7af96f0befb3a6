/** Boots the services for a CLI command exactly as `npm start` does, with logs on stderr at warn. */
import { createLogger } from '../runtime/logger.ts';
import { bootNode } from '../runtime/node.ts';
import type { Services } from '../service/services.ts';

export type Env = Record<string, string | undefined>;

/** The booted services for one command; `close` stops the dispatcher and closes the store. */
export async function bootCli(env: Env): Promise<{ services: Services; close(): Promise<void> }> {
  // Warnings and errors only, on stderr: stdout stays for results (tables, NDJSON).
  const log = createLogger('warn', process.stderr);
  const { services, store } = await bootNode({ env, log });
  return {
    services,
    async close() {
      await services.background.settle();
      await services.dispatcher.stop();
      await store.close();
    },
  };
}
