/**
 * Hostile input against every connector parser and verifier, called directly (issue 6, deliver 4).
 * The same properties run through the HTTP app in test/e2e/hostile-input.property.test.ts; here they
 * are cheap enough for many more cases.
 *
 * - Parsers (WhatsApp webhook, HubSpot v3 deliveries, Salesforce Outbound Messages and Flow
 *   callouts) never throw on any input, random or a mutated valid payload, and their error messages
 *   never echo an input value (a marker planted in every string never shows up).
 * - Verifiers accept exactly what was signed: any changed bit of the body, URL, method, timestamp or
 *   signature, another secret, a random header, or a timestamp more than 5 minutes off is refused.
 * - Valid payloads still parse (the properties are not vacuous).
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CaseCounter,
  flowCallout,
  type Json,
  jsonMutation,
  MARKER,
  marked,
  mutateJson,
  mutateText,
  outboundXml,
  runs,
  sfId,
  sfNotifications,
  textMutation,
  timeoutFor,
  xmlAttacks,
} from '../test/helpers/fuzz.ts';
import {
  envelope,
  signedRequest,
  statusUpdate,
  textMessage,
  userPreference,
} from '../test/helpers/whatsapp.ts';
import { MAX_SKEW_MS, signV3, verifyV3 } from './hubspot/signature.ts';
import { parseHubSpotWebhook } from './hubspot/webhook.ts';
import { readFlowCallout } from './salesforce/flow.ts';
import { readNotifications } from './salesforce/outbound.ts';
import { verifySalesforceWebhook } from './salesforce/webhook.ts';
import type { LookupSpec } from './types.ts';
import { parseWebhook } from './whatsapp/parse.ts';
import { verifyMetaSignature } from './whatsapp/signature.ts';

const counter = new CaseCounter('connectors/hostile-input.property.test.ts');
afterAll(() => counter.report());

const N = 300;
const TIMEOUT = timeoutFor(N, 5);

/** Fictitious German mobile numbers as WhatsApp ids. */
const waId = fc.integer({ min: 0, max: 999 }).map((n) => `4915123456${String(n).padStart(3, '0')}`); // example numbers
const noMarker = (message: string) => expect(message).not.toContain(MARKER);

// ---- WhatsApp -----------------------------------------------------------------------------------

const waChange = fc.oneof(
  fc.tuple(waId, marked).map(([from, body]) => textMessage(from, body)),
  fc.tuple(waId, fc.constantFrom('STOP', 'JA', 'YES')).map(([from, body]) => textMessage(from, body)),
  fc.tuple(waId, marked).map(([to, id]) => statusUpdate(to, `wamid.${id}`, 'delivered')),
  fc.tuple(waId, fc.constantFrom('stop' as const, 'resume' as const)).map(([w, v]) => userPreference(w, v)),
);
const waEnvelope = fc
  .array(waChange, { minLength: 1, maxLength: 4 })
  .map((cs) => envelope(...cs) as unknown as Json);

describe('WhatsApp webhook parser', () => {
  it('valid envelopes parse into one event per message, status and preference', () => {
    fc.assert(
      fc.property(waEnvelope, (env) => {
        counter.hit('whatsapp parse: valid envelopes');
        const r = parseWebhook(JSON.parse(JSON.stringify(env)));
        expect(r.ok).toBe(true);
        const changes = (env as { entry: Array<{ changes: Array<{ value: Record<string, unknown[]> }> }> })
          .entry[0]!.changes;
        const expected = changes.reduce(
          (n, c) =>
            n +
            (c.value.messages?.length ?? 0) +
            (c.value.statuses?.length ?? 0) +
            (c.value.user_preferences?.length ?? 0),
          0,
        );
        if (r.ok) expect(r.events).toHaveLength(expected);
      }),
      { numRuns: runs(N) },
    );
  });

  it(
    'mutated envelopes and random JSON never throw, and errors never echo a value',
    () => {
      fc.assert(
        fc.property(
          fc.oneof(
            fc
              .tuple(waEnvelope, fc.array(jsonMutation, { minLength: 1, maxLength: 4 }))
              .map(([e, ms]) => mutateJson(e, ms)),
            fc.jsonValue().map((v) => JSON.stringify(v)),
          ),
          (text) => {
            counter.hit('whatsapp parse: mutated and random JSON');
            const r = parseWebhook(JSON.parse(text));
            if (!r.ok) {
              expect(r.code).toBe('MALFORMED_PAYLOAD');
              noMarker(r.message);
            } else {
              for (const e of r.events) expect(Number.isNaN(Date.parse(e.occurredAt))).toBe(false);
              for (const s of r.skipped) noMarker(s.reason);
            }
          },
        ),
        { numRuns: runs(N) },
      );
    },
    TIMEOUT,
  );
});

