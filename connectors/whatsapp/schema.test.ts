import { describe, expect, it } from 'vitest';
import { envelope, textMessage, userPreference } from '../../test/helpers/whatsapp.ts';
import { messageSchema, unixSecondsSchema, webhookSchema } from './schema.ts';

describe('webhook schema', () => {
  it('strips unknown keys and contact profiles instead of rejecting them', () => {
    const change = textMessage('16505550101', 'hi', { profileName: 'Erika Mustermann' });
    (change.value as Record<string, unknown>).someFutureField = { a: 1 };
    const parsed = webhookSchema.parse(envelope(change));
    const out = JSON.stringify(parsed);
    expect(out).not.toContain('someFutureField');
    expect(out).not.toContain('Mustermann');
    expect(out).not.toContain('messaging_product');
  });

  it('empties the value of unknown fields', () => {
    const parsed = webhookSchema.parse(envelope({ field: 'account_update', value: { secret: 'x' } }));
    expect(parsed.entry[0]?.changes[0]).toEqual({ field: 'account_update', value: {} });
  });

  it('keeps only common fields for other message types', () => {
    const parsed = messageSchema.parse({
      from: '1',
      id: 'w',
      timestamp: '1',
      type: 'sticker',
      sticker: { id: 's' },
    });
    expect(parsed).toEqual({ from: '1', id: 'w', timestamp: 1, type: 'sticker' });
  });

  it('parses preference timestamps as numbers', () => {
    const parsed = webhookSchema.parse(
      envelope(userPreference('16505550101', 'stop', { timestamp: 1731705721 })),
    );
    const change = parsed.entry[0]?.changes[0];
    expect(change?.value).toMatchObject({ user_preferences: [{ timestamp: 1731705721 }] });
  });

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
