import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, json, startHarness } from '../helpers/harness.ts';
import { buttonReply, interactiveReply, textMessage } from '../helpers/whatsapp.ts';

// Fictitious numbers only.
const PHONE = '+4915123456781';
const WA = '4915123456781';
const H = 3_600_000;
const ts = (h: Harness) => String(Math.floor(h.now().getTime() / 1000));

type Subject = {
  known: boolean;
  purposes: Record<
    string,
    { status: string; changedAt: string | null; source: string | null; doubleOptInAt: string | null }
  >;
};

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

async function startDoi(purposes = ['marketing'], extra: Record<string, unknown> = {}) {
  const res = await h.request('/v1/consents', {
    method: 'POST',
    role: 'intake',
    json: {
      phone: PHONE,
      purposes,
      locale: 'de',
      evidence: { formUrl: 'https://shop.example/newsletter' },
      ...extra,
    },
  });
  return { res, body: await json(res) };
}

const subject = async () =>
  json<Subject>(await h.request(`/v1/subjects/${encodeURIComponent(PHONE)}`, { role: 'operator' }));

describe('double opt-in', () => {
  it('web form → pending → confirmation message → JA → opted_in with the DOI timestamp', async () => {
    const { res, body } = await startDoi(['marketing', 'transactional']);
    expect(res.status).toBe(202);
    // an intake key learns nothing about the person (finding 5): the states are read by an operator
    expect(body).toEqual({ status: 'accepted', purposes: ['marketing', 'transactional'] });
    expect((await subject()).purposes.marketing?.status).toBe('pending');

    await h.drain();
    const sent = h.graph.sent();
    expect(sent).toHaveLength(1);
    expect(sent[0]?.to).toBe(PHONE);
    const text = JSON.stringify(sent[0]?.text);
    expect(text).toContain('Beispiel GmbH'); // business name
    expect(text).toContain('https://example.com/datenschutz'); // privacy link
    expect(text).toContain('WhatsApp');
    expect(text).toContain('STOPP'); // how to stop
    // what Meta received: the real Graph API shape, with our token
    const req = h.graph.requests.at(-1)!;
    expect(req.path).toBe('/v23.0/106540352242922/messages');
    expect(req.headers.authorization).toBe('Bearer test-graph-token');

    h.advance(H);
    const reply = await h.webhook(textMessage(WA, 'Ja!', { timestamp: ts(h) }));
    expect(reply.status).toBe(200);
    const s = await subject();
    expect(s.purposes.marketing).toMatchObject({
      status: 'opted_in',
      source: 'whatsapp',
      doubleOptInAt: h.now().toISOString(),
    });
    expect(s.purposes.transactional?.status).toBe('opted_in');

    await h.drain();
    expect(h.graph.sent()).toHaveLength(2); // "you are subscribed" confirmation
  });

  it('history returns the events with evidence and the exact wording shown', async () => {
    await startDoi(['marketing']);
    await h.drain();
    const wamid = 'wamid.TEST-confirm-1';
    await h.webhook(textMessage(WA, 'YES', { id: wamid, timestamp: ts(h) }));
    const res = await h.request(`/v1/subjects/${encodeURIComponent(PHONE)}/history`, { role: 'auditor' });
    expect(res.status).toBe(200);
    const { events } = await json<{ events: Array<Record<string, unknown>> }>(res);
    expect(events.map((e) => e.action)).toEqual(['requested', 'confirmed']);
    const [req, conf] = events;
    expect(req).toMatchObject({ source: 'form', textVersion: expect.stringMatching(/^marketing-de/) });
    expect(req?.evidence).toMatchObject({ formUrl: 'https://shop.example/newsletter', locale: 'de' });
    expect(String(req?.text)).toContain('Beispiel GmbH');
    const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(String(req?.text)));
    expect(req?.textSha256).toBe(Buffer.from(digest).toString('hex'));
    expect(conf?.evidence).toMatchObject({ waMessageId: wamid, matched: 'yes' });
    expect(conf?.textVersion).toBe(req?.textVersion);
  });

  it.each([
    [
      'a quick-reply button payload',
      () => buttonReply(WA, 'CONSENT_CONFIRM', 'Ja, gerne', { timestamp: ts(h) }),
    ],
    [
      'an interactive button_reply id',
      () => interactiveReply(WA, 'CONSENT_CONFIRM', 'Ja', { timestamp: ts(h) }),
    ],
  ])('%s confirms', async (_name, build) => {
    await startDoi();
    await h.webhook(build());
    expect((await subject()).purposes.marketing?.status).toBe('opted_in');
  });

  it('pending expires after 72 h and a late YES only records evidence', async () => {
    await startDoi();
    h.advance(73 * H);
    expect(await h.services.expirePending()).toBe(1);
    expect((await subject()).purposes.marketing?.status).toBe('none');
    await h.webhook(textMessage(WA, 'ja', { timestamp: ts(h) }));
    expect((await subject()).purposes.marketing?.status).toBe('none');
    const { events } = await json<{ events: Array<{ action: string; evidence: { reason?: string } }> }>(
      await h.request(`/v1/subjects/${encodeURIComponent(PHONE)}/history`, { role: 'admin' }),
    );
    expect(events.map((e) => e.action)).toEqual(['requested', 'expired', 'evidence']);
    expect(events.at(-1)?.evidence.reason).toBe('no_pending_request');
  });

  it('a YES arriving after the deadline but before the sweep is still too late', async () => {
    await startDoi();
    h.advance(72 * H + 1_000);
    await h.webhook(textMessage(WA, 'YES', { timestamp: ts(h) }));
    expect((await subject()).purposes.marketing?.status).toBe('pending');
    await h.services.expirePending();
    expect((await subject()).purposes.marketing?.status).toBe('none');
  });

  it('already opted in: no new confirmation message', async () => {
    await startDoi();
    await h.webhook(textMessage(WA, 'JA', { timestamp: ts(h) }));
    await h.drain();
    const before = h.graph.sent().length;
    const { res, body } = await startDoi();
    expect(res.status).toBe(202); // intake: the same answer as for anyone (finding 5)
    expect(body).toEqual({ status: 'accepted', purposes: ['marketing'] });
    const asAdmin = await h.request('/v1/consents', {
      method: 'POST',
      role: 'admin',
      json: { phone: PHONE, purposes: ['marketing'] },
    });
    expect(asAdmin.status).toBe(200);
    expect(await json(asAdmin)).toMatchObject({ confirmation: { status: 'not_needed' } });
    await h.drain();
    expect(h.graph.sent()).toHaveLength(before);
  });

  it('a YES with nothing pending stores nothing about an unknown number', async () => {
    const res = await h.webhook(textMessage('4915123456782', 'yes'));
    expect(res.status).toBe(200);
    const s = await json<Subject>(
      await h.request(`/v1/subjects/${encodeURIComponent('+4915123456782')}`, { role: 'operator' }),
    );
    expect(s.known).toBe(false);
  });

  it('rejects bad consent requests with a 4xx and changes nothing', async () => {
    const bad = [
      { phone: 'not-a-number', purposes: ['marketing'] },
      { phone: PHONE, purposes: ['astrology'] },
      { phone: PHONE, purposes: [] },
      { phone: PHONE, purposes: ['marketing'], unexpected: true },
      { phone: PHONE, purposes: ['marketing'], textVersion: 'transactional-de-1' },
      { phone: PHONE, purposes: ['marketing'], evidence: { formUrl: 'javascript:alert(1)' } },
    ];
    for (const body of bad) {
      const res = await h.request('/v1/consents', { method: 'POST', role: 'intake', json: body });
      expect(res.status, JSON.stringify(body)).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      const err = await json<{ error: { code: string; message: string } }>(res);
      expect(err.error.code).toMatch(/^[A-Z_]+$/);
      expect(err.error.message).not.toContain('not-a-number');
    }
    expect((await subject()).known).toBe(false);
    expect(await h.drain()).toBe(0);
  });

  it('a specific text version is recorded when given', async () => {
    const { res } = await startDoi(['marketing'], { textVersion: 'marketing-en-1', locale: 'en' });
    expect(res.status).toBe(202);
    const { events } = await json<{ events: Array<{ textVersion: string }> }>(
      await h.request(`/v1/subjects/${encodeURIComponent(PHONE)}/history`, { role: 'auditor' }),
    );
    expect(events[0]?.textVersion).toBe('marketing-en-1');
  });
});

