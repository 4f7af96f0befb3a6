/** Boots the services for a CLI command exactly as `npm start` does, with logs on stderr at warn. */

import type { Services } from '../app/services.ts';
import { createNodeLogger } from '../runtime/logger.ts';
import { bootNode } from '../runtime/node.ts';

export type Env = Record<string, string | undefined>;

/**
 * The booted services for one command; `close` stops the dispatcher and closes the store. With
 * `existingData` (commands that read what a server wrote) a missing database is an error and nothing
 * is created: no folder, no development secrets.
 */
export async function bootCli(
  env: Env,
  options: { existingData?: boolean } = {},
): Promise<{ services: Services; close(): Promise<void> }> {
  // Warnings and errors only, on stderr: stdout stays for results (tables, NDJSON). Readable lines
  // for the person at the terminal unless LOG_FORMAT=json asks for JSON.
  const log = await createNodeLogger('warn', env.LOG_FORMAT === 'json' ? 'json' : 'pretty', 2);
  const { services, store, outboundHttp } = await bootNode({
    env,
    log,
    existingData: options.existingData ?? false,
  });
  return {
    services,
    async close() {
      await services.background.settle();
      await services.dispatcher.stop();
      outboundHttp?.close();
      await store.close();
      await services.inboxStore?.close();
    },
  };
}