describe('WhatsApp signature (X-Hub-Signature-256)', () => {
  const secret = fc.string({ minLength: 1, maxLength: 40 });
  it(
    'accepts the signed bytes only: a flipped bit, another secret or a mangled header is refused',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.uint8Array({ maxLength: 2_000 }),
          secret,
          secret,
          fc.nat(),
          fc.nat({ max: 7 }),
          fc.constantFrom('flip-hex', 'upper', 'no-prefix', 'sha1', 'space', 'truncate', 'random'),
          fc.string({ maxLength: 80 }),
          async (body, key, other, at, bit, headerOp, random) => {
            counter.hit('whatsapp signature: forged and mangled');
            const { headers } = await signedRequest(new TextDecoder().decode(body), key);
            const raw = new TextEncoder().encode(new TextDecoder().decode(body));
            const header = headers['x-hub-signature-256'];
            expect(await verifyMetaSignature(raw, header, key)).toBe(true);
            if (raw.length > 0) {
              const flipped = raw.slice();
              flipped[at % raw.length] = (flipped[at % raw.length] as number) ^ (1 << bit);
              expect(await verifyMetaSignature(flipped, header, key)).toBe(false);
            }
            if (other !== key) expect(await verifyMetaSignature(raw, header, other)).toBe(false);
            const hex = header.slice('sha256='.length);
            const i = at % 64;
            const mangled = {
              'flip-hex': `sha256=${hex.slice(0, i)}${hex[i] === '0' ? '1' : '0'}${hex.slice(i + 1)}`,
              upper: `sha256=${hex.toUpperCase()}`,
              'no-prefix': hex,
              sha1: `sha1=${hex}`,
              space: ` ${header}`,
              truncate: header.slice(0, 7 + i),
              random,
            }[headerOp];
            if (mangled !== header && !(headerOp === 'upper' && hex === hex.toUpperCase()))
              expect(await verifyMetaSignature(raw, mangled, key)).toBe(false);
            expect(await verifyMetaSignature(raw, header, '')).toBe(false);
          },
        ),
        { numRuns: runs(N) },
      );
    },
    TIMEOUT,
  );
});

// ---- HubSpot ------------------------------------------------------------------------------------

const HS_SPEC: LookupSpec = {
  objectTypes: ['contact'],
  matchField: 'hs_whatsapp_phone_number',
  properties: ['whatsapp_opted_out', 'whatsapp_marketing_consent'],
};
const NOW = Date.parse('2026-03-02T09:00:00.000Z');

const hsEvent = fc.record({
  eventId: fc.nat(),
  subscriptionId: fc.nat(),
  portalId: fc.nat(),
  appId: fc.nat(),
  occurredAt: fc.integer({ min: NOW - 86_400_000, max: NOW }),
  subscriptionType: fc.constantFrom('contact.propertyChange', 'contact.deletion', 'contact.privacyDeletion'),
  attemptNumber: fc.nat({ max: 5 }),
  objectId: fc.nat(),
  propertyName: fc.oneof(fc.constantFrom(...HS_SPEC.properties, HS_SPEC.matchField), marked),
  propertyValue: fc.oneof(marked, fc.constantFrom('true', 'false', 'withdrawn')),
  changeSource: fc.constantFrom('CRM_UI', 'API', `${MARKER} free text`),
});
const hsBody = fc.array(hsEvent, { minLength: 1, maxLength: 5 }) as fc.Arbitrary<Json>;

/** Strings a real HTTP header can carry (fetch's Headers refuses the rest before we see them). */
const headerValue = (maxLength: number) =>
  fc.string({ unit: 'binary', maxLength }).filter((v) => {
    try {
      new Headers({ x: v });
      return true;
    } catch {
      return false;
    }
  });

