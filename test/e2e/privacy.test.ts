/**
 * No personal data in logs or at rest: after the main flows, neither the captured logs nor the raw
 * bytes of the SQLite files hold a phone number (in any usual form), a business message text or a
 * form URL; error responses never echo what was sent.
 */
import { existsSync, readFileSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { version } from 'uuid';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, json, startHarness } from '../helpers/harness.ts';
import { statusUpdate, textMessage, userPreference } from '../helpers/whatsapp.ts';

// Fictitious numbers only: E.164, WhatsApp id, national forms (with and without separators).
const PEOPLE = {
  doi: { e164: '+4915123456781', national: ['015123456781', '0151 23456781', '15123456781'] },
  pref: { e164: '+16505550142', national: ['6505550142', '(650) 555-0142', '650-555-0142'] },
  api: { e164: '+4915123456783', national: ['015123456783', '0151 23456783', '15123456783'] },
} as const;
const forms = (p: { e164: string; national: readonly string[] }) => [p.e164, p.e164.slice(1), ...p.national];
const ALL_FORMS = Object.values(PEOPLE).flatMap(forms);

const FORM_URL = 'https://shop.example/newsletter/sign-up?campaign=turquoise-armchair-7731';
const BUSINESS_TEXT = 'Your turquoise armchair with the walnut legs ships on Thursday, Erika.';
const SECRETS = [FORM_URL, BUSINESS_TEXT, 'turquoise-armchair-7731', 'walnut legs'];

const ts = (h: Harness) => String(Math.floor(h.now().getTime() / 1000));
const enc = encodeURIComponent;
const wa = (e164: string) => e164.slice(1);

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

/** Every flow that touches personal data, checked for success so the scan below is not vacuous. */
async function runFlows() {
  const { doi, pref, api } = PEOPLE;
  // double opt-in from a web form, then JA
  const started = await h.request('/v1/consents', {
    method: 'POST',
    role: 'intake',
    json: {
      phone: doi.e164,
      purposes: ['marketing', 'transactional'],
      locale: 'de',
      evidence: { formUrl: FORM_URL },
    },
  });
  expect(started.status).toBe(202);
  await h.drain();
  h.advance(60_000);
  expect((await h.webhook(textMessage(wa(doi.e164), 'JA', { timestamp: ts(h) }))).status).toBe(200);

  // send guard: allowed, then STOP, then refused
  const send = () =>
    h.request('/v1/messages', {
      method: 'POST',
      role: 'operator',
      json: { phone: doi.e164, purpose: 'marketing', text: BUSINESS_TEXT },
    });
  const sent = await send();
  expect(sent.status).toBe(200);
  // it really went out (the JA's confirmation, sent by the outbox, may go out before or after it)
  expect(h.graph.sent().some((m) => JSON.stringify(m.text).includes(BUSINESS_TEXT))).toBe(true);
  h.advance(60_000);
  expect((await h.webhook(textMessage(wa(doi.e164), 'STOP', { timestamp: ts(h) }))).status).toBe(200);
  const refused = await send();
  expect(refused.status).toBe(409);
  expect(JSON.stringify(await json(refused))).not.toContain(BUSINESS_TEXT);

  // Meta's marketing stop for a second person
  const stopAt = Math.floor(h.now().getTime() / 1000);
  expect((await h.webhook(userPreference(wa(pref.e164), 'stop', { timestamp: stopAt }))).status).toBe(200);

  // an operator opt-out for a third, via the WhatsApp-id form of the path
  const out = await h.request(`/v1/subjects/${wa(api.e164)}/opt-out`, {
    method: 'POST',
    role: 'operator',
    json: { reference: 'ticket-1234' },
  });
  expect(out.status).toBe(200);

  // reads: state, history (which does show the evidence to an auditor, but must not log it)
  for (const p of [doi, pref, api]) {
    const s = await json<{ known: boolean }>(
      await h.request(`/v1/subjects/${enc(p.e164)}`, { role: 'operator' }),
    );
    expect(s.known, p.e164).toBe(true);
  }
  const history = await json<{ events: Array<{ evidence: Record<string, unknown> | null }> }>(
    await h.request(`/v1/subjects/${enc(doi.e164)}/history`, { role: 'auditor' }),
  );
  expect(history.events.some((e) => e.evidence?.formUrl === FORM_URL)).toBe(true);
  await h.drain();
  expect(h.graph.sent().length).toBeGreaterThanOrEqual(3);
}

/** Raw bytes of the database and its WAL/SHM side files (whatever exists). */
function databaseBytes(path: string): Buffer[] {
  return [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]
    .filter((p) => existsSync(p))
    .map((p) => readFileSync(p));
}

function findIn(buffers: Buffer[], needle: string): string[] {
  const hits: string[] = [];
  for (const [encoding, bytes] of [
    ['ascii', Buffer.from(needle, 'utf8')],
    ['utf16le', Buffer.from(needle, 'utf16le')],
  ] as const) {
    if (buffers.some((b) => b.includes(bytes))) hits.push(`${needle} (${encoding})`);
  }
  return hits;
}

