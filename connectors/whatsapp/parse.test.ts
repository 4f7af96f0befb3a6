import { describe, expect, it } from 'vitest';
import {
  buttonReply,
  envelope,
  interactiveReply,
  numberChange,
  statusUpdate,
  textMessage,
  userPreference,
} from '../../test/helpers/whatsapp.ts';
import { parseWebhook } from './parse.ts';

type Json = Record<string, unknown>;

const ALICE = '16505550101';
const BOB = '491512345678' + '1';
const TS = '1749416383';
const TS_ISO = '2025-06-08T20:59:43.000Z';

/** Meta's own example (API-FACTS 1.4) with a fictitious number. */
const metaTextExample = {
  object: 'whatsapp_business_account',
  entry: [
    {
      id: '102290129340398',
      changes: [
        {
          value: {
            messaging_product: 'whatsapp',
            metadata: { display_phone_number: '15550783881', phone_number_id: '106540352242922' },
            contacts: [{ profile: { name: 'Erika Mustermann' }, wa_id: ALICE }],
            messages: [
              {
                from: ALICE,
                id: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=',
                timestamp: TS,
                type: 'text',
                text: { body: 'Does it come in another color?' },
              },
            ],
          },
          field: 'messages',
        },
      ],
    },
  ],
};

const ok = (json: unknown) => {
  const result = parseWebhook(json);
  if (!result.ok) throw new Error(result.message);
  return result;
};
const fail = (json: unknown) => {
  const result = parseWebhook(json);
  if (result.ok) throw new Error('expected failure');
  return result;
};
const clone = <T>(v: T): T => structuredClone(v);

/** The first `messages[]`/`statuses[]`/`user_preferences[]` item of a builder's change, to edit it. */
const item = (change: { value: Json }, key = 'messages') => (change.value[key] as Json[])[0] as Json;
const phone = (waId: string) => ({ phone: `+${waId}` });
const BSUID = 'US.7301946621058839401';
const BSUID2 = 'US.2284610937745120385';
const PARENT = 'US.ENT.5520913377014482690';

