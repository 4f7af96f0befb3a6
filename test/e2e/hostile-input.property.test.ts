/**
 * Hostile input through the real HTTP app (issue 6, deliver 4): every webhook and public API body,
 * random or a mutated valid one (dropped and duplicated fields, wrong types, huge strings, unicode,
 * deep nesting, flipped bytes, XML entity and DOCTYPE payloads, content-type mismatches), against a
 * real SQLite file with the HubSpot, Salesforce and Graph API simulators behind it.
 *
 * For every case: no 5xx; an error is the API's `{ error: { code, message } }` (SOAP callers get a
 * SOAP Fault) and never echoes a planted marker; and a rejected request changes nothing, compared by
 * a fingerprint of the store (row counts of every table, the ledger head, the current states, the
 * mappings in force) taken just before and just after. Forged, stale and replayed signatures are
 * 401 (a replay inside HubSpot's window, or of a WhatsApp delivery, is a redelivery: it answers 200
 * and changes nothing). Valid inputs still succeed, so none of this is vacuous.
 *
 * The parsers and verifiers alone, with many more cases: connectors/hostile-input.property.test.ts.
 */
import { createHash } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signV3 } from '../../connectors/hubspot/signature.ts';
import { signMetaBody } from '../../connectors/whatsapp/signature.ts';
import { parseSubjectRef } from '../../src/core/identity.ts';
import { normalizePhone } from '../../src/core/phone.ts';
import { type CrmHarness, HUBSPOT, SALESFORCE, startCrmHarness } from '../helpers/crm.ts';
import {
  CaseCounter,
  flowCallout,
  type Json,
  jsonMutation,
  MARKER,
  marked,
  mutateJson,
  mutateText,
  oddValue,
  outboundXml,
  runs,
  sfId,
  sfNotifications,
  textMutation,
  timeoutFor,
  xmlAttacks,
} from '../helpers/fuzz.ts';
import { NO_INTAKE_LIMITS, type TestRole, TOKENS } from '../helpers/harness.ts';
import {
  buttonReply,
  envelope,
  interactiveReply,
  nextWamid,
  numberChange,
  statusUpdate,
  textMessage,
  userPreference,
} from '../helpers/whatsapp.ts';
import { makeHubSpotEvent } from '../sim/hubspot.ts';

const counter = new CaseCounter('test/e2e/hostile-input.property.test.ts');
const N = 100;
// Generous: under `npm run fuzz` the store grows by thousands of people and each case slows down.
const TIMEOUT = timeoutFor(N, 500, 'http');
/** Cases of a property here (through the app and SQLite). */
const cases = (n: number) => runs(n, 'http');

/** Fictitious German mobile numbers, fresh for every use in this file. */
let serial = 0;
const freshPhone = () => {
  serial += 1;
  return `+4915123${String(40_000 + serial).padStart(6, '0')}`;
};

let h: CrmHarness;
let db: DatabaseSync;
/** A person opted in to `transactional`, so the send guard has someone to send to. */
let consenting: string;

beforeAll(async () => {
  h = await startCrmHarness({ hubspot: { requestsPerWindow: 100_000 }, env: NO_INTAKE_LIMITS });
  db = new DatabaseSync(h.dbPath, { readOnly: true });
  consenting = freshPhone();
  const res = await h.request('/v1/consents', {
    method: 'POST',
    role: 'intake',
    json: { phone: consenting, purposes: ['transactional'] },
  });
  expect(res.status).toBe(202);
  h.advance(60_000);
  expect((await h.webhook(textMessage(consenting.slice(1), 'JA'))).status).toBe(200);
  await quiet();
});

afterAll(async () => {
  counter.report();
  db?.close();
  await h?.close();
});

// ---- the state fingerprint -------------------------------------------------------------------

/** Row counts of every table, the ledger head, a digest of the current states, the mappings in force. */
function fingerprint(): Record<string, unknown> {
  const tables = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
    .all()
    .map((r) => String(r.name));
  const counts = Object.fromEntries(
    tables.map((t) => [t, Number(db.prepare(`SELECT count(*) AS n FROM "${t}"`).get()?.n)]),
  );
  const states = createHash('sha256')
    .update(JSON.stringify(db.prepare('SELECT * FROM consent_state ORDER BY subject_id, purpose').all()))
    .digest('hex');
  return {
    counts,
    head: db.prepare('SELECT seq, hash FROM ledger_head').get() ?? null,
    states,
    mappings: JSON.stringify([h.services.mappings.get('hubspot'), h.services.mappings.get('salesforce')]),
  };
}

/**
 * Runs the outbox (and the CRMs' webhooks) until nothing is left, so no background write lands
 * mid-case; twice, around a turn of the event loop, for work that finishes just after the first.
 */
async function quiet(): Promise<void> {
  await h.drained(); // the webhook's events are decided after its 200 (the inbox)
  await h.settle();
  await new Promise((r) => setTimeout(r, 1));
  await h.settle();
}

interface Sent {
  status: number;
  body: string;
  type: string;
}

/**
 * Sends one hostile request and checks what must hold for any input: no 5xx, an error body in the
 * API's shape (or a SOAP Fault) without the marker, and nothing changed unless it succeeded.
 */