describe('HubSpot webhook v3 signature', () => {
  const req = fc.record({
    method: fc.constantFrom('POST', 'post', 'PUT'),
    url: fc.webUrl({ withQueryParameters: true }),
    body: fc.string({ unit: 'binary', maxLength: 500 }),
    secret: fc.string({ minLength: 1, maxLength: 40 }),
    skew: fc.integer({ min: -MAX_SKEW_MS, max: MAX_SKEW_MS }),
  });
  const sign = (r: { method: string; url: string; body: string; secret: string }, timestamp: number) =>
    signV3({ method: r.method.toUpperCase(), url: r.url, body: r.body, timestamp, secret: r.secret });
  const request = (
    r: { method: string; url: string; body: string },
    signature: string,
    timestamp: string,
  ) => ({
    method: r.method,
    url: r.url,
    rawBody: r.body,
    now: NOW,
    headers: new Headers({ 'x-hubspot-signature-v3': signature, 'x-hubspot-request-timestamp': timestamp }),
  });

  it(
    'within 5 minutes the signed request passes; any changed part, or another secret, is refused',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          req,
          fc.constantFrom('body', 'url', 'method', 'timestamp', 'signature', 'secret'),
          fc.string({ minLength: 1, maxLength: 8 }),
          async (r, part, extra) => {
            counter.hit('hubspot signature: forged parts');
            const ts = NOW - r.skew;
            const signature = await sign(r, ts);
            expect(await verifyV3(request(r, signature, String(ts)), r.secret)).toEqual({ ok: true });
            const changed = {
              body: request({ ...r, body: `${r.body}${extra}` }, signature, String(ts)),
              url: request({ ...r, url: `${r.url}${encodeURIComponent(extra)}x` }, signature, String(ts)),
              method: request(
                { ...r, method: r.method.toUpperCase() === 'POST' ? 'GET' : 'POST' },
                signature,
                String(ts),
              ),
              // A fresh timestamp on an old signature: the timestamp is part of what was signed.
              timestamp: request(r, signature, String(ts + 1)),
              signature: request(r, await sign({ ...r, body: `${r.body}${extra}` }, ts), String(ts)),
              secret: request(r, await sign({ ...r, secret: `${r.secret}${extra}` }, ts), String(ts)),
            }[part];
            const verdict = await verifyV3(changed, r.secret);
            expect(verdict.ok).toBe(false);
            if (!verdict.ok) expect(verdict.status).toBe(401);
          },
        ),
        { numRuns: runs(N) },
      );
    },
    TIMEOUT,
  );

  it(
    'a correctly signed request more than 5 minutes old (or ahead) is refused',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          req,
          fc.integer({ min: 1, max: 10 * 365 * 86_400_000 }),
          fc.boolean(),
          async (r, beyond, past) => {
            counter.hit('hubspot signature: stale and future');
            const ts = past ? NOW - MAX_SKEW_MS - beyond : NOW + MAX_SKEW_MS + beyond;
            const verdict = await verifyV3(request(r, await sign(r, ts), String(ts)), r.secret);
            expect(verdict).toMatchObject({
              ok: false,
              status: 401,
              code: past ? 'TIMESTAMP_EXPIRED' : 'TIMESTAMP_IN_FUTURE',
            });
          },
        ),
        { numRuns: runs(N) },
      );
    },
    TIMEOUT,
  );

  it('random header values never throw and never pass', async () => {
    await fc.assert(
      fc.asyncProperty(req, headerValue(60), headerValue(20), async (r, sig, ts) => {
        counter.hit('hubspot signature: random headers');
        const verdict = await verifyV3(request(r, sig, ts), r.secret);
        expect(verdict.ok).toBe(false);
        if (!verdict.ok) {
          expect(verdict.status).toBe(401);
          if (sig.length > 3) expect(verdict.message).not.toContain(sig);
        }
      }),
      { numRuns: runs(N) },
    );
  });
});

