/**
 * Meta's WhatsApp webhook at the edge: the verification handshake, signatures over the exact bytes,
 * size and shape limits, redelivery, batching and bursts. A rejected delivery changes nothing.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { signMetaBody } from '../../connectors/whatsapp/signature.ts';
import { APP_SECRET, type Harness, json, startHarness, VERIFY_TOKEN } from '../helpers/harness.ts';
import {
  envelope,
  nextWamid,
  signedRequest,
  textMessage,
  userPreference,
  WABA_ID,
  type WebhookChange,
} from '../helpers/whatsapp.ts';

// Fictitious numbers only.
const SEED = '4915123456789';
const SENDER = '4915123456781';
const ts = (h: Harness) => String(Math.floor(h.now().getTime() / 1000));

type ErrorBody = { error: { code: string; message: string } };
type Subject = { known: boolean; purposes: Record<string, { status: string }> };

let h: Harness;
afterEach(async () => {
  await h?.close();
});

async function subject(waId: string): Promise<Subject> {
  const res = await h.request(`/v1/subjects/${waId}`, { role: 'operator' });
  expect(res.status).toBe(200);
  return json<Subject>(res);
}

async function ledgerEvents(): Promise<number> {
  const v = await json<{ ok: boolean; events: number }>(
    await h.request('/v1/ledger/verify', { role: 'auditor' }),
  );
  expect(v.ok).toBe(true);
  return v.events;
}

async function jobCount(): Promise<number> {
  const { counts } = await json<{ counts: Record<string, number> }>(
    await h.request('/v1/sync/jobs', { role: 'operator' }),
  );
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

/** POSTs raw bytes with the given headers. */
const post = (body: string, headers: Record<string, string>) =>
  h.request('/webhooks/whatsapp', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });

const stop = (from: string, opts: { id?: string } = {}) =>
  textMessage(from, 'STOP', { timestamp: ts(h), ...opts });

/** Everything that would show a change: the sender, the ledger, the outbox. */
async function snapshot(sender: string) {
  return { sender: (await subject(sender)).known, events: await ledgerEvents(), jobs: await jobCount() };
}

