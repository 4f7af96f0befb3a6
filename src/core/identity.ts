/**
 * A person's identifiers (ARCHITECTURE "Identity"): E.164 numbers, WhatsApp business-scoped user
 * ids (BSUID, `CC.` + up to 128 alphanumerics) and parent BSUIDs (`CC.ENT.` + alphanumerics).
 *
 * Meta, not a phone library, is the authority on WhatsApp identifiers: an E.164-shaped id that
 * Meta sends (`from`, `wa_id`, `recipient_id`) is accepted whatever libphonenumber's metadata
 * thinks of its range. Numbers typed by people (API, console) are validated strictly instead
 * (`normalizePhone`), with an optional default country for national formats.
 */
import { normalizePhone } from './phone.ts';

export type IdentifierKind = 'phone' | 'bsuid' | 'parent_bsuid';

/** One identifier in canonical form, example values: `+4915112345678`, `DE.1234567890123456789`, `US.ENT.118…`. */
export interface Identifier {
  kind: IdentifierKind;
  value: string;
}

/**
 * Everything one event says about who it concerns. At least one field is set; several set means
 * the sender told us they belong to one person (Meta links a number and a BSUID in a webhook).
 */
export interface Identity {
  /** E.164 with `+` */
  phone?: string;
  bsuid?: string;
  parentBsuid?: string;
}

export type IdentifierResult =
  | { ok: true; id: Identifier }
  | { ok: false; code: 'INVALID_IDENTIFIER'; message: string };

/** 1–15 digits, no leading zero (ITU-T E.164 without the `+`). */
const META_WA_ID = /^[1-9][0-9]{0,14}$/;
/** ISO 3166 alpha-2, a dot, then up to 128 alphanumerics. */
const BSUID = /^[A-Z]{2}\.[A-Za-z0-9]{1,128}$/;
/** Parent BSUID: `CC.ENT.` + up to 128 alphanumerics. */
const PARENT_BSUID = /^[A-Z]{2}\.ENT\.[A-Za-z0-9]{1,128}$/;

const fail = (message: string): IdentifierResult => ({ ok: false, code: 'INVALID_IDENTIFIER', message });

/**
 * A WhatsApp id as Meta sends it (`16505551234`): accepted when E.164-shaped, never checked
 * against a phone library's ranges. Returns the E.164 form (example: `+16505551234`).
 */
export function metaPhone(waId: string): string | null {
  if (typeof waId !== 'string') return null;
  const digits = waId.startsWith('+') ? waId.slice(1) : waId;
  return META_WA_ID.test(digits) ? `+${digits}` : null;
}

/** A BSUID or parent BSUID as Meta sends it; null when it is neither. */
export function metaUserId(id: string): Identifier | null {
  if (typeof id !== 'string' || id.length > 140) return null;
  if (PARENT_BSUID.test(id)) return { kind: 'parent_bsuid', value: id };
  if (BSUID.test(id)) return { kind: 'bsuid', value: id };
  return null;
}

/**
 * The identifiers of a Meta event: each field is checked with Meta's own rules (E.164 shape,
 * BSUID shape). Returns null when no usable identifier is left.
 */
export function metaIdentity(raw: {
  waId?: string | null | undefined;
  userId?: string | null | undefined;
  parentUserId?: string | null | undefined;
}): Identity | null {
  const out: Identity = {};
  if (raw.waId) {
    const phone = metaPhone(raw.waId);
    if (phone) out.phone = phone;
  }
  if (raw.userId) {
    const id = metaUserId(raw.userId);
    if (id?.kind === 'bsuid') out.bsuid = id.value;
  }
  if (raw.parentUserId) {
    const id = metaUserId(raw.parentUserId);
    if (id?.kind === 'parent_bsuid') out.parentBsuid = id.value;
  }
  return out.phone || out.bsuid || out.parentBsuid ? out : null;
}

/** The identifiers of an identity, strongest first (a number, then the BSUID, then the parent BSUID). */
export function identifiersOf(identity: Identity): Identifier[] {
  const out: Identifier[] = [];
  if (identity.phone) out.push({ kind: 'phone', value: identity.phone });
  if (identity.bsuid) out.push({ kind: 'bsuid', value: identity.bsuid });
  if (identity.parentBsuid) out.push({ kind: 'parent_bsuid', value: identity.parentBsuid });
  return out;
}

/** The identity holding one identifier. */
export function identityOf(id: Identifier): Identity {
  if (id.kind === 'phone') return { phone: id.value };
  if (id.kind === 'bsuid') return { bsuid: id.value };
  return { parentBsuid: id.value };
}

/**
 * What a person or an API caller typed for `{phone}`: E.164 (example `+4915112345678`, URL-encoded or with
 * separators), a WhatsApp id (`4915112345678`), a BSUID (`DE.1234567890123456789`) or a parent
 * BSUID (`DE.ENT.…`). Numbers are validated strictly; a national format is read with
 * `defaultCountry` when one is configured.
 *
 * @example
 * parseSubjectRef('DE.1234567890123456789') // → { ok: true, id: { kind: 'bsuid', value: 'DE.1234567890123456789' } }
 * parseSubjectRef('0151 1234 5678', 'DE')   // → { ok: true, id: { kind: 'phone', value: '+4915112345678' } } (example number)
 */
export function parseSubjectRef(input: string, defaultCountry?: string): IdentifierResult {
  if (typeof input !== 'string' || input.length > 400) return fail('identifier is too long');
  let decoded = input;
  if (input.includes('%')) {
    try {
      decoded = decodeURIComponent(input);
    } catch {
      return fail('identifier is not correctly URL-encoded');
    }
  }
  const trimmed = decoded.trim();
  if (/^[A-Za-z]{2}\./.test(trimmed)) {
    // Country code and the parent's `ENT` are upper case in Meta's ids; the rest is case-sensitive.
    const prefix = /^[A-Za-z]{2}\.ent\./i.test(trimmed) ? 7 : 2;
    const id = metaUserId(trimmed.slice(0, prefix).toUpperCase() + trimmed.slice(prefix));
    if (id) return { ok: true, id };
    return fail('a business-scoped user id is a country code, a dot and up to 128 letters and digits');
  }
  const phone = normalizePhone(trimmed, defaultCountry);
  if (phone.ok) return { ok: true, id: { kind: 'phone', value: phone.e164 } };
  // A WhatsApp id exactly as Meta sends it (bare digits, or with +) names a WhatsApp user whatever
  // a phone library thinks of its range; anything formatted is held to the strict rules above.
  const meta = /^\+?[0-9]+$/.test(trimmed) ? metaPhone(trimmed) : null;
  if (meta) return { ok: true, id: { kind: 'phone', value: meta } };
  return fail(phone.message);
}

/** A masked form for people who may not see the value: `+49•••••••78`, `DE.•••••89`. */
export function maskIdentifier(id: Identifier): string {
  const v = id.value;
  if (id.kind === 'phone') return `${v.slice(0, 3)}${'•'.repeat(Math.max(0, v.length - 5))}${v.slice(-2)}`;
  const prefix = id.kind === 'parent_bsuid' ? v.slice(0, 7) : v.slice(0, 3);
  return `${prefix}•••••${v.slice(-2)}`;
}
