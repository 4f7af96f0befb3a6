/**
 * The quick readers (quick-read.ts) against zod (schema.ts), on generated items that are mostly
 * Meta's documented shapes (…/webhooks/reference/messages/status and /text; made-up values) with
 * fields dropped, replaced by odd values (wrong types, empty, too long, bounds ±1, digit strings
 * in other scripts, floats, huge numbers) or joined by unknown keys:
 * - sound: where a quick reader answers, zod accepts the item and outputs exactly the same;
 * - complete on the common shapes: every well-formed status, text message and contact is read quickly;
 * - `parseWebhook` gives the same result with and without the quick readers, hostile deliveries included.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { CaseCounter, oddValue, runs, timeoutFor } from '../../test/helpers/fuzz.ts';
import { parseWebhook } from './parse.ts';
import { quickContact, quickEnvelope, quickStatus, quickTextMessage } from './quick-read.ts';
import { contactSchema, envelopeSchema, messageSchema, statusSchema } from './schema.ts';

const counter = new CaseCounter('connectors/whatsapp/quick-read.property.test.ts');
afterAll(() => counter.report());

const N = 400;

/** Values at and around the schemas' bounds, and types a sender might get wrong. */
const odd = fc.oneof(
  oddValue,
  fc.constantFrom(
    '',
    'x'.repeat(64),
    'x'.repeat(65),
    'x'.repeat(256),
    'x'.repeat(257),
    -1,
    -0,
    0,
    1.5,
    100_000_000_000,
    100_000_000_001,
    2 ** 53,
    '100000000000',
    '100000000001',
    '0000000000001',
    '1e5',
    ' 123',
    '١٢٣',
    '１２３',
    '123456789',
    '1234567890',
    null,
    true,
    [],
    {},
    { id: 5 },
  ),
);

const wamid = fc.stringMatching(/^[A-Za-z0-9+/=]{8,60}$/).map((s) => `wamid.${s}`);
const waId = fc.stringMatching(/^[1-9][0-9]{6,14}$/);
const bsuid = fc.stringMatching(/^(US|DE|BR)\.[A-Za-z0-9]{1,40}$/);
const seconds = fc.oneof(
  fc.integer({ min: 0, max: 2_000_000_000 }).map(String),
  fc.integer({ min: 0, max: 2_000_000_000 }),
);

/** Strings and numbers at the schemas' bounds (ids 1–256, names 1–64, seconds ≤ 1e11), each side. */
const bound = fc.constantFrom(
  '',
  'x'.repeat(64),
  'x'.repeat(65),
  'x'.repeat(256),
  'x'.repeat(257),
  100_000_000_000,
  100_000_000_001,
  '100000000000',
  '100000000001',
  2 ** 53 - 1,
  2 ** 53,
  -1,
  1.5,
);

/** A field that is usually right, sometimes odd, sometimes absent (`undefined` leaves it out). */
const sometimes = <T>(valid: fc.Arbitrary<T>) =>
  fc.oneof(
    { weight: 14, arbitrary: valid },
    { weight: 1, arbitrary: odd },
    { weight: 1, arbitrary: bound },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );

