import type { Services } from '../app/services.ts';
import type { Actor } from '../service/api-keys.ts';
import type { Log } from '../service/log.ts';

/** Hono environment: services reach handlers through the typed context (one composition root). */
export interface AppEnv {
  Variables: {
    services: Services;
    log: Log;
    actor: Actor;
    requestId: string;
  };
}