describe('parseWebhook: message types (API-FACTS examples)', () => {
  it('text (1.4): normalises, names the sender by number and drops the profile name', () => {
    const result = ok(metaTextExample);
    expect(result).toEqual({
      ok: true,
      ignored: 0,
      skipped: [],
      events: [
        {
          kind: 'message',
          waMessageId: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=',
          who: phone(ALICE),
          occurredAt: TS_ISO,
          contextId: null,
          content: { type: 'text', body: 'Does it come in another color?' },
        },
      ],
    });
    expect(JSON.stringify(result)).not.toContain('Mustermann');
  });

  it('button (1.5): keeps payload, text and the context id', () => {
    const change = buttonReply(ALICE, 'Unsubscribe', 'Unsubscribe', {
      id: 'wamid.B',
      contextId: 'wamid.CTX',
    });
    expect(ok(envelope(change)).events).toEqual([
      expect.objectContaining({
        kind: 'message',
        waMessageId: 'wamid.B',
        contextId: 'wamid.CTX',
        content: { type: 'button', payload: 'Unsubscribe', text: 'Unsubscribe' },
      }),
    ]);
  });

  it('interactive button_reply and list_reply (1.6)', () => {
    const list = interactiveReply(ALICE, 'x', 'y');
    item(list).interactive = {
      type: 'list_reply',
      list_reply: {
        id: 'priority_express',
        title: 'Priority Mail Express',
        description: 'Next Day to 2 Days',
      },
    };
    const events = ok(envelope(interactiveReply(ALICE, 'cancel-button', 'Cancel'), list)).events;
    expect(events.map((e) => e.kind === 'message' && e.content)).toEqual([
      { type: 'interactive', replyId: 'cancel-button', title: 'Cancel' },
      { type: 'interactive', replyId: 'priority_express', title: 'Priority Mail Express' },
    ]);
  });

  it.each([
    ['another reply type (flows)', { type: 'nfm_reply', nfm_reply: { response_json: '{}' } }],
    ['no interactive object', undefined],
    ['interactive not an object', 'button_reply'],
    ['a reply type that is not a string', { type: 7 }],
  ])(
    'interactive with %s is "other" content, not a consent signal and not a rejection',
    (_name, interactive) => {
      const change = interactiveReply(ALICE, 'x', 'y');
      if (interactive === undefined) delete item(change).interactive;
      else item(change).interactive = interactive;
      const result = ok(envelope(change));
      expect(result.skipped).toEqual([]);
      expect(result.events[0]).toMatchObject({ content: { type: 'other', messageType: 'interactive' } });
    },
  );

  it('a button_reply without its reply object is skipped (it claims to be a reply and cannot be read)', () => {
    const change = interactiveReply(ALICE, 'id', 'title');
    item(change).interactive = { type: 'button_reply' };
    const result = ok(envelope(change));
    expect(result.events).toEqual([]);
    expect(result.skipped).toEqual([
      {
        source: 'whatsapp',
        kind: 'message',
        reason: expect.stringMatching(
          /^entry\[0\]\.changes\[0\]\.value\.messages\[0\]\.interactive\.button_reply: /,
        ),
        raw: item(change),
      },
    ]);
  });

  it('system user_changed_number (1.7) becomes number_change with the old identity; other system messages are ignored', () => {
    const other = numberChange(ALICE, BOB);
    item(other).system = { body: 'preference changed', type: 'user_preference_changed' };
    const result = ok(envelope(numberChange(ALICE, BOB, { timestamp: TS, id: 'wamid.N' }), other));
    expect(result.events).toEqual([
      {
        kind: 'number_change',
        waMessageId: 'wamid.N',
        who: phone(ALICE),
        newPhone: `+${BOB}`,
        occurredAt: TS_ISO,
      },
    ]);
    expect(result.ignored).toBe(1);
    expect(result.skipped).toEqual([]);
  });

  it('user_changed_number with BSUIDs: the previous id belongs to the old identity, the new one is newBsuid', () => {
    const change = numberChange(ALICE, BOB, { id: 'wamid.N' });
    Object.assign(item(change).system as Json, { previous_user_id: BSUID, user_id: BSUID2 });
    expect(ok(envelope(change)).events[0]).toMatchObject({
      kind: 'number_change',
      who: { ...phone(ALICE), bsuid: BSUID },
      newPhone: `+${BOB}`,
      newBsuid: BSUID2,
    });
  });

  it('user_changed_user_id becomes user_id_change; from_user_id stands for the old id unless it is the new one', () => {
    const change = numberChange(ALICE, BOB, { id: 'wamid.U', timestamp: TS });
    const m = item(change);
    delete m.from;
    m.from_user_id = BSUID;
    m.system = { body: 'User changed', user_id: BSUID2, type: 'user_changed_user_id' };
    expect(ok(envelope(change)).events).toEqual([
      {
        kind: 'user_id_change',
        waMessageId: 'wamid.U',
        who: { bsuid: BSUID },
        newBsuid: BSUID2,
        occurredAt: TS_ISO,
      },
    ]);
    m.from_user_id = BSUID2; // Meta already names the sender by the new id: only `from`, if any, is the old identity
    m.from = ALICE;
    expect(ok(envelope(change)).events[0]).toMatchObject({ who: phone(ALICE), newBsuid: BSUID2 });
  });

  it.each([
    ['user_changed_number without the new number', { type: 'user_changed_number' }, 'system.wa_id'],
    [
      'user_changed_number with a new number that is no number',
      { type: 'user_changed_number', wa_id: 'new' },
      'system.wa_id',
    ],
    [
      'user_changed_user_id without the new id',
      { type: 'user_changed_user_id', previous_user_id: BSUID },
      'system.user_id',
    ],
    [
      'user_changed_user_id with a parent id as the new id',
      { type: 'user_changed_user_id', user_id: PARENT },
      'system.user_id',
    ],
  ])('%s is skipped with the path', (_name, system, field) => {
    const change = numberChange(ALICE, BOB);
    item(change).system = system;
    const result = ok(envelope(change));
    expect(result.events).toEqual([]);
    expect(result.skipped[0]?.reason).toMatch(
      new RegExp(`^entry\\[0\\]\\.changes\\[0\\]\\.value\\.messages\\[0\\]\\.${field.replace('.', '\\.')}: `),
    );
  });

  it('statuses (1.8) with error codes; pricing is dropped; a quoted code is read as a number', () => {
    const result = ok(envelope(statusUpdate(ALICE, 'wamid.S', 'failed', [131050], { timestamp: TS })));
    expect(result.events).toEqual([
      {
        kind: 'status',
        waMessageId: 'wamid.S',
        who: phone(ALICE),
        status: 'failed',
        occurredAt: TS_ISO,
        errorCodes: [131050],
      },
    ]);
    expect(JSON.stringify(result)).not.toContain('PMP');
    expect(ok(envelope(statusUpdate(ALICE, 'wamid.S', 'read'))).events[0]).toMatchObject({ errorCodes: [] });
    const quoted = statusUpdate(ALICE, 'wamid.S', 'failed');
    item(quoted, 'statuses').errors = [{ code: '131050' }];
    expect(ok(envelope(quoted)).events[0]).toMatchObject({ errorCodes: [131050] });
  });

  it('user_preferences stop/resume (1.9) with an integer timestamp', () => {
    const events = ok(
      envelope(userPreference(ALICE, 'stop', { timestamp: 1731705721 }), userPreference(BOB, 'resume')),
    ).events;
    expect(events[0]).toEqual({
      kind: 'preference',
      who: phone(ALICE),
      value: 'stop',
      category: 'marketing_messages',
      occurredAt: '2024-11-15T21:22:01.000Z',
    });
    expect(events[1]).toMatchObject({ kind: 'preference', who: phone(BOB), value: 'resume' });
  });

  it('user_preferences signup is read with its signup_id; an unknown value is skipped, its value not echoed', () => {
    const signup = userPreference(ALICE, 'stop');
    Object.assign(item(signup, 'user_preferences'), { value: 'signup', signup_id: '1234567890123456' });
    const maybe = userPreference(BOB, 'stop');
    item(maybe, 'user_preferences').value = 'maybe';
    const result = ok(envelope(signup, maybe));
    expect(result.events).toEqual([
      expect.objectContaining({
        kind: 'preference',
        who: phone(ALICE),
        value: 'signup',
        signupId: '1234567890123456',
      }),
    ]);
    expect(result.skipped).toEqual([
      expect.objectContaining({
        kind: 'user_preferences',
        reason: expect.stringMatching(/^entry\[0\]\.changes\[1\]\.value\.user_preferences\[0\]\.value: /),
      }),
    ]);
    expect(result.skipped[0]?.reason).not.toContain('maybe');
  });

  it('other message types are kept as their type only', () => {
    const change = textMessage(ALICE, 'x');
    const message = item(change);
    delete message.text;
    Object.assign(message, { type: 'image', image: { id: 'media-1', caption: 'private caption' } });
    const result = ok(envelope(change));
    expect(result.events[0]).toMatchObject({
      kind: 'message',
      content: { type: 'other', messageType: 'image' },
    });
    expect(JSON.stringify(result)).not.toContain('private caption');
  });
});