/** Drops the keys whose value is `undefined` (JSON has no undefined). */
const json = (o: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

/** A status's `errors[]` item: Meta's integer code (or digits), with the texts we drop. */
const errorItem = (pick: Pick) =>
  fc
    .record({
      code: pick(fc.oneof(fc.integer({ min: -5, max: 200_000 }), fc.stringMatching(/^\d{1,9}$/))),
      title: fc.string(),
    })
    .map(json);

type Pick = <T>(a: fc.Arbitrary<T>) => fc.Arbitrary<T | unknown>;

/** The three optional identifier fields of an item (number, BSUID, parent BSUID), under its key names. */
const idFields = (pick: Pick, [phone, user, parent]: readonly [string, string, string]) => ({
  [phone]: fc.option(pick(waId), { nil: undefined }),
  [user]: fc.option(pick(bsuid), { nil: undefined }),
  [parent]: fc.option(pick(bsuid), { nil: undefined }),
});

const statusFields = (pick: Pick) =>
  fc
    .record({
      id: pick(wamid),
      status: pick(fc.constantFrom('sent', 'delivered', 'read', 'failed', 'x'.repeat(64))),
      timestamp: pick(seconds),
      ...idFields(pick, ['recipient_id', 'recipient_user_id', 'recipient_parent_user_id']),
      errors: fc.option(pick(fc.array(errorItem(pick), { maxLength: 3 })), { nil: undefined }),
      pricing: fc.option(fc.constant({ billable: true, category: 'marketing' }), { nil: undefined }),
      extra: fc.option(odd, { nil: undefined }),
    })
    .map(json);

const textFields = (pick: Pick) =>
  fc
    .record({
      ...idFields(pick, ['from', 'from_user_id', 'from_parent_user_id']),
      id: pick(wamid),
      timestamp: pick(seconds),
      type: pick(fc.constant('text')),
      text: pick(
        fc.record({
          body: fc.oneof(
            { weight: 8, arbitrary: fc.string({ maxLength: 30 }) },
            { weight: 1, arbitrary: fc.constantFrom('y'.repeat(4096), 'y'.repeat(4097)) },
          ),
        }),
      ),
      context: fc.option(
        pick(fc.record({ from: waId, id: fc.option(wamid, { nil: undefined }) }).map(json)),
        {
          nil: undefined,
        },
      ),
      extra: fc.option(odd, { nil: undefined }),
    })
    .map(json);

const contactFields = (pick: Pick) =>
  fc
    .record({
      ...idFields(pick, ['wa_id', 'user_id', 'parent_user_id']),
      profile: fc.option(fc.record({ name: fc.string() }), { nil: undefined }),
    })
    .map(json);

const exact = <T>(a: fc.Arbitrary<T>) => a;
const mostly = <T>(a: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 5, arbitrary: a }, { weight: 1, arbitrary: odd });
const anyStatus = mostly(statusFields(sometimes));
const anyText = mostly(textFields(sometimes));
const anyContact = mostly(contactFields(sometimes));

/** Where the quick reader answers, zod agrees, to the key. */
function sameAsZod(
  quick: unknown,
  schema: { safeParse(v: unknown): { success: boolean; data?: unknown } },
  raw: unknown,
) {
  if (quick === undefined) return false;
  const z = schema.safeParse(raw);
  expect(z.success).toBe(true);
  expect(quick).toStrictEqual(z.data);
  return true;
}

/** Each reader with the items it is tried on and the schema it must agree with. */
const READERS = [
  { kind: 'status', items: anyStatus, quick: quickStatus, schema: statusSchema },
  { kind: 'text', items: anyText, quick: quickTextMessage, schema: messageSchema },
  { kind: 'contact', items: anyContact, quick: quickContact, schema: contactSchema },
] as const;

