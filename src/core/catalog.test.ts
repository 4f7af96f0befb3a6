import { describe, expect, it } from 'vitest';
import keywordsJson from '../../catalog/keywords.json' with { type: 'json' };
import shipped from '../../catalog/texts.json' with { type: 'json' };
import lockJson from '../../catalog/texts.lock.json' with { type: 'json' };
import {
  CatalogError,
  type CatalogErrorCode,
  checkTextLock,
  consentText,
  doiRequestMessage,
  findConsentText,
  loadTextCatalog,
  message,
  purposeIds,
  purposeList,
  renderTemplate,
  resolveLocale,
  sha256Hex,
  type TextCatalog,
  textLockSchema,
} from './catalog.ts';
import { compileKeywords, keywordCatalogSchema, namedPurposes } from './keywords.ts';

const catalog = loadTextCatalog(shipped);
const lock = textLockSchema.parse(lockJson);
const keywords = keywordCatalogSchema.parse(keywordsJson);
const matcher = compileKeywords(keywords);

/** A copy of the shipped catalog with one change, as raw JSON for the loader. */
function variant(change: (c: TextCatalog) => void): unknown {
  const c = structuredClone(catalog);
  change(c);
  return c;
}

async function codeOf(fn: () => unknown): Promise<CatalogErrorCode | 'no error'> {
  try {
    await fn();
    return 'no error';
  } catch (e) {
    if (e instanceof CatalogError) return e.code;
    throw e;
  }
}

describe('the shipped catalog', () => {
  it('loads', () => {
    expect(purposeIds(catalog)).toEqual(['marketing', 'transactional']);
    expect(catalog.locales).toEqual(['de', 'en']);
  });

  it('matches texts.lock.json', async () => {
    const { errors, newVersions } = await checkTextLock(catalog, lock);
    expect(errors).toEqual([]);
    expect(
      newVersions.map((v) => v.version),
      'new consent text versions: run `npm run texts:lock` and commit catalog/texts.lock.json',
    ).toEqual([]);
  });

  describe.each(['marketing', 'transactional'])('the current %s consent text', (purpose) => {
    it.each(['de', 'en'])(
      'in %s names business, purpose, channel, privacy policy and how to stop',
      async (loc) => {
        const { text } = await consentText(catalog, purpose, loc);
        expect(text).toContain('Beispiel GmbH');
        expect(text).toContain(catalog.purposes[purpose]?.label[loc]);
        expect(text).toContain('WhatsApp');
        expect(text).toContain('https://example.com/datenschutz');
        expect(text).toContain(loc === 'de' ? 'STOPP' : 'STOP');
        expect(text).not.toMatch(/[{}]/);
      },
    );
  });

  it('quotes a stop word in each locale that really opts out of everything', () => {
    for (const loc of catalog.locales) {
      const word = catalog.stopKeyword[loc] ?? '';
      expect(matcher.reply(word), word).toMatchObject({ action: 'opt_out', purposes: 'all' });
    }
  });

  it('asks for a confirmation word that the keyword catalog accepts', () => {
    const de = message(catalog, 'doiRequest', 'de', { purposes: 'x' });
    const en = message(catalog, 'doiRequest', 'en', { purposes: 'x' });
    expect(de).toContain('JA');
    expect(en).toContain('YES');
    expect(matcher.reply('JA')?.action).toBe('confirm');
    expect(matcher.reply('YES')?.action).toBe('confirm');
  });

  it('offers START after an opt-out, which the keyword catalog reads as an opt-in', () => {
    expect(message(catalog, 'optOutConfirmed', 'en', { purposes: 'x' })).toContain('START');
    expect(matcher.reply('START')?.action).toBe('opt_in');
  });

  it('uses only purposes that exist in the keyword catalog', () => {
    for (const p of namedPurposes(keywords)) expect(purposeIds(catalog)).toContain(p);
  });

  it('renders every message in every locale', () => {
    for (const key of Object.keys(catalog.messages) as (keyof TextCatalog['messages'])[]) {
      for (const loc of catalog.locales) {
        expect(message(catalog, key, loc, { purposes: purposeList(catalog, 'all', loc) })).not.toMatch(
          /[{}]/,
        );
      }
    }
  });

  it('says "Sie wurden abgemeldet" when a German speaker opts out', () => {
    const text = message(catalog, 'optOutConfirmed', 'de', {
      purposes: purposeList(catalog, ['marketing'], 'de'),
    });
    expect(text).toBe(
      'Sie wurden abgemeldet. Beispiel GmbH sendet Ihnen keine Angebote und Neuigkeiten mehr per WhatsApp. ' +
        'Mit START können Sie sich erneut anmelden.',
    );
  });
});

