import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, json, startHarness } from '../helpers/harness.ts';
import { textMessage } from '../helpers/whatsapp.ts';

// Fictitious numbers only.
const PHONE = '+4915123456785';
const WA = '4915123456785';
const ts = (h: Harness) => String(Math.floor(h.now().getTime() / 1000));

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

async function optIn(purposes: string[], locale = 'de') {
  await h.request('/v1/consents', {
    method: 'POST',
    role: 'intake',
    json: { phone: PHONE, purposes, locale },
  });
  await h.webhook(textMessage(WA, 'JA', { timestamp: ts(h) }));
  await h.drain();
  h.graph.reset();
}

const send = (body: Record<string, unknown>) =>
  h.request('/v1/messages', { method: 'POST', role: 'operator', json: { phone: PHONE, ...body } });

describe('send guard', () => {
  it('refuses without consent for the purpose and sends nothing', async () => {
    await optIn(['transactional']);
    const res = await send({ purpose: 'marketing', text: 'Winter sale' });
    expect(res.status).toBe(409);
    expect(await json(res)).toMatchObject({ error: { code: 'NO_CONSENT' } });
    expect(h.graph.requests).toHaveLength(0);
  });

  it('refuses an unknown person, a pending person and an opted-out person', async () => {
    expect((await send({ purpose: 'marketing', text: 'x' })).status).toBe(409);
    await h.request('/v1/consents', {
      method: 'POST',
      role: 'intake',
      json: { phone: PHONE, purposes: ['marketing'] },
    });
    const pending = await send({ purpose: 'marketing', text: 'x' });
    expect(await json(pending)).toMatchObject({
      error: { code: 'NO_CONSENT', message: expect.stringContaining('pending') },
    });
    await h.webhook(textMessage(WA, 'JA', { timestamp: ts(h) }));
    await h.webhook(textMessage(WA, 'STOP', { timestamp: ts(h) }));
    await h.drain();
    h.graph.reset();
    expect((await send({ purpose: 'marketing', text: 'x' })).status).toBe(409);
    expect(h.graph.requests).toHaveLength(0);
  });

  it('sends with consent, appends the opt-out hint in the person’s language, privacy link only while it was never sent', async () => {
    await optIn(['marketing'], 'en');
    const res = await send({ purpose: 'marketing', text: 'Our winter sale starts today.' });
    expect(res.status).toBe(200);
    const body = await json<{ messageId: string; privacyNotice: boolean }>(res);
    expect(body.messageId).toMatch(/^wamid\./);
    // the DOI request already carried the privacy link, so this is not the first contact
    expect(body.privacyNotice).toBe(false);
    const sent = h.graph.sent()[0]?.text as { body: string };
    expect(sent.body).toContain('Our winter sale starts today.');
    expect(sent.body).toContain('Reply STOP to unsubscribe');
  });

  it('the first message to a person carries the privacy-policy link', async () => {
    // The confirmation request never reached the person (Meta refused it for good), and they
    // confirmed anyway (e.g. through a click-to-chat link): our first real message must carry the link.
    h.graph.stopRecipients.add(WA);
    await h.request('/v1/consents', {
      method: 'POST',
      role: 'intake',
      json: { phone: PHONE, purposes: ['transactional'] },
    });
    await h.drain();
    await h.webhook(textMessage(WA, 'JA', { timestamp: ts(h) }));
    await h.drain(); // the "you are subscribed" reply is refused too
    h.graph.stopRecipients.clear();
    const subject = await h.services.subjects.find(await h.services.subjects.hash(PHONE));
    expect(subject?.row.privacyNoticeAt).toBeNull();
    const res = await send({ purpose: 'transactional', text: 'Your order has shipped.' });
    expect(await json(res)).toMatchObject({ privacyNotice: true });
    const first = h.graph.sent().at(-1)?.text as { body: string };
    expect(first.body).toContain('https://example.com/datenschutz');
    const again = await send({ purpose: 'transactional', text: 'Your order has arrived.' });
    expect(await json(again)).toMatchObject({ privacyNotice: false });
    expect((h.graph.sent().at(-1)!.text as { body: string }).body).not.toContain('datenschutz');
  });

  it('templates must be declared for the purpose', async () => {
    await optIn(['marketing']);
    const ok = await send({ purpose: 'marketing', template: { name: 'weekly_offers' } });
    expect(ok.status).toBe(200);
    expect(h.graph.sent()[0]?.template).toMatchObject({ name: 'weekly_offers', language: { code: 'de' } });
    const undeclared = await send({ purpose: 'marketing', template: { name: 'anything_else' } });
    expect(await json(undeclared)).toMatchObject({ error: { code: 'TEMPLATE_NOT_DECLARED' } });
    const wrongPurpose = await send({ purpose: 'marketing', template: { name: 'order_update' } });
    expect(wrongPurpose.status).toBe(422);
  });

  it('Meta error 131050 on send answers 502 and records a marketing opt-out', async () => {
    await optIn(['marketing']);
    h.graph.stopRecipients.add(WA);
    const res = await send({ purpose: 'marketing', text: 'Sale' });
    expect(res.status).toBe(502);
    expect(await json(res)).toMatchObject({ error: { code: 'WHATSAPP_SEND_FAILED' } });
    const s = await json<{ purposes: Record<string, { status: string; source: string }> }>(
      await h.request(`/v1/subjects/${encodeURIComponent(PHONE)}`, { role: 'operator' }),
    );
    expect(s.purposes.marketing).toMatchObject({ status: 'opted_out', source: 'meta_status' });
  });

  it('rejects malformed requests', async () => {
    await optIn(['marketing']);
    for (const body of [
      { purpose: 'marketing' },
      { purpose: 'marketing', text: 'a', template: { name: 'weekly_offers' } },
      { purpose: 'nope', text: 'a' },
      { purpose: 'marketing', text: '' },
      { purpose: 'marketing', text: 'x'.repeat(5000) },
    ]) {
      const res = await send(body);
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    }
    expect(h.graph.requests).toHaveLength(0);
  });
});

