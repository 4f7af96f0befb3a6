/**
 * The `workers` project's globalSetup, on the Node side: the simulators are node:http servers and
 * cannot run inside workerd, which reaches them on 127.0.0.1 directly (WORKERS-FACTS).
 *
 * - One Graph API simulator for the whole run; its URL becomes the Worker's `WHATSAPP_GRAPH_URL`
 *   binding (vitest.config.ts reads it with `inject('graphUrl')`).
 * - A control server (`inject('simControl')`) for tests that seed and inspect simulators. JSON in, JSON out:
 *   - `POST /sims` `{ kind: 'hubspot' | 'salesforce' }` starts a fresh simulator with the options in
 *     sim-control.ts: `{ id, url }`. The connector under test talks to `url` itself.
 *   - `POST /sims/:id/:method` with a JSON array of arguments calls that simulator method (only
 *     the ones in `METHODS`) and answers `{ result }`; errors answer 500 `{ error }`.
 *   - `DELETE /sims/:id` retires the simulator (closed at teardown, see there).
 *   The Graph simulator is registered as id `graph`.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestProject } from 'vitest/node';
import { startGraphSimulator } from '../sim/graph-api.ts';
import { readBody } from '../sim/http.ts';
import { startHubSpotSimulator } from '../sim/hubspot.ts';
import { startSalesforceSimulator } from '../sim/salesforce.ts';
import { GRAPH, HUBSPOT, SALESFORCE, type SimKind } from './sim-control.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The control server's URL, e.g. `http://127.0.0.1:PORT`. */
    simControl: string;
    /** The Graph API simulator's URL (with the version), the Worker's `WHATSAPP_GRAPH_URL`. */
    graphUrl: string;
    /** The HubSpot simulator the Worker itself syncs with (`HUBSPOT_BASE_URL`); id `hubspot-worker`. */
    hubspotUrl: string;
  }
}

/** Methods a test may call remotely, per simulator kind. */
const METHODS: Record<SimKind | 'graph', ReadonlySet<string>> = {
  hubspot: new Set(['addContact', 'getContact', 'failNext', 'calls', 'stats', 'requests']),
  salesforce: new Set([
    'add',
    'get',
    'failNext',
    'calls',
    'stats',
    'expireTokens',
    'outboundMessage',
    'requests',
  ]),
  graph: new Set(['sent', 'reset', 'failNext', 'requests']),
};

type AnySim = { close(): Promise<void>; requests?: unknown } & Record<string, unknown>;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const graph = await startGraphSimulator({
    accessToken: GRAPH.accessToken,
    phoneNumberId: GRAPH.phoneNumberId,
  });
  const workerHubspot = await startHubSpotSimulator({ ...HUBSPOT.sim });
  const sims = new Map<string, { kind: SimKind | 'graph'; sim: AnySim }>([
    ['graph', { kind: 'graph', sim: graph as unknown as AnySim }],
    ['hubspot-worker', { kind: 'hubspot', sim: workerHubspot as unknown as AnySim }],
  ]);
  const retired: AnySim[] = [];
  let next = 0;

  const control = createServer(async (req, res) => {
    const answer = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body ?? null));
    };
    try {
      const body = await readBody(req);
      const parts = (req.url ?? '').split('?')[0]?.split('/').filter(Boolean) ?? [];
      if (req.method === 'POST' && parts.length === 1 && parts[0] === 'sims') {
        const kind = (body as { kind?: string } | null)?.kind;
        const sim =
          kind === 'hubspot'
            ? await startHubSpotSimulator({ ...HUBSPOT.sim })
            : kind === 'salesforce'
              ? await startSalesforceSimulator({ ...SALESFORCE.sim })
              : null;
        if (!sim) return answer(400, { error: `unknown kind ${String(kind)}` });
        next += 1;
        const id = `${kind}-${next}`;
        sims.set(id, { kind: kind as SimKind, sim: sim as unknown as AnySim });
        return answer(200, { id, url: sim.url });
      }
      const entry = parts[0] === 'sims' && parts[1] ? sims.get(parts[1]) : undefined;
      if (!entry) return answer(404, { error: 'no such simulator' });
      if (
        req.method === 'DELETE' &&
        parts.length === 2 &&
        parts[1] !== 'graph' &&
        parts[1] !== 'hubspot-worker'
      ) {
        // Retired, closed at teardown: cutting keep-alive sockets under workerd mid-run surfaces
        // there as an uncaught "Network connection lost" (seen with jsforce).
        sims.delete(parts[1] as string);
        retired.push(entry.sim);
        return answer(200, { ok: true });
      }
      const method = parts[2];
      if (req.method !== 'POST' || parts.length !== 3 || !method || !METHODS[entry.kind].has(method)) {
        return answer(404, { error: `no such call ${req.method} ${req.url}` });
      }
      if (method === 'requests') return answer(200, { result: entry.sim.requests });
      const fn = entry.sim[method];
      if (typeof fn !== 'function') return answer(404, { error: `no such method ${method}` });
      const args = Array.isArray(body) ? body : [];
      const result = await (fn as (...a: unknown[]) => unknown).apply(entry.sim, args);
      return answer(200, { result: result instanceof Set ? [...result] : (result ?? null) });
    } catch (err) {
      return answer(500, { error: (err as Error).message });
    }
  });
  await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));

  project.provide('simControl', `http://127.0.0.1:${(control.address() as AddressInfo).port}`);
  project.provide('graphUrl', graph.url);
  project.provide('hubspotUrl', workerHubspot.url);

  return async () => {
    await new Promise<void>((resolve) => {
      control.close(() => resolve());
      control.closeAllConnections();
    });
    for (const { sim } of sims.values()) await sim.close();
    for (const sim of retired) await sim.close();
  };
}