describe('GET /webhooks/whatsapp verification', () => {
  beforeEach(async () => {
    h = await startHarness();
  });
  const verify = (q: Record<string, string>) => h.request(`/webhooks/whatsapp?${new URLSearchParams(q)}`);

  it('echoes hub.challenge as text when the token matches', async () => {
    const res = await verify({
      'hub.mode': 'subscribe',
      'hub.challenge': '1158201444',
      'hub.verify_token': VERIFY_TOKEN,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toBe('1158201444');
  });

  it.each([
    ['a wrong token', { 'hub.mode': 'subscribe', 'hub.challenge': '42', 'hub.verify_token': 'nope' }],
    [
      'a prefix of the token',
      { 'hub.mode': 'subscribe', 'hub.challenge': '42', 'hub.verify_token': VERIFY_TOKEN.slice(0, -1) },
    ],
    ['no token', { 'hub.mode': 'subscribe', 'hub.challenge': '42' }],
    ['no mode', { 'hub.challenge': '42', 'hub.verify_token': VERIFY_TOKEN }],
    ['another mode', { 'hub.mode': 'unsubscribe', 'hub.challenge': '42', 'hub.verify_token': VERIFY_TOKEN }],
    ['no challenge', { 'hub.mode': 'subscribe', 'hub.verify_token': VERIFY_TOKEN }],
  ])('403 with %s', async (_name, q) => {
    const res = await verify(q);
    expect(res.status).toBe(403);
    const body = await json<ErrorBody>(res);
    expect(body.error.code).toBe('FORBIDDEN');
    expect(JSON.stringify(body)).not.toContain('42');
  });
});

describe('POST /webhooks/whatsapp signatures', () => {
  beforeEach(async () => {
    h = await startHarness();
    // Something in the ledger already, so "unchanged" is not trivially zero.
    expect((await h.webhook(stop(SEED))).status).toBe(200);
    await h.drain();
  });

  const cases: Array<[string, (body: string) => Promise<{ body: string; headers: Record<string, string> }>]> =
    [
      ['a missing signature', async (body) => ({ body, headers: {} })],
      ['an empty signature', async (body) => ({ body, headers: { 'x-hub-signature-256': '' } })],
      [
        'a wrong signature',
        async (body) => ({ body, headers: { 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` } }),
      ],
      [
        'the bare hex without sha256=',
        async (body) => ({
          body,
          headers: { 'x-hub-signature-256': (await signMetaBody(body, APP_SECRET)).slice(7) },
        }),
      ],
      [
        'a signature over different bytes (same JSON, re-serialised)',
        async (body) => ({
          body: JSON.stringify(JSON.parse(body), null, 2),
          headers: { 'x-hub-signature-256': await signMetaBody(body, APP_SECRET) },
        }),
      ],
      [
        'sha256= of the right body with a different secret',
        async (body) => ({
          body,
          headers: { 'x-hub-signature-256': await signMetaBody(body, `${APP_SECRET}-other`) },
        }),
      ],
      [
        'only the legacy sha1 header',
        async (body) => ({ body, headers: { 'x-hub-signature': `sha1=${'a'.repeat(40)}` } }),
      ],
    ];

  it.each(cases)('%s → 401 and nothing changes', async (_name, build) => {
    const before = await snapshot(SENDER);
    const { body, headers } = await build(JSON.stringify(envelope(stop(SENDER))));
    const res = await post(body, headers);
    expect(res.status).toBe(401);
    const err = await json<ErrorBody>(res);
    expect(err).toEqual({ error: { code: 'INVALID_SIGNATURE', message: expect.any(String) } });
    expect(err.error.message).not.toContain(SENDER);
    expect(await h.drain()).toBe(0);
    expect(await snapshot(SENDER)).toEqual(before);
    expect(before.sender).toBe(false);
  });

  it('the correctly signed control request does change state', async () => {
    const req = await signedRequest(envelope(stop(SENDER)), APP_SECRET);
    expect((await post(req.body, req.headers)).status).toBe(200);
    expect((await subject(SENDER)).purposes.marketing?.status).toBe('opted_out');
  });
});

describe('POST /webhooks/whatsapp body limits and shapes', () => {
  beforeEach(async () => {
    h = await startHarness({ env: { MAX_BODY_BYTES: '2048' } });
  });

  it('a body over MAX_BODY_BYTES → 413, even when signed, and nothing changes', async () => {
    const before = await snapshot(SENDER);
    const big = envelope(stop(SENDER), textMessage(SENDER, 'x'.repeat(3000), { timestamp: ts(h) }));
    const req = await signedRequest(big, APP_SECRET);
    expect(req.body.length).toBeGreaterThan(2048);
    const res = await post(req.body, req.headers);
    expect(res.status).toBe(413);
    expect((await json<ErrorBody>(res)).error.code).toBe('PAYLOAD_TOO_LARGE');
    // also when the client declares the size up front
    const declared = await post(req.body, { ...req.headers, 'content-length': String(req.body.length) });
    expect(declared.status).toBe(413);
    expect(await snapshot(SENDER)).toEqual(before);
  });

  it('a body just under the limit is accepted', async () => {
    const req = await signedRequest(envelope(stop(SENDER)), APP_SECRET);
    expect(req.body.length).toBeLessThan(2048);
    expect((await post(req.body, req.headers)).status).toBe(200);
  });

  it('malformed JSON, validly signed → 400', async () => {
    for (const body of ['{"object":"whatsapp_business_account",', 'not json', '', '\xff\xfe']) {
      const res = await post(body, { 'x-hub-signature-256': await signMetaBody(body, APP_SECRET) });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((await json<ErrorBody>(res)).error.code).toBe('MALFORMED_JSON');
    }
  });

  it('invalid UTF-8, validly signed → 400', async () => {
    const bytes = new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]); // {"\xff":1}
    const res = await h.request('/webhooks/whatsapp', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-hub-signature-256': await signMetaBody(bytes, APP_SECRET),
      },
      body: bytes,
    });
    expect(res.status).toBe(400);
  });

  it('valid JSON that is not a WhatsApp envelope, validly signed → 422 naming no values', async () => {
    const bodies: unknown[] = [
      { hello: 'world' },
      [],
      42,
      { object: 'page', entry: [] },
      { object: 'whatsapp_business_account' },
      { object: 'whatsapp_business_account', entry: [{ id: WABA_ID, changes: 'nope' }] },
    ];
    for (const b of bodies) {
      const req = await signedRequest(JSON.stringify(b), APP_SECRET);
      const res = await post(req.body, req.headers);
      expect(res.status, req.body).toBe(422);
      const err = await json<ErrorBody>(res);
      expect(err.error.code).toBe('MALFORMED_PAYLOAD');
      expect(err.error.message).not.toContain(SENDER);
    }
    expect((await subject(SENDER)).known).toBe(false);
  });

  it('a well-formed envelope with an unreadable message → 200; the message is skipped, not applied (rule 8)', async () => {
    const b = envelope({
      field: 'messages',
      value: { messages: [{ from: SENDER, id: 'wamid.X', type: 'text' }] },
    });
    const req = await signedRequest(JSON.stringify(b), APP_SECRET);
    const res = await post(req.body, req.headers);
    expect(res.status).toBe(200);
    expect(await res.text()).not.toContain(SENDER);
    expect((await subject(SENDER)).known).toBe(false);
  });

  it('unknown fields, change fields and message types → 200 and ignored', async () => {
    const before = await snapshot(SENDER);
    const reaction = textMessage(SENDER, 'x', { timestamp: ts(h) });
    const msg = (reaction.value.messages as Array<Record<string, unknown>>)[0]!;
    delete msg.text;
    msg.type = 'reaction';
    msg.reaction = { message_id: 'wamid.SOMETHING', emoji: '👍' };
    const body = {
      object: 'whatsapp_business_account',
      brand_new_top_level: { nested: true },
      entry: [
        {
          id: WABA_ID,
          time: 1_700_000_000,
          changes: [
            reaction,
            { field: 'message_template_status_update', value: { event: 'APPROVED', message_template_id: 1 } },
            { field: 'flows', value: { anything: ['goes'] } },
          ],
        },
      ],
    };
    const req = await signedRequest(body, APP_SECRET);
    const res = await post(req.body, req.headers);
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ stored: 0 });
    await h.drained();
    expect(await snapshot(SENDER)).toEqual(before);
  });

  it('unknown extra keys on a STOP are stripped and the STOP still applies', async () => {
    const change = stop(SENDER);
    (change.value as Record<string, unknown>).future_field = { x: 1 };
    ((change.value.messages as Array<Record<string, unknown>>)[0] as Record<string, unknown>).new_flag = true;
    const req = await signedRequest({ ...envelope(change), extra: 'ok' }, APP_SECRET);
    expect((await post(req.body, req.headers)).status).toBe(200);
    expect((await subject(SENDER)).purposes.marketing?.status).toBe('opted_out');
  });
});

describe('POST /webhooks/whatsapp delivery semantics', () => {
  beforeEach(async () => {
    h = await startHarness();
  });

  it('a redelivered STOP (same wamid) changes nothing the second time', async () => {
    const id = nextWamid();
    const first = await h.webhook(stop(SENDER, { id }));
    expect(first.status).toBe(200);
    expect(await json(first)).toMatchObject({ stored: 1 });
    const after = { events: await ledgerEvents(), jobs: await jobCount() };
    expect(after.jobs).toBe(1);

    // stored again (the inbox does not know it), decided as a duplicate: nothing new
    const again = await h.webhook(stop(SENDER, { id }));
    expect(again.status).toBe(200);
    expect(await json(again)).toMatchObject({ stored: 1 });
    expect({ events: await ledgerEvents(), jobs: await jobCount() }).toEqual(after);
    await h.drain();
    // and once more after the reply went out
    h.advance(60_000);
    expect((await h.webhook(stop(SENDER, { id }))).status).toBe(200);
    await h.drain();

    expect({ events: await ledgerEvents(), jobs: await jobCount() }).toEqual(after);
    expect(h.graph.sent()).toHaveLength(1);
    expect(h.graph.sent()[0]?.to).toBe(`+${SENDER}`);
  });

  it('a redelivery within one batch is applied once', async () => {
    const id = nextWamid();
    const res = await h.webhook(stop(SENDER, { id }), stop(SENDER, { id }));
    expect(res.status).toBe(200);
    await h.drain();
    expect(h.graph.sent()).toHaveLength(1);
    expect(await jobCount()).toBe(1);
  });

  it('batched entries and changes from several senders are all stored before the 200', async () => {
    const [a, b, c, d, e] = ['4915123456782', '4915123456783', '16505550121', '16505550122', '16505550123'];
    const twoMessages = stop(a!);
    const other = stop(b!);
    (twoMessages.value.messages as unknown[]).push(...(other.value.messages as unknown[]));
    (twoMessages.value.contacts as unknown[]).push(...(other.value.contacts as unknown[]));
    const nowSec = Math.floor(h.now().getTime() / 1000);
    const second: WebhookChange[] = [
      userPreference(c!, 'stop', { timestamp: nowSec }),
      textMessage(d!, 'UNSUBSCRIBE', { timestamp: ts(h) }),
    ];
    const body = {
      object: 'whatsapp_business_account',
      entry: [
        { id: WABA_ID, changes: [twoMessages] },
        { id: WABA_ID, changes: second },
        { id: WABA_ID, changes: [textMessage(e!, 'Stopp', { timestamp: ts(h) })] },
      ],
    };
    const req = await signedRequest(body, APP_SECRET);
    const res = await post(req.body, req.headers);
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ received: 5, stored: 5 });
    // the 200 promises the events are stored (in the inbox); the decider applies them right after
    await h.drained();
    for (const sender of [a, b, c, d, e]) {
      const s = await subject(sender!);
      expect(s.known, sender).toBe(true);
      expect(s.purposes.marketing?.status, sender).toBe('opted_out');
    }
  });

  it('a concurrent burst of 20 STOPs from 20 numbers is all applied and the ledger verifies', async () => {
    const senders = Array.from({ length: 20 }, (_, i) => `165055501${String(20 + i)}`);
    const before = await ledgerEvents();
    const responses = await Promise.all(senders.map((s) => h.webhook(stop(s))));
    expect(responses.map((r) => r.status)).toEqual(senders.map(() => 200));
    for (const s of senders) {
      const { purposes } = await subject(s);
      expect(purposes.marketing?.status, s).toBe('opted_out');
      expect(purposes.transactional?.status, s).toBe('opted_out');
    }
    const v = await json<{ ok: boolean; events: number }>(
      await h.request('/v1/ledger/verify', { role: 'auditor' }),
    );
    expect(v).toEqual({ ok: true, events: before + senders.length * 2 });
    await h.drain();
    expect(h.graph.sent()).toHaveLength(20);
    expect(new Set(h.graph.sent().map((m) => m.to))).toEqual(new Set(senders.map((s) => `+${s}`)));
  });
});
