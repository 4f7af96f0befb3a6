import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type GraphSimulator, startGraphSimulator } from '../../test/sim/graph-api.ts';
import { createWhatsAppClient, type SendResult } from './client.ts';

const TOKEN = 'test-access-token';
const PHONE_NUMBER_ID = '106540352242922';
const ALICE = '+16505550101';
const ALICE_WA = '16505550101';
const BODY = 'Your confirmation code is 4711';

let graph: GraphSimulator;
beforeAll(async () => {
  graph = await startGraphSimulator({ accessToken: TOKEN, phoneNumberId: PHONE_NUMBER_ID });
});
afterAll(() => graph.close());
beforeEach(() => graph.reset());

const client = (overrides: { accessToken?: string; timeoutMs?: number } = {}) =>
  createWhatsAppClient({
    graphUrl: graph.url,
    phoneNumberId: PHONE_NUMBER_ID,
    accessToken: TOKEN,
    fetch,
    ...overrides,
  });

function failure(result: SendResult) {
  if (result.ok) throw new Error('expected a failure');
  // No personal data in any error message.
  expect(result.error.message).not.toContain(ALICE_WA);
  expect(result.error.message).not.toContain(BODY);
  return result.error;
}

describe('WhatsApp client: success', () => {
  it('sends text with the documented body and headers', async () => {
    const result = await client().sendText({ to: ALICE, body: BODY });
    expect(result).toEqual({
      ok: true,
      messageId: expect.stringMatching(/^wamid\./),
      waId: ALICE_WA,
      userId: null,
    });
    const [req] = graph.requests;
    expect(req?.method).toBe('POST');
    expect(req?.path).toBe(`/v23.0/${PHONE_NUMBER_ID}/messages`);
    expect(req?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(req?.headers['content-type']).toBe('application/json');
    expect(req?.body).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: ALICE,
      type: 'text',
      text: { preview_url: false, body: BODY },
    });
    expect(graph.sent()).toEqual([
      {
        id: result.ok ? result.messageId : '',
        to: ALICE,
        type: 'text',
        text: { preview_url: false, body: BODY },
      },
    ]);
  });

  it('sends a template, with and without components', async () => {
    const components = [{ type: 'body', parameters: [{ type: 'text', text: 'Asha' }] }];
    await client().sendTemplate({ to: ALICE_WA, name: 'order_confirmation', languageCode: 'en', components });
    await client().sendTemplate({ to: ALICE_WA, name: 'consent_request', languageCode: 'de' });
    expect(graph.sent().map((m) => m.template)).toEqual([
      { name: 'order_confirmation', language: { code: 'en' }, components },
      { name: 'consent_request', language: { code: 'de' } },
    ]);
  });

  it('sends interactive reply buttons', async () => {
    const result = await client().sendButtons({
      to: ALICE,
      body: 'Confirm WhatsApp news?',
      buttons: [
        { id: 'CONSENT_CONFIRM', title: 'Ja' },
        { id: 'CONSENT_DECLINE', title: 'Nein' },
      ],
    });
    expect(result.ok).toBe(true);
    expect(graph.requests[0]?.body).toMatchObject({
      recipient_type: 'individual',
      type: 'interactive',
      interactive: {
        type: 'button',
        body: { text: 'Confirm WhatsApp news?' },
        action: {
          buttons: [
            { type: 'reply', reply: { id: 'CONSENT_CONFIRM', title: 'Ja' } },
            { type: 'reply', reply: { id: 'CONSENT_DECLINE', title: 'Nein' } },
          ],
        },
      },
    });
  });
});

describe('WhatsApp client: business-scoped user ids', () => {
  const BSUID = 'US.7301946621058839401'; // invented, Meta's documented shape
  const PARENT = 'US.ENT.5520913377014482690';

  it('a { bsuid } recipient goes in `recipient`, with no `to` (Meta: `to` would win)', async () => {
    const result = await client().sendText({ to: { bsuid: BSUID }, body: BODY });
    expect(result).toEqual({
      ok: true,
      messageId: expect.stringMatching(/^wamid\./),
      waId: null,
      userId: BSUID,
    });
    expect(graph.requests[0]?.body).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      recipient: BSUID,
      type: 'text',
      text: { preview_url: false, body: BODY },
    });
    expect(graph.sent()).toEqual([expect.objectContaining({ recipient: BSUID, type: 'text' })]);
  });

  it('templates and buttons go to a BSUID the same way', async () => {
    await client().sendTemplate({ to: { bsuid: BSUID }, name: 'consent_request', languageCode: 'de' });
    await client().sendButtons({ to: { bsuid: BSUID }, body: 'b', buttons: [{ id: 'a', title: 'A' }] });
    expect(
      graph.requests.map((r) => [(r.body as Record<string, unknown>).recipient, 'to' in (r.body as object)]),
    ).toEqual([
      [BSUID, false],
      [BSUID, false],
    ]);
  });

  it('a { phone } recipient is sent as `to`, like a string', async () => {
    const result = await client().sendText({ to: { phone: ALICE }, body: BODY });
    expect(result).toMatchObject({ ok: true, waId: ALICE_WA, userId: null });
    expect(graph.requests[0]?.body).toMatchObject({ to: ALICE });
    expect(graph.requests[0]?.body).not.toHaveProperty('recipient');
  });

  it('a parent BSUID is sent as given; a portfolio not enrolled gets 131009, not retried', async () => {
    const error = failure(await client().sendText({ to: { bsuid: PARENT }, body: BODY }));
    expect(graph.requests[0]?.body).toMatchObject({ recipient: PARENT });
    expect(error).toMatchObject({
      code: 'INVALID_PARAMETER',
      vendorCode: 131009,
      retryable: false,
      status: 400,
    });
    expect(error.message).not.toContain(PARENT);
  });

  it('a stopped BSUID gets the non-retryable 131050', async () => {
    graph.stopRecipients.add(BSUID);
    const error = failure(await client().sendText({ to: { bsuid: BSUID }, body: BODY }));
    expect(error).toMatchObject({ code: 'RECIPIENT_STOPPED_MARKETING', retryable: false });
  });
});