describe('without WhatsApp credentials', () => {
  it('keeps the confirmation waiting in the outbox, untouched, and the send guard answers 503', async () => {
    const local = await startHarness({ whatsapp: false });
    try {
      const res = await local.request('/v1/consents', {
        method: 'POST',
        role: 'intake',
        json: { phone: PHONE, purposes: ['transactional'] },
      });
      expect(res.status).toBe(202);
      expect(await local.drain()).toBe(0);
      const jobs = await json<{ jobs: Array<{ status: string; attempts: number }> }>(
        await local.request('/v1/sync/jobs', { role: 'operator' }),
      );
      expect(jobs.jobs).toEqual([expect.objectContaining({ status: 'pending', attempts: 0 })]);
      await local.webhook(textMessage(WA, 'JA', { timestamp: ts(local) }));
      const send = await local.request('/v1/messages', {
        method: 'POST',
        role: 'operator',
        json: { phone: PHONE, purpose: 'transactional', text: 'Hello' },
      });
      expect(send.status).toBe(503);
      expect(local.graph.requests).toHaveLength(0);
    } finally {
      await local.close();
    }
  });
});

describe('request size', () => {
  it('caps every route, not only webhooks: 413 and nothing stored', async () => {
    const small = await startHarness({ env: { MAX_BODY_BYTES: '2048' } });
    try {
      const res = await small.request('/v1/consents', {
        method: 'POST',
        role: 'intake',
        json: { phone: PHONE, purposes: ['marketing'], evidence: { reference: 'x'.repeat(4000) } },
      });
      expect(res.status).toBe(413);
      expect(await json(res)).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
      expect(await small.drain()).toBe(0);
    } finally {
      await small.close();
    }
  });
});