async function hostile(send: () => Promise<Response>, opts: { readOnly?: boolean } = {}): Promise<Sent> {
  const before = fingerprint();
  const res = await send();
  const out = { status: res.status, body: await res.text(), type: res.headers.get('content-type') ?? '' };
  expect(out.status, out.body.slice(0, 300)).toBeLessThan(500);
  expect(out.body).not.toContain(MARKER);
  if (out.status >= 400) {
    if (out.type.includes('xml')) expect(out.body).toContain('<faultstring>');
    else {
      const error = (JSON.parse(out.body) as { error?: { code?: unknown; message?: unknown } }).error;
      expect(typeof error?.code).toBe('string');
      expect(typeof error?.message).toBe('string');
    }
  }
  if (out.status >= 300 || opts.readOnly) expect(fingerprint()).toEqual(before);
  return out;
}

const post = (
  path: string,
  body: string | Uint8Array,
  headers: Record<string, string>,
  role?: TestRole,
  method = 'POST',
) =>
  h.request(path, {
    method,
    headers: { ...headers, ...(role ? { authorization: `Bearer ${TOKENS[role]}` } : {}) },
    body: body as BodyInit,
  });

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  'text/xml; charset=utf-8',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  '',
];
const contentType = fc.oneof(
  { weight: 3, arbitrary: fc.constant('application/json') },
  { weight: 1, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
);
const typed = (ct: string): Record<string, string> => (ct ? { 'content-type': ct } : {});

/** A body derived from a valid one: as is, mutated as a tree, mutated as bytes, or random. */
type Body = { bytes: Uint8Array | string; valid: boolean };

/**
 * What an unauthenticated request gets: 401, or 413 when its body is over `MAX_BODY_BYTES` (one size
 * cap for every route, checked before anything reads the body, signatures included).
 */
const expectUnauthenticated = (res: { status: number }, sent: Uint8Array | string) => {
  const size = typeof sent === 'string' ? new TextEncoder().encode(sent).length : sent.length;
  expect(res.status).toBe(size > h.services.config.MAX_BODY_BYTES ? 413 : 401);
};
const bodies = (valid: fc.Arbitrary<Json>): fc.Arbitrary<Body> =>
  fc.oneof(
    valid.map((v) => ({ bytes: JSON.stringify(v), valid: true })),
    fc
      .tuple(valid, fc.array(jsonMutation, { minLength: 1, maxLength: 3 }))
      .map(([v, ms]) => ({ bytes: mutateJson(v, ms), valid: false })),
    fc
      .tuple(valid, fc.array(textMutation, { minLength: 1, maxLength: 3 }))
      .map(([v, ms]) => ({ bytes: mutateText(JSON.stringify(v), ms), valid: false })),
    fc.jsonValue({ maxDepth: 4 }).map((v) => ({ bytes: JSON.stringify(v), valid: false })),
    fc.string({ unit: 'binary', maxLength: 200 }).map((s) => ({ bytes: s, valid: false })),
  );

const nowSeconds = () => String(Math.floor(h.now().getTime() / 1000));

// ---- WhatsApp ---------------------------------------------------------------------------------

/** A delivery from a fresh number: a STOP, a text with the marker, or Meta's marketing stop. */
const waDelivery: fc.Arbitrary<() => Json> = fc.constantFrom(
  () => envelope(textMessage(freshPhone().slice(1), 'STOP', { timestamp: nowSeconds() })) as unknown as Json,
  () =>
    envelope(
      textMessage(freshPhone().slice(1), `${MARKER} hello`, { timestamp: nowSeconds() }),
    ) as unknown as Json,
  () =>
    envelope(
      userPreference(freshPhone().slice(1), 'stop', { timestamp: Number(nowSeconds()) }),
    ) as unknown as Json,
);

describe('POST /webhooks/whatsapp', () => {
  it(
    'forged, mangled, missing or re-used signatures are 401 and change nothing',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          waDelivery,
          fc.constantFrom(
            'none',
            'random',
            'other-secret',
            'other-body',
            'flipped-body',
            'uppercase',
            'sha1',
          ),
          fc.string({ maxLength: 70 }),
          fc.nat(),
          async (make, attack, random, at) => {
            counter.hit('whatsapp webhook: forged signatures');
            const body = JSON.stringify(make());
            const good = await signMetaBody(body, h.services.config.WHATSAPP_APP_SECRET);
            let sent = body as string | Uint8Array;
            let header: string | null = good;
            if (attack === 'none') header = null;
            if (attack === 'random') header = random.replace(/[^\x20-\x7e]/g, '');
            if (attack === 'other-secret')
              header = await signMetaBody(body, `${h.services.config.WHATSAPP_APP_SECRET}x`);
            if (attack === 'other-body')
              header = await signMetaBody(`${body} `, h.services.config.WHATSAPP_APP_SECRET);
            if (attack === 'flipped-body') sent = mutateText(body, [{ op: 'flip', at, bit: at % 8 }]);
            if (attack === 'uppercase') header = good.toUpperCase();
            if (attack === 'sha1') header = good.replace('sha256=', 'sha1=');
            const res = await hostile(() =>
              post('/webhooks/whatsapp', sent, {
                'content-type': 'application/json',
                ...(header === null ? {} : { 'x-hub-signature-256': header }),
              }),
            );
            expectUnauthenticated(res, sent);
          },
        ),
        { numRuns: cases(N) },
      );
    },
    TIMEOUT,
  );

  it(
    'correctly signed mutated payloads never cause a 5xx, and rejected ones change nothing',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          bodies(
            fc
              .constant(null)
              .map(
                () =>
                  envelope(
                    textMessage(freshPhone().slice(1), 'STOP', { timestamp: nowSeconds() }),
                  ) as unknown as Json,
              ),
          ),
          contentType,
          async (b, ct) => {
            counter.hit('whatsapp webhook: signed mutations');
            await quiet();
            const signature = await signMetaBody(b.bytes, h.services.config.WHATSAPP_APP_SECRET);
            const res = await hostile(() =>
              post('/webhooks/whatsapp', b.bytes, { ...typed(ct), 'x-hub-signature-256': signature }),
            );
            if (b.valid) expect(res.status).toBe(200);
          },
        ),
        { numRuns: cases(N) },
      );
    },
    TIMEOUT,
  );

  it(
    'a valid delivery is stored (200); delivering the same signed bytes again changes nothing',
    async () => {
      await fc.assert(
        fc.asyncProperty(waDelivery, async (make) => {
          counter.hit('whatsapp webhook: valid and replayed');
          await quiet();
          const body = JSON.stringify(make());
          const headers = {
            'content-type': 'application/json',
            'x-hub-signature-256': await signMetaBody(body, h.services.config.WHATSAPP_APP_SECRET),
          };
          const before = fingerprint();
          expect((await hostile(() => post('/webhooks/whatsapp', body, headers))).status).toBe(200);
          await quiet();
          if (!body.includes(MARKER)) expect(fingerprint()).not.toEqual(before);
          const stored = fingerprint();
          expect((await hostile(() => post('/webhooks/whatsapp', body, headers))).status).toBe(200);
          await quiet();
          expect(fingerprint()).toEqual(stored);
        }),
        { numRuns: cases(Math.ceil(N / 2)) },
      );
    },
    TIMEOUT,
  );
});

