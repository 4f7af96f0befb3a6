import { describe, expect, it } from 'vitest';
import { envelope, textMessage, userPreference } from '../../test/helpers/whatsapp.ts';
import {
  contactSchema,
  envelopeSchema,
  messageSchema,
  statusSchema,
  unixSecondsSchema,
  userPreferenceSchema,
} from './schema.ts';

describe('webhook envelope schema', () => {
  it('keeps change values raw for the item readers, whatever keys they carry', () => {
    const change = textMessage('16505550101', 'hi');
    (change.value as Record<string, unknown>).someFutureField = { a: 1 };
    const parsed = envelopeSchema.parse(envelope(change));
    expect(parsed.entry[0]?.changes[0]?.value).toMatchObject({ someFutureField: { a: 1 } });
  });

  it('accepts a change of any field with an object value', () => {
    const parsed = envelopeSchema.parse(envelope({ field: 'account_update', value: { event: 'x' } }));
    expect(parsed.entry[0]?.changes[0]?.field).toBe('account_update');
  });

  it.each(['messages', 'contacts', 'statuses', 'user_preferences', 'errors'])(
    'caps %s at 1000 items',
    (key) => {
      const items = (n: number) =>
        envelope({ field: 'messages', value: { [key]: Array.from({ length: n }, () => ({})) } });
      expect(envelopeSchema.safeParse(items(1001)).success).toBe(false);
      expect(envelopeSchema.safeParse(items(1000)).success).toBe(true);
    },
  );
});

describe('item schemas', () => {
  it('messages keep only the common fields for other types, and no profile or body of a system message', () => {
    expect(
      messageSchema.parse({ from: '1', id: 'w', timestamp: '1', type: 'sticker', sticker: { id: 's' } }),
    ).toEqual({ from: '1', id: 'w', timestamp: 1, type: 'sticker' });
    const system = messageSchema.parse({
      from: '1',
      id: 'w',
      timestamp: '1',
      type: 'system',
      system: { body: 'User Erika changed from 1 to 2', wa_id: '2', type: 'user_changed_number' },
    });
    expect(JSON.stringify(system)).not.toContain('Erika');
  });

  it('messages carry the BSUID fields', () => {
    expect(
      messageSchema.parse({
        from_user_id: 'US.1',
        from_parent_user_id: 'US.ENT.1',
        id: 'w',
        timestamp: '1',
        type: 'text',
        text: { body: 'STOP' },
      }),
    ).toMatchObject({ from_user_id: 'US.1', from_parent_user_id: 'US.ENT.1' });
  });

  it('contacts keep identifiers only: names and usernames are stripped', () => {
    expect(
      contactSchema.parse({ profile: { name: 'Erika', username: 'erika' }, wa_id: '1', user_id: 'US.1' }),
    ).toEqual({ wa_id: '1', user_id: 'US.1' });
  });

  it('statuses need an id, status and timestamp; the recipient fields are optional here (the parser checks them)', () => {
    expect(statusSchema.safeParse({ id: 'w', status: 'read', timestamp: '1' }).success).toBe(true);
    expect(statusSchema.safeParse({ status: 'read', timestamp: '1' }).success).toBe(false);
  });

  it('preferences read stop, resume and signup, with signup_id; timestamps become numbers', () => {
    const change = userPreference('16505550101', 'stop', { timestamp: 1731705721 });
    const raw = (change.value.user_preferences as Array<Record<string, unknown>>)[0];
    expect(userPreferenceSchema.parse(raw)).toMatchObject({ timestamp: 1731705721, value: 'stop' });
    expect(userPreferenceSchema.parse({ ...raw, value: 'signup', signup_id: '42' })).toMatchObject({
      value: 'signup',
      signup_id: '42',
    });
    expect(userPreferenceSchema.safeParse({ ...raw, value: 'later' }).success).toBe(false);
  });
});

describe('unix seconds', () => {
  it.each([
    ['0', 0],
    [1731705721, 1731705721],
  ])('unix seconds %s', (input, output) => {
    expect(unixSecondsSchema.parse(input)).toBe(output);
  });

  it.each([-1, 1.5, '1e9', '', ' 1', true, null, 1e12])('rejects unix seconds %s', (input) => {
    expect(unixSecondsSchema.safeParse(input).success).toBe(false);
  });
});
