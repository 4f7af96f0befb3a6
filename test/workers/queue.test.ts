/**
 * The Worker's queue consumer inside workerd: a signed STOP queues the confirmation in the D1 outbox,
 * the consumer's batch runs the dispatcher, and the message reaches the Graph API simulator (started
 * on the Node side by sim-setup.ts; the Worker gets its URL as `WHATSAPP_GRAPH_URL`).
 */
import {
  createExecutionContext,
  createMessageBatch,
  getQueueResult,
  waitOnExecutionContext,
} from 'cloudflare:test';
import { env, exports } from 'cloudflare:workers';
import { describe, expect, inject, it } from 'vitest';
import worker from '../../src/runtime/worker.ts';
import { envelope, signedRequest, textMessage } from '../helpers/whatsapp.ts';
import { inboxDrained } from './entry.ts';
import { remoteSim } from './sim-control.ts';

// Fictitious numbers, used by no other workers test (the Graph simulator is shared by the run).
const WA = '4915123400902';
const WA_RETRY = '4915123400903';
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
    await inboxDrained(); // the inbox queue's consumer decided the STOP
    const queued = (await jobs()).jobs.filter((j) => !before.has(j.id));
    expect(queued.length).toBeGreaterThan(0);
    expect(queued.map((j) => j.status)).toEqual(queued.map(() => 'pending')); // not drained yet

    const batch = createMessageBatch('consent-sync-outbox', [
      { id: 'kick-1', timestamp: Date.now(), attempts: 1, body: { kick: Date.now() } },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch as never, env as never, ctx as never);
    const result = await getQueueResult(batch, ctx);
    expect(result).toMatchObject({ outcome: 'ok', retryMessages: [], explicitAcks: ['kick-1'] });

    const after = (await jobs()).jobs.filter((j) => queued.some((q) => q.id === j.id));
    expect(after.map((j) => j.status)).toEqual(queued.map(() => 'done'));
    const sent = await graph.call<Array<{ to: string; type: string }>>('sent');
    expect(sent.filter((m) => m.to.replace(/\D/g, '') === WA).length).toBeGreaterThanOrEqual(1);
  });

  it('retries the message with a delay while a job waits on a retry, and acknowledges once it is done', async () => {
    const before = new Set((await jobs()).jobs.map((j) => j.id));
    await graph.call('failNext', 1, '500'); // the confirmation's first send fails, retryably
    const req = await signedRequest(envelope(textMessage(WA_RETRY, 'STOP')), env.WHATSAPP_APP_SECRET);
    const res = await exports.default.fetch(
      new Request('http://w/webhooks/whatsapp', { method: 'POST', headers: req.headers, body: req.body }),
    );
    expect(res.status).toBe(200);
    await inboxDrained();
    const send = (await jobs()).jobs.find((j) => !before.has(j.id) && j.kind === 'whatsapp.send')!;

    const first = await consume('kick-r1');
    // The dispatcher's first backoff is 0.5-1 s: the message comes back when the job is due (1 s).
    expect(first).toEqual({ acked: [], retried: [{ id: 'kick-r1', delaySeconds: 1 }] });
    expect((await jobs()).jobs.find((j) => j.id === send.id)).toMatchObject({
      status: 'pending',
      attempts: 1,
    });

    await new Promise((ok) => setTimeout(ok, 1_100));
    const second = await consume('kick-r1', 2);
    expect((await jobs()).jobs.find((j) => j.id === send.id)).toMatchObject({ status: 'done', attempts: 2 });
    expect(second).toEqual({ acked: ['kick-r1'], retried: [] });
  });

  it('records what reached the dead-letter queue as dead events', async () => {
    const count = async () =>
      (await (
        await exports.default.fetch(
          new Request('http://w/v1/dead-events', { headers: { authorization: OPERATOR } }),
        )
      ).json()) as { total: number; events: Array<{ source: string; kind: string; reason: string }> };
    const before = (await count()).total;
    const batch = createMessageBatch('consent-sync-outbox-dlq', [
      { id: 'dead-1', timestamp: Date.now(), attempts: 6, body: { kick: 1 } },
      { id: 'dead-2', timestamp: Date.now(), attempts: 6, body: { kick: 2 } },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch as never, env as never, ctx as never);
    expect(await getQueueResult(batch, ctx)).toMatchObject({ outcome: 'ok', ackAll: true });
    const after = await count();
    expect(after.total).toBe(before + 2);
    expect(after.events[0]).toMatchObject({ source: 'queue', kind: 'outbox.kick' });
    expect(after.events[0]!.reason).toContain('consent-sync-outbox-dlq');
  });
});

/**
 * One batch of one message for the outbox consumer; what it acknowledged and retried, with the
 * delays (the plugin's getQueueResult does not report `delaySeconds`, so the batch records them).
 */
async function consume(id: string, attempts = 1) {
  const acked: string[] = [];
  const retried: Array<{ id: string; delaySeconds?: number }> = [];
  const message = {
    id,
    timestamp: new Date(),
    attempts,
    body: { kick: Date.now() },
    ack: () => acked.push(id),
    retry: (o?: { delaySeconds?: number }) => retried.push({ id, ...o }),
  };
  const batch = {
    queue: 'consent-sync-outbox',
    messages: [message],
    ackAll: () => acked.push(id),
    retryAll: (o?: { delaySeconds?: number }) => retried.push({ id, ...o }),
  };
  const ctx = createExecutionContext();
  await worker.queue(batch as never, env as never, ctx as never);
  await waitOnExecutionContext(ctx);
  return { acked, retried };
}