/** Any sender: valid numbers (often the same few), digits of any length, or text. */
const anySender = fc.oneof(
  fc.integer({ min: 0, max: 3 }).map((n) => `4915123499${String(n).padStart(3, '0')}`),
  fc.stringMatching(/^[0-9]{1,20}$/),
  fc.string({ minLength: 1, maxLength: 30 }),
);
const anyTimestamp = fc.oneof(
  fc.constant(null).map(() => nowSeconds()),
  fc.constantFrom('0', '1', '99999999999', '100000000000', 0, 100_000_000_000),
  fc.stringMatching(/^[0-9]{1,12}$/),
);
const replyText = fc.oneof(
  fc.constantFrom(
    'STOP',
    'stop!',
    'JA',
    'YES',
    'START',
    'LÖSCHEN',
    'DELETE MY DATA',
    'Stopp bitte',
    ' s t o p ',
  ),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
);
const buttonId = fc.oneof(
  fc.constantFrom(
    'CONSENT_CONFIRM',
    'CONSENT_OPT_OUT',
    'OPT_OUT_MARKETING',
    'Unsubscribe',
    'ERASURE_CONFIRM',
    'ERASURE_CANCEL',
  ),
  fc.string({ maxLength: 20 }),
);
/** Every kind of change Meta sends, with hostile values in the fields the app reads. */
const anyChange = fc.oneof(
  fc.tuple(anySender, replyText, anyTimestamp).map(([f, t, ts]) => textMessage(f, t, { timestamp: ts })),
  fc
    .tuple(anySender, buttonId, replyText, anyTimestamp)
    .map(([f, p, t, ts]) => buttonReply(f, p, t, { timestamp: ts })),
  fc
    .tuple(anySender, buttonId, replyText, anyTimestamp)
    .map(([f, id, t, ts]) => interactiveReply(f, id, t, { timestamp: ts, contextId: nextWamid() })),
  fc
    .tuple(
      anySender,
      fc.array(fc.constantFrom(131050, 131026, 0, -1, 2 ** 31), { maxLength: 3 }),
      anyTimestamp,
    )
    .map(([r, codes, ts]) => statusUpdate(r, nextWamid(), 'failed', codes, { timestamp: ts })),
  fc
    .tuple(anySender, fc.constantFrom('stop' as const, 'resume' as const), anyTimestamp)
    .map(([w, v, ts]) => userPreference(w, v, { timestamp: ts })),
  fc.tuple(anySender, anySender, anyTimestamp).map(([a, b, ts]) => numberChange(a, b, { timestamp: ts })),
);

describe('GET /webhooks/whatsapp (the verification handshake)', () => {
  it(
    'echoes the challenge only for mode subscribe and the exact verify token; never a 5xx; changes nothing',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.option(fc.oneof(fc.constant('subscribe'), fc.string({ maxLength: 12 })), { nil: undefined }),
          fc.option(
            fc.oneof(
              fc.constant(null).map(() => h.services.config.WHATSAPP_VERIFY_TOKEN),
              fc.string({ unit: 'binary', maxLength: 40 }),
            ),
            { nil: undefined },
          ),
          fc.option(fc.string({ unit: 'binary', maxLength: 60 }), { nil: undefined }),
          async (mode, token, challenge) => {
            counter.hit('whatsapp verification handshake');
            const q = new URLSearchParams();
            if (mode !== undefined) q.set('hub.mode', mode);
            if (token !== undefined) q.set('hub.verify_token', token);
            if (challenge !== undefined) q.set('hub.challenge', challenge);
            const res = await hostile(() => h.request(`/webhooks/whatsapp?${q}`), { readOnly: true });
            const ok =
              mode === 'subscribe' && token === h.services.config.WHATSAPP_VERIFY_TOKEN && !!challenge;
            expect(res.status).toBe(ok ? 200 : 403);
            if (ok) expect(res.body).toBe(challenge);
          },
        ),
        { numRuns: cases(N) },
      );
    },
    TIMEOUT,
  );
});

