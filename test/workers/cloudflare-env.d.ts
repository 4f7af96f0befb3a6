/**
 * Just the parts of `cloudflare:test` / `cloudflare:workers` these tests use, typed for the root
 * tsconfig (Node + DOM types). The full `@cloudflare/workers-types` globals would clash with those.
 */
declare module 'cloudflare:workers' {
  import type { D1Database } from '@cloudflare/workers-types/index.ts';
  import type { Migration } from '../../src/store/migrate.ts';

  /** Bindings of the `workers` vitest project: `DB` from wrangler.toml, the rest from vitest.config.ts. */
  export const env: {
    DB: D1Database;
    /** `src/store/migrations/*.sql`, read on the Node side by `loadMigrations()`. */
    TEST_MIGRATIONS: Migration[];
    WHATSAPP_APP_SECRET: string;
    WHATSAPP_VERIFY_TOKEN: string;
    PII_KEY: string;
    API_KEYS: string;
  };
  /** The Worker under test (`main` in wrangler.toml). */
  export const exports: {
    default: {
      fetch(request: Request): Promise<Response>;
    };
  };
}

declare module 'cloudflare:test' {
  import type { D1Database } from '@cloudflare/workers-types/index.ts';

  /** A scheduled event for the Worker's `scheduled` handler. */
  export function createScheduledController(options?: { cron?: string; scheduledTime?: number }): unknown;
  export function createExecutionContext(): unknown;
  export function waitOnExecutionContext(ctx: unknown): Promise<void>;
  /** Deletes all data from all bindings (here: the D1 database). */
  export function reset(): Promise<void>;
  /** A `MessageBatch` for the Worker's `queue` handler (acks are recorded for `getQueueResult`). */
  export function createMessageBatch<Body = unknown>(
    queueName: string,
    messages: Array<{ id: string; timestamp: Date | number; attempts: number; body: Body }>,
  ): unknown;
  /** The batch's ack/retry state, after the context's `waitUntil` promises settled. */
  export function getQueueResult(
    batch: unknown,
    ctx: unknown,
  ): Promise<{
    outcome: string;
    ackAll: boolean;
    retryBatch: { retry: boolean; delaySeconds?: number };
    explicitAcks: string[];
    retryMessages: Array<{ msgId: string; delaySeconds?: number }>;
  }>;
  /** The plugin's wrangler-style migration runner (records names in `d1_migrations`). */
  export function applyD1Migrations(
    db: D1Database,
    migrations: Array<{ name: string; queries: string[] }>,
    migrationsTableName?: string,
  ): Promise<void>;
}
