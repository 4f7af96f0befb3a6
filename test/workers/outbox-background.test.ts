/**
 * Issue 19, item 1: no promise outlives its invocation. Each step below is a real invocation of the
 * Worker (`exports.default`): workerd cancels the I/O a handler left running when the invocation
 * ends. Before the fix the daily reconcile and the retry route started a dispatcher pass with
 * `void dispatcher.tick()`; the pass was cut off when their invocation ended, its shared `running`
 * promise never settled, and every later drain in that isolate (queue consumer, minute cron) waited
 * on it forever while the jobs stayed `leased`. Fictitious numbers only.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { env, exports } from 'cloudflare:workers';
import { describe, expect, inject, it } from 'vitest';
import worker, { CRONS } from '../../src/runtime/worker.ts';
import { envelope, signedRequest, textMessage } from '../helpers/whatsapp.ts';
import { inboxDrained } from './entry.ts';
import { remoteSim } from './sim-control.ts';

const graph = remoteSim(inject('simControl'), 'graph', inject('graphUrl'));
const OPERATOR = 'Bearer workers-operator-token-0123456789';
const NUMBERS = ['4915123400931', '4915123400932', '4915123400933', '4915123400934'];

/** `exports.default` also dispatches cron events (workerd's Fetcher.scheduled). */
interface Invocations {
  scheduled(options: { cron: string }): Promise<unknown>;
}
const invoke = exports.default as unknown as Invocations & typeof exports.default;

type Job = { id: string; kind: string; subjectId: string | null; status: string };
const jobs = async (): Promise<Job[]> =>
  (
    (await (
      await invoke.fetch(
        new Request('http://w/v1/sync/jobs?limit=500', { headers: { authorization: OPERATOR } }),
      )
    ).json()) as { jobs: Job[] }
  ).jobs;

/** Fails the test with a clear message instead of hanging until the test timeout. */
async function finishes<T>(what: string, p: Promise<T>, ms = 8_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A queue batch for the Worker's consumer (the same module instance as `exports.default`). */
async function kick(n: number) {
  const batch = createMessageBatch('consent-sync-outbox', [
    { id: `kick-bg-${n}`, timestamp: Date.now(), attempts: 1, body: { kick: n } },
  ]);
  const ctx = createExecutionContext();
  await worker.queue(batch as never, env as never, ctx as never);
  return getQueueResult(batch, ctx);
}

describe('the Worker: background work stays inside its invocation', () => {
  it('after a reconcile and a retry, queue and cron runs all finish and every job is sent', async () => {
    const before = new Set((await jobs()).map((j) => j.id));
    for (const wa of NUMBERS) {
      const req = await signedRequest(envelope(textMessage(wa, 'STOP')), env.WHATSAPP_APP_SECRET);
      const res = await invoke.fetch(
        new Request('http://w/webhooks/whatsapp', { method: 'POST', headers: req.headers, body: req.body }),
      );
      expect(res.status).toBe(200);
    }
    await inboxDrained(); // the inbox queue's consumer decided the STOPs
    const mine = (await jobs()).filter((j) => !before.has(j.id));
    expect(mine.length).toBeGreaterThanOrEqual(NUMBERS.length);

    // One job is a dead letter an operator will retry (its send failed for good earlier).
    const dead = mine.find((j) => j.kind === 'whatsapp.send')!;
    await env.DB.prepare(`UPDATE outbox SET status = 'dead', last_error = 'test' WHERE id = ?`)
      .bind(dead.id)
      .run();

    // The daily reconcile, in its own invocation.
    await finishes('the daily cron', invoke.scheduled({ cron: CRONS.daily }));
    // The operator's retry, in its own invocation.
    const retried = await finishes(
      'the retry request',
      invoke.fetch(
        new Request(`http://w/v1/sync/jobs/${dead.id}/retry`, {
          method: 'POST',
          headers: { authorization: OPERATOR },
        }),
      ),
    );
    expect(retried.status).toBe(200);

    // Later invocations must not wait on work those two left behind.
    expect((await finishes('the queue consumer', kick(1))).outcome).toBe('ok');
    await finishes('the minute cron', invoke.scheduled({ cron: CRONS.everyMinute }));
    expect((await finishes('the second queue batch', kick(2))).outcome).toBe('ok');

    const after = (await jobs()).filter((j) => mine.some((m) => m.id === j.id));
    expect(after.map((j) => `${j.kind}:${j.status}`)).toEqual(after.map((j) => `${j.kind}:done`));
    const sent = await graph.call<Array<{ to: string }>>('sent');
    for (const wa of NUMBERS)
      expect(
        sent.some((m) => m.to.replace(/\D/g, '') === wa),
        wa,
      ).toBe(true);
  }, 60_000);
});