describe('HubSpot webhook parser', () => {
  it(
    'valid, mutated and random bodies never throw; only whitelisted properties come out; errors echo nothing',
    () => {
      fc.assert(
        fc.property(
          fc.oneof(
            hsBody.map((b) => JSON.stringify(b)),
            fc
              .tuple(hsBody, fc.array(jsonMutation, { minLength: 1, maxLength: 3 }))
              .map(([b, ms]) => mutateJson(b, ms)),
            fc
              .tuple(hsBody, fc.array(textMutation, { minLength: 1, maxLength: 3 }))
              .map(([b, ms]) => new TextDecoder().decode(mutateText(JSON.stringify(b), ms))),
            fc.string({ unit: 'binary', maxLength: 200 }),
          ),
          (raw) => {
            counter.hit('hubspot parse: valid, mutated and random');
            const r = parseHubSpotWebhook(raw, HS_SPEC);
            if (!r.ok) {
              expect(r).toMatchObject({ status: 400, code: 'INVALID_PAYLOAD' });
              noMarker(r.message);
              noMarker(r.reply.body);
              return;
            }
            for (const c of r.changes) {
              for (const p of Object.keys(c.properties)) expect(HS_SPEC.properties).toContain(p);
              expect(Number.isNaN(Date.parse(c.occurredAt))).toBe(false);
              if (c.changeSource !== null) noMarker(c.changeSource);
            }
            for (const k of r.skipped) noMarker(k.reason);
          },
        ),
        { numRuns: runs(N) },
      );
    },
    TIMEOUT,
  );

  // Sync rule 8: readable events of whitelisted properties, in any of HubSpot's three dialects,
  // with unreadable ones mixed in anywhere.
  const readable = fc
    .tuple(
      hsEvent.map((e) => ({ ...e, subscriptionType: 'contact.propertyChange' })),
      fc.constantFrom(...HS_SPEC.properties),
      fc.constantFrom('classic', 'legacy', 'generic'),
    )
    .map(([e, propertyName, dialect]): Record<string, unknown> => {
      const event: Record<string, unknown> = { ...e, propertyName };
      if (dialect === 'legacy') {
        delete event.subscriptionType;
        event.eventType = 'contact.propertyChange';
      }
      if (dialect === 'generic')
        Object.assign(event, { subscriptionType: 'object.propertyChange', objectTypeId: '0-1' });
      return event;
    });
  const unreadable = fc.oneof(
    fc.jsonValue().filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)),
    hsEvent.map((e) => ({ ...e, objectId: `${MARKER}${e.objectId}` })),
    hsEvent.map(({ occurredAt: _at, ...e }) => e),
    hsEvent.map(({ subscriptionType: _t, ...e }) => ({ ...e, eventType: 42 })),
    hsEvent.map((e) => ({ ...e, subscriptionType: 'object.propertyChange', objectTypeId: marked })),
  );

  it('one unreadable event never costs the readable events of the same delivery (rule 8)', () => {
    fc.assert(
      fc.property(
        fc.array(readable, { minLength: 1, maxLength: 6 }),
        fc.array(fc.tuple(unreadable, fc.nat()), { minLength: 1, maxLength: 4 }),
        (good, bad) => {
          counter.hit('hubspot parse: readable events survive unreadable ones');
          const mixed: unknown[] = [...good];
          for (const [event, at] of bad) mixed.splice(at % (mixed.length + 1), 0, event);
          const alone = parseHubSpotWebhook(JSON.stringify(good), HS_SPEC);
          const r = parseHubSpotWebhook(JSON.stringify(mixed), HS_SPEC);
          expect(alone.ok && r.ok).toBe(true);
          if (!alone.ok || !r.ok) return;
          expect(r.changes).toEqual(alone.changes);
          expect(r.changes).toHaveLength(good.length);
          expect(r.skipped).toHaveLength(bad.length);
          for (const k of r.skipped) {
            expect(k).toMatchObject({ source: 'hubspot', kind: 'event' });
            noMarker(k.reason);
          }
        },
      ),
      { numRuns: runs(N) },
    );
  });
});

// ---- Salesforce ---------------------------------------------------------------------------------

const ORG = '00D5e000000KQ2eEAG';
const SF_SPEC: LookupSpec = {
  objectTypes: ['Contact', 'Lead'],
  matchField: 'MobilePhone',
  properties: ['WhatsApp_Opted_Out__c', 'WhatsApp_Marketing_Consent__c'],
};
const sfNotification = sfNotifications(1).map((ns) => ns[0]!);
const sfXml = sfNotifications(3).map((ns) => outboundXml(ORG, ns));

const xmlAttack = xmlAttacks(ORG);