describe('privacy', () => {
  it('logs carry no phone number, message text or form URL', async () => {
    await runFlows();
    const logs = h.logs.join('');
    // the logs are not empty: the flows above were logged
    expect(logs).toContain('consent change recorded');
    expect(logs).toContain('whatsapp webhook stored');
    expect(logs).toContain('"route":"/v1/subjects/:phone"');
    const leaks = [...ALL_FORMS, ...SECRETS].filter((s) => logs.includes(s));
    expect(leaks).toEqual([]);
  });

  it('the SQLite files hold no phone number in clear, nor the form URL or message text', async () => {
    await runFlows();
    // close the store so SQLite checkpoints; then read whatever files remain
    await h.services.dispatcher.stop();
    await h.services.store.close();
    const files = databaseBytes(h.dbPath);
    expect(files.length).toBeGreaterThan(0);
    expect(files.reduce((n, b) => n + b.length, 0)).toBeGreaterThan(4096);
    // sanity: the scan does find what is stored in clear
    expect(findIn(files, 'opted_out')).not.toEqual([]);
    const leaks = [...ALL_FORMS, ...SECRETS].flatMap((s) => findIn(files, s));
    expect(leaks).toEqual([]);
  });

  it("Meta's wamids, which embed the number in base64, are not stored in clear", async () => {
    const who = PEOPLE.doi;
    // the shape of a real wamid: base64 of a small header, the sender's digits, and a random tail
    const wamid = (tail: string) =>
      `wamid.${Buffer.from(`\x18\x0d${wa(who.e164)}\x15\x02\x00\x12\x18\x14${tail}`).toString('base64')}`;
    const stop = wamid('3A4A6599AEE0381014F');
    const status = wamid('3A4A6599AEE0381099A');
    expect(Buffer.from(stop.slice(6), 'base64').toString()).toContain(wa(who.e164));
    expect((await h.webhook(textMessage(wa(who.e164), 'STOP', { id: stop, timestamp: ts(h) }))).status).toBe(
      200,
    );
    expect((await h.webhook(statusUpdate(wa(who.e164), status, 'failed', [131050]))).status).toBe(200);
    await h.drain();
    // the same STOP redelivered is still recognised (the key is a keyed hash, not dropped)
    await h.drained();
    await h.acknowledge(textMessage(wa(who.e164), 'STOP', { id: stop, timestamp: ts(h) }));
    expect(await h.drained()).toMatchObject({ duplicates: 1 });
    await h.services.dispatcher.stop();
    await h.services.store.close();
    const files = databaseBytes(h.dbPath);
    const leaks = [stop, stop.slice(6), status.slice(6), ...forms(who)].flatMap((s) => findIn(files, s));
    expect(leaks).toEqual([]);
  });

  it('the same holds while the store is open (WAL not yet checkpointed)', async () => {
    await runFlows();
    const files = databaseBytes(h.dbPath);
    const leaks = [...ALL_FORMS, ...SECRETS].flatMap((s) => findIn(files, s));
    expect(leaks).toEqual([]);
  });

  it('a subject id tells nothing of when we first heard of the person (v4); ledger ids are time-ordered (v7)', async () => {
    await runFlows();
    await h.services.dispatcher.stop();
    await h.services.store.close();
    const db = new DatabaseSync(h.dbPath, { readOnly: true });
    try {
      const subjects = db
        .prepare('SELECT id FROM subjects')
        .all()
        .map((r) => String(r.id));
      const events = db
        .prepare('SELECT id FROM ledger ORDER BY seq')
        .all()
        .map((r) => String(r.id));
      expect(subjects.length).toBe(3);
      expect(events.length).toBeGreaterThan(5);
      for (const id of subjects) expect(version(id), id).toBe(4);
      for (const id of events) expect(version(id), id).toBe(7);
      // appended in time order: each new event lands at the right-hand end of the ledger's id index
      const millis = events.map((id) => id.slice(0, 13));
      expect(millis).toEqual([...millis].sort());
    } finally {
      db.close();
    }
  });

  it('error responses for invalid phones do not echo the input', async () => {
    const bad = [
      '+49 151 2345678x',
      '0151 23456781', // national: no country code
      '+491512345678123456', // too long
      '+1 650 555 01ab',
      '++4915123456781',
      'erika@example.com',
    ];
    const echoes: string[] = [];
    for (const input of bad) {
      const digits = input.replace(/\D/g, '');
      const responses = [
        await h.request(`/v1/subjects/${enc(input)}`, { role: 'operator' }),
        await h.request(`/v1/subjects/${enc(input)}/history`, { role: 'auditor' }),
        await h.request(`/v1/subjects/${enc(input)}/opt-out`, { method: 'POST', role: 'operator', json: {} }),
        await h.request('/v1/consents', {
          method: 'POST',
          role: 'intake',
          json: { phone: input, purposes: ['marketing'] },
        }),
        await h.request('/v1/messages', {
          method: 'POST',
          role: 'operator',
          json: { phone: input, purpose: 'marketing', text: BUSINESS_TEXT },
        }),
      ];
      for (const res of responses) {
        expect(res.status, input).toBe(400);
        const text = await res.text();
        expect(JSON.parse(text).error.code).toMatch(/^(INVALID_PHONE|INVALID_IDENTIFIER|VALIDATION_FAILED)$/);
        for (const s of [input, enc(input), digits.length >= 6 ? digits : input, BUSINESS_TEXT]) {
          if (text.includes(s)) echoes.push(`${input} echoed in ${text}`);
        }
      }
    }
    expect(echoes).toEqual([]);
    // and nothing about them reached the logs either
    const logs = h.logs.join('');
    expect(bad.filter((b) => logs.includes(b))).toEqual([]);
  });

  it('an over-long phone is rejected by validation without echoing it', async () => {
    const input = `+49${'1'.repeat(60)}`;
    const res = await h.request('/v1/consents', {
      method: 'POST',
      role: 'intake',
      json: { phone: input, purposes: ['marketing'] },
    });
    expect(res.status).toBe(400);
    expect(await res.text()).not.toContain('1'.repeat(20));
  });
});
