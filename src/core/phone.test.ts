import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizePhone } from './phone.ts';

// Fictitious numbers only: German mobile +49 151 2345678x, US +1 650 555 01xx.
const DE = { e164: '+4915123456789', waId: '4915123456789' };
const US = { e164: '+16505550123', waId: '16505550123' };

describe('normalizePhone: accepted forms', () => {
  it.each([
    ['E.164', '+4915123456789'],
    ['WhatsApp id', '4915123456789'],
    ['00 prefix', '004915123456789'],
    ['URL-encoded plus', '%2B4915123456789'],
    ['URL-encoded with lower-case hex', '%2b4915123456789'],
    ['URL-encoded spaces', '%2B49%20151%2023456789'],
    ['spaces', '+49 151 23456789'],
    ['dashes', '+49-151-2345-6789'],
    ['parentheses', '+49 (151) 23456789'],
    ['dots', '+49.151.234.567.89'],
    ['surrounding whitespace', '  +4915123456789\n'],
    ['tabs and non-breaking spaces', '+49\t151\u00a023456789'],
    ['Unicode dashes', '+49\u2013151\u201023456789'],
    ['00 prefix with separators', '00 49 151 2345 6789'],
  ])('%s', (_name, input) => {
    expect(normalizePhone(input)).toEqual({ ok: true, ...DE });
  });

  it('reads a US number in the usual notation', () => {
    expect(normalizePhone('+1 (650) 555-0123')).toEqual({ ok: true, ...US });
    expect(normalizePhone('16505550123')).toEqual({ ok: true, ...US });
    expect(normalizePhone('001-650-555-0123')).toEqual({ ok: true, ...US });
  });

  it('drops the German trunk zero written after the country code, as in "+49 (0)151 …"', () => {
    expect(normalizePhone('+49 (0)151 2345678')).toEqual({
      ok: true,
      e164: '+491512345678',
      waId: '491512345678',
    });
  });

  it('waId is always the E.164 number without its plus', () => {
    for (const input of ['+4915123456780', '4915123456781', '+16505550199']) {
      const r = normalizePhone(input);
      expect(r.ok).toBe(true);
      if (r.ok) expect(`+${r.waId}`).toBe(r.e164);
    }
  });

  it('is idempotent: the output of either form normalises to itself', () => {
    const r = normalizePhone('00 49 151 2345-6789');
    if (!r.ok) throw new Error('expected a valid number');
    expect(normalizePhone(r.e164)).toEqual(r);
    expect(normalizePhone(r.waId)).toEqual(r);
  });
});

describe('normalizePhone: rejected input', () => {
  it.each([
    ['empty', ''],
    ['only whitespace', '   '],
    ['only separators', '(-.-)'],
    ['a plus alone', '+'],
    ['letters', 'hello'],
    ['letters mixed with digits', '+49151abc23456'],
    ['a vanity number', '+1-650-FLOWERS'],
    ['an extension', '+16505550123 ext 5'],
    ['a tel: URI', 'tel:+4915123456789'],
    ['a national number without country code', '015123456789'],
    ['too few digits', '+4915'],
    ['too many digits', '+49151234567891234'],
    ['16 digits: longer than E.164 allows, though German metadata would take it', '+4915123456789999'],
    ['an unassigned country code', '+999123456789'],
    ['a plus after digits', '49+15123456789'],
    ['two plus signs', '++4915123456789'],
    ['malformed percent-encoding', '%E0%A4%A'],
    ['double URL-encoding', '%252B4915123456789'],
    ['non-ASCII digits', '+４９１５１２３４５６７８９'],
    ['other punctuation', '+49/151/23456789'],
    ['a number with a trailing comment', '+4915123456789 (mobile)'],
  ])('%s', (_name, input) => {
    const r = normalizePhone(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.code).toBe('INVALID_PHONE');
  });

  it('rejects over-long input before parsing, even when it would be valid once trimmed', () => {
    const padded = `${' '.repeat(30)}+4915123456789`;
    expect(padded.length).toBeGreaterThan(32);
    expect(normalizePhone(padded).ok).toBe(false);
    expect(normalizePhone('1'.repeat(10_000)).ok).toBe(false);
    expect(normalizePhone(`%2B${'%20'.repeat(40)}4915123456789`).ok).toBe(false);
  });

  it('accepts exactly 32 characters and rejects 33', () => {
    const at32 = `+4915123456789${' '.repeat(18)}`;
    expect(at32).toHaveLength(32);
    expect(normalizePhone(at32).ok).toBe(true);
    expect(normalizePhone(`${at32} `).ok).toBe(false);
  });

  it('never puts the input into the error message', () => {
    const inputs = ['+4915', '4915123456789999', 'Erika Mustermann', '+1-650-FLOWERS', '%2B49%ZZ', ''];
    for (const input of inputs) {
      const r = normalizePhone(input);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.message).not.toMatch(/[0-9]/);
        if (input) expect(r.message).not.toContain(input);
      }
    }
  });

  it('never throws and never leaks digits into errors, whatever the input', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 120, unit: 'binary' }), (input) => {
        const r = normalizePhone(input);
        if (r.ok) {
          expect(r.e164).toMatch(/^\+[1-9][0-9]{6,14}$/);
          expect(r.waId).toBe(r.e164.slice(1));
        } else {
          expect(r.message).not.toMatch(/[0-9]/);
        }
      }),
    );
  });

  it('accepts every fictitious number in the test ranges in each notation', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 99 }), (d, u) => {
        const de = `+4915123456780`.slice(0, -1) + d;
        const us = `+1650555${String(100 + u).padStart(4, '0')}`;
        for (const e164 of [de, us]) {
          const expected = { ok: true, e164, waId: e164.slice(1) };
          expect(normalizePhone(e164)).toEqual(expected);
          expect(normalizePhone(e164.slice(1))).toEqual(expected);
          expect(normalizePhone(`00${e164.slice(1)}`)).toEqual(expected);
          expect(normalizePhone(encodeURIComponent(e164))).toEqual(expected);
        }
      }),
    );
  });
});
