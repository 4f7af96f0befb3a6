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

describe('parseWebhook: message types (API-FACTS examples)', () => {
  it('text (1.4): normalises and drops the profile name', () => {
    const result = ok(metaTextExample);
    expect(result).toEqual({
      ok: true,
      ignored: 0,
      events: [
        {
          kind: 'message',
          waMessageId: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=',
          from: ALICE,
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
    const listMessage = (list.value.messages as Array<Record<string, unknown>>)[0]!;
    listMessage.interactive = {
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

  it('system user_changed_number (1.7) becomes number_change; other system messages are ignored', () => {
    const other = numberChange(ALICE, BOB);
    const otherMessage = (other.value.messages as Array<Record<string, unknown>>)[0]!;
    otherMessage.system = { body: 'preference changed', type: 'user_preference_changed' };
    const result = ok(envelope(numberChange(ALICE, BOB, { timestamp: TS }), other));
    expect(result.events).toEqual([
      { kind: 'number_change', oldWaId: ALICE, newWaId: BOB, occurredAt: TS_ISO },
    ]);
    expect(result.ignored).toBe(1);
  });

  it('statuses (1.8) with error codes; pricing is dropped', () => {
    const result = ok(envelope(statusUpdate(ALICE, 'wamid.S', 'failed', [131050], { timestamp: TS })));
    expect(result.events).toEqual([
      {
        kind: 'status',
        waMessageId: 'wamid.S',
        recipientId: ALICE,
        status: 'failed',
        occurredAt: TS_ISO,
        errorCodes: [131050],
      },
    ]);
    expect(ok(envelope(statusUpdate(ALICE, 'wamid.S', 'read'))).events[0]).toMatchObject({ errorCodes: [] });
  });

  it('user_preferences stop/resume (1.9) with an integer timestamp', () => {
    const events = ok(
      envelope(userPreference(ALICE, 'stop', { timestamp: 1731705721 }), userPreference(BOB, 'resume')),
    ).events;
    expect(events[0]).toEqual({
      kind: 'preference',
      waId: ALICE,
      value: 'stop',
      category: 'marketing_messages',
      occurredAt: '2024-11-15T21:22:01.000Z',
    });
    expect(events[1]).toMatchObject({ kind: 'preference', waId: BOB, value: 'resume' });
  });

  it('other message types are kept as their type only', () => {
    const change = textMessage(ALICE, 'x');
    const message = (change.value.messages as Array<Record<string, unknown>>)[0]!;
    delete message.text;
    Object.assign(message, { type: 'image', image: { id: 'media-1', caption: 'private caption' } });
    const result = ok(envelope(change));
    expect(result.events[0]).toMatchObject({
      kind: 'message',
      content: { type: 'other', messageType: 'image' },
    });
    expect(JSON.stringify(result)).not.toContain('private caption');
  });

  it('interactive replies other than button/list (e.g. flows) are "other", not errors', () => {
    const change = interactiveReply(ALICE, 'x', 'y');
    const message = (change.value.messages as Array<Record<string, unknown>>)[0]!;
    message.interactive = { type: 'nfm_reply', nfm_reply: { response_json: '{}' } };
    expect(ok(envelope(change)).events[0]).toMatchObject({
      content: { type: 'other', messageType: 'interactive' },
    });
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
    expect(ok(envelope(change))).toEqual({ ok: true, events: [], ignored: 1 });
  });

  it('accepts string and integer timestamps alike', () => {
    const asString = ok(envelope(textMessage(ALICE, 'hi', { timestamp: TS })));
    const asNumber = ok(envelope(textMessage(ALICE, 'hi', { timestamp: Number(TS) })));
    const prefString = ok(envelope(userPreference(ALICE, 'stop', { timestamp: TS })));
    for (const r of [asString, asNumber, prefString]) expect(r.events[0]?.occurredAt).toBe(TS_ISO);
  });
});

describe('parseWebhook: malformed payloads', () => {
  const secretBody = 'my secret message +16505550199';

  it.each([
    ['not an object', 'hello', '(root)'],
    ['wrong object', { ...clone(metaTextExample), object: 'page' }, 'object'],
    ['empty entry', { object: 'whatsapp_business_account', entry: [] }, 'entry'],
    ['entry not an array', { object: 'whatsapp_business_account', entry: {} }, 'entry'],
  ])('%s → error at %s', (_name, json, path) => {
    expect(fail(json)).toEqual({
      ok: false,
      code: 'MALFORMED_PAYLOAD',
      message: expect.stringContaining(`at ${path}:`),
    });
  });

  it('caps entry[] at 100', () => {
    const entry = Array.from({ length: 101 }, () => envelope().entry[0]);
    expect(fail({ object: 'whatsapp_business_account', entry }).message).toContain('at entry:');
  });

  const mutate = (fn: (m: Record<string, unknown>) => void) => {
    const change = textMessage(ALICE, secretBody, { timestamp: TS });
    fn((change.value.messages as Array<Record<string, unknown>>)[0]!);
    return envelope(textMessage(BOB, 'fine'), change);
  };

  it.each([
    ['missing from', (m: Record<string, unknown>) => delete m.from, 'from'],
    ['missing id', (m: Record<string, unknown>) => delete m.id, 'id'],
    ['timestamp not digits', (m: Record<string, unknown>) => (m.timestamp = 'yesterday'), 'timestamp'],
    ['timestamp in ms', (m: Record<string, unknown>) => (m.timestamp = '1749416383000'), 'timestamp'],
    ['timestamp a float', (m: Record<string, unknown>) => (m.timestamp = 1.5), 'timestamp'],
    ['missing type', (m: Record<string, unknown>) => delete m.type, 'type'],
    ['text missing', (m: Record<string, unknown>) => delete m.text, 'text'],
    ['body a number', (m: Record<string, unknown>) => (m.text = { body: 42 }), 'text.body'],
    ['body too long', (m: Record<string, unknown>) => (m.text = { body: 'x'.repeat(4097) }), 'text.body'],
    ['id too long', (m: Record<string, unknown>) => (m.id = `wamid.${'A'.repeat(300)}`), 'id'],
  ])('%s → path names the field, no value is echoed', (_name, fn, field) => {
    const { message } = fail(mutate(fn));
    expect(message).toContain(`at entry[0].changes[1].value.messages[0].${field}:`);
    expect(message).not.toContain(ALICE);
    expect(message).not.toContain(secretBody);
    expect(message).not.toContain('yesterday');
  });

  it('button, interactive and system need their own objects', () => {
    const button = buttonReply(ALICE, 'STOP');
    delete ((button.value.messages as Array<Record<string, unknown>>)[0]!.button as Record<string, unknown>)
      .payload;
    expect(fail(envelope(button)).message).toContain('messages[0].button.payload:');

    const interactive = interactiveReply(ALICE, 'id', 'title');
    (interactive.value.messages as Array<Record<string, unknown>>)[0]!.interactive = { type: 'button_reply' };
    expect(fail(envelope(interactive)).message).toContain('messages[0].interactive.button_reply:');

    const system = numberChange(ALICE, BOB);
    delete (system.value.messages as Array<Record<string, unknown>>)[0]!.system;
    expect(fail(envelope(system)).message).toContain('messages[0].system:');
  });

  it('statuses and preferences enforce their required fields', () => {
    const status = statusUpdate(ALICE, 'wamid.S', 'failed', [131050]);
    const s = (status.value.statuses as Array<Record<string, unknown>>)[0]!;
    s.errors = [{ code: '131050' }];
    expect(fail(envelope(status)).message).toContain('statuses[0].errors[0].code:');

    const pref = userPreference(ALICE, 'stop');
    (pref.value.user_preferences as Array<Record<string, unknown>>)[0]!.value = 'maybe';
    const { message } = fail(envelope(pref));
    expect(message).toContain('at entry[0].changes[0].value.user_preferences[0].value:');
    expect(message).not.toContain('maybe');

    expect(fail(envelope({ field: 'user_preferences', value: {} })).message).toContain(
      'value.user_preferences:',
    );
  });

  it('a change value must be an object, even for unknown fields', () => {
    expect(
      fail(envelope({ field: 'something_new', value: [] as unknown as Record<string, unknown> })).message,
    ).toContain('changes[0].value:');
  });
});