describe('outbox delivery of replies', () => {
  it('retries a 429 from Meta and delivers once', async () => {
    await h.request('/v1/consents', {
      method: 'POST',
      role: 'intake',
      json: { phone: PHONE, purposes: ['marketing'] },
    });
    h.graph.failNext(2, '429');
    // retry timing is durable (next attempt stored, at least Retry-After later): move the clock on
    for (let i = 0; i < 5 && h.graph.sent().length === 0; i++) {
      await h.drain();
      h.advance(1_500);
    }
    expect(h.graph.sent()).toHaveLength(1);
    expect(h.graph.requests.filter((r) => r.method === 'POST')).toHaveLength(3);
    const jobs = await json<{ jobs: Array<{ status: string; attempts: number }> }>(
      await h.request('/v1/sync/jobs', { role: 'operator' }),
    );
    expect(jobs.jobs[0]).toMatchObject({ status: 'done' });
  });

  it('a permanent failure becomes a dead letter that an operator can retry', async () => {
    await h.request('/v1/consents', {
      method: 'POST',
      role: 'intake',
      json: { phone: PHONE, purposes: ['marketing'] },
    });
    h.graph.stopRecipients.add(WA); // 131050 is not retryable
    await h.drain();
    const dead = await json<{ jobs: Array<{ id: string; status: string; lastError: string }> }>(
      await h.request('/v1/sync/jobs?status=dead', { role: 'operator' }),
    );
    expect(dead.jobs).toHaveLength(1);
    expect(dead.jobs[0]?.lastError).toContain('RECIPIENT_STOPPED_MARKETING');
    expect(dead.jobs[0]?.lastError).not.toContain(WA);
    h.graph.stopRecipients.clear();
    const retry = await h.request(`/v1/sync/jobs/${dead.jobs[0]?.id}/retry`, {
      method: 'POST',
      role: 'operator',
    });
    expect(retry.status).toBe(200);
    await h.drain();
    expect(h.graph.sent()).toHaveLength(1);
    const again = await h.request(`/v1/sync/jobs/${dead.jobs[0]?.id}/retry`, {
      method: 'POST',
      role: 'operator',
    });
    expect(again.status).toBe(409);
  });
});