describe('parseWebhook: identities (BSUIDs, Meta as the authority on its ids)', () => {
  it('a number outside libphonenumber ranges is accepted when it is E.164-shaped', () => {
    const unassigned = '99912345678'; // country code 999 is not assigned
    expect(ok(envelope(textMessage(unassigned, 'STOP'))).events[0]).toMatchObject({ who: phone(unassigned) });
  });

  it('a BSUID-only sender (number withheld) is read from from_user_id', () => {
    const change = textMessage(ALICE, 'STOP');
    delete item(change).from;
    item(change).from_user_id = BSUID;
    change.value.contacts = [{ profile: { name: 'Erika Mustermann', username: 'erika' }, user_id: BSUID }];
    const result = ok(envelope(change));
    expect(result.events[0]).toMatchObject({ kind: 'message', who: { bsuid: BSUID } });
    expect(JSON.stringify(result)).not.toContain('erika');
  });

  it.each([
    [
      'by wa_id',
      [{ wa_id: ALICE, user_id: BSUID, parent_user_id: PARENT }],
      { ...phone(ALICE), bsuid: BSUID, parentBsuid: PARENT },
    ],
    [
      'by wa_id among several',
      [
        { wa_id: BOB, user_id: BSUID2 },
        { wa_id: ALICE, user_id: BSUID },
      ],
      { ...phone(ALICE), bsuid: BSUID },
    ],
    [
      'from the only contact, which says nothing against the message',
      [{ user_id: BSUID }],
      { ...phone(ALICE), bsuid: BSUID },
    ],
    [
      'not from the only contact when it names another number',
      [{ wa_id: BOB, user_id: BSUID }],
      phone(ALICE),
    ],
    [
      'not from several contacts none of which matches',
      [{ user_id: BSUID }, { user_id: BSUID2 }],
      phone(ALICE),
    ],
  ])('a number-only message is completed from contacts[] %s', (_name, contacts, who) => {
    const change = textMessage(ALICE, 'STOP');
    change.value.contacts = contacts;
    expect(ok(envelope(change)).events[0]).toMatchObject({ who });
  });

  it('a BSUID-only message is completed by the contact with the same user_id; the message wins over a contact', () => {
    const change = textMessage(ALICE, 'STOP');
    delete item(change).from;
    item(change).from_user_id = BSUID;
    change.value.contacts = [
      { wa_id: BOB, user_id: BSUID2 },
      { wa_id: ALICE, user_id: BSUID },
    ];
    expect(ok(envelope(change)).events[0]).toMatchObject({ who: { ...phone(ALICE), bsuid: BSUID } });
  });

  it('a from that is no E.164-shaped number falls back to the BSUID, or is skipped when there is none', () => {
    const withBsuid = textMessage('not-a-number', 'STOP');
    item(withBsuid).from_user_id = BSUID;
    withBsuid.value.contacts = [];
    expect(ok(envelope(withBsuid)).events[0]).toMatchObject({ who: { bsuid: BSUID } });
    const without = textMessage('not-a-number', 'STOP');
    without.value.contacts = [];
    const result = ok(envelope(without));
    expect(result.events).toEqual([]);
    expect(result.skipped).toEqual([
      {
        source: 'whatsapp',
        kind: 'message',
        reason: expect.stringMatching(
          /^entry\[0\]\.changes\[0\]\.value\.messages\[0\]: expected from or from_user_id/,
        ),
        raw: item(without),
      },
    ]);
    expect(result.skipped[0]?.reason).not.toContain('not-a-number');
  });

  it('statuses name the recipient by recipient_id, recipient_user_id and recipient_parent_user_id', () => {
    const change = statusUpdate(ALICE, 'wamid.S', 'read');
    const s = item(change, 'statuses');
    delete s.recipient_id;
    Object.assign(s, { recipient_user_id: BSUID, recipient_parent_user_id: PARENT });
    expect(ok(envelope(change)).events[0]).toMatchObject({
      kind: 'status',
      who: { bsuid: BSUID, parentBsuid: PARENT },
    });
  });

  it('preferences name the person by wa_id and user_id, completed from contacts[]', () => {
    const change = userPreference(ALICE, 'stop');
    delete item(change, 'user_preferences').wa_id;
    item(change, 'user_preferences').user_id = BSUID;
    change.value.contacts = [{ wa_id: ALICE, user_id: BSUID }];
    expect(ok(envelope(change)).events[0]).toMatchObject({
      kind: 'preference',
      who: { ...phone(ALICE), bsuid: BSUID },
    });
  });
});

