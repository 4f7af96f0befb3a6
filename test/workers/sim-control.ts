/**
 * Both sides of the simulators' control surface (sim-setup.ts runs them on the Node side):
 * the options they start with, and the client tests inside workerd use to seed and inspect them.
 * Plain `fetch` and constants only, so it loads in Node and in workerd alike.
 */

export type SimKind = 'hubspot' | 'salesforce';

export const HUBSPOT = {
  sim: { accessToken: 'sim-token', clientSecret: 'sim-client-secret', faultRetryAfterSeconds: 1 },
  webhookUrl: 'https://consent.example.com/webhooks/hubspot?portal=12345678',
} as const;

export const SALESFORCE = {
  sim: { clientId: 'sim-client', clientSecret: 'sim-secret', orgId: '00D5e000000KQ2eEAG' },
  otherOrg: '00D5e000000XY9zEAC',
  webhookSecret: 'flow-secret-for-tests',
} as const;

/** The Worker's WhatsApp sender configuration (vitest.config.ts binds these). */
export const GRAPH = { accessToken: 'workers-graph-token', phoneNumberId: '106540352242922' } as const;

/** A simulator on the Node side, driven over the control server. */
export interface RemoteSim {
  id: string;
  /** Where the connector under test sends its API calls. */
  url: string;
  /** Calls `method(...args)` on the simulator and returns its (JSON) result. */
  call<T = unknown>(method: string, ...args: unknown[]): Promise<T>;
  close(): Promise<void>;
}

async function control<T>(base: string, path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(`${base}${path}`, {
    ...init,
    headers: { 'content-type': 'application/json' },
  });
  const body = (await res.json()) as { error?: string } & T;
  if (!res.ok) throw new Error(`sim control ${path}: ${res.status} ${body.error ?? ''}`);
  return body;
}

/** Handle on a simulator already running (`graph`), or a fresh one of `kind`. */
export function remoteSim(base: string, id: string, url: string): RemoteSim {
  return {
    id,
    url,
    call: async <T>(method: string, ...args: unknown[]) =>
      (
        await control<{ result: T }>(base, `/sims/${id}/${method}`, {
          method: 'POST',
          body: JSON.stringify(args),
        })
      ).result,
    close: async () => {
      await control(base, `/sims/${id}`, { method: 'DELETE' });
    },
  };
}

export async function startRemoteSim(base: string, kind: SimKind): Promise<RemoteSim> {
  const { id, url } = await control<{ id: string; url: string }>(base, '/sims', {
    method: 'POST',
    body: JSON.stringify({ kind }),
  });
  return remoteSim(base, id, url);
}
