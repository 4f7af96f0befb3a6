import type { Context } from 'hono';
import type { AppEnv } from './types.ts';

/**
 * Records an admin or operator action in the audit log (Art. 32): who (key id and role, never the
 * token), what, on which non-personal target.
 *
 * @example await audit(c, 'job.retry', job.id, { kind: job.kind });
 */
export async function audit(
  c: Context<AppEnv>,
  action: string,
  target: string | null,
  details: Record<string, unknown>,
): Promise<void> {
  const { store, clock } = c.var.services;
  const actor = c.var.actor;
  await store.commit({
    audit: [
      {
        id: crypto.randomUUID(),
        at: clock().toISOString(),
        actor: actor.keyId,
        role: actor.role,
        action,
        target,
        details,
      },
    ],
  });
}