describe('parseWebhook: readers skip, never drop (sync rule 8)', () => {
  const secretBody = 'my secret message +16505550199';

  it('the STOP of a delivery survives every kind of unreadable neighbour', () => {
    const noSender = textMessage(ALICE, 'hello');
    delete item(noSender).from;
    noSender.value.contacts = [];
    const noRecipient = statusUpdate(ALICE, 'wamid.S', 'failed', [131050]);
    delete item(noRecipient, 'statuses').recipient_id;
    const prefNoId = userPreference(ALICE, 'stop');
    delete item(prefNoId, 'user_preferences').wa_id;
    prefNoId.value.contacts = [];
    const stop = textMessage(BOB, 'STOP', { id: 'wamid.STOP' });
    const result = ok(envelope(noSender, noRecipient, prefNoId, stop));
    expect(result.events).toEqual([expect.objectContaining({ waMessageId: 'wamid.STOP', who: phone(BOB) })]);
    expect(result.skipped.map((s) => [s.kind, s.reason.split(':')[0]])).toEqual([
      ['message', 'entry[0].changes[0].value.messages[0]'],
      ['status', 'entry[0].changes[1].value.statuses[0]'],
      ['user_preferences', 'entry[0].changes[2].value.user_preferences[0]'],
    ]);
  });

  const mutate = (fn: (m: Json) => void) => {
    const change = textMessage(ALICE, secretBody, { timestamp: TS });
    fn(item(change));
    return envelope(textMessage(BOB, 'fine'), change);
  };

  it.each([
    ['from a number', (m: Json) => (m.from = 16505550101), 'from'],
    ['missing id', (m: Json) => delete m.id, 'id'],
    ['timestamp not digits', (m: Json) => (m.timestamp = 'yesterday'), 'timestamp'],
    ['timestamp in ms', (m: Json) => (m.timestamp = '1749416383000'), 'timestamp'],
    ['timestamp a float', (m: Json) => (m.timestamp = 1.5), 'timestamp'],
    ['missing type', (m: Json) => delete m.type, 'type'],
    ['text missing', (m: Json) => delete m.text, 'text'],
    ['body a number', (m: Json) => (m.text = { body: 42 }), 'text.body'],
    ['body too long', (m: Json) => (m.text = { body: 'x'.repeat(4097) }), 'text.body'],
    ['id too long', (m: Json) => (m.id = `wamid.${'A'.repeat(300)}`), 'id'],
    ['from_user_id an object', (m: Json) => (m.from_user_id = { id: BSUID }), 'from_user_id'],
  ])(
    '%s → that message is skipped with its path, the other one is read, no value is echoed',
    (_name, fn, field) => {
      const json = mutate(fn);
      const result = ok(json);
      expect(result.events).toEqual([expect.objectContaining({ content: { type: 'text', body: 'fine' } })]);
      expect(result.skipped).toHaveLength(1);
      const [skipped] = result.skipped;
      expect(skipped).toMatchObject({
        source: 'whatsapp',
        kind: 'message',
        raw: item(json.entry[0]!.changes[1]!),
      });
      expect(skipped?.reason).toMatch(
        new RegExp(
          `^entry\\[0\\]\\.changes\\[1\\]\\.value\\.messages\\[0\\]\\.${field.replace('.', '\\.')}: `,
        ),
      );
      for (const value of [ALICE, secretBody, 'yesterday', BSUID])
        expect(skipped?.reason).not.toContain(value);
    },
  );

  it('button and system messages need their own objects', () => {
    const button = buttonReply(ALICE, 'STOP');
    delete (item(button).button as Json).payload;
    expect(ok(envelope(button)).skipped[0]?.reason).toContain('messages[0].button.payload:');

    const system = numberChange(ALICE, BOB);
    delete item(system).system;
    expect(ok(envelope(system)).skipped[0]?.reason).toContain('messages[0].system:');
  });

  it('statuses and preferences are checked item by item', () => {
    const status = statusUpdate(ALICE, 'wamid.S', 'failed', [131050]);
    item(status, 'statuses').errors = [{ code: 'stop' }];
    const pref = userPreference(ALICE, 'stop');
    item(pref, 'user_preferences').category = 7;
    const result = ok(envelope(status, pref, userPreference(BOB, 'stop')));
    expect(result.events).toEqual([expect.objectContaining({ kind: 'preference', who: phone(BOB) })]);
    expect(result.skipped.map((s) => [s.kind, s.reason.split(':')[0]])).toEqual([
      ['status', 'entry[0].changes[0].value.statuses[0].errors[0].code'],
      ['user_preferences', 'entry[0].changes[1].value.user_preferences[0].category'],
    ]);
  });

  it('an array that is not an array, a junk contact, a preferences change without preferences: skipped, the rest read', () => {
    const junkArrays = { field: 'messages', value: { messages: { not: 'an array' }, statuses: 'nope' } };
    const junkContact = textMessage(ALICE, 'STOP');
    junkContact.value.contacts = [42, { wa_id: ALICE }];
    const result = ok(envelope(junkArrays, junkContact, { field: 'user_preferences', value: {} }));
    expect(result.events).toEqual([expect.objectContaining({ who: phone(ALICE) })]);
    expect(result.skipped).toEqual([
      {
        source: 'whatsapp',
        kind: 'message',
        reason: 'entry[0].changes[0].value.messages: expected an array',
        raw: { not: 'an array' },
      },
      {
        source: 'whatsapp',
        kind: 'status',
        reason: 'entry[0].changes[0].value.statuses: expected an array',
        raw: 'nope',
      },
      {
        source: 'whatsapp',
        kind: 'contacts',
        reason: expect.stringMatching(/^entry\[0\]\.changes\[1\]\.value\.contacts\[0\]: /),
        raw: 42,
      },
      {
        source: 'whatsapp',
        kind: 'user_preferences',
        reason: 'entry[0].changes[2].value.user_preferences: expected an array',
        raw: {},
      },
    ]);
  });
});

