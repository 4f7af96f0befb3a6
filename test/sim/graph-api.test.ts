import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type GraphSimulator, startGraphSimulator } from './graph-api.ts';

const TOKEN = 'sim-token';
const PHONE_NUMBER_ID = '106540352242922';

let graph: GraphSimulator;
beforeAll(async () => {
  graph = await startGraphSimulator({ accessToken: TOKEN, phoneNumberId: PHONE_NUMBER_ID });
});
afterAll(() => graph.close());
beforeEach(() => graph.reset());

const post = (body: unknown, token = TOKEN, path = `/${PHONE_NUMBER_ID}/messages`) =>
  fetch(`${graph.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

const text = { messaging_product: 'whatsapp', to: '+16505550101', type: 'text', text: { body: 'Hi!' } };

describe('Graph API simulator', () => {
  it('listens on 127.0.0.1 with a versioned base URL', () => {
    expect(graph.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v23\.0$/);
  });

  it('answers like Meta and records the request', async () => {
    const res = await post(text);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { messages: Array<{ id: string }> };
    expect(body).toEqual({
      messaging_product: 'whatsapp',
      contacts: [{ input: '+16505550101', wa_id: '16505550101' }],
      messages: [{ id: expect.stringMatching(/^wamid\./) }],
    });
    expect(graph.requests[0]).toMatchObject({
      method: 'POST',
      path: `/v23.0/${PHONE_NUMBER_ID}/messages`,
      body: text,
    });
    expect(graph.sent()).toEqual([
      { id: body.messages[0]?.id, to: '+16505550101', type: 'text', text: { body: 'Hi!' } },
    ]);
  });

  it('issues unique wamids', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++)
      ids.add(((await (await post(text)).json()) as { messages: [{ id: string }] }).messages[0].id);
    expect(ids.size).toBe(5);
  });

  it('rejects a wrong token with a Graph OAuthException', async () => {
    const res = await post(text, 'nope');
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: { type: 'OAuthException', code: 190 } });
    expect(graph.sent()).toEqual([]);
  });

  it.each([
    ['no messaging_product', { ...text, messaging_product: undefined }],
    ['no to', { ...text, to: undefined }],
    ['unknown type', { ...text, type: 'hologram', hologram: {} }],
    ['text without body', { ...text, text: {} }],
    ['template without language', { ...text, type: 'template', template: { name: 'x' } }],
    ['not JSON', '{'],
  ])('400 code 100 for %s', async (_name, body) => {
    const res = await post(body);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 100 } });
  });

  it('429 carries Retry-After and 130429', async () => {
    graph.failNext(1, '429');
    const res = await post(text);
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(await res.json()).toMatchObject({ error: { code: 130429 } });
    expect((await post(text)).status).toBe(200);
  });

  it('network faults destroy the socket', async () => {
    graph.failNext(1, 'network');
    await expect(post(text)).rejects.toThrow();
    expect((await post(text)).status).toBe(200);
  });

  it('stopRecipients get 131050 by wa id, whatever the input format', async () => {
    graph.stopRecipients.add('16505550101');
    const res = await post(text);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 131050 } });
    expect((await post({ ...text, to: '16505550102' })).status).toBe(200);
  });

  describe('business-scoped user ids (recipient)', () => {
    const BSUID = 'US.7301946621058839401'; // invented, Meta's documented shape
    const PARENT = 'US.ENT.5520913377014482690';
    const { to: _to, ...noTo } = text;

    it('accepts a BSUID in recipient and answers with user_id, not wa_id', async () => {
      const res = await post({ ...noTo, recipient: BSUID });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { messages: Array<{ id: string }> };
      expect(body).toEqual({
        messaging_product: 'whatsapp',
        contacts: [{ input: BSUID, user_id: BSUID }],
        messages: [{ id: expect.stringMatching(/^wamid\./) }],
      });
      expect(graph.sent()).toEqual([
        { id: body.messages[0]?.id, to: BSUID, recipient: BSUID, type: 'text', text: { body: 'Hi!' } },
      ]);
    });

    it('to wins when both to and recipient are set', async () => {
      const res = await post({ ...text, recipient: BSUID });
      expect(await res.json()).toMatchObject({ contacts: [{ input: '+16505550101', wa_id: '16505550101' }] });
      expect(graph.sent()[0]).not.toHaveProperty('recipient');
    });

    it.each([
      ['a lower-case country code', 'us.7301946621058839401'],
      ['no country code', '7301946621058839401'],
      ['a BSUID with a symbol', 'US.7301-9466'],
      ['a number in recipient', '+16505550101'],
      ['an empty recipient', ''],
    ])('400 code 100 for %s', async (_name, recipient) => {
      const res = await post({ ...noTo, recipient });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: { code: 100 } });
      expect(graph.sent()).toEqual([]);
    });

    it('refuses a parent BSUID with 131009 unless the portfolio is enrolled', async () => {
      const res = await post({ ...noTo, recipient: PARENT });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: { code: 131009 } });
      const enrolled = await startGraphSimulator({
        accessToken: TOKEN,
        phoneNumberId: PHONE_NUMBER_ID,
        parentBsuids: true,
      });
      try {
        const ok = await fetch(`${enrolled.url}/${PHONE_NUMBER_ID}/messages`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ ...noTo, recipient: PARENT }),
        });
        expect(ok.status).toBe(200);
        expect(enrolled.sent()[0]).toMatchObject({ to: PARENT, recipient: PARENT });
      } finally {
        await enrolled.close();
      }
    });

    it('stopRecipients may hold BSUIDs', async () => {
      graph.stopRecipients.add(BSUID);
      const res = await post({ ...noTo, recipient: BSUID });
      expect(await res.json()).toMatchObject({ error: { code: 131050 } });
    });
  });

  it('reset clears requests, sent messages, faults and stop list', async () => {
    graph.failNext(3, '500');
    graph.stopRecipients.add('16505550101');
    await post(text);
    graph.reset();
    expect(graph.requests).toEqual([]);
    expect((await post(text)).status).toBe(200);
    expect(graph.sent()).toHaveLength(1);
  });
});
