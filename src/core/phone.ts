import parsePhoneNumberFromString, { type CountryCode } from 'libphonenumber-js/min';

/** A phone number in canonical form, or why it could not be read (never echoing the input). */
export type PhoneResult =
  | { ok: true; e164: string; waId: string }
  | { ok: false; code: 'INVALID_PHONE'; message: string };

/** Longest input we parse: E.164 has at most 15 digits, so 32 leaves room for separators. */
const MAX_LENGTH = 32;
/** Percent-encoding triples each character, so a raw input up to this long may still decode to MAX_LENGTH. */
const MAX_ENCODED_LENGTH = MAX_LENGTH * 3;

/** Separators people type inside numbers: whitespace, ASCII and Unicode dashes, parentheses, dots. */
const SEPARATORS = /[\s\-\u2010-\u2015\u2212().]/g;
/** After separators are gone only an optional `+` or `00` prefix and ASCII digits may remain. */
const SHAPE = /^(?:\+|00)?[0-9]+$/;
/**
 * ITU-T E.164 allows at most 15 digits. libphonenumber's metadata accepts some longer German
 * numbers, which could never be a WhatsApp id, so the cap is enforced here.
 */
const E164 = /^\+[1-9][0-9]{1,14}$/;

// Messages are fixed strings: the input is personal data and must not reach errors or logs.
const fail = (message: string): PhoneResult => ({ ok: false, code: 'INVALID_PHONE', message });

/**
 * Normalises a phone number as it reaches the API or a webhook into E.164 and a WhatsApp id.
 *
 * Accepts E.164 (example: `+4915112345678`), a WhatsApp id (the same digits without `+`), the `00`
 * international prefix, URL-encoded input (`%2B49…`) and the usual separators. A national number
 * without a country code is rejected unless `defaultCountry` (the `DEFAULT_COUNTRY` setting, for numbers
 * typed by people) is given: then digits that are not a valid international number are read as a
 * national number of that country. Identifiers from Meta never go through here (`metaPhone`).
 *
 * @example
 * normalizePhone('+49 151 1234-5678');
 * // → { ok: true, e164: '+4915112345678', waId: '4915112345678' } (example number)
 * normalizePhone('hello');
 * // → { ok: false, code: 'INVALID_PHONE', message: '…' }
 */
export function normalizePhone(input: string, defaultCountry?: string): PhoneResult {
  if (typeof input !== 'string' || input.length > MAX_ENCODED_LENGTH) {
    return fail('phone number is too long');
  }
  const decoded = decode(input);
  if (decoded === null) return fail('phone number is not correctly URL-encoded');
  if (decoded.length > MAX_LENGTH) return fail('phone number is too long');

  const compact = decoded.replace(SEPARATORS, '');
  if (compact === '') return fail('phone number is empty');
  if (!SHAPE.test(compact)) {
    return fail('phone number may only contain digits, a leading + and separators');
  }

  // A WhatsApp id is E.164 without the plus; `00` is the ITU international call prefix.
  const international = compact.startsWith('+')
    ? compact
    : compact.startsWith('00')
      ? `+${compact.slice(2)}`
      : `+${compact}`;

  let parsed = parsePhoneNumberFromString(international);
  if (!parsed?.isValid() && defaultCountry && !compact.startsWith('+') && !compact.startsWith('00')) {
    parsed = parsePhoneNumberFromString(compact, defaultCountry.toUpperCase() as CountryCode);
  }
  if (!parsed?.isValid() || !E164.test(parsed.number)) {
    return fail('phone number is not a valid international number (country code required)');
  }
  return { ok: true, e164: parsed.number, waId: parsed.number.slice(1) };
}

/** Decodes percent-encoding when present; null when the encoding is malformed. */
function decode(input: string): string | null {
  if (!input.includes('%')) return input;
  try {
    return decodeURIComponent(input);
  } catch {
    return null;
  }
}