describe('quick readers agree with zod', () => {
  for (const r of READERS) {
    it(
      `${r.kind} items`,
      () => {
        fc.assert(
          fc.property(r.items as fc.Arbitrary<unknown>, (raw) => {
            const read = sameAsZod((r.quick as (v: unknown) => unknown)(raw), r.schema, raw);
            counter.hit(read ? `quick ${r.kind} read` : `quick ${r.kind} left to zod`);
          }),
          { numRuns: runs(N) },
        );
      },
      timeoutFor(N, 2),
    );
  }

  it('read every well-formed status, text message and contact without zod', () => {
    fc.assert(
      fc.property(statusFields(exact), textFields(exact), contactFields(exact), (s, t, c) => {
        const tooLong = (t.text as { body: string }).body.length > 4096;
        expect(quickStatus(s)).toBeDefined();
        expect(quickTextMessage(t) === undefined).toBe(tooLong);
        expect(quickContact(c)).toBeDefined();
      }),
      { numRuns: runs(N) },
    );
  });

  it('agree with zod on each side of every bound (and answer wherever zod accepts)', () => {
    const status = { id: 'wamid.A', status: 'read', timestamp: '1700000000', recipient_id: '4915123456789' };
    const text = {
      id: 'wamid.B',
      timestamp: 1_700_000_000,
      type: 'text',
      text: { body: 'STOP' },
      from: '4915123456789',
    };
    const x = (n: number) => 'x'.repeat(n);
    const errors = (n: number) => Array.from({ length: n }, () => ({ code: 131050 }));
    const cases: Array<
      [
        string,
        unknown,
        (raw: unknown) => unknown,
        { safeParse(v: unknown): { success: boolean; data?: unknown } },
      ]
    > = [];
    for (const v of ['', x(1), x(64), x(65)])
      cases.push([`status ${v.length}`, { ...status, status: v }, quickStatus, statusSchema]);
    for (const v of ['', x(256), x(257)]) {
      cases.push([`status id ${v.length}`, { ...status, id: v }, quickStatus, statusSchema]);
      cases.push([`recipient ${v.length}`, { ...status, recipient_user_id: v }, quickStatus, statusSchema]);
      cases.push([`text id ${v.length}`, { ...text, id: v }, quickTextMessage, messageSchema]);
      cases.push([
        `context id ${v.length}`,
        { ...text, context: { id: v } },
        quickTextMessage,
        messageSchema,
      ]);
      cases.push([`contact ${v.length}`, { wa_id: v }, quickContact, contactSchema]);
    }
    for (const t of [
      0,
      -1,
      100_000_000_000,
      100_000_000_001,
      '100000000000',
      '100000000001',
      '000000000001',
      '0000000000001',
      1.5,
      2 ** 53,
    ])
      cases.push([`timestamp ${t}`, { ...status, timestamp: t }, quickStatus, statusSchema]);
    for (const n of [0, 100, 101])
      cases.push([`errors ${n}`, { ...status, errors: errors(n) }, quickStatus, statusSchema]);
    for (const c of [-7, 0, 2 ** 53, '123456789', '1234567890', '', 'x'])
      cases.push([`error code ${c}`, { ...status, errors: [{ code: c }] }, quickStatus, statusSchema]);
    for (const n of [4096, 4097])
      cases.push([`body ${n}`, { ...text, text: { body: x(n) } }, quickTextMessage, messageSchema]);
    const envelope = (entries: unknown[]) => ({ object: 'whatsapp_business_account', entry: entries });
    const entry = (changes: unknown[], id = '1') => ({ id, changes });
    const chg = (field: string, value: unknown = { statuses: [status] }) => ({ field, value });
    for (const n of [0, 1, 100, 101])
      cases.push([
        `entries ${n}`,
        envelope(Array.from({ length: n }, () => entry([]))),
        quickEnvelope,
        envelopeSchema,
      ]);
    for (const n of [100, 101])
      cases.push([
        `changes ${n}`,
        envelope([entry(Array.from({ length: n }, () => chg('messages')))]),
        quickEnvelope,
        envelopeSchema,
      ]);
    for (const f of ['', x(64), x(65)])
      cases.push([`field ${f.length}`, envelope([entry([chg(f)])]), quickEnvelope, envelopeSchema]);
    for (const id of ['', x(256), x(257)])
      cases.push([`entry id ${id.length}`, envelope([entry([], id)]), quickEnvelope, envelopeSchema]);
    for (const n of [1000, 1001])
      for (const k of ['contacts', 'messages', 'statuses', 'user_preferences', 'errors'])
        cases.push([
          `${k} ${n}`,
          envelope([entry([chg('messages', { [k]: Array.from({ length: n }, () => 0) })])]),
          quickEnvelope,
          envelopeSchema,
        ]);
    for (const value of [null, [], 'x', {}])
      cases.push([
        `value ${JSON.stringify(value)}`,
        envelope([entry([chg('messages', value)])]),
        quickEnvelope,
        envelopeSchema,
      ]);
    for (const [name, raw, quick, schema] of cases) {
      const z = schema.safeParse(raw);
      const q = quick(raw);
      // The envelope's `value` is the received object itself (zod copies it): equal, not identical.
      if (z.success && quick === quickEnvelope) expect(q, name).toEqual(z.data);
      else if (z.success) expect(q, name).toStrictEqual(z.data);
      else expect(q, name).toBeUndefined();
      if (z.success) expect(q, `${name}: read quickly`).toBeDefined();
    }
  });

  it('leave every other message type, and a refused item, to zod', () => {
    for (const type of ['button', 'interactive', 'system', 'image', 'reaction']) {
      expect(
        quickTextMessage({ id: 'wamid.A', timestamp: '1', type, text: { body: 'STOP' } }),
      ).toBeUndefined();
    }
    expect(quickStatus({ id: 'wamid.A', status: 'read', timestamp: '1e5' })).toBeUndefined();
    expect(
      quickStatus({ id: 'wamid.A', status: 'read', timestamp: 1, errors: [{ code: 1.5 }] }),
    ).toBeUndefined();
  });
});

