/**
 * Readers skip, never drop (sync rule 8), as a property of the WhatsApp webhook reader: random
 * deliveries mix valid opt-outs (STOP texts, 131050 statuses, `user_preferences` stops; by number,
 * by BSUID, by both, with or without a parent BSUID) with unreadable items (wrong types, missing
 * fields, junk, items naming nobody). Whatever the mix, the delivery parses, every opt-out comes out
 * with its identity, every unreadable item is in `skipped` (in order, as received), nothing else
 * appears, and no skip reason quotes a value (a marker planted in the junk never shows up).
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { Identity } from '../../src/core/identity.ts';
import { CaseCounter, MARKER, runs, timeoutFor } from '../../test/helpers/fuzz.ts';
import { parseWebhook } from './parse.ts';

const counter = new CaseCounter('connectors/whatsapp/parse.property.test.ts');
afterAll(() => counter.report());

const N = 300;

type Json = Record<string, unknown>;
/** One generated item: the JSON as Meta would send it, and the event it must become (null: skipped). */
interface Gen {
  raw: unknown;
  expected: Json | null;
}

// ---- identities ---------------------------------------------------------------------------------

/** E.164-shaped WhatsApp ids, whatever their range (Meta, not a phone library, is the authority). */
const waId = fc.stringMatching(/^[1-9][0-9]{6,14}$/);
const country = fc.constantFrom('US', 'DE', 'BR', 'IN', 'GB');
const alnum = fc.stringMatching(/^[A-Za-z0-9]{1,40}$/);
const bsuid = fc.tuple(country, alnum).map(([cc, s]) => `${cc}.${s}`);
const parentBsuid = fc.tuple(country, alnum).map(([cc, s]) => `${cc}.ENT.${s}`);

interface Who {
  phone: string | undefined;
  bsuid: string | undefined;
  parent: string | undefined;
}

/** Who an opt-out names: a number, a BSUID or both, and maybe a parent BSUID beside a BSUID. */
const who: fc.Arbitrary<Who> = fc
  .record({
    phone: fc.option(waId, { nil: undefined }),
    bsuid: fc.option(bsuid, { nil: undefined }),
    parent: fc.option(parentBsuid, { nil: undefined }),
  })
  .filter((w) => w.phone !== undefined || w.bsuid !== undefined)
  .map((w) => ({ ...w, parent: w.bsuid === undefined ? undefined : w.parent }));

const identity = (w: Who): Identity => ({
  ...(w.phone === undefined ? {} : { phone: `+${w.phone}` }),
  ...(w.bsuid === undefined ? {} : { bsuid: w.bsuid }),
  ...(w.parent === undefined ? {} : { parentBsuid: w.parent }),
});

/** Sets only the defined fields, as Meta omits withheld ones. */
const fields = (pairs: Record<string, string | undefined>): Json =>
  Object.fromEntries(Object.entries(pairs).filter(([, v]) => v !== undefined));

const seconds = fc.integer({ min: 1_000_000_000, max: 2_000_000_000 });
const iso = (s: number) => new Date(s * 1000).toISOString();
const wamid = fc.stringMatching(/^[A-Za-z0-9]{8,24}$/).map((s) => `wamid.${s}`);

// ---- valid opt-outs -----------------------------------------------------------------------------

const stopText = fc
  .tuple(who, wamid, seconds, fc.constantFrom('STOP', 'Stop', 'ABMELDEN', 'unsubscribe'))
  .map(
    ([w, id, ts, body]): Gen => ({
      raw: {
        ...fields({ from: w.phone, from_user_id: w.bsuid, from_parent_user_id: w.parent }),
        id,
        timestamp: String(ts),
        type: 'text',
        text: { body },
      },
      expected: {
        kind: 'message',
        waMessageId: id,
        who: identity(w),
        occurredAt: iso(ts),
        contextId: null,
        content: { type: 'text', body },
      },
    }),
  );

const stopStatus = fc.tuple(who, wamid, seconds).map(
  ([w, id, ts]): Gen => ({
    raw: {
      id,
      status: 'failed',
      timestamp: String(ts),
      ...fields({ recipient_id: w.phone, recipient_user_id: w.bsuid, recipient_parent_user_id: w.parent }),
      errors: [{ code: 131050, title: 'Unable to deliver the message.', error_data: { details: 'stopped' } }],
    },
    expected: {
      kind: 'status',
      waMessageId: id,
      who: identity(w),
      status: 'failed',
      occurredAt: iso(ts),
      errorCodes: [131050],
    },
  }),
);

const stopPreference = fc.tuple(who, seconds).map(
  ([w, ts]): Gen => ({
    raw: {
      ...fields({ wa_id: w.phone, user_id: w.bsuid, parent_user_id: w.parent }),
      detail: 'User requested to stop marketing messages',
      category: 'marketing_messages',
      value: 'stop',
      timestamp: ts,
    },
    expected: {
      kind: 'preference',
      who: identity(w),
      value: 'stop',
      category: 'marketing_messages',
      occurredAt: iso(ts),
    },
  }),
);

// ---- unreadable items ---------------------------------------------------------------------------

