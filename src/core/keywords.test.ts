import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import shipped from '../../catalog/keywords.json' with { type: 'json' };
import {
  compileKeywords,
  type KeywordCatalog,
  KeywordCatalogError,
  keywordCatalogSchema,
  matchButton,
  matchReply,
  namedPurposes,
  normalizeAscii,
  normalizeReply,
  normalizeUnicode,
} from './keywords.ts';

const catalog = keywordCatalogSchema.parse(shipped);
const matcher = compileKeywords(catalog);
const LOCALES = ['de', 'en', 'fr', 'es', 'it', 'nl', 'pt', 'pl', 'tr'];

/** A small catalog for error cases; `extra` is merged over it. */
function tiny(extra: Partial<KeywordCatalog> = {}): KeywordCatalog {
  return {
    optOut: [{ purposes: 'all', keywords: { en: ['STOP'] } }],
    optIn: [{ purposes: 'all', keywords: { en: ['START'] } }],
    confirm: { keywords: { en: ['YES'] } },
    buttons: {},
    ...extra,
  };
}

describe('the shipped catalog', () => {
  it('passes the schema and compiles without conflicts', () => {
    expect(() => compileKeywords(catalog)).not.toThrow();
    expect(matcher.keywords().length).toBeGreaterThan(100);
  });

  it('covers every supported locale in opt-out, opt-in and confirm', () => {
    const optOutAll = catalog.optOut.find((g) => g.purposes === 'all');
    const optOutMarketing = catalog.optOut.find(
      (g) => Array.isArray(g.purposes) && g.purposes.includes('marketing'),
    );
    for (const loc of LOCALES) {
      expect(optOutAll?.keywords[loc], `optOut all ${loc}`).toBeDefined();
      expect(optOutMarketing?.keywords[loc], `optOut marketing ${loc}`).toBeDefined();
      expect(catalog.optIn[0]?.keywords[loc], `optIn ${loc}`).toBeDefined();
      expect(catalog.confirm.keywords[loc], `confirm ${loc}`).toBeDefined();
    }
  });

  it('names only the marketing purpose', () => {
    expect(namedPurposes(catalog)).toEqual(['marketing']);
  });
});

describe('keyword families', () => {
  it.each([
    'STOP',
    'STOPP',
    'ABMELDEN',
    'ABBESTELLEN',
    'UNSUBSCRIBE',
    'ARRET',
    'ARRÊT',
    'BAJA',
    'CANCEL',
    'END',
    'QUIT',
    'STOP ALL',
    'STOPALL',
    'DÉSABONNER',
    'DESUSCRIBIR',
    'ANNULLA',
    'AFMELDEN',
    'PARAR',
    'SAIR',
    'REZYGNUJ',
    'DUR',
    'İPTAL',
    'OPT OUT',
    'OPT-OUT',
  ])('%s opts out of every purpose', (word) => {
    expect(matcher.reply(word)).toMatchObject({ action: 'opt_out', purposes: 'all' });
  });

  it.each([
    'STOP WERBUNG',
    'KEINE WERBUNG',
    'STOP MARKETING',
    'STOP PROMOTIONS',
    'STOP PUB',
    'STOP PUBLICITÉ',
    'STOP PUBLICIDAD',
    'STOP PUBBLICITÀ',
    'GEEN RECLAME',
    'SEM PUBLICIDADE',
    'STOP REKLAMY',
    'REKLAM İSTEMİYORUM',
  ])('%s opts out of marketing only', (phrase) => {
    expect(matcher.reply(phrase)).toMatchObject({ action: 'opt_out', purposes: ['marketing'] });
  });

  it.each([
    'START',
    'ANMELDEN',
    'SUBSCRIBE',
    'UNSTOP',
    "S'ABONNER",
    'ALTA',
    'ISCRIVIMI',
    'AANMELDEN',
    'INSCREVER',
    'ZAPISZ',
    'BAŞLA',
  ])('%s asks to opt in again (all purposes)', (word) => {
    expect(matcher.reply(word)).toMatchObject({ action: 'opt_in', purposes: 'all' });
  });

  it.each([
    ['YES', 'en'],
    ['Y', 'en'],
    ['JA', 'de'],
    ['J', 'de'],
    ['OUI', 'fr'],
    ['SÍ', 'es'],
    ['SI', 'es'],
    ['SÌ', 'es'],
    ['SIM', 'pt'],
    ['TAK', 'pl'],
    ['EVET', 'tr'],
  ])('%s confirms (%s)', (word, locale) => {
    expect(matcher.reply(word)).toEqual({
      action: 'confirm',
      purposes: 'all',
      locale,
      keyword: normalizeReply(word),
    });
  });

  it('does not treat OK as a confirmation: too ambiguous', () => {
    expect(matcher.reply('OK')).toBeNull();
    expect(matcher.reply('ok 👍')).toBeNull();
  });

  it('reports the first locale listed when several locales share a keyword', () => {
    expect(matcher.reply('stop')?.locale).toBe('de');
    expect(matcher.reply('ja')?.locale).toBe('de'); // de before nl
    expect(matcher.reply('si')?.locale).toBe('es'); // es before it
    expect(matcher.reply('parar')?.locale).toBe('es'); // es before pt
    expect(matcher.reply('start')?.locale).toBe('de');
    expect(matcher.reply('stop marketing')?.locale).toBe('de');
  });
});