describe('POST /webhooks/whatsapp with every kind of event', () => {
  it(
    'signed batches of messages, buttons, statuses, preferences and number changes with hostile values: never a 5xx; the ledger verifies',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(anyChange, { minLength: 1, maxLength: 6 }), async (changes) => {
          counter.hit('whatsapp webhook: every event kind, hostile values');
          await quiet();
          const body = JSON.stringify(envelope(...changes));
          const signature = await signMetaBody(body, h.services.config.WHATSAPP_APP_SECRET);
          await hostile(() =>
            post('/webhooks/whatsapp', body, {
              'content-type': 'application/json',
              'x-hub-signature-256': signature,
            }),
          );
          const verify = await h.request('/v1/ledger/verify', { role: 'auditor' });
          const early = (await verify.json()) as { ok: boolean };
          await quiet();
          const late = (await (await h.request('/v1/ledger/verify', { role: 'auditor' })).json()) as {
            ok: boolean;
          };
          if (!early.ok || !late.ok) console.log('VERIFY', JSON.stringify(early), JSON.stringify(late));
          expect(early.ok).toBe(true);
        }),
        { numRuns: cases(N) },
      );
    },
    TIMEOUT,
  );
});

// ---- HubSpot ----------------------------------------------------------------------------------

const HS_URL = 'http://localhost/webhooks/hubspot';
const hsEvents = fc
  .array(
    fc.record({
      objectId: fc.integer({ min: 1, max: 10_000_000 }),
      propertyName: fc.constantFrom('whatsapp_opted_out', 'whatsapp_marketing_consent', 'firstname'),
      propertyValue: fc.oneof(fc.constantFrom('true', 'false', 'withdrawn'), marked),
    }),
    { minLength: 1, maxLength: 3 },
  )
  .map(
    (es) =>
      es.map((e) =>
        makeHubSpotEvent({ subscriptionType: 'contact.propertyChange', occurredAt: h.now().getTime(), ...e }),
      ) as unknown as Json,
  );

async function hubspotHeaders(
  body: string | Uint8Array,
  o: { timestamp?: number; secret?: string; url?: string } = {},
) {
  const timestamp = o.timestamp ?? h.now().getTime();
  const text = typeof body === 'string' ? body : new TextDecoder().decode(body);
  return {
    'x-hubspot-request-timestamp': String(timestamp),
    'x-hubspot-signature-v3': await signV3({
      method: 'POST',
      url: o.url ?? HS_URL,
      body: text,
      timestamp,
      secret: o.secret ?? HUBSPOT.secret,
    }),
  };
}

describe('POST /webhooks/hubspot', () => {
  it(
    'forged, stale, future or re-timestamped signatures are 401 and change nothing',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          hsEvents,
          fc.constantFrom('secret', 'body', 'url', 'stale', 'future', 'retimestamped', 'missing', 'random'),
          // At least a second past the window: the app's clock moves on while the request is built.
          fc.integer({ min: 1_000, max: 30 * 86_400_000 }),
          fc.string({ maxLength: 50 }),
          async (events, attack, beyond, random) => {
            counter.hit('hubspot webhook: forged, stale, replayed');
            const body = JSON.stringify(events);
            const now = h.now().getTime();
            const window = 5 * 60_000;
            let headers: Record<string, string> = await hubspotHeaders(body);
            let sent = body;
            if (attack === 'secret') headers = await hubspotHeaders(body, { secret: `${HUBSPOT.secret}x` });
            if (attack === 'body') sent = `${body} `;
            if (attack === 'url') headers = await hubspotHeaders(body, { url: `${HS_URL}?x=1` });
            if (attack === 'stale')
              headers = await hubspotHeaders(body, { timestamp: now - window - beyond });
            if (attack === 'future')
              headers = await hubspotHeaders(body, { timestamp: now + window + beyond });
            if (attack === 'retimestamped')
              headers = { ...headers, 'x-hubspot-request-timestamp': String(now - (beyond % window) - 1) };
            if (attack === 'missing') headers = {};
            if (attack === 'random')
              headers = { ...headers, 'x-hubspot-signature-v3': random.replace(/[^\x20-\x7e]/g, '') || 'x' };
            const res = await hostile(() =>
              post('/webhooks/hubspot', sent, { 'content-type': 'application/json', ...headers }),
            );
            expectUnauthenticated(res, sent);
          },
        ),
        { numRuns: cases(N) },
      );
    },
    TIMEOUT,
  );

  it(
    'correctly signed mutated bodies never cause a 5xx, and rejected ones change nothing',
    async () => {
      await fc.assert(
        fc.asyncProperty(bodies(hsEvents), contentType, async (b, ct) => {
          counter.hit('hubspot webhook: signed mutations');
          await quiet();
          const res = await hostile(async () =>
            post('/webhooks/hubspot', b.bytes, { ...typed(ct), ...(await hubspotHeaders(b.bytes)) }),
          );
          if (b.valid) expect(res.status).toBe(200);
        }),
        { numRuns: cases(N) },
      );
    },
    TIMEOUT,
  );

  it(
    'a replay inside the window changes nothing; the same request after 5 minutes is 401',
    async () => {
      await fc.assert(
        fc.asyncProperty(hsEvents, async (events) => {
          counter.hit('hubspot webhook: replay');
          await quiet();
          const body = JSON.stringify(events);
          const headers = { 'content-type': 'application/json', ...(await hubspotHeaders(body)) };
          expect((await hostile(() => post('/webhooks/hubspot', body, headers))).status).toBe(200);
          await quiet();
          const stored = fingerprint();
          expect((await hostile(() => post('/webhooks/hubspot', body, headers))).status).toBe(200);
          expect(fingerprint()).toEqual(stored);
          h.advance(5 * 60_000 + 1);
          expect((await hostile(() => post('/webhooks/hubspot', body, headers))).status).toBe(401);
        }),
        { numRuns: cases(Math.ceil(N / 3)) },
      );
    },
    TIMEOUT,
  );
});