const notAnObject = fc.oneof(
  fc.integer(),
  fc.constant(null),
  fc.boolean(),
  fc.string().map((s) => `${MARKER}${s}`),
  fc.array(fc.string(), { maxLength: 3 }),
);

/** A valid item broken by one of `breaks` (each returns the broken copy). */
const broken = (valid: fc.Arbitrary<Gen>, breaks: Array<(raw: Json) => Json>): fc.Arbitrary<Gen> =>
  fc.oneof(
    notAnObject.map((raw): Gen => ({ raw, expected: null })),
    fc
      .tuple(valid, fc.constantFrom(...breaks))
      .map(([g, brk]): Gen => ({ raw: brk(structuredClone(g.raw) as Json), expected: null })),
  );
const without =
  (...keys: string[]) =>
  (raw: Json): Json => {
    for (const k of keys) delete raw[k];
    return raw;
  };
const set =
  (key: string, value: unknown) =>
  (raw: Json): Json => ({ ...raw, [key]: value });

const junkMessage = broken(stopText, [
  without('id'),
  without('from', 'from_user_id', 'from_parent_user_id'),
  (raw) => set('from', `${MARKER}not-a-number`)(without('from_user_id', 'from_parent_user_id')(raw)),
  set('from', 4915123456789),
  set('from_user_id', { id: MARKER }),
  set('timestamp', `${MARKER}yesterday`),
  set('timestamp', '1749416383000'),
  set('type', 42),
  without('text'),
  set('text', { body: 42 }),
  set('id', `wamid.${MARKER}${'A'.repeat(300)}`),
]);

const junkStatus = broken(stopStatus, [
  without('id'),
  without('recipient_id', 'recipient_user_id', 'recipient_parent_user_id'),
  set('status', 7),
  set('errors', [{ code: `${MARKER}131050` }]),
  set('errors', `${MARKER}`),
  set('timestamp', -1),
]);

const junkPreference = broken(stopPreference, [
  without('wa_id', 'user_id', 'parent_user_id'),
  (raw) => set('wa_id', `${MARKER}`)(without('user_id', 'parent_user_id')(raw)),
  set('value', `${MARKER}maybe`),
  without('category'),
  without('value'),
  set('timestamp', 1.5),
]);

// ---- deliveries ---------------------------------------------------------------------------------

const mixed = (valid: fc.Arbitrary<Gen>, junk: fc.Arbitrary<Gen>) =>
  fc.array(fc.oneof(valid, junk), { maxLength: 5 });

const META = { display_phone_number: '15550783881', phone_number_id: '106540352242922' };

/** A change and the items in the order the reader walks them (messages, then statuses). */
const change = fc.oneof(
  fc.tuple(mixed(stopText, junkMessage), mixed(stopStatus, junkStatus)).map(([messages, statuses]) => ({
    json: {
      field: 'messages',
      value: {
        messaging_product: 'whatsapp',
        metadata: META,
        ...(messages.length ? { messages: messages.map((g) => g.raw) } : {}),
        ...(statuses.length ? { statuses: statuses.map((g) => g.raw) } : {}),
      },
    },
    items: [...messages, ...statuses],
  })),
  mixed(stopPreference, junkPreference).map((prefs) => ({
    json: {
      field: 'user_preferences',
      value: { messaging_product: 'whatsapp', metadata: META, user_preferences: prefs.map((g) => g.raw) },
    },
    items: prefs,
  })),
);

const delivery = fc
  .array(fc.array(change, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 })
  .map((entries) => ({
    json: {
      object: 'whatsapp_business_account',
      entry: entries.map((changes, i) => ({ id: `10229012934039${i}`, changes: changes.map((c) => c.json) })),
    },
    items: entries.flatMap((changes) => changes.flatMap((c) => c.items)),
  }));

describe('parseWebhook: valid opt-outs among unreadable items', () => {
  it(
    'every opt-out comes out with its identity, every unreadable item is skipped, nothing else appears',
    () => {
      fc.assert(
        fc.property(delivery, ({ json, items }) => {
          counter.hit('whatsapp parse: opt-outs among junk');
          // Through JSON, as the route parses it (no undefined, no shared references).
          const result = parseWebhook(JSON.parse(JSON.stringify(json)));
          expect(result.ok).toBe(true);
          if (!result.ok) return;
          expect(result.events).toEqual(items.flatMap((g) => (g.expected ? [g.expected] : [])));
          const junk = items.filter((g) => !g.expected);
          expect(result.skipped.map((s) => s.raw)).toEqual(
            junk.map((g) => JSON.parse(JSON.stringify(g.raw))),
          );
          expect(result.ignored).toBe(0);
          for (const s of result.skipped) {
            expect(s.source).toBe('whatsapp');
            expect(['message', 'status', 'user_preferences']).toContain(s.kind);
            expect(s.reason).toMatch(
              /^entry\[\d+\]\.changes\[\d+\]\.value\.(messages|statuses|user_preferences)\[\d+\]/,
            );
            expect(s.reason).not.toContain(MARKER);
          }
        }),
        { numRuns: runs(N) },
      );
    },
    timeoutFor(N, 5),
  );
});