describe('renderTemplate', () => {
  it('fills placeholders', () => {
    expect(
      renderTemplate('Hi {business}, reply {stopKeyword}.', { business: 'B', stopKeyword: 'STOP' }),
    ).toBe('Hi B, reply STOP.');
    expect(renderTemplate('{a}{a}', { a: 'x' })).toBe('xx');
    expect(renderTemplate('no placeholders', {})).toBe('no placeholders');
  });

  it('rejects a placeholder without a value', () => {
    expect(() => renderTemplate('Hi {name}', {})).toThrow(/unknown placeholder \{name\}/);
    expect(() => renderTemplate('{constructor}', {})).toThrow(CatalogError);
  });

  it('never re-renders inserted values', () => {
    expect(renderTemplate('{a}', { a: '{b}', b: 'no' })).toBe('{b}');
  });

  it('leaves braces that are not placeholders alone', () => {
    expect(renderTemplate('{ } {1} {} {-x}', {})).toBe('{ } {1} {} {-x}');
  });
});

describe('sha256Hex', () => {
  it.each([
    ['', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ['abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
    ['Grüße 👋', '3745eff80308b1845900bac669c482402d94dcfcff0af891450dc1ff582d8d40'],
  ])('%j', async (input, hex) => {
    expect(await sha256Hex(input)).toBe(hex);
  });
});

describe('consentText', () => {
  it('returns the current version, rendered and hashed', async () => {
    const t = await consentText(catalog, 'marketing', 'de');
    expect(t).toMatchObject({ version: 'marketing-de-1', purpose: 'marketing', locale: 'de' });
    expect(
      t.text.startsWith('Ich willige ein, dass mir Beispiel GmbH Angebote und Neuigkeiten per WhatsApp'),
    ).toBe(true);
    expect(t.sha256).toBe(await sha256Hex(t.text));
    expect(t.sha256).toBe(lock.versions['marketing-de-1']);
  });

  it('returns a named older version', async () => {
    const c = loadTextCatalog(
      variant((c) => {
        const en = c.consentTexts.marketing?.en;
        if (!en) throw new Error('fixture');
        en.versions['marketing-en-2'] = `${en.versions['marketing-en-1']} (v2)`;
        en.current = 'marketing-en-2';
      }),
    );
    expect((await consentText(c, 'marketing', 'en')).version).toBe('marketing-en-2');
    const old = await consentText(c, 'marketing', 'en', 'marketing-en-1');
    expect(old.sha256).toBe(lock.versions['marketing-en-1']);
  });

  it.each([
    ['an unknown purpose', 'newsletter', 'de', undefined, 'UNKNOWN_PURPOSE'],
    ['a prototype key as purpose', 'constructor', 'de', undefined, 'UNKNOWN_PURPOSE'],
    ['an unknown locale', 'marketing', 'fr', undefined, 'UNKNOWN_LOCALE'],
    ['an unresolved locale', 'marketing', 'de-AT', undefined, 'UNKNOWN_LOCALE'],
    ['an unknown version', 'marketing', 'de', 'marketing-de-9', 'UNKNOWN_TEXT_VERSION'],
    ["another locale's version", 'marketing', 'de', 'marketing-en-1', 'UNKNOWN_TEXT_VERSION'],
    ["another purpose's version", 'marketing', 'de', 'transactional-de-1', 'UNKNOWN_TEXT_VERSION'],
  ])('rejects %s', async (_name, purpose, loc, version, code) => {
    expect(await codeOf(() => consentText(catalog, purpose, loc, version))).toBe(code);
  });

  it('is found by version id alone', async () => {
    expect(await findConsentText(catalog, 'transactional-en-1')).toEqual(
      await consentText(catalog, 'transactional', 'en'),
    );
    expect(await findConsentText(catalog, 'nope-1')).toBeNull();
    expect(await findConsentText(catalog, 'constructor')).toBeNull();
  });
});

describe('message', () => {
  it('fills catalog values and caller values', () => {
    expect(message(catalog, 'optOutHint', 'de')).toBe('Abmelden: STOPP antworten');
    expect(message(catalog, 'optOutHint', 'en')).toBe('Reply STOP to unsubscribe');
    expect(message(catalog, 'privacyNotice', 'de')).toBe(
      'Informationen zum Datenschutz bei Beispiel GmbH: https://example.com/datenschutz',
    );
  });

  it('needs the caller to supply {purposes}', () => {
    expect(() => message(catalog, 'optInConfirmed', 'en')).toThrow(/\{purposes\}/);
  });

  it('rejects an unknown locale and a missing optional message', async () => {
    expect(await codeOf(() => message(catalog, 'optOutHint', 'fr'))).toBe('UNKNOWN_LOCALE');
    const c = loadTextCatalog(variant((c) => delete c.messages.alreadyOptedOut));
    expect(await codeOf(() => message(c, 'alreadyOptedOut', 'de', { purposes: 'x' }))).toBe(
      'UNKNOWN_MESSAGE',
    );
  });
});

describe('resolveLocale', () => {
  it.each([
    ['de', 'de'],
    ['en', 'en'],
    ['de-AT', 'de'],
    ['de_CH', 'de'],
    ['EN-gb', 'en'],
    [' en ', 'en'],
    ['fr', 'de'],
    ['fr-FR', 'de'],
    ['', 'de'],
    [null, 'de'],
    [undefined, 'de'],
    ['constructor', 'de'],
  ])('%j → %s', (wanted, expected) => {
    expect(resolveLocale(catalog, wanted)).toBe(expected);
  });

  it('prefers an exact regional locale when the catalog has one', () => {
    const c = { ...catalog, locales: ['de', 'de-AT', 'en'] };
    expect(resolveLocale(c, 'de-at')).toBe('de-AT');
    expect(resolveLocale(c, 'de-CH')).toBe('de');
  });
});

describe('purposeList and doiRequestMessage', () => {
  it('joins labels in the language of the locale', () => {
    expect(purposeList(catalog, ['marketing'], 'en')).toBe('offers and news');
    expect(purposeList(catalog, 'all', 'de')).toBe(
      'Angebote und Neuigkeiten und Bestell- und Servicenachrichten',
    );
    expect(purposeList(catalog, ['transactional', 'marketing'], 'en')).toBe(
      'order and service messages and offers and news',
    );
    expect(() => purposeList(catalog, ['newsletter'], 'en')).toThrow(CatalogError);
  });

  it('asks for JA and includes the exact wording of every requested purpose', async () => {
    const { text, consents } = await doiRequestMessage(catalog, ['marketing', 'transactional'], 'de');
    expect(consents.map((c) => c.version)).toEqual(['marketing-de-1', 'transactional-de-1']);
    expect(text).toBe(
      [
        message(catalog, 'doiRequest', 'de', { purposes: purposeList(catalog, 'all', 'de') }),
        ...consents.map((c) => c.text),
      ].join('\n\n'),
    );
    expect(text).toContain('JA');
    expect(text).toContain('Angebote und Neuigkeiten und Bestell- und Servicenachrichten');
  });

  it('uses a requested version per purpose', async () => {
    const c = loadTextCatalog(
      variant((c) => {
        const de = c.consentTexts.marketing?.de;
        if (!de) throw new Error('fixture');
        de.versions['marketing-de-2'] = `${de.versions['marketing-de-1']} Neu.`;
        de.current = 'marketing-de-2';
      }),
    );
    const { consents } = await doiRequestMessage(c, ['marketing'], 'de', { marketing: 'marketing-de-1' });
    expect(consents[0]?.version).toBe('marketing-de-1');
  });
});

describe('loadTextCatalog validation', () => {
  it.each<[string, (c: TextCatalog) => void, RegExp]>([
    ['an unknown field', (c) => Object.assign(c, { extra: 1 }), /Unrecognized key/],
    ['an http privacy link', (c) => (c.business.privacyPolicyUrl = 'http://example.com'), /privacyPolicyUrl/],
    [
      'a default locale outside locales',
      (c) => (c.defaultLocale = 'fr'),
      /defaultLocale must be one of locales/,
    ],
    ['a locale listed twice', (c) => c.locales.push('de'), /listed twice/],
    ['a label missing a locale', (c) => delete c.purposes.marketing?.label.en, /missing locale "en"/],
    [
      'a label in an undeclared locale',
      (c) => Object.assign(c.stopKeyword, { fr: 'STOP' }),
      /not one of locales/,
    ],
    ['a message missing a locale', (c) => delete c.messages.optOutHint.de, /missing locale "de"/],
    [
      'optional message missing a locale',
      (c) => delete c.messages.alreadyOptedOut?.en,
      /missing locale "en"/,
    ],
    ['a purpose without consent texts', (c) => delete c.consentTexts.transactional, /missing purpose/],
    ['consent texts for an unknown purpose', (c) => delete c.purposes.transactional, /not a purpose/],
    ['consent texts missing a locale', (c) => delete c.consentTexts.marketing?.en, /missing locale "en"/],
    [
      'a current version that does not exist',
      (c) => Object.assign(c.consentTexts.marketing?.de ?? {}, { current: 'marketing-de-7' }),
      /"marketing-de-7" is not in versions/,
    ],
    [
      'a version id used twice',
      (c) => Object.assign(c.consentTexts.transactional?.de?.versions ?? {}, { 'marketing-de-1': 'x' }),
      /version id "marketing-de-1" is used twice/,
    ],
    [
      'an unknown placeholder in a consent text',
      (c) =>
        Object.assign(c.consentTexts.marketing?.en?.versions ?? {}, { 'marketing-en-1': '{business} {who}' }),
      /unknown placeholder \{who\}/,
    ],
    [
      'a consent text without a way to stop',
      (c) =>
        Object.assign(c.consentTexts.marketing?.en?.versions ?? {}, {
          'marketing-en-1': '{business} WhatsApp {privacyPolicyUrl}',
        }),
      /must use the placeholder \{stopKeyword\}/,
    ],
    [
      'a DOI request that does not name the purposes',
      (c) => (c.messages.doiRequest.en = 'Reply YES'),
      /\{purposes\}/,
    ],
    [
      'an opt-out hint without the stop word',
      (c) => (c.messages.optOutHint.de = 'Abmelden'),
      /\{stopKeyword\}/,
    ],
    [
      'a DOI template missing a locale',
      (c) => (c.doiTemplate = { name: 'consent_request', language: { de: 'de' } }),
      /missing locale "en"/,
    ],
  ])('rejects %s', (_name, change, why) => {
    const json = variant(change);
    expect(() => loadTextCatalog(json)).toThrow(CatalogError);
    expect(() => loadTextCatalog(json)).toThrow(why);
  });

  it('accepts a DOI template covering every locale', () => {
    const json = variant(
      (c) => (c.doiTemplate = { name: 'consent_request', language: { de: 'de', en: 'en_US' } }),
    );
    expect(loadTextCatalog(json).doiTemplate?.name).toBe('consent_request');
  });
});

describe('checkTextLock', () => {
  it('rejects an edit to a released version', async () => {
    const c = loadTextCatalog(
      variant((c) => {
        const de = c.consentTexts.marketing?.de;
        if (de) de.versions['marketing-de-1'] = `${de.versions['marketing-de-1']} `;
      }),
    );
    expect((await checkTextLock(c, lock)).errors).toEqual([
      'text version marketing-de-1 was already released and is immutable; add a new version instead',
    ]);
  });

  it('treats a change of business name as a change of every released wording', async () => {
    const c = loadTextCatalog(variant((c) => (c.business.name = 'Andere AG')));
    expect((await checkTextLock(c, lock)).errors).toHaveLength(4);
  });

  it('rejects removing a released version', async () => {
    const withExtra = { versions: { ...lock.versions, 'marketing-de-0': 'a'.repeat(64) } };
    expect((await checkTextLock(catalog, withExtra)).errors).toEqual([
      'text version marketing-de-0 was released and must stay in the catalog: consents given under it cite it',
    ]);
  });

  it('reports versions missing from the lock as new, with their hashes', async () => {
    const { 'transactional-en-1': _dropped, ...rest } = lock.versions;
    const { errors, newVersions } = await checkTextLock(catalog, { versions: rest });
    expect(errors).toEqual([]);
    expect(newVersions).toEqual([
      { version: 'transactional-en-1', sha256: lock.versions['transactional-en-1'] },
    ]);
  });
});
