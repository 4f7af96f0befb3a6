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

/**
 * An INBOX binding that keeps what it is sent, and refuses what Cloudflare Queues would: more than
 * 100 messages or 256 KB in one `sendBatch`, a message over 128 KB
 * (https://developers.cloudflare.com/queues/platform/limits/; 1 KB = 1,000 bytes, ~100 bytes of
 * metadata per message counted here too).
 */
function recordingQueue() {
  const sent: InboxMessage[] = [];
  const calls: number[] = [];
  const check = (list: InboxMessage[]) => {
    const sizes = list.map((m) => JSON.stringify(m).length + 100);
    if (list.length > 100) throw new Error(`sendBatch of ${list.length} messages (Queues allows 100)`);
    const total = sizes.reduce((a, b) => a + b, 0);
    if (total > 256_000) throw new Error(`sendBatch of ${total} bytes (Queues allows 256 KB)`);
    if (Math.max(...sizes) > 128_000) throw new Error('a message over 128 KB');
  };
  return {
    sent,
    calls,
    queue: {
      async send(body: InboxMessage) {
        check([body]);
        sent.push(body);
      },
      async sendBatch(list: Array<{ body: InboxMessage }>) {
        check(list.map((m) => m.body));
        calls.push(list.length);
        for (const m of list) sent.push(m.body);
      },
    },
  };
}

const markerRows = async () =>
  Number(
    (await env.DB.prepare('SELECT COUNT(*) AS n FROM inbox WHERE opt_out IS NOT NULL').first<{ n: number }>())
      ?.n,
  );

