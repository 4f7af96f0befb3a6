/**
 * The shared scenarios (test/scenarios.ts) inside workerd: the Worker's own `fetch` over D1 with the
 * default configuration of wrangler.toml (webhooks acknowledged on the INBOX queue and decided by its
 * consumer, which Miniflare invokes; `webhook` returns once the consumer has decided, like the Node
 * harness), its queue consumer as the outbox runner, and the Graph API simulator on the Node side.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { env, exports } from 'cloudflare:workers';
import { afterAll, describe, expect, inject, it } from 'vitest';
import worker from '../../src/runtime/worker.ts';
import { envelope, signedRequest } from '../helpers/whatsapp.ts';
import { SCENARIOS, type ScenarioDriver, type ScenarioRole } from '../scenarios.ts';
import { inboxAccepted, inboxDrained } from './entry.ts';
import { remoteSim } from './sim-control.ts';

const graph = remoteSim(inject('simControl'), 'graph', inject('graphUrl'));
const hubspot = remoteSim(inject('simControl'), 'hubspot-worker', inject('hubspotUrl'));
const TOKENS: Record<ScenarioRole, string> = {
  admin: 'workers-admin-token-0123456789',
  operator: 'workers-operator-token-0123456789',
  intake: 'workers-intake-token-0123456789',
  auditor: 'workers-auditor-token-0123456789',
};

const driver: ScenarioDriver = {
  request(path, init = {}) {
    const headers = new Headers();
    if (init.role) headers.set('authorization', `Bearer ${TOKENS[init.role]}`);
    if (init.json !== undefined) headers.set('content-type', 'application/json');
    return exports.default.fetch(
      new Request(`http://w${path}`, {
        method: init.method ?? 'GET',
        headers,
        ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}),
      }),
    );
  },
  async webhook(...changes) {
    const req = await signedRequest(envelope(...changes), env.WHATSAPP_APP_SECRET);
    const res = await exports.default.fetch(
      new Request('http://w/webhooks/whatsapp', { method: 'POST', headers: req.headers, body: req.body }),
    );
    await inboxDrained();
    return res;
  },
  async drain() {
    const batch = createMessageBatch('consent-sync-outbox', [
      { id: `kick-${Date.now()}`, timestamp: Date.now(), attempts: 1, body: { kick: Date.now() } },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch as never, env as never, ctx as never);
    expect(await getQueueResult(batch, ctx)).toMatchObject({ outcome: 'ok' });
  },
  sent: () => graph.call<Array<{ to: string; type: string }>>('sent'),
  hubspot: {
    addContact: (properties) => hubspot.call<string>('addContact', properties),
    getContact: (id) => hubspot.call<Record<string, string> | null>('getContact', id),
  },
};

describe('shared scenarios in workerd', () => {
  SCENARIOS.forEach((s, i) => {
    it(s.name, () => s.run(driver, 20 + i));
  });
  // The webhooks went through the INBOX queue (the default configuration), not the inline path.
  afterAll(() => {
    expect(inboxAccepted()).toBeGreaterThan(0);
  });
});