describe('parseWebhook: batching and unknowns', () => {
  it('walks every entry, change, message and status in order', () => {
    const a = envelope(textMessage(ALICE, 'one'), statusUpdate(BOB, 'wamid.S1', 'delivered'));
    const b = envelope(userPreference(BOB, 'stop'));
    const batch = { object: 'whatsapp_business_account', entry: [...a.entry, ...b.entry] };
    const multi = textMessage(ALICE, 'two');
    const value = multi.value as { messages: unknown[]; statuses?: unknown[] };
    value.messages.push(...(textMessage(BOB, 'three').value.messages as unknown[]));
    value.statuses = statusUpdate(ALICE, 'wamid.S2', 'read').value.statuses as unknown[];
    batch.entry.push(...envelope(multi).entry);
    const kinds = ok(batch).events.map((e) => (e.kind === 'message' ? e.content : e.kind));
    expect(kinds).toEqual([
      { type: 'text', body: 'one' },
      'status',
      'preference',
      { type: 'text', body: 'two' },
      { type: 'text', body: 'three' },
      'status',
    ]);
  });

  it('accepts and ignores unknown fields and unknown keys', () => {
    const json = clone(metaTextExample) as unknown as {
      entry: Array<{ changes: unknown[]; extra?: unknown }>;
      brandNew?: unknown;
    };
    json.brandNew = { x: 1 };
    json.entry[0]!.extra = true;
    json.entry[0]!.changes.push({ field: 'message_template_status_update', value: { event: 'APPROVED' } });
    const result = ok(json);
    expect(result.events).toHaveLength(1);
    expect(result.ignored).toBe(1);
  });

  it('counts value-level errors as ignored', () => {
    const change = {
      field: 'messages',
      value: { errors: [{ code: 131000, title: 'Something went wrong' }] },
    };
    expect(ok(envelope(change))).toEqual({ ok: true, events: [], ignored: 1, skipped: [] });
  });

  it('accepts string and integer timestamps alike', () => {
    const asString = ok(envelope(textMessage(ALICE, 'hi', { timestamp: TS })));
    const asNumber = ok(envelope(textMessage(ALICE, 'hi', { timestamp: Number(TS) })));
    const prefString = ok(envelope(userPreference(ALICE, 'stop', { timestamp: TS })));
    for (const r of [asString, asNumber, prefString]) expect(r.events[0]?.occurredAt).toBe(TS_ISO);
  });
});