describe('tolerance: emoji, punctuation, whitespace, case, width, diacritics', () => {
  it.each([
    'stop',
    'Stop',
    'sToP',
    'STOP!',
    'Stop!!! 🛑',
    '  STOP. ',
    '🛑STOP🛑',
    '"stop"',
    '*STOP*',
    '_stop_',
    '¡stop!',
    'stop…',
    'STOP\n',
    '\tstop\u00a0',
    'ＳＴＯＰ',
    '🙅🏽‍♀️ stop',
  ])('%j is the keyword "stop"', (text) => {
    expect(matcher.reply(text)).toMatchObject({ action: 'opt_out', keyword: 'stop' });
  });

  it('collapses whitespace and punctuation between the words of a phrase', () => {
    for (const text of [
      'STOP   WERBUNG',
      'stop-werbung',
      'Stop, Werbung!',
      'stop\nwerbung',
      'STOP_WERBUNG',
    ]) {
      expect(matcher.reply(text)).toMatchObject({ purposes: ['marketing'], keyword: 'stop werbung' });
    }
  });

  it('matches with or without diacritics, in either case', () => {
    for (const text of ['ARRÊT', 'arrêt', 'Arret', 'désabonner', 'DESABONNER', 'Se désabonner']) {
      expect(matcher.reply(text)?.action).toBe('opt_out');
    }
    expect(matcher.reply('Sí')?.keyword).toBe('si');
    expect(matcher.reply('sì')?.keyword).toBe('si');
  });

  it('reads Turkish whatever the keyboard did with the dotted and dotless i', () => {
    for (const text of ['İPTAL', 'İptal', 'IPTAL', 'iptal', 'ÇIK', 'çık', 'Çik', 'cik']) {
      expect(matcher.reply(text)?.action, text).toBe('opt_out');
    }
    expect(matcher.reply('abonelikten çık')?.keyword).toBe('abonelikten cik');
  });
});

describe('non-matches: only a reply that is just the keyword counts', () => {
  it.each([
    'please stop sending',
    'stopwatch',
    'nonstop',
    'stop it',
    "don't stop",
    'yes but stop',
    'stop stop',
    's t o p',
    'sto p',
    'stop1',
    '1 stop',
    'yesterday',
    'japan',
    'start now',
    '',
    '   ',
    '🛑',
    '!!!',
  ])('%j', (text) => {
    expect(matcher.reply(text)).toBeNull();
  });
});

describe('normalizeReply', () => {
  it.each([
    ['  Arrêt!!! 🛑 ', 'arret'],
    ['STOP-Werbung', 'stop werbung'],
    ['Sí', 'si'],
    ['ＳＴＯＰ', 'stop'],
    ['İPTAL', 'iptal'],
    ['ﬁn', 'fin'],
    ['a\u0301', 'a'],
    ['  many   spaces\t\nhere ', 'many spaces here'],
    ['🙂', ''],
    ['', ''],
  ])('%j → %j', (input, expected) => {
    expect(normalizeReply(input)).toBe(expected);
  });

  it("takes the ASCII shortcut only where it gives the full normalisation's result", () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary-ascii', maxLength: 60 }), (s) => {
        expect(normalizeAscii(s)).toBe(normalizeUnicode(s));
        expect(normalizeReply(s)).toBe(normalizeUnicode(s));
      }),
      { numRuns: 2_000 },
    );
    // Not ASCII: the full path (the shortcut would keep the accent and the fullwidth letters).
    expect(normalizeReply('Arrêt')).toBe('arret');
    expect(normalizeAscii('Arrêt')).not.toBe('arret');
  });

  it('answers a repeated reply, and a different reply after it, each by its own text', () => {
    expect(normalizeReply('STOP!')).toBe('stop');
    expect(normalizeReply('STOP!')).toBe('stop');
    expect(normalizeReply('ＳＴＯＰ')).toBe('stop');
    expect(normalizeReply('Sí')).toBe('si');
    expect(normalizeReply('STOP!')).toBe('stop');
  });

  it('is idempotent', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (s) => {
        const once = normalizeReply(s);
        expect(normalizeReply(once)).toBe(once);
      }),
    );
  });
});

