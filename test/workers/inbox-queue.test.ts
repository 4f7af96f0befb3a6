/**
 * The Workers inbox (issue 17) and a delivery's bounded D1 cost (issue 19 item 3), inside workerd:
 * one signed webhook with 1,000 STOPs from 1,000 new (fictitious) numbers is acknowledged after the
 * events are in the inbox queue, without a D1 write; the queue consumer then decides them in
 * invocations that each stay within Cloudflare's per-invocation D1 query limit (1,000 on Workers
 * Paid: https://developers.cloudflare.com/d1/platform/limits/), counted by a wrapper around the
 * D1 binding that counts every statement, also inside a batch.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import type { D1Database, D1PreparedStatement } from '@cloudflare/workers-types/index.ts';
import { describe, expect, it } from 'vitest';
import { createWorker } from '../../src/runtime/worker.ts';
import type { InboxMessage } from '../../src/service/inbox/queue-inbox.ts';
import { envelope, signedRequest, textMessage } from '../helpers/whatsapp.ts';

const D1_LIMIT_PER_INVOCATION = 1_000;
const PEOPLE = 1_000;
const AUDITOR = 'Bearer workers-auditor-token-0123456789';
// Fictitious German mobile numbers 4915199000000 … 4915199000999, used by no other test.
const wa = (i: number) => `49151990${String(i).padStart(5, '0')}`;

/** Counts D1 statements (prepared statements run, and each statement of a batch). */
function counting(db: D1Database) {
  const c = { n: 0 };
  const stmt = (s: D1PreparedStatement): D1PreparedStatement =>
    new Proxy(s, {
      get(t, p) {
        if (p === '__raw') return t;
        if (p === 'bind') return (...a: unknown[]) => stmt(t.bind(...a));
        const v = Reflect.get(t, p, t);
        if (typeof v !== 'function') return v;
        return (...a: unknown[]) => {
          if (p === 'run' || p === 'all' || p === 'first' || p === 'raw') c.n++;
          return v.apply(t, a);
        };
      },
    });
  const raw = (s: D1PreparedStatement) => (s as unknown as { __raw?: D1PreparedStatement }).__raw ?? s;
  const wrapped = new Proxy(db, {
    get(t, p) {
      if (p === 'prepare') return (sql: string) => stmt(t.prepare(sql));
      if (p === 'batch')
        return (list: D1PreparedStatement[]) => {
          c.n += list.length;
          return t.batch(list.map(raw));
        };
      if (p === 'exec')
        return (sql: string) => {
          c.n++;
          return t.exec(sql);
        };
      const v = Reflect.get(t, p, t);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
  return { db: wrapped, count: c };
}

describe('the Workers inbox queue', () => {
  it('1,000 STOPs in one webhook: acknowledged on the queue, decided within the D1 limit per invocation', async () => {
    const sent: InboxMessage[] = [];
    const queue = {
      async send(body: InboxMessage) {
        sent.push(body);
      },
      async sendBatch(list: Array<{ body: InboxMessage }>) {
        for (const m of list) sent.push(m.body);
      },
    };
    const kicks: unknown[] = [];
    const outbox = {
      async send(body: unknown) {
        kicks.push(body);
      },
    };
    const d1 = counting(env.DB as unknown as D1Database);
    // The outbox queue is bound too (as deployed): the replies run in their own invocations.
    const workerEnv = { ...env, DB: d1.db, INBOX: queue, OUTBOX: outbox };
    const worker = createWorker();
    const call = async (req: Request) => {
      const ctx = createExecutionContext();
      const res = await worker.fetch(req, workerEnv as never, ctx as never);
      return res;
    };
    const verify = async () =>
      (await (
        await call(new Request('http://w/v1/ledger/verify', { headers: { authorization: AUDITOR } }))
      ).json()) as { ok: boolean; events: number };
    const before = await verify();

    // One delivery, one change with 1,000 messages (Meta batches; the body is about 190 KB).
    const change = textMessage(wa(0), 'STOP');
    const messages = change.value.messages as Array<Record<string, unknown>>;
    const contacts = change.value.contacts as Array<Record<string, unknown>>;
    for (let i = 1; i < PEOPLE; i++) {
      const one = textMessage(wa(i), 'STOP');
      messages.push(...(one.value.messages as Array<Record<string, unknown>>));
      contacts.push(...(one.value.contacts as Array<Record<string, unknown>>));
    }
    const req = await signedRequest(envelope(change), env.WHATSAPP_APP_SECRET as string);
    const atAck = d1.count.n;
    const res = await call(
      new Request('http://w/webhooks/whatsapp', { method: 'POST', headers: req.headers, body: req.body }),
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ received: PEOPLE, stored: PEOPLE, dropped: 0 });
    // acknowledged on the queue: the webhook wrote nothing to D1 (reads of mappings only)
    expect(d1.count.n - atAck).toBeLessThanOrEqual(2);
    expect(sent.length).toBeGreaterThan(0);
    expect(JSON.stringify(sent)).not.toContain(wa(7));

    // The consumer: batches of up to 10 messages (max_batch_size), until the queue is empty.
    const perInvocation: number[] = [];
    let invocations = 0;
    while (sent.length > 0) {
      const batch = createMessageBatch(
        'consent-sync-inbox',
        sent
          .splice(0, 10)
          .map((body, i) => ({ id: `m-${invocations}-${i}`, timestamp: new Date(), attempts: 1, body })),
      );
      const ctx = createExecutionContext();
      const start = d1.count.n;
      await worker.queue(batch as never, workerEnv as never, ctx as never);
      expect(await getQueueResult(batch, ctx)).toMatchObject({ outcome: 'ok', ackAll: true });
      perInvocation.push(d1.count.n - start);
      invocations++;
      expect(invocations).toBeLessThan(300);
    }
    expect(Math.max(...perInvocation)).toBeLessThanOrEqual(D1_LIMIT_PER_INVOCATION);
    expect(kicks.length).toBeGreaterThan(0);
    console.log(
      JSON.stringify({
        events: PEOPLE,
        invocations,
        maxQueriesPerInvocation: Math.max(...perInvocation),
        totalQueries: perInvocation.reduce((a, b) => a + b, 0),
      }),
    );

    // Every STOP decided once: two purposes each, a new person per number; the ledger verifies.
    const after = await verify();
    expect(after.ok).toBe(true);
    expect(after.events - before.events).toBe(PEOPLE * 2);
    for (const i of [0, 499, 999]) {
      const view = (await (
        await call(
          new Request(`http://w/v1/subjects/%2B${wa(i)}`, {
            headers: { authorization: 'Bearer workers-operator-token-0123456789' },
          }),
        )
      ).json()) as { purposes: Record<string, { status: string }> };
      expect(view.purposes.marketing?.status).toBe('opted_out');
    }
  }, 400_000);
});