// ---- whole deliveries ----------------------------------------------------------------------------

const change = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .record({
        statuses: fc.array(anyStatus, { maxLength: 3 }),
        contacts: fc.option(fc.array(anyContact, { maxLength: 2 }), { nil: undefined }),
      })
      .map((v) => ({ field: 'messages', value: json({ messaging_product: 'whatsapp', ...v }) })),
  },
  {
    weight: 4,
    arbitrary: fc
      .record({
        messages: fc.array(anyText, { maxLength: 3 }),
        contacts: fc.array(anyContact, { maxLength: 2 }),
      })
      .map((v) => ({ field: 'messages', value: { messaging_product: 'whatsapp', ...v } })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({
        field: sometimes(fc.constantFrom('messages', 'user_preferences', 'account_update')),
        value: sometimes(
          fc.dictionary(
            fc.constantFrom('messages', 'statuses', 'contacts', 'user_preferences', 'errors', 'other'),
            odd,
          ),
        ),
      })
      .map(json),
  },
  { weight: 1, arbitrary: odd },
);

const delivery = fc.oneof(
  {
    weight: 5,
    arbitrary: fc
      .record({
        object: sometimes(fc.constant('whatsapp_business_account')),
        entry: sometimes(
          fc.array(
            fc
              .record({
                id: sometimes(fc.constant('102290129340398')),
                changes: sometimes(fc.array(change, { maxLength: 3 })),
              })
              .map(json),
            { minLength: 0, maxLength: 3 },
          ),
        ),
      })
      .map(json),
  },
  { weight: 1, arbitrary: odd },
);

describe('parseWebhook with the quick readers', () => {
  it(
    'gives the same events, skips, counts and refusals as zod alone',
    () => {
      fc.assert(
        fc.property(delivery, (body) => {
          // What the webhook route reads: the body as JSON text, parsed again.
          const raw = JSON.parse(JSON.stringify(body)) as unknown;
          const quick = parseWebhook(raw);
          expect(quick).toStrictEqual(parseWebhook(raw, { quick: false }));
          counter.hit(quick.ok ? 'delivery read' : 'delivery refused');
        }),
        { numRuns: runs(N) },
      );
    },
    timeoutFor(N, 4),
  );

  it('refuses an envelope over the size guard like zod (no quick answer)', () => {
    const statuses = Array.from({ length: 1001 }, (_, i) => ({
      id: `wamid.${i}`,
      status: 'read',
      timestamp: '1',
    }));
    const body = {
      object: 'whatsapp_business_account',
      entry: [{ id: '1', changes: [{ field: 'messages', value: { statuses } }] }],
    };
    expect(quickEnvelope(body)).toBeUndefined();
    expect(envelopeSchema.safeParse(body).success).toBe(false);
    expect(parseWebhook(body)).toStrictEqual(parseWebhook(body, { quick: false }));
    expect(parseWebhook(body).ok).toBe(false);
  });
});