// ---- Salesforce -------------------------------------------------------------------------------

const sfNotes = sfNotifications(2);
const flowEvents = flowCallout(
  fc.constant(null).map(() => h.now().toISOString()),
  2,
);

describe('POST /webhooks/salesforce', () => {
  it(
    'Outbound Messages from another org, entity and DOCTYPE payloads and mutated XML: never a 5xx, rejected ones change nothing',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            sfNotes.map((ns) => ({
              xml: outboundXml(SALESFORCE.orgId, ns) as string | Uint8Array,
              valid: true,
            })),
            fc
              .tuple(sfNotes, sfId('00D5e0'))
              .map(([ns, org]) => ({ xml: outboundXml(org, ns), valid: false })),
            xmlAttacks(SALESFORCE.orgId).map((xml) => ({ xml, valid: false })),
            fc
              .tuple(sfNotes, fc.array(textMutation, { minLength: 1, maxLength: 3 }))
              .map(([ns, ms]) => ({ xml: mutateText(outboundXml(SALESFORCE.orgId, ns), ms), valid: false })),
          ),
          fc.constantFrom('text/xml; charset=utf-8', 'application/json', 'text/plain', ''),
          async ({ xml, valid }, ct) => {
            counter.hit('salesforce webhook: SOAP');
            await quiet();
            const res = await hostile(() =>
              post('/webhooks/salesforce', xml, { ...typed(ct), soapaction: '""' }),
            );
            const text = typeof xml === 'string' ? xml : new TextDecoder().decode(xml);
            // Refused: 403 before parsing when the org id is not ours (or not found), else 400.
            if (/<!\s*(DOCTYPE|ENTITY)/i.test(text) && text.trimStart().startsWith('<'))
              expect([400, 403]).toContain(res.status);
            if (valid) expect(res.status).toBe(200);
          },
        ),
        { numRuns: cases(N) },
      );
    },
    TIMEOUT,
  );

  it(
    'random Outbound Messages never create, link or erase anything without the authenticated read: Salesforce decides (rule 7)',
    async () => {
      const payload = fc.record({
        phone: fc.oneof(
          fc.constant(null).map(() => freshPhone()),
          marked,
        ),
        optedOut: fc.constantFrom('true', 'false', MARKER),
        consent: fc.constantFrom('Opted In', 'Opted Out', 'None', MARKER),
      });
      const held = fc.constantFrom('nothing', 'opted_out', 'opted_in');
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(held, payload), { maxLength: 3 }),
          fc.array(fc.tuple(sfId('0035e0'), payload), { maxLength: 3 }),
          async (real, madeUp) => {
            fc.pre(real.length + madeUp.length > 0);
            counter.hit('salesforce webhook: Outbound Messages are read back');
            await quiet();
            const erasures = () =>
              Object.entries(fingerprint().counts as Record<string, number>).filter(([t]) =>
                /erasure|tombstone|erased/.test(t),
              );
            const before = erasures();
            // Records Salesforce holds, with a fresh number each and a consent value or none.
            const records = real.map(([state, p]) => {
              const phone = freshPhone();
              const values =
                state === 'opted_out'
                  ? { WhatsApp_Opted_Out__c: true }
                  : state === 'opted_in'
                    ? { WhatsApp_Marketing_Consent__c: 'Opted In' }
                    : {};
              return { id: h.salesforce.add('Contact', { MobilePhone: phone, ...values }), phone, state, p };
            });
            const fields = (p: { phone: string; optedOut: string; consent: string }) => ({
              MobilePhone: p.phone,
              WhatsApp_Opted_Out__c: p.optedOut,
              WhatsApp_Marketing_Consent__c: p.consent,
            });
            const note = () => {
              serial += 1;
              return `04l5e0${String(serial).padStart(12, '0')}`;
            };
            const xml = outboundXml(SALESFORCE.orgId, [
              ...records.map((r) => ({ id: note(), record: r.id, fields: fields(r.p) })),
              ...madeUp.map(([record, p]) => ({ id: note(), record, fields: fields(p) })),
            ]);
            const res = await post('/webhooks/salesforce', xml, {
              'content-type': 'text/xml; charset=utf-8',
              soapaction: '""',
            });
            expect(res.status).toBe(200);
            await quiet();
            const person = async (phone: string) => {
              const e164 = normalizePhone(phone);
              return e164.ok ? h.services.subjects.find(await h.services.subjects.hash(e164.e164)) : null;
            };
            const link = (id: string) => h.services.store.findLink('salesforce', 'Contact', id);
            // No number that only a payload named belongs to anyone; no made-up record is linked.
            for (const p of [...real, ...madeUp].map(([, q]) => q)) expect(await person(p.phone)).toBeNull();
            for (const [id] of madeUp) expect(await link(id)).toBeNull();
            // A record is linked, to the person with the number Salesforce holds, exactly when
            // Salesforce holds a consent value; the state is Salesforce's, not the payload's.
            for (const r of records) {
              const subject = await person(r.phone);
              if (r.state === 'nothing') {
                expect(subject).toBeNull();
                expect(await link(r.id)).toBeNull();
                continue;
              }
              expect((await link(r.id))?.subjectId).toBe(subject?.row.id);
              const states = await h.services.store.getStates(subject?.row.id as string);
              const marketing = states.find((s) => s.purpose === 'marketing')?.status;
              expect(marketing).toBe(r.state === 'opted_out' ? 'opted_out' : 'pending');
            }
            expect(erasures()).toEqual(before);
          },
        ),
        { numRuns: cases(N / 2) },
      );
    },
    TIMEOUT,
  );

  it(
    'Flow callouts: a wrong or missing secret is 401; mutated bodies never cause a 5xx; rejected ones change nothing',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          bodies(flowEvents),
          fc.oneof(fc.constant(SALESFORCE.webhookSecret), fc.constant(null), fc.string({ maxLength: 30 })),
          fc.constantFrom('application/json', 'text/plain', ''),
          async (b, secret, ct) => {
            counter.hit('salesforce webhook: Flow callouts');
            await quiet();
            const headers = {
              ...typed(ct),
              ...(secret === null ? {} : { 'x-consent-sync-secret': secret.replace(/[^\x20-\x7e]/g, '') }),
            };
            const res = await hostile(() => post('/webhooks/salesforce', b.bytes, headers));
            const soap =
              ct.includes('xml') ||
              new TextDecoder()
                .decode(typeof b.bytes === 'string' ? new TextEncoder().encode(b.bytes) : b.bytes)
                .replace(/^\uFEFF/, '')
                .trimStart()
                .startsWith('<');
            if (!soap && headers['x-consent-sync-secret'] !== SALESFORCE.webhookSecret)
              expectUnauthenticated(res, b.bytes);
            if (b.valid && secret === SALESFORCE.webhookSecret) expect(res.status).toBe(200);
          },
        ),
        { numRuns: cases(N) },
      );
    },
    TIMEOUT,
  );
});

