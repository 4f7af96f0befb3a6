import { describe, expect, it } from 'vitest';
import {
  identifiersOf,
  identityOf,
  maskIdentifier,
  metaIdentity,
  metaPhone,
  metaUserId,
  parseSubjectRef,
} from './identity.ts';

// Invented values in Meta's documented shapes; 555 and unassigned-code example numbers.
const BSUID = 'US.7301946621058839401';
const PARENT = 'US.ENT.5520913377014482690';

describe('metaPhone: Meta is the authority on its ids', () => {
  it.each([
    ['16505550101', '+16505550101'],
    ['+16505550101', '+16505550101'],
    ['99912345678', '+99912345678'], // country code 999 is unassigned: accepted, it is E.164-shaped
    ['123456789012345', '+123456789012345'],
  ])('%s → %s', (input, e164) => {
    expect(metaPhone(input)).toBe(e164);
  });

  it.each(['', '+', '0165055501', '1234567890123456', '1650 555 0101', 'US.1', '١٢٣٤٥٦٧'])(
    'rejects %j',
    (input) => {
      expect(metaPhone(input)).toBeNull();
    },
  );

  it('rejects what is not a string', () => {
    expect(metaPhone(16505550101 as unknown as string)).toBeNull();
  });
});

describe('metaUserId', () => {
  it('tells BSUIDs from parent BSUIDs', () => {
    expect(metaUserId(BSUID)).toEqual({ kind: 'bsuid', value: BSUID });
    expect(metaUserId(PARENT)).toEqual({ kind: 'parent_bsuid', value: PARENT });
  });

  it('accepts up to 128 alphanumerics after the prefix', () => {
    expect(metaUserId(`US.${'a'.repeat(128)}`)?.kind).toBe('bsuid');
    expect(metaUserId(`US.ENT.${'a'.repeat(128)}`)?.kind).toBe('parent_bsuid');
    expect(metaUserId(`US.${'a'.repeat(129)}`)).toBeNull();
    expect(metaUserId(`US.ENT.${'a'.repeat(129)}`)).toBeNull();
  });

  it.each(['us.123', 'USA.123', 'US.', 'US.12-3', 'US.ENT.', 'US.ent.123', '16505550101', ' US.123'])(
    'rejects %j',
    (input) => {
      expect(metaUserId(input)).toBeNull();
    },
  );
});

describe('metaIdentity', () => {
  it('keeps each identifier that has its shape and drops the others', () => {
    expect(metaIdentity({ waId: '16505550101', userId: BSUID, parentUserId: PARENT })).toEqual({
      phone: '+16505550101',
      bsuid: BSUID,
      parentBsuid: PARENT,
    });
    expect(metaIdentity({ waId: 'not-a-number', userId: BSUID })).toEqual({ bsuid: BSUID });
    // A parent BSUID is no BSUID and the other way round: a field holds only its own kind.
    expect(metaIdentity({ userId: PARENT, parentUserId: BSUID })).toBeNull();
  });

  it('accepts absent fields given as undefined or null', () => {
    expect(metaIdentity({ waId: undefined, userId: BSUID, parentUserId: null })).toEqual({ bsuid: BSUID });
  });

  it('is null when nothing usable is left', () => {
    expect(metaIdentity({})).toBeNull();
    expect(metaIdentity({ waId: '', userId: '' })).toBeNull();
  });
});

describe('identifiersOf / identityOf', () => {
  it('lists the strongest first and round-trips one identifier', () => {
    const ids = identifiersOf({ parentBsuid: PARENT, bsuid: BSUID, phone: '+16505550101' });
    expect(ids.map((i) => i.kind)).toEqual(['phone', 'bsuid', 'parent_bsuid']);
    for (const id of ids) expect(identifiersOf(identityOf(id))).toEqual([id]);
  });
});

describe('parseSubjectRef', () => {
  it.each([
    ['+4915112345678', { kind: 'phone', value: '+4915112345678' }],
    ['%2B4915112345678', { kind: 'phone', value: '+4915112345678' }],
    ['4915112345678', { kind: 'phone', value: '+4915112345678' }],
    [BSUID, { kind: 'bsuid', value: BSUID }],
    ['us.7301946621058839401', { kind: 'bsuid', value: BSUID }],
    [PARENT, { kind: 'parent_bsuid', value: PARENT }],
    ['us.ent.5520913377014482690', { kind: 'parent_bsuid', value: PARENT }],
  ])('%s', (input, id) => {
    expect(parseSubjectRef(input)).toEqual({ ok: true, id });
  });

  it('reads a national format only with a default country', () => {
    expect(parseSubjectRef('0151 1234 5678').ok).toBe(false);
    expect(parseSubjectRef('0151 1234 5678', 'DE')).toEqual({
      ok: true,
      id: { kind: 'phone', value: '+4915112345678' },
    });
  });

  it.each(['US.12-3', '%E0%A4%A', 'x'.repeat(401), 'hello'])('rejects %j without echoing it', (input) => {
    const r = parseSubjectRef(input);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.code).toBe('INVALID_IDENTIFIER');
      expect(r.message).not.toContain(input);
    }
  });
});

describe('maskIdentifier', () => {
  it('shows the prefix and the last two characters only', () => {
    expect(maskIdentifier({ kind: 'phone', value: '+4915112345678' })).toBe('+49•••••••••78');
    expect(maskIdentifier({ kind: 'bsuid', value: BSUID })).toBe('US.•••••01');
    expect(maskIdentifier({ kind: 'parent_bsuid', value: PARENT })).toBe('US.ENT.•••••90');
  });
});
