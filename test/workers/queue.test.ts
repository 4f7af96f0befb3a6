/**
 * The Worker's queue consumer inside workerd: a signed STOP queues the confirmation in the D1 outbox,
 * the consumer's batch runs the dispatcher, and the message reaches the Graph API simulator (started
 * on the Node side by sim-setup.ts; the Worker gets its URL as `WHATSAPP_GRAPH_URL`).
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { env, exports } from 'cloudflare:workers';
import { describe, expect, inject, it } from 'vitest';
import worker from '../../src/runtime/worker.ts';
import { envelope, signedRequest, textMessage } from '../helpers/whatsapp.ts';
import { remoteSim } from './sim-control.ts';

// Fictitious number, used by no other workers test (the Graph simulator is shared by the run).
const WA = '4915123400902';
const OPERATOR = 'Bearer workers-operator-token-0123456789';
const graph = remoteSim(inject('simControl'), 'graph', inject('graphUrl'));

type Jobs = { jobs: Array<{ id: string; kind: string; status: string; attempts: number }> };
const jobs = async () =>
  (await (
    await exports.default.fetch(
      new Request('http://w/v1/sync/jobs', { headers: { authorization: OPERATOR } }),
    )
  ).json()) as Jobs;

describe('the Worker: queue consumer', () => {
  it('a STOP queues the confirmation; the consumer sends it to the Graph API and the job ends done', async () => {
    const before = new Set((await jobs()).jobs.map((j) => j.id));
    const req = await signedRequest(envelope(textMessage(WA, 'STOP')), env.WHATSAPP_APP_SECRET);
    const res = await exports.default.fetch(
      new Request('http://w/webhooks/whatsapp', { method: 'POST', headers: req.headers, body: req.body }),
    );
    expect(res.status).toBe(200);
    const queued = (await jobs()).jobs.filter((j) => !before.has(j.id));
    expect(queued.length).toBeGreaterThan(0);
    expect(queued.map((j) => j.status)).toEqual(queued.map(() => 'pending')); // not drained yet

    const batch = createMessageBatch('consent-sync-outbox', [
      { id: 'kick-1', timestamp: Date.now(), attempts: 1, body: { kick: Date.now() } },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch as never, env as never, ctx as never);
    const result = await getQueueResult(batch, ctx);
    expect(result).toMatchObject({ outcome: 'ok', ackAll: true, retryMessages: [] });

    const after = (await jobs()).jobs.filter((j) => queued.some((q) => q.id === j.id));
    expect(after.map((j) => j.status)).toEqual(queued.map(() => 'done'));
    const sent = await graph.call<Array<{ to: string; type: string }>>('sent');
    expect(sent.filter((m) => m.to.replace(/\D/g, '') === WA).length).toBeGreaterThanOrEqual(1);
  });
});