describe('Salesforce Outbound Message parser', () => {
  it('valid envelopes parse; mutated, random and entity-laden XML never throws and echoes nothing', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          sfXml.map((x) => ({ x, valid: true })),
          fc.tuple(sfXml, fc.array(textMutation, { minLength: 1, maxLength: 3 })).map(([x, ms]) => ({
            x: new TextDecoder().decode(mutateText(x, ms)),
            valid: false,
          })),
          xmlAttack.map((x) => ({ x, valid: false })),
          fc.tuple(xmlAttack, fc.array(textMutation, { maxLength: 2 })).map(([x, ms]) => ({
            x: new TextDecoder().decode(mutateText(x, ms)),
            valid: false,
          })),
          fc.string({ unit: 'binary', maxLength: 300 }).map((x) => ({ x, valid: false })),
        ),
        ({ x, valid }) => {
          counter.hit('salesforce SOAP parse: valid, mutated, entity payloads');
          const r = readNotifications(x);
          if (valid) expect(r.ok && r.unreadable.length === 0).toBe(true);
          if (/<!\s*(DOCTYPE|ENTITY)/i.test(x)) expect(r.ok).toBe(false);
          if (!r.ok) noMarker(r.message);
          else {
            // Notifications name records only: no field value of the message comes out.
            const out = JSON.stringify(r.notifications);
            noMarker(out);
            expect(out).not.toContain('root:x:0:0');
            expect(out).not.toContain('+4915123456789');
            for (const u of r.unreadable) noMarker(u.reason);
          }
        },
      ),
      { numRuns: runs(N) },
    );
  });

  it('another org, or no readable org, is refused with 403; the Flow secret must match exactly (401)', async () => {
    await fc.assert(
      fc.asyncProperty(
        sfNotification,
        sfId('00D5e0'),
        fc.string({ maxLength: 40 }),
        fc.constantFrom('text/xml', 'application/json', 'text/plain', ''),
        async (n, otherOrg, secret, contentType) => {
          counter.hit('salesforce verify: org id and Flow secret');
          const opts = { orgId: ORG, webhookSecret: 'test-sf-webhook-secret', outboundMessages: true };
          const at = (rawBody: string, headers: Record<string, string> = {}) => ({
            method: 'POST',
            url: 'https://consent.example.com/webhooks/salesforce',
            headers: new Headers(contentType ? { 'content-type': contentType, ...headers } : headers),
            rawBody,
            now: NOW,
          });
          expect(await verifySalesforceWebhook(at(outboundXml(ORG, [n])), opts)).toEqual({ ok: true });
          const other = await verifySalesforceWebhook(at(outboundXml(otherOrg, [n])), opts);
          if (otherOrg.slice(0, 15) !== ORG.slice(0, 15))
            expect(other).toMatchObject({ ok: false, status: 403 });
          const flow = JSON.stringify({ events: [] });
          const forged = await verifySalesforceWebhook(at(flow, { 'x-consent-sync-secret': secret }), opts);
          if (contentType.includes('xml')) expect(forged.ok).toBe(false);
          else if (secret !== opts.webhookSecret) expect(forged).toMatchObject({ ok: false, status: 401 });
          const noSecret = await verifySalesforceWebhook(at(flow), { ...opts, webhookSecret: null });
          expect(noSecret.ok).toBe(false);
          // Outbound Messages turned off: every SOAP body is refused, whatever its org.
          const off = await verifySalesforceWebhook(at(outboundXml(ORG, [n])), {
            ...opts,
            outboundMessages: false,
          });
          if (contentType.includes('xml') || !contentType)
            expect(off).toMatchObject({ ok: false, status: 403, code: 'OUTBOUND_MESSAGES_DISABLED' });
        },
      ),
      { numRuns: runs(N) },
    );
  });
});

describe('Salesforce Flow callout parser', () => {
  const flowBody = flowCallout(
    fc
      .date({ min: new Date('2020-01-01'), max: new Date('2030-01-01'), noInvalidDate: true })
      .map((d) => d.toISOString()),
    3,
  );

  it('valid bodies parse; mutated and random ones never throw and echo nothing', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          flowBody.map((b) => ({ raw: JSON.stringify(b), valid: true })),
          fc
            .tuple(flowBody, fc.array(jsonMutation, { minLength: 1, maxLength: 3 }))
            .map(([b, ms]) => ({ raw: mutateJson(b, ms), valid: false })),
          fc.tuple(flowBody, fc.array(textMutation, { minLength: 1, maxLength: 3 })).map(([b, ms]) => ({
            raw: new TextDecoder().decode(mutateText(JSON.stringify(b), ms)),
            valid: false,
          })),
          fc.jsonValue().map((v) => ({ raw: JSON.stringify(v), valid: false })),
        ),
        ({ raw, valid }) => {
          counter.hit('salesforce Flow parse: valid, mutated and random');
          const r = readFlowCallout(raw, SF_SPEC);
          if (valid) expect(r.ok && r.unreadable.length === 0).toBe(true);
          if (!r.ok) noMarker(r.message);
          else {
            for (const u of r.unreadable) noMarker(u.reason);
            for (const c of r.changes) {
              for (const p of Object.keys(c.properties)) expect(SF_SPEC.properties).toContain(p);
              expect(Number.isNaN(Date.parse(c.occurredAt))).toBe(false);
            }
          }
        },
      ),
      { numRuns: runs(N) },
    );
  });
});