// ---- values of any type for records the app can match ------------------------------------------

describe('CRM changes to records of real people, with values of any type', () => {
  it(
    'HubSpot property changes and Flow callouts never cause a 5xx; rejected ones change nothing',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('whatsapp_opted_out', 'whatsapp_marketing_consent', 'mobilephone'),
          fc.constantFrom('WhatsApp_Opted_Out__c', 'WhatsApp_Marketing_Consent__c', 'MobilePhone'),
          oddValue,
          fc.boolean(),
          async (hsProperty, sfField, value, viaHubSpot) => {
            counter.hit('crm webhooks: values of any type for known records');
            await quiet();
            const phone = freshPhone();
            if (viaHubSpot) {
              const objectId = Number(h.hubspot.addContact({ mobilephone: phone }));
              const event = makeHubSpotEvent({
                subscriptionType: 'contact.propertyChange',
                objectId,
                occurredAt: h.now().getTime(),
                propertyName: hsProperty,
              });
              const body = JSON.stringify([{ ...event, propertyValue: value }]);
              await hostile(async () =>
                post('/webhooks/hubspot', body, {
                  'content-type': 'application/json',
                  ...(await hubspotHeaders(body)),
                }),
              );
            } else {
              const recordId = h.salesforce.add('Contact', { MobilePhone: phone, LastName: 'Mustermann' });
              const body = JSON.stringify({
                events: [
                  {
                    id: `flow-${serial}`,
                    objectType: 'Contact',
                    recordId,
                    occurredAt: h.now().toISOString(),
                    fields: { MobilePhone: phone, [sfField]: value },
                  },
                ],
              });
              await hostile(() =>
                post('/webhooks/salesforce', body, {
                  'content-type': 'application/json',
                  'x-consent-sync-secret': SALESFORCE.webhookSecret,
                }),
              );
            }
          },
        ),
        { numRuns: cases(N) },
      );
    },
    TIMEOUT,
  );
});

// ---- public API bodies ------------------------------------------------------------------------

const purposes = fc.subarray(['marketing', 'transactional'], { minLength: 1 });
const knownPhone = fc.constant(null).map(() => freshPhone());