describe('the Workers inbox queue', () => {
  it('1,000 STOPs in one webhook: acknowledged on the queue, decided within the D1 limit per invocation', async () => {
    const { sent, calls, queue } = recordingQueue();
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
    const markersBefore = await markerRows();
    const res = await call(
      new Request('http://w/webhooks/whatsapp', { method: 'POST', headers: req.headers, body: req.body }),
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ received: PEOPLE, stored: PEOPLE, dropped: 0 });
    // acknowledged on the queue: besides the mapping read, one D1 statement (the opt-out markers)
    expect(d1.count.n - atAck).toBeLessThanOrEqual(3);
    expect((await markerRows()) - markersBefore).toBe(PEOPLE);
    expect(sent.length).toBe(PEOPLE / 25);
    // within Queues' sendBatch limits (the recording queue throws otherwise): more than one call
    expect(calls.length).toBeGreaterThan(1);
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
    expect(await markerRows()).toBe(markersBefore); // every decided STOP's marker deleted
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

describe('the send guard while an opt-out waits in the inbox queue', () => {
  // Fictitious numbers, used by no other test.
  const P = { phone: '+4915123400961', wa: '4915123400961' };
  const OTHER = { phone: '+4915123400962', wa: '4915123400962' };
  const OPERATOR = 'Bearer workers-operator-token-0123456789';
  const INTAKE = 'Bearer workers-intake-token-0123456789';

  it('a STOP acknowledged, not yet decided: a send to that person is refused, to others not', async () => {
    const { sent, queue } = recordingQueue();
    const outbox = { async send() {} }; // replies wait in D1; nothing here reads them
    const workerEnv = { ...env, INBOX: queue, OUTBOX: outbox };
    const worker = createWorker();
    const call = (path: string, init: RequestInit & { auth?: string; json?: unknown } = {}) => {
      const headers = new Headers(init.headers);
      if (init.auth) headers.set('authorization', init.auth);
      if (init.json !== undefined) headers.set('content-type', 'application/json');
      const body = init.json !== undefined ? JSON.stringify(init.json) : init.body;
      return worker.fetch(
        new Request(`http://w${path}`, { method: init.method ?? 'GET', headers, ...(body ? { body } : {}) }),
        workerEnv as never,
        createExecutionContext() as never,
      );
    };
    const webhook = async (...changes: Parameters<typeof envelope>) => {
      const req = await signedRequest(envelope(...changes), env.WHATSAPP_APP_SECRET as string);
      return call('/webhooks/whatsapp', { method: 'POST', headers: req.headers, body: req.body });
    };
    let n = 0;
    const consume = async () => {
      const batch = createMessageBatch(
        'consent-sync-inbox',
        sent.splice(0).map((body) => ({ id: `g-${n++}`, timestamp: new Date(), attempts: 1, body })),
      );
      const ctx = createExecutionContext();
      await worker.queue(batch as never, workerEnv as never, ctx as never);
      expect(await getQueueResult(batch, ctx)).toMatchObject({ outcome: 'ok', ackAll: true });
    };
    const send = (phone: string) =>
      call('/v1/messages', {
        method: 'POST',
        auth: OPERATOR,
        json: { phone, purpose: 'marketing', text: 'Offers' },
      });
    const status = async (phone: string) =>
      (
        (await (await call(`/v1/subjects/${encodeURIComponent(phone)}`, { auth: OPERATOR })).json()) as {
          purposes: Record<string, { status: string }>;
        }
      ).purposes.marketing?.status;

    // Two people opted in by double opt-in (the YES decided by the consumer).
    for (const p of [P, OTHER]) {
      const r = await call('/v1/consents', {
        method: 'POST',
        auth: INTAKE,
        json: { phone: p.phone, purposes: ['marketing'] },
      });
      expect(r.status).toBe(202);
      expect((await webhook(textMessage(p.wa, 'YES'))).status).toBe(200);
    }
    await consume();
    expect(await status(P.phone)).toBe('opted_in');
    expect((await send(P.phone)).status).toBe(200);

    // The STOP is acknowledged; the consumer has not run: the state still says opted_in...
    const markers = await markerRows();
    expect((await webhook(textMessage(P.wa, 'STOP'))).status).toBe(200);
    expect(sent.length).toBe(1);
    expect(await status(P.phone)).toBe('opted_in');
    // ...but the guard sees the opt-out's marker: refused, with the opt-out as the reason.
    const refused = await send(P.phone);
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({
      error: { code: 'NO_CONSENT', message: expect.stringContaining('opted_out') },
    });
    // Another person is not affected.
    expect((await send(OTHER.phone)).status).toBe(200);
    expect(await markerRows()).toBe(markers + 1);
    // The marker holds keyed hashes only: no number in it.
    const rows = await env.DB.prepare('SELECT * FROM inbox WHERE opt_out IS NOT NULL').all();
    expect(JSON.stringify(rows.results)).not.toContain(P.wa.slice(2));

    // The consumer decides it: the marker is gone, the state says opted_out, sends stay refused.
    await consume();
    expect(await markerRows()).toBe(markers);
    expect(await status(P.phone)).toBe('opted_out');
    expect((await send(P.phone)).status).toBe(409);
  }, 60_000);

  it('a delivery the queue refuses is not acknowledged and leaves no marker behind', async () => {
    const queue = {
      async send() {
        throw new Error('Too Many Requests');
      },
      async sendBatch() {
        throw new Error('Too Many Requests');
      },
    };
    const worker = createWorker();
    const markers = await markerRows();
    const req = await signedRequest(
      envelope(textMessage('4915123400963', 'STOP')),
      env.WHATSAPP_APP_SECRET as string,
    );
    const res = await worker.fetch(
      new Request('http://w/webhooks/whatsapp', { method: 'POST', headers: req.headers, body: req.body }),
      { ...env, INBOX: queue, OUTBOX: { async send() {} } } as never,
      createExecutionContext() as never,
    );
    expect(res.status).toBeGreaterThanOrEqual(500); // Meta redelivers
    expect(await markerRows()).toBe(markers);
  });
});

describe('inbox messages after the INBOX binding was removed', () => {
  it('fail the batch (Queues retries it, then the DLQ keeps it) instead of being dropped', async () => {
    const worker = createWorker();
    const batch = createMessageBatch('consent-sync-inbox', [
      { id: 'orphan-1', timestamp: new Date(), attempts: 1, body: { inbox: 1, id: 'orphan', sealed: 'x' } },
    ]);
    const ctx = createExecutionContext();
    await expect(
      worker.queue(batch as never, { ...env, INBOX: undefined } as never, ctx as never),
    ).rejects.toThrow(/INBOX producer binding is not configured/);
  });
});

describe('the inbox DLQ', () => {
  it('records what reached it as dead events, sealed, and keeps its opt-out markers', async () => {
    const OPERATOR = 'Bearer workers-operator-token-0123456789';
    const { sent, queue } = recordingQueue();
    const workerEnv = { ...env, INBOX: queue, OUTBOX: { async send() {} } };
    const worker = createWorker();
    const call = (path: string, init: RequestInit = {}) =>
      worker.fetch(
        new Request(`http://w${path}`, init),
        workerEnv as never,
        createExecutionContext() as never,
      );
    const dead = async () =>
      (await (await call('/v1/dead-events', { headers: { authorization: OPERATOR } })).json()) as {
        total: number;
        events: Array<{ source: string; kind: string; reason: string }>;
      };
    const before = (await dead()).total;
    const markers = await markerRows();
    const req = await signedRequest(
      envelope(textMessage('4915123400964', 'STOP')),
      env.WHATSAPP_APP_SECRET as string,
    );
    expect(
      (await call('/webhooks/whatsapp', { method: 'POST', headers: req.headers, body: req.body })).status,
    ).toBe(200);
    expect(await markerRows()).toBe(markers + 1);

    // Queues gave up on the message after max_retries: the DLQ's consumer gets it.
    const batch = createMessageBatch(
      'consent-sync-inbox-dlq',
      sent.splice(0).map((body) => ({ id: 'inbox-dead-1', timestamp: new Date(), attempts: 6, body })),
    );
    const ctx = createExecutionContext();
    await worker.queue(batch as never, workerEnv as never, ctx as never);
    expect(await getQueueResult(batch, ctx)).toMatchObject({ outcome: 'ok', ackAll: true });
    const after = await dead();
    expect(after.total).toBe(before + 1);
    expect(after.events[0]).toMatchObject({ source: 'queue', kind: 'inbox.message' });
    expect(after.events[0]!.reason).toContain('consent-sync-inbox-dlq');
    expect(JSON.stringify(after)).not.toContain('4915123400964');
    // Never decided: the opt-out stays in force for the send guard.
    expect(await markerRows()).toBe(markers + 1);
  });
});