describe('parseWebhook: only a wrong envelope rejects the delivery', () => {
  it.each([
    ['not an object', 'hello', '(root)'],
    ['wrong object', { ...clone(metaTextExample), object: 'page' }, 'object'],
    ['empty entry', { object: 'whatsapp_business_account', entry: [] }, 'entry'],
    ['entry not an array', { object: 'whatsapp_business_account', entry: {} }, 'entry'],
    ['entry without id', { object: 'whatsapp_business_account', entry: [{ changes: [] }] }, 'entry[0].id'],
    [
      'changes not an array',
      { object: 'whatsapp_business_account', entry: [{ id: '1', changes: {} }] },
      'entry[0].changes',
    ],
    ['a change without field', envelope({ value: {} } as never), 'entry[0].changes[0].field'],
    [
      'a change value that is an array',
      envelope({ field: 'something_new', value: [] as unknown as Json }),
      'entry[0].changes[0].value',
    ],
  ])('%s → error at %s', (_name, json, path) => {
    expect(fail(json)).toEqual({
      ok: false,
      code: 'MALFORMED_PAYLOAD',
      message: expect.stringContaining(`at ${path}:`),
    });
  });

  it('caps entry[] at 100 and each item array of a change at 1000', () => {
    const entry = Array.from({ length: 101 }, () => envelope().entry[0]);
    expect(fail({ object: 'whatsapp_business_account', entry }).message).toContain('at entry:');
    const big = textMessage(ALICE, 'x');
    big.value.messages = Array.from({ length: 1001 }, () => item(big));
    expect(fail(envelope(big)).message).toContain('at entry[0].changes[0].value.messages:');
  });
});