const apiCases: Array<{
  name: string;
  role: TestRole;
  method?: string;
  path: () => string;
  valid: fc.Arbitrary<Json>;
  ok: number[];
  readOnly?: boolean;
}> = [
  {
    name: 'POST /v1/consents',
    role: 'intake',
    path: () => '/v1/consents',
    valid: fc.record({
      phone: knownPhone,
      purposes,
      locale: fc.constantFrom('de', 'en', 'de-DE'),
      evidence: fc.record({ formUrl: fc.constant('https://shop.example.com/form'), reference: marked }),
    }),
    ok: [200, 202],
  },
  {
    name: 'POST /v1/subjects/{phone}/opt-out',
    role: 'operator',
    path: () => `/v1/subjects/${encodeURIComponent(freshPhone())}/opt-out`,
    valid: fc.record({ purposes, reference: marked }, { requiredKeys: [] }),
    ok: [200],
  },
  {
    name: 'POST /v1/messages',
    role: 'operator',
    path: () => '/v1/messages',
    valid: fc.record({
      phone: fc.constant(null).map(() => consenting),
      purpose: fc.constant('transactional'),
      text: fc.string({ minLength: 1, maxLength: 50 }).map((s) => `Ihre Bestellung ${s}`),
    }),
    ok: [200],
  },
  {
    name: 'POST /v1/erasures',
    role: 'operator',
    path: () => '/v1/erasures',
    valid: fc.record({ phone: knownPhone }),
    ok: [202],
  },
  {
    name: 'POST /v1/mappings/{connector}/preview',
    role: 'editor',
    path: () => '/v1/mappings/hubspot/preview',
    // editors preview example states, never a number (issue 14, finding 4)
    valid: fc.record({
      example: fc.record(
        {
          marketing: fc.record({ status: fc.constantFrom('none', 'pending', 'opted_in', 'opted_out') }),
          transactional: fc.record({ status: fc.constantFrom('none', 'pending', 'opted_in', 'opted_out') }),
        },
        { requiredKeys: [] },
      ),
    }),
    ok: [200],
    readOnly: true,
  },
  {
    name: 'POST /v1/mappings/{connector}/preview (admin, by number)',
    role: 'admin',
    path: () => '/v1/mappings/hubspot/preview',
    valid: fc.record({ phone: knownPhone }),
    ok: [200],
    readOnly: true,
  },
  {
    name: 'PUT /v1/mappings/{connector}',
    role: 'editor',
    method: 'PUT',
    path: () => '/v1/mappings/salesforce',
    valid: fc
      .constant(null)
      .map(() => JSON.parse(JSON.stringify(h.services.mappings.get('salesforce'))) as Json),
    ok: [200],
  },
];

describe('public API bodies', () => {
  for (const c of apiCases) {
    it(
      `${c.name}: random and mutated bodies never cause a 5xx and rejected ones change nothing; valid ones succeed`,
      async () => {
        await fc.assert(
          fc.asyncProperty(bodies(c.valid), contentType, async (b, ct) => {
            counter.hit(`api: ${c.name}`);
            await quiet();
            const res = await hostile(() => post(c.path(), b.bytes, typed(ct), c.role, c.method), {
              readOnly: c.readOnly === true,
            });
            if (b.valid && ct.startsWith('application/json'))
              expect(c.ok, res.body.slice(0, 200)).toContain(res.status);
          }),
          { numRuns: cases(N) },
        );
      },
      TIMEOUT,
    );
  }
});

// ---- phone numbers in the path ----------------------------------------------------------------

const phoneish = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 45 }),
  fc.stringMatching(/^[+0 ()\-.%2B]{0,4}[0-9 ]{0,18}$/),
  fc.constant(null).map(() => freshPhone()),
  fc.constant(null).map(() => freshPhone().slice(1)),
  fc.constant(null).map(() => `00${freshPhone().slice(1)}`),
  fc.constant(null).map(() => encodeURIComponent(freshPhone())),
);

describe('{phone} path parameter', () => {
  it(
    'any string: 200 exactly when it names a number, a WhatsApp id or a BSUID, else 400 without echoing it; reading changes nothing',
    async () => {
      await fc.assert(
        fc.asyncProperty(phoneish, fc.constantFrom('', '/history'), async (raw, sub) => {
          counter.hit('phone path parameter');
          const res = await hostile(
            () => h.request(`/v1/subjects/${encodeURIComponent(raw)}${sub}`, { role: 'admin' }),
            { readOnly: true },
          );
          // Empty, `.` and `..` are no parameter at all: the URL resolves to another (or no) route.
          if (raw === '' || raw === '.' || raw === '..') return;
          const valid = raw.length >= 1 && raw.length <= 400 && parseSubjectRef(raw).ok;
          expect(res.status, raw).toBe(valid ? 200 : 400);
          const digits = raw.replace(/\D/g, '');
          if (!valid && digits.length >= 4) expect(res.body).not.toContain(digits);
        }),
        { numRuns: cases(N * 2) },
      );
    },
    TIMEOUT,
  );
});

// ---- sync rules 4 and 4a: hostile times never outrank the person's own opt-out -------------------

const DAY = 86_400_000;
/** A sender's time: far in the past, around now, or far in the future (up to JavaScript's last date). */
const anyTime = fc.oneof(
  fc.integer({ min: 0, max: Date.parse('2001-01-01T00:00:00.000Z') }),
  fc.integer({ min: -DAY, max: DAY }).map((d) => h.now().getTime() + d),
  fc.integer({ min: Date.parse('2030-01-01T00:00:00.000Z'), max: 8_640_000_000_000_000 }),
);
type Forged = { via: 'hubspot' | 'flow' | 'whatsapp'; value: string; at: number };
const forged: fc.Arbitrary<Forged> = fc.oneof(
  fc.record({
    via: fc.constant('hubspot' as const),
    value: fc.constantFrom('granted', 'withdrawn'),
    at: anyTime,
  }),
  fc.record({
    via: fc.constant('flow' as const),
    value: fc.constantFrom('Opted In', 'Opted Out'),
    at: anyTime,
  }),
  fc.record({
    via: fc.constant('whatsapp' as const),
    value: fc.constantFrom('START', 'JA', 'STOP'),
    at: anyTime,
  }),
);

