import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, json, startHarness } from '../helpers/harness.ts';
import {
  buttonReply,
  interactiveReply,
  statusUpdate,
  textMessage,
  userPreference,
} from '../helpers/whatsapp.ts';

// Fictitious numbers only.
const PHONE = '+4915123456783';
const WA = '4915123456783';
const ts = (h: Harness) => String(Math.floor(h.now().getTime() / 1000));

type States = Record<string, { status: string; source: string | null }>;

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

const states = async (phone = PHONE) =>
  (
    await json<{ purposes: States }>(
      await h.request(`/v1/subjects/${encodeURIComponent(phone)}`, { role: 'operator' }),
    )
  ).purposes;
const history = async (phone = PHONE) =>
  (
    await json<{
      events: Array<{ purpose: string; action: string; source: string; evidence: Record<string, unknown> }>;
    }>(await h.request(`/v1/subjects/${encodeURIComponent(phone)}/history`, { role: 'auditor' }))
  ).events;

/** Opts the person in to both purposes through the real double opt-in. */
async function optedIn() {
  await h.request('/v1/consents', {
    method: 'POST',
    role: 'intake',
    json: { phone: PHONE, purposes: ['marketing', 'transactional'], locale: 'de' },
  });
  await h.webhook(textMessage(WA, 'JA', { timestamp: ts(h) }));
  await h.drain();
  h.graph.reset();
  h.advance(60_000);
}

describe('opt-out on WhatsApp', () => {
  it.each([
    'STOP',
    'stopp',
    'ABMELDEN',
    'Unsubscribe',
    'ARRÊT',
    'arret',
    'BAJA',
    'Stop!!! 🛑',
    '  stop.  ',
    'DUR',
    'REZYGNUJ',
  ])('"%s" opts out of every purpose, before the 200', async (body) => {
    await optedIn();
    const res = await h.webhook(textMessage(WA, body, { timestamp: ts(h) }));
    expect(res.status).toBe(200);
    // applied when the webhook is acknowledged, before any reply is sent
    const s = await states();
    expect(s.marketing?.status).toBe('opted_out');
    expect(s.transactional?.status).toBe('opted_out');
    expect(s.marketing?.source).toBe('whatsapp');
  });

  it.each(['please stop sending me this', 'stopwatch', 'STOP STOP STOP now', 'nicht abmelden bitte'])(
    '"%s" is not a keyword and changes nothing',
    async (body) => {
      await optedIn();
      await h.webhook(textMessage(WA, body, { timestamp: ts(h) }));
      expect((await states()).marketing?.status).toBe('opted_in');
      expect(await h.drain()).toBe(0);
    },
  );

  it('sends the German confirmation ("Sie wurden abgemeldet…") and records the evidence', async () => {
    await optedIn();
    const wamid = 'wamid.TEST-stop-1';
    await h.webhook(textMessage(WA, 'STOPP', { id: wamid, timestamp: ts(h) }));
    await h.drain();
    const sent = h.graph.sent();
    expect(sent).toHaveLength(1);
    expect(JSON.stringify(sent[0]?.text)).toContain('Sie wurden abgemeldet');
    const last = (await history()).filter((e) => e.action === 'opted_out');
    expect(last.map((e) => e.purpose).sort()).toEqual(['marketing', 'transactional']);
    expect(last[0]?.evidence).toMatchObject({ waMessageId: wamid, matched: 'stopp' });
  });

  it('a purpose keyword opts out of that purpose only', async () => {
    await optedIn();
    await h.webhook(textMessage(WA, 'Stop Werbung', { timestamp: ts(h) }));
    const s = await states();
    expect(s.marketing?.status).toBe('opted_out');
    expect(s.transactional?.status).toBe('opted_in');
  });

  it.each([
    [
      'quick-reply payload Unsubscribe',
      () => buttonReply(WA, 'Unsubscribe', 'Unsubscribe', { timestamp: ts(h) }),
      ['marketing', 'transactional'],
    ],
    [
      'button OPT_OUT_MARKETING',
      () => interactiveReply(WA, 'OPT_OUT_MARKETING', 'Keine Werbung', { timestamp: ts(h) }),
      ['marketing'],
    ],
  ])('%s opts out', async (_n, build, purposes) => {
    await optedIn();
    await h.webhook(build());
    const s = await states();
    for (const p of ['marketing', 'transactional']) {
      expect(s[p]?.status).toBe(purposes.includes(p) ? 'opted_out' : 'opted_in');
    }
  });

  it('a STOP from an unknown number is recorded, so a later import cannot message them', async () => {
    const stranger = '+4915123456784';
    await h.webhook(textMessage('4915123456784', 'STOP', { timestamp: ts(h) }));
    const s = await states(stranger);
    expect(s.marketing?.status).toBe('opted_out');
    const send = await h.request('/v1/messages', {
      method: 'POST',
      role: 'operator',
      json: { phone: stranger, purpose: 'marketing', text: 'Sale!' },
    });
    expect(send.status).toBe(409);
  });

  it('START re-subscribes only through a new double opt-in', async () => {
    await optedIn();
    await h.webhook(textMessage(WA, 'STOP', { timestamp: ts(h) }));
    await h.drain();
    h.graph.reset();
    h.advance(60_000);
    await h.webhook(textMessage(WA, 'START', { timestamp: ts(h) }));
    expect((await states()).marketing?.status).toBe('pending');
    await h.drain();
    expect(JSON.stringify(h.graph.sent()[0]?.text)).toContain('Beispiel GmbH');
    // not confirmed: expiry returns the person to opted_out, not to none
    h.advance(73 * 3_600_000);
    await h.services.expirePending();
    expect((await states()).marketing?.status).toBe('opted_out');
  });
});