describe('confirmation by template', () => {
  it('sends the configured template (outside the 24-hour window) and still confirms on JA', async () => {
    const tpl = await startHarness({
      catalog: (files) => {
        files.texts.doiTemplate = { name: 'consent_request', language: { de: 'de', en: 'en_US' } };
      },
    });
    try {
      await tpl.request('/v1/consents', {
        method: 'POST',
        role: 'intake',
        json: { phone: PHONE, purposes: ['marketing'], locale: 'en' },
      });
      await tpl.drain();
      expect(tpl.graph.sent()[0]).toMatchObject({
        type: 'template',
        template: { name: 'consent_request', language: { code: 'en_US' } },
      });
      await tpl.webhook(textMessage(WA, 'YES', { timestamp: ts(tpl) }));
      const s = await json<Subject>(
        await tpl.request(`/v1/subjects/${encodeURIComponent(PHONE)}`, { role: 'operator' }),
      );
      expect(s.purposes.marketing?.status).toBe('opted_in');
    } finally {
      await tpl.close();
    }
  });
});

describe('rate limits on POST /v1/consents (issue 14, finding 3)', () => {
  const ask = (x: Harness, phone: string, role: 'intake' | 'admin' = 'intake') =>
    x.request('/v1/consents', { method: 'POST', role, json: { phone, purposes: ['marketing'] } });
  const ledgerSize = async (x: Harness) => (await x.services.history.verify()).events;

  it('per number: the fourth request within an hour, from any key, gets 429 with Retry-After and changes nothing', async () => {
    const n = '+4915123456790';
    for (let i = 0; i < 3; i++) {
      expect((await ask(h, n, i === 2 ? 'admin' : 'intake')).status).toBeLessThan(300);
      h.advance(60_000);
    }
    await h.drain();
    const events = await ledgerSize(h);
    const sent = h.graph.sent().length;
    for (const role of ['intake', 'admin'] as const) {
      const res = await ask(h, n, role);
      expect(res.status).toBe(429);
      expect(await json(res)).toEqual({
        error: { code: 'RATE_LIMITED', message: expect.stringMatching(/^too many double opt-in requests/) },
      });
      // the first request leaves the window 60 min after it was made; 3 min have passed
      expect(res.headers.get('retry-after')).toBe(String(57 * 60));
    }
    await h.drain();
    expect(await ledgerSize(h)).toBe(events);
    expect(h.graph.sent()).toHaveLength(sent);
    // another number is not held back by this one
    expect((await ask(h, '+4915123456791')).status).toBe(202);
    h.advance(57 * 60_000);
    expect((await ask(h, n)).status).toBeLessThan(300);
    expect(h.logs.join('\n')).not.toContain('4915123456790');
  });

  it('per key: INTAKE_RATE_PER_KEY_PER_MINUTE requests a minute, then 429 with Retry-After; other keys go on', async () => {
    const x = await startHarness({ env: { INTAKE_RATE_PER_KEY_PER_MINUTE: '5' } });
    try {
      for (let i = 0; i < 5; i++) {
        expect((await ask(x, `+49151234568${i}0`)).status).toBe(202);
        x.advance(1_000);
      }
      const refused = await ask(x, '+4915123456899');
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBe('55');
      expect((await json(refused)).error).toMatchObject({ code: 'RATE_LIMITED' });
      const refusedOne = await x.request(`/v1/subjects/${encodeURIComponent('+4915123456899')}`, {
        role: 'operator',
      });
      expect((await json<Subject>(refusedOne)).known).toBe(false);
      expect((await ask(x, '+4915123456899', 'admin')).status).toBe(202);
      x.advance(55_000);
      expect((await ask(x, '+4915123456898')).status).toBe(202);
    } finally {
      await x.close();
    }
  });

  it('0 turns a limit off', async () => {
    const x = await startHarness({
      env: { INTAKE_RATE_PER_KEY_PER_MINUTE: '0', INTAKE_RATE_PER_NUMBER_PER_HOUR: '0' },
    });
    try {
      for (let i = 0; i < 40; i++) expect((await ask(x, '+4915123456790')).status).toBeLessThan(300);
    } finally {
      await x.close();
    }
  });
});