describe('buttons', () => {
  it.each([
    ['CONSENT_CONFIRM', 'confirm', 'all'],
    ['CONSENT_OPT_OUT', 'opt_out', 'all'],
    ['OPT_OUT_MARKETING', 'opt_out', ['marketing']],
    ['Unsubscribe', 'opt_out', 'all'],
  ])('%s → %s', (id, action, purposes) => {
    expect(matcher.button(id)).toEqual({ action, purposes, id });
    expect(matchButton(id, catalog)).toEqual({ action, purposes, id });
  });

  it('matches ids exactly and case-sensitively', () => {
    for (const id of [
      'consent_confirm',
      'UNSUBSCRIBE',
      'unsubscribe',
      ' CONSENT_CONFIRM',
      'CONSENT_CONFIRM ',
      'STOP',
      '',
    ]) {
      expect(matcher.button(id), id).toBeNull();
    }
  });

  it('does not resolve ids through Object.prototype', () => {
    for (const id of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      expect(matcher.button(id)).toBeNull();
    }
  });
});

describe('matchReply / matchButton', () => {
  it('agree with the compiled matcher and reuse one index per catalog', () => {
    expect(matchReply('Stop!!! 🛑', catalog)).toEqual(matcher.reply('Stop!!! 🛑'));
    expect(matchReply('please stop sending', catalog)).toBeNull();
    expect(matchButton('nope', catalog)).toBeNull();
  });

  it('hands out copies: editing a match cannot change the index', () => {
    const first = matcher.reply('stop werbung');
    if (!first || first.purposes === 'all') throw new Error('expected a marketing opt-out');
    first.purposes.push('transactional');
    expect(matcher.reply('stop werbung')?.purposes).toEqual(['marketing']);
  });
});

describe('catalog validation', () => {
  it('rejects one keyword with two different actions, naming the keyword', () => {
    const c = tiny({ confirm: { keywords: { en: ['YES', 'Stop!'] } } });
    expect(() => compileKeywords(c)).toThrow(KeywordCatalogError);
    expect(() => compileKeywords(c)).toThrow(/"stop"/);
  });

  it('detects conflicts after normalisation (SÍ vs SI)', () => {
    const c = tiny({
      optOut: [{ purposes: 'all', keywords: { en: ['STOP', 'SI'] } }],
      confirm: { keywords: { es: ['SÍ'] } },
    });
    expect(() => compileKeywords(c)).toThrow(/"si".*opt_out.*confirm/);
  });

  it('rejects the same phrase as an opt-out of everything and of one purpose', () => {
    const c = tiny({
      optOut: [
        { purposes: 'all', keywords: { en: ['STOP'] } },
        { purposes: ['marketing'], keywords: { en: ['stop'] } },
      ],
    });
    expect(() => compileKeywords(c)).toThrow(/"stop".*all purposes.*marketing/);
  });

  it('allows distinct phrases for opting out of everything and of marketing', () => {
    const c = tiny({
      optOut: [
        { purposes: 'all', keywords: { en: ['STOP'] } },
        { purposes: ['marketing'], keywords: { en: ['STOP MARKETING'] } },
      ],
    });
    expect(compileKeywords(c).reply('stop marketing')).toMatchObject({ purposes: ['marketing'] });
  });

  it('allows the same keyword in several locales and entries with the same reading', () => {
    const c = tiny({
      optOut: [
        { purposes: 'all', keywords: { en: ['STOP'], de: ['STOP', 'STOPP'] } },
        { purposes: 'all', keywords: { fr: ['stop', 'ARRÊT', 'ARRET'] } },
      ],
    });
    expect(compileKeywords(c).reply('STOP')?.locale).toBe('en');
  });

  it('rejects a keyword that is empty once normalised', () => {
    const c = tiny({ optIn: [{ purposes: 'all', keywords: { en: ['🟢'] } }] });
    expect(() => compileKeywords(c)).toThrow(/empty once normalised/);
  });

  it.each([
    ['an unknown top-level field', { ...shipped, extra: true }],
    [
      'an unknown group field',
      { ...shipped, optIn: [{ purposes: 'all', keywords: { en: ['START'] }, x: 1 }] },
    ],
    ['an unknown button action', { ...shipped, buttons: { B: { action: 'delete' } } }],
    ['an empty keyword list', { ...shipped, confirm: { keywords: { en: [] } } }],
    ['no locales', { ...shipped, confirm: { keywords: {} } }],
    ['an empty keyword', { ...shipped, confirm: { keywords: { en: [''] } } }],
    ['an empty purpose list', { ...shipped, optOut: [{ purposes: [], keywords: { en: ['STOP'] } }] }],
    [
      'a malformed purpose id',
      { ...shipped, optOut: [{ purposes: ['Marketing!'], keywords: { en: ['X'] } }] },
    ],
    ['a malformed locale', { ...shipped, confirm: { keywords: { english: ['YES'] } } }],
    ['no opt-out group at all', { ...shipped, optOut: [] }],
  ])('the schema rejects %s', (_name, json) => {
    expect(keywordCatalogSchema.safeParse(json).success).toBe(false);
  });
});