/** Delivers a forged change for `phone`, dated `at`, through the channel's real webhook. */
async function deliverForged(phone: string, f: Forged, contact: string, record: string): Promise<void> {
  if (f.via === 'hubspot') {
    const event = makeHubSpotEvent({
      subscriptionType: 'contact.propertyChange',
      objectId: Number(contact),
      occurredAt: f.at,
      propertyName: 'whatsapp_marketing_consent',
      propertyValue: f.value,
    });
    const body = JSON.stringify([event]);
    const res = await post('/webhooks/hubspot', body, {
      'content-type': 'application/json',
      ...(await hubspotHeaders(body)),
    });
    expect(res.status).toBe(200);
  } else if (f.via === 'flow') {
    // A Flow's occurredAt is an ISO date-time: years up to 9999.
    const at = new Date(Math.min(f.at, Date.parse('9999-12-31T23:59:59.000Z'))).toISOString();
    const body = JSON.stringify({
      events: [
        {
          id: `flow-forged-${serial}-${f.at}`,
          objectType: 'Contact',
          recordId: record,
          occurredAt: at,
          fields: { MobilePhone: phone, WhatsApp_Marketing_Consent__c: f.value },
        },
      ],
    });
    const res = await post('/webhooks/salesforce', body, {
      'content-type': 'application/json',
      'x-consent-sync-secret': SALESFORCE.webhookSecret,
    });
    expect(res.status).toBe(200);
  } else {
    // Meta's timestamps are Unix seconds; the reader takes up to 10^11 (the year 5138).
    const seconds = String(Math.min(Math.floor(f.at / 1000), 100_000_000_000));
    expect((await h.webhook(textMessage(phone.slice(1), f.value, { timestamp: seconds }))).status).toBe(200);
  }
  await quiet();
}

/** The person's own opt-out, now: a STOP, Meta's marketing stop, or an operator through the API. */
async function personOptsOut(phone: string, how: 'stop' | 'meta' | 'api'): Promise<void> {
  if (how === 'api') {
    const res = await h.request(`/v1/subjects/${encodeURIComponent(phone)}/opt-out`, {
      method: 'POST',
      role: 'operator',
      json: { purposes: ['marketing'] },
    });
    expect(res.status).toBe(200);
  } else {
    const change =
      how === 'stop'
        ? textMessage(phone.slice(1), 'STOP', { timestamp: nowSeconds() })
        : userPreference(phone.slice(1), 'stop', { timestamp: Number(nowSeconds()) });
    expect((await h.webhook(change)).status).toBe(200);
  }
  await quiet();
}

const marketingOf = async (phone: string) =>
  (
    (await (await h.request(`/v1/subjects/${encodeURIComponent(phone)}`, { role: 'operator' })).json()) as {
      purposes: Record<string, { status: string }>;
    }
  ).purposes.marketing?.status;

const sendMarketing = (phone: string) =>
  h.request('/v1/messages', {
    method: 'POST',
    role: 'operator',
    json: { phone, purpose: 'marketing', text: 'Unser Angebot der Woche' },
  });

describe('changes dated anywhere from 1970 to the year 275760 (sync rules 4 and 4a)', () => {
  let original: Json;
  beforeAll(async () => {
    // HubSpot's opt-ins are taken over as consent here (trustOptIn), the review's setting.
    original = JSON.parse(JSON.stringify(h.services.mappings.get('hubspot'))) as Json;
    const trusted = await h.services.mappings.replace('hubspot', {
      ...(original as object),
      trustOptIn: true,
    });
    expect(trusted.ok).toBe(true);
  });
  afterAll(async () => {
    await h.services.mappings.replace('hubspot', original);
  });

  it(
    "the review's finding: a trusted HubSpot opt-in dated 2099, then the person's STOP: opted out, marketing refused",
    async () => {
      const phone = freshPhone();
      const contact = h.hubspot.addContact({ mobilephone: phone });
      const record = h.salesforce.add('Contact', { MobilePhone: phone, LastName: 'Mustermann' });
      await deliverForged(
        phone,
        { via: 'hubspot', value: 'granted', at: Date.parse('2099-01-01T00:00:00.000Z') },
        contact,
        record,
      );
      expect(await marketingOf(phone)).toBe('opted_in');
      h.advance(60_000);
      await personOptsOut(phone, 'stop');
      expect(await marketingOf(phone)).toBe('opted_out');
      const res = await sendMarketing(phone);
      expect(res.status).toBe(409);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('NO_CONSENT');
    },
    TIMEOUT,
  );

  it(
    "HubSpot, Salesforce Flow and WhatsApp changes with hostile times never stop the person's later opt-out from applying",
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(forged, { minLength: 1, maxLength: 3 }),
          fc.constantFrom('stop' as const, 'meta' as const, 'api' as const),
          async (changes, how) => {
            counter.hit('hostile times, then the person opts out');
            await quiet();
            const phone = freshPhone();
            const contact = h.hubspot.addContact({ mobilephone: phone });
            const record = h.salesforce.add('Contact', { MobilePhone: phone, LastName: 'Mustermann' });
            for (const f of changes) await deliverForged(phone, f, contact, record);
            // Later than every capped time: receipt plus the clock-skew allowance has passed.
            h.advance(h.services.config.CLOCK_SKEW_SECONDS * 1000 + 1000);
            await personOptsOut(phone, how);
            expect(await marketingOf(phone)).toBe('opted_out');
            expect((await sendMarketing(phone)).status).toBe(409);
          },
        ),
        { numRuns: cases(Math.ceil(N / 2)) },
      );
    },
    TIMEOUT,
  );
});