describe("Meta's signals", () => {
  it('user_preferences stop opts out of marketing only, with no reply', async () => {
    await optedIn();
    await h.webhook(userPreference(WA, 'stop', { timestamp: Number(ts(h)) }));
    const s = await states();
    expect(s.marketing).toMatchObject({ status: 'opted_out', source: 'meta_preferences' });
    expect(s.transactional?.status).toBe('opted_in');
    expect(await h.drain()).toBe(0);
  });

  it('user_preferences resume is evidence and grants nothing', async () => {
    await optedIn();
    await h.webhook(userPreference(WA, 'stop', { timestamp: Number(ts(h)) }));
    h.advance(60_000);
    await h.webhook(userPreference(WA, 'resume', { timestamp: Number(ts(h)) }));
    expect((await states()).marketing?.status).toBe('opted_out');
    const ev = (await history()).at(-1);
    expect(ev).toMatchObject({
      action: 'evidence',
      source: 'meta_preferences',
      evidence: { preference: 'resume' },
    });
  });

  it('a redelivered user_preferences event is stored once', async () => {
    await optedIn();
    const t = Number(ts(h));
    await h.webhook(userPreference(WA, 'stop', { timestamp: t }));
    await h.webhook(userPreference(WA, 'stop', { timestamp: t }));
    expect((await history()).filter((e) => e.source === 'meta_preferences')).toHaveLength(1);
  });

  it('a status webhook with error 131050 records a marketing opt-out', async () => {
    await optedIn();
    await h.webhook(statusUpdate(WA, 'wamid.TEST-status-1', 'failed', [131050]));
    const s = await states();
    expect(s.marketing).toMatchObject({ status: 'opted_out', source: 'meta_status' });
    expect(s.transactional?.status).toBe('opted_in');
  });

  it('ordinary delivery statuses change nothing', async () => {
    await optedIn();
    const before = (await history()).length;
    await h.webhook(
      statusUpdate(WA, 'wamid.TEST-status-2', 'delivered'),
      statusUpdate(WA, 'wamid.TEST-status-2', 'read'),
    );
    expect((await history()).length).toBe(before);
  });
});

describe('operator opt-out', () => {
  it('opts out of all purposes by default, audited, without messaging the person', async () => {
    await optedIn();
    const res = await h.request(`/v1/subjects/${encodeURIComponent(PHONE)}/opt-out`, {
      method: 'POST',
      role: 'operator',
      json: {},
    });
    expect(res.status).toBe(200);
    const body = await json<{ purposes: States }>(res);
    expect(body.purposes.marketing?.status).toBe('opted_out');
    expect(body.purposes.transactional?.status).toBe('opted_out');
    expect(await h.drain()).toBe(0);
    const audit = await h.services.store.listAudit(10);
    expect(audit[0]).toMatchObject({ action: 'subject.opt_out', role: 'operator' });
    expect(JSON.stringify(audit)).not.toContain(WA);
  });

  it('opts out of named purposes, accepts a WhatsApp id in the path, and rejects unknown ones', async () => {
    await optedIn();
    const one = await h.request(`/v1/subjects/${WA}/opt-out`, {
      method: 'POST',
      role: 'admin',
      json: { purposes: ['marketing'] },
    });
    expect(one.status).toBe(200);
    expect((await states()).transactional?.status).toBe('opted_in');
    const bad = await h.request(`/v1/subjects/${WA}/opt-out`, {
      method: 'POST',
      role: 'admin',
      json: { purposes: ['x'] },
    });
    expect(bad.status).toBe(422);
  });
});

describe('reply throttle (REPLY_THROTTLE_SECONDS)', () => {
  const confirmations = () => h.graph.sent().filter((m) => m.to.replace(/\D/g, '') === WA).length;

  it('repeated STOPs: none answered within the window, at most one per window after it', async () => {
    await h.close();
    h = await startHarness({ env: { REPLY_THROTTLE_SECONDS: '600' } });
    await h.webhook(textMessage(WA, 'STOP', { timestamp: ts(h) }));
    await h.drain();
    expect(confirmations()).toBe(1);
    h.advance(60_000);
    await h.webhook(
      textMessage(WA, 'STOP', { timestamp: ts(h) }),
      textMessage(WA, 'STOP', { timestamp: ts(h) }),
    );
    await h.drain();
    expect(confirmations()).toBe(1); // within the window: recorded, not answered

    h.advance(20 * 60_000); // past the window: the next STOP is answered once, the one after it not
    await h.webhook(textMessage(WA, 'STOP', { timestamp: ts(h) }));
    h.advance(1_000);
    await h.webhook(textMessage(WA, 'STOP', { timestamp: ts(h) }));
    await h.drain();
    expect(confirmations()).toBe(2);
    expect(Object.values(await states()).map((s) => s.status)).toEqual(['opted_out', 'opted_out']);
  });

  it('0 turns it off: every STOP is answered', async () => {
    await h.close();
    h = await startHarness({ env: { REPLY_THROTTLE_SECONDS: '0' } });
    await h.webhook(
      textMessage(WA, 'STOP', { timestamp: ts(h) }),
      textMessage(WA, 'STOP', { timestamp: ts(h) }),
    );
    await h.drain();
    expect(confirmations()).toBe(2);
  });
});