describe("conflicts: 'resolve' keeps the less permissive reading", () => {
  it('opt-out beats confirm and opt-in, whichever comes first', () => {
    const c = tiny({
      optIn: [{ purposes: 'all', keywords: { en: ['START', 'HALT'] } }],
      confirm: { keywords: { en: ['YES', 'STOP', 'START'] } },
    });
    const m = compileKeywords(c, { conflicts: 'resolve' });
    expect(m.reply('stop')?.action).toBe('opt_out');
    // opt-in only starts a new double opt-in, so it is less permissive than a confirmation.
    expect(m.reply('start')?.action).toBe('opt_in');
  });

  it('two opt-outs for different purposes withdraw from both', () => {
    const c = tiny({
      optOut: [
        { purposes: ['marketing'], keywords: { en: ['NO'] } },
        { purposes: ['surveys'], keywords: { en: ['NO'] } },
        { purposes: 'all', keywords: { en: ['STOP'] } },
        { purposes: ['marketing'], keywords: { en: ['STOP'] } },
      ],
    });
    const m = compileKeywords(c, { conflicts: 'resolve' });
    expect(m.reply('no')?.purposes).toEqual(['marketing', 'surveys']);
    expect(m.reply('stop')?.purposes).toBe('all');
  });
});

describe('properties', () => {
  // Computed from the raw file, independently of the matcher's index.
  const all = [
    ...shipped.optOut.flatMap((g) => Object.values(g.keywords).flat()),
    ...shipped.optIn.flatMap((g) => Object.values(g.keywords).flat()),
    ...Object.values(shipped.confirm.keywords).flat(),
  ];
  const normalised = new Set(all.map(normalizeReply));
  const keyword = fc.constantFrom(...all);
  const letter = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzäöüßéèçñıİşğąęłżÀÉŒæøåжωשع中'.split(''));
  const letters = fc.string({ unit: letter, minLength: 1, maxLength: 4 });
  const noise = fc.string({
    unit: fc.constantFrom(
      ' ',
      '!',
      '.',
      '?',
      ',',
      '…',
      '¡',
      '¿',
      '"',
      "'",
      '*',
      '_',
      '\n',
      '\t',
      '🛑',
      '👍🏽',
      '❤️',
      '🙅‍♀️',
    ),
    maxLength: 5,
  });

  it('additional letters glued around a keyword never match it (nor anything but a real keyword)', () => {
    fc.assert(
      fc.property(
        keyword,
        fc.option(letters, { nil: '' }),
        fc.option(letters, { nil: '' }),
        (kw, pre, post) => {
          fc.pre(pre !== '' || post !== '');
          const text = pre + kw + post;
          const m = matcher.reply(text);
          expect(m?.keyword).not.toBe(normalizeReply(kw));
          if (m) expect(normalised.has(normalizeReply(text))).toBe(true);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('a keyword with extra words around it never matches unless the phrase is itself a keyword', () => {
    fc.assert(
      fc.property(keyword, letters, fc.boolean(), (kw, word, before) => {
        const text = before ? `${word} ${kw}` : `${kw} ${word}`;
        const m = matcher.reply(text);
        if (m) expect(normalised.has(normalizeReply(text))).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('emoji, punctuation and whitespace around a keyword never stop it matching', () => {
    fc.assert(
      fc.property(keyword, noise, noise, fc.boolean(), (kw, pre, post, upper) => {
        const word = upper ? kw.toUpperCase() : kw.toLowerCase();
        expect(matcher.reply(pre + word + post)?.keyword).toBe(normalizeReply(kw));
      }),
      { numRuns: 1000 },
    );
  });
});