describe('WhatsApp client: faults', () => {
  it('429 → retryable RATE_LIMITED with Retry-After', async () => {
    graph.failNext(1, '429');
    expect(failure(await client().sendText({ to: ALICE, body: BODY }))).toEqual({
      code: 'RATE_LIMITED',
      message: 'WhatsApp error 130429: Rate limit hit',
      retryable: true,
      retryAfterMs: 1000,
      status: 429,
      vendorCode: 130429,
    });
  });

  it.each([
    ['500', { code: 'VENDOR_ERROR', retryable: true, status: 500, vendorCode: 131000 }],
    ['131056', { code: 'PAIR_RATE_LIMITED', retryable: true, status: 400, vendorCode: 131056 }],
    ['131050', { code: 'RECIPIENT_STOPPED_MARKETING', retryable: false, status: 400, vendorCode: 131050 }],
    ['network', { code: 'NETWORK', retryable: true, status: null, vendorCode: null }],
  ] as const)('%s → %o', async (kind, expected) => {
    graph.failNext(1, kind);
    expect(failure(await client().sendText({ to: ALICE, body: BODY }))).toMatchObject(expected);
    expect(graph.sent()).toEqual([]);
  });

  it('recovers after the injected faults run out', async () => {
    graph.failNext(2, '500');
    const wa = client();
    expect((await wa.sendText({ to: ALICE, body: BODY })).ok).toBe(false);
    expect((await wa.sendText({ to: ALICE, body: BODY })).ok).toBe(false);
    expect((await wa.sendText({ to: ALICE, body: BODY })).ok).toBe(true);
    expect(graph.requests).toHaveLength(3);
    expect(graph.sent()).toHaveLength(1);
  });

  it('stopped recipients always get a non-retryable 131050', async () => {
    graph.stopRecipients.add(ALICE_WA);
    for (let i = 0; i < 2; i++) {
      expect(
        failure(await client().sendTemplate({ to: ALICE, name: 'promo', languageCode: 'en' })),
      ).toMatchObject({
        code: 'RECIPIENT_STOPPED_MARKETING',
        retryable: false,
      });
    }
  });

  it('a wrong token → non-retryable 401', async () => {
    expect(failure(await client({ accessToken: 'wrong' }).sendText({ to: ALICE, body: BODY }))).toMatchObject(
      {
        code: 'UNAUTHORIZED',
        retryable: false,
        status: 401,
        vendorCode: 190,
      },
    );
  });

  it('a hung request times out → retryable NETWORK', async () => {
    graph.failNext(1, 'hang');
    const started = Date.now();
    const error = failure(await client({ timeoutMs: 100 }).sendText({ to: ALICE, body: BODY }));
    expect(error).toMatchObject({
      code: 'NETWORK',
      retryable: true,
      message: 'request timed out after 100 ms',
    });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('an unreachable server → retryable NETWORK', async () => {
    const wa = createWhatsAppClient({
      graphUrl: 'http://127.0.0.1:9/v23.0',
      phoneNumberId: PHONE_NUMBER_ID,
      accessToken: TOKEN,
      fetch,
    });
    expect(failure(await wa.sendText({ to: ALICE, body: BODY }))).toMatchObject({
      code: 'NETWORK',
      retryable: true,
    });
  });
});

describe('WhatsApp client: vendor codes without the simulator', () => {
  const reply = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    createWhatsAppClient({
      graphUrl: 'https://graph.example/v23.0',
      phoneNumberId: PHONE_NUMBER_ID,
      accessToken: TOKEN,
      fetch: async () => new Response(JSON.stringify(body), { status, headers }),
    });
  const graphError = (code: number) => ({
    error: { message: `(#${code}) about ${ALICE_WA}: ${BODY}`, code, error_data: { details: BODY } },
  });

  it.each([
    [400, 131047, 'OUTSIDE_CUSTOMER_SERVICE_WINDOW', false],
    [400, 131026, 'UNDELIVERABLE', false],
    [400, 131009, 'INVALID_PARAMETER', false],
    [400, 131062, 'BSUID_RECIPIENT_UNSUPPORTED', false],
    [400, 131057, 'ACCOUNT_UPGRADING', true],
    [400, 80007, 'RATE_LIMITED', true],
    [400, 4, 'RATE_LIMITED', true],
    [400, 100, 'BAD_REQUEST', false],
    [503, 999999, 'SERVER_ERROR', true],
  ])(
    'HTTP %i code %i → %s (retryable %s), vendor text never copied',
    async (status, code, expected, retryable) => {
      const error = failure(await reply(status, graphError(code)).sendText({ to: ALICE, body: BODY }));
      expect(error).toMatchObject({ code: expected, retryable, vendorCode: code, status });
    },
  );

  it('Retry-After as an HTTP-date', async () => {
    const at = new Date(Date.now() + 30_000).toUTCString();
    const error = failure(
      await reply(429, graphError(130429), { 'retry-after': at }).sendText({ to: ALICE, body: BODY }),
    );
    expect(error.retryAfterMs).toBeGreaterThan(25_000);
    expect(error.retryAfterMs).toBeLessThanOrEqual(30_000);
  });

  it('a non-JSON 502 is classified by status', async () => {
    const wa = createWhatsAppClient({
      graphUrl: 'https://graph.example/v23.0',
      phoneNumberId: PHONE_NUMBER_ID,
      accessToken: TOKEN,
      fetch: async () => new Response('<html>Bad gateway</html>', { status: 502 }),
    });
    expect(failure(await wa.sendText({ to: ALICE, body: BODY }))).toMatchObject({
      code: 'SERVER_ERROR',
      retryable: true,
      vendorCode: null,
    });
  });

  it('a 200 without a message id is not retried (it may have been sent)', async () => {
    const error = failure(
      await reply(200, { messaging_product: 'whatsapp' }).sendText({ to: ALICE, body: BODY }),
    );
    expect(error).toMatchObject({ code: 'UNEXPECTED_RESPONSE', retryable: false, status: 200 });
  });
});

describe('WhatsApp client: local validation (nothing is sent)', () => {
  it.each([
    ['bad recipient', () => client().sendText({ to: '+1 650 555 0101', body: BODY }), 'INVALID_RECIPIENT'],
    ['bad { phone }', () => client().sendText({ to: { phone: 'US.1' }, body: BODY }), 'INVALID_RECIPIENT'],
    [
      'a number as { bsuid }',
      () => client().sendText({ to: { bsuid: ALICE }, body: BODY }),
      'INVALID_RECIPIENT',
    ],
    [
      'a lower-case BSUID',
      () => client().sendText({ to: { bsuid: 'us.1234' }, body: BODY }),
      'INVALID_RECIPIENT',
    ],
    ['empty body', () => client().sendText({ to: ALICE, body: '' }), 'INVALID_REQUEST'],
    ['too long body', () => client().sendText({ to: ALICE, body: 'x'.repeat(4097) }), 'INVALID_REQUEST'],
    [
      'no template name',
      () => client().sendTemplate({ to: ALICE, name: '', languageCode: 'en' }),
      'INVALID_REQUEST',
    ],
    ['no buttons', () => client().sendButtons({ to: ALICE, body: 'b', buttons: [] }), 'INVALID_REQUEST'],
    [
      'four buttons',
      () =>
        client().sendButtons({
          to: ALICE,
          body: 'b',
          buttons: ['1', '2', '3', '4'].map((id) => ({ id, title: id })),
        }),
      'INVALID_REQUEST',
    ],
    [
      'title over 20',
      () => client().sendButtons({ to: ALICE, body: 'b', buttons: [{ id: 'a', title: 'x'.repeat(21) }] }),
      'INVALID_REQUEST',
    ],
    [
      'duplicate ids',
      () =>
        client().sendButtons({
          to: ALICE,
          body: 'b',
          buttons: [
            { id: 'a', title: 'A' },
            { id: 'a', title: 'B' },
          ],
        }),
      'INVALID_REQUEST',
    ],
  ])('%s', async (_name, send, code) => {
    expect(failure(await send())).toMatchObject({ code, retryable: false });
    expect(graph.requests).toEqual([]);
  });

  it('a 20-character title with emoji counts characters, not UTF-16 units', async () => {
    const title = `${'x'.repeat(19)}👍`;
    expect((await client().sendButtons({ to: ALICE, body: 'b', buttons: [{ id: 'a', title }] })).ok).toBe(
      true,
    );
  });
});
