import type { Log } from '../service/log.ts';
import type { Services } from '../service/services.ts';
import type { Actor } from './auth.ts';

/** Hono environment: services reach handlers through the typed context (one composition root). */
export interface AppEnv {
  Variables: {
    services: Services;
    log: Log;
    actor: Actor;
    requestId: string;
  };
}
