import { z } from 'zod';

/**
 * Purposes, consent wording and WhatsApp messages as versioned data (`catalog/texts.json`).
 * Art. 7(1): we must prove the exact wording a person agreed to, so a consent text is addressed by
 * an immutable version id and hashed after rendering; `texts.lock.json` pins released hashes.
 */

const localeId = z.string().regex(/^[a-z]{2,3}(?:-[A-Z]{2})?$/, 'locales look like "de" or "de-AT"');
const purposeId = z.string().regex(/^[a-z][a-z0-9_]{0,39}$/, 'purpose ids are lower-case snake_case');
const versionId = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'version ids look like "marketing-de-1"');
// 4096 is WhatsApp's limit for a text body.
const byLocale = z.record(localeId, z.string().min(1).max(4096));
const textVersions = z.strictObject({ current: versionId, versions: z.record(versionId, z.string().min(1)) });

/** Placeholders a consent text may (and must) use: it has to name who, how to stop and where to read more. */
const CONSENT_VARS = ['business', 'privacyPolicyUrl', 'stopKeyword'] as const;
/** Placeholders messages may use, and the ones each message cannot do without. */
const MESSAGE_VARS = ['business', 'privacyPolicyUrl', 'stopKeyword', 'purposes'];
const MESSAGE_NEEDS: Partial<Record<MessageKey, string[]>> = {
  doiRequest: ['purposes'],
  optOutHint: ['stopKeyword'],
  privacyNotice: ['privacyPolicyUrl'],
};

const PLACEHOLDER = /\{([A-Za-z][A-Za-z0-9_]*)\}/g;

/** Schema of `catalog/texts.json`: strict, and every purpose and message covers every locale. */
export const textCatalogSchema = z
  .strictObject({
    business: z.strictObject({
      name: z.string().min(1).max(200),
      privacyPolicyUrl: z.url({ protocol: /^https$/ }),
    }),
    defaultLocale: localeId,
    locales: z.array(localeId).min(1),
    /** the opt-out word quoted to people in each locale; it must be an opt-out keyword */
    stopKeyword: byLocale,
    purposes: z.record(purposeId, z.strictObject({ label: byLocale })),
    consentTexts: z.record(purposeId, z.record(localeId, textVersions)),
    messages: z.strictObject({
      doiRequest: byLocale,
      optInConfirmed: byLocale,
      optOutConfirmed: byLocale,
      optOutHint: byLocale,
      privacyNotice: byLocale,
      alreadyOptedOut: byLocale.optional(),
      /** asked when a person writes an erasure keyword; sent with two buttons */
      erasureQuestion: byLocale.optional(),
      erasureConfirmButton: byLocale.optional(),
      erasureCancelButton: byLocale.optional(),
    }),
    doiTemplate: z.union([
      z.null(),
      z.strictObject({ name: z.string().regex(/^[a-z0-9_]{1,512}$/), language: byLocale }),
    ]),
  })
  .superRefine((c, ctx) => {
    const issue = (path: PropertyKey[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    if (new Set(c.locales).size !== c.locales.length) issue(['locales'], 'locales are listed twice');
    if (!c.locales.includes(c.defaultLocale))
      issue(['defaultLocale'], 'defaultLocale must be one of locales');
    const coversLocales = (path: PropertyKey[], map: Record<string, unknown>) => {
      for (const l of c.locales) if (!Object.hasOwn(map, l)) issue(path, `missing locale "${l}"`);
      for (const l of Object.keys(map)) if (!c.locales.includes(l)) issue([...path, l], 'not one of locales');
    };
    const placeholders = (
      path: PropertyKey[],
      template: string,
      allowed: readonly string[],
      needed = allowed,
    ) => {
      const used = new Set(Array.from(template.matchAll(PLACEHOLDER), (m) => m[1] ?? ''));
      for (const u of used) if (!allowed.includes(u)) issue(path, `unknown placeholder {${u}}`);
      for (const n of needed) if (!used.has(n)) issue(path, `must use the placeholder {${n}}`);
    };

    coversLocales(['stopKeyword'], c.stopKeyword);
    if (c.doiTemplate) coversLocales(['doiTemplate', 'language'], c.doiTemplate.language);
    for (const [p, { label }] of Object.entries(c.purposes)) coversLocales(['purposes', p, 'label'], label);
    for (const [key, texts] of Object.entries(c.messages)) {
      if (!texts) continue;
      coversLocales(['messages', key], texts);
      const needs = MESSAGE_NEEDS[key as MessageKey] ?? [];
      for (const [l, t] of Object.entries(texts)) placeholders(['messages', key, l], t, MESSAGE_VARS, needs);
    }

    const seenVersions = new Set<string>();
    for (const p of Object.keys(c.purposes)) {
      if (!Object.hasOwn(c.consentTexts, p)) issue(['consentTexts'], `missing purpose "${p}"`);
    }
    for (const [p, byLoc] of Object.entries(c.consentTexts)) {
      if (!Object.hasOwn(c.purposes, p)) issue(['consentTexts', p], 'not a purpose');
      coversLocales(['consentTexts', p], byLoc);
      for (const [l, t] of Object.entries(byLoc)) {
        if (!Object.hasOwn(t.versions, t.current)) {
          issue(['consentTexts', p, l, 'current'], `"${t.current}" is not in versions`);
        }
        for (const [v, text] of Object.entries(t.versions)) {
          // Version ids are unique across the file so one id names exactly one wording in the ledger.
          if (seenVersions.has(v))
            issue(['consentTexts', p, l, 'versions', v], `version id "${v}" is used twice`);
          seenVersions.add(v);
          placeholders(['consentTexts', p, l, 'versions', v], text, CONSENT_VARS);
        }
      }
    }
  });

export type TextCatalog = z.infer<typeof textCatalogSchema>;
export type MessageKey = keyof TextCatalog['messages'];

/** Schema of `catalog/texts.lock.json`: version id → SHA-256 of its rendered text. */
export const textLockSchema = z.strictObject({
  $comment: z.string().optional(),
  versions: z.record(versionId, z.string().regex(/^[0-9a-f]{64}$/)),
});
export type TextLock = z.infer<typeof textLockSchema>;

/** One consent wording exactly as shown, with what the ledger records about it. */
export interface ConsentText {
  version: string;
  purpose: string;
  locale: string;
  text: string;
  /** hex SHA-256 of the UTF-8 of `text` */
  sha256: string;
}

export type CatalogErrorCode =
  | 'INVALID_CATALOG'
  | 'UNKNOWN_PURPOSE'
  | 'UNKNOWN_LOCALE'
  | 'UNKNOWN_TEXT_VERSION'
  | 'UNKNOWN_MESSAGE'
  | 'TEMPLATE_ERROR';

/** A bad catalog, or a request for a purpose, locale, version or message the catalog lacks. */
export class CatalogError extends Error {
  override name = 'CatalogError';
  readonly code: CatalogErrorCode;
  constructor(code: CatalogErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * Validates `texts.json` (shape, locale coverage, versions, placeholders) and returns it typed.
 *
 * @example
 * const catalog = loadTextCatalog(JSON.parse(await readFile('catalog/texts.json', 'utf8')));
 */
export function loadTextCatalog(json: unknown): TextCatalog {
  const r = textCatalogSchema.safeParse(json);
  if (!r.success)
    throw new CatalogError('INVALID_CATALOG', `texts catalog is invalid:\n${z.prettifyError(r.error)}`);
  return r.data;
}

/**
 * Fills `{name}` placeholders in one pass (inserted values are never re-scanned).
 * A placeholder without a value is an error: a half-rendered message must never be sent.
 *
 * @example
 * renderTemplate('Reply {stopKeyword}', { stopKeyword: 'STOP' }); // → 'Reply STOP'
 */
export function renderTemplate(template: string, vars: Readonly<Record<string, string>>): string {
  return template.replace(PLACEHOLDER, (_, name: string) => {
    const value = Object.hasOwn(vars, name) ? vars[name] : undefined;
    if (value === undefined) throw new CatalogError('TEMPLATE_ERROR', `unknown placeholder {${name}}`);
    return value;
  });
}

/**
 * Hex SHA-256 of the UTF-8 bytes of a string, through Web Crypto (Node and Workers alike).
 *
 * @example
 * await sha256Hex('abc'); // → 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
 */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * The catalog's purpose ids, in file order.
 *
 * @example
 * purposeIds(catalog); // → ['marketing', 'transactional']
 */
export function purposeIds(catalog: TextCatalog): string[] {
  return Object.keys(catalog.purposes);
}

/**
 * Picks the catalog locale for a wanted one: exact tag, then its language, then the default.
 *
 * @example
 * resolveLocale(catalog, 'de-AT'); // → 'de'
 * resolveLocale(catalog, 'fr');    // → 'de' (defaultLocale)
 */
export function resolveLocale(catalog: TextCatalog, wanted?: string | null): string {
  const tag = (wanted ?? '').trim().replaceAll('_', '-').toLowerCase();
  const find = (t: string) => catalog.locales.find((l) => l.toLowerCase() === t);
  return find(tag) ?? find(tag.split('-')[0] ?? '') ?? catalog.defaultLocale;
}

/**
 * The exact consent wording for a purpose and locale (the current version unless one is named),
 * rendered and hashed as the ledger records it.
 *
 * @example
 * await consentText(catalog, 'marketing', 'de');
 * // → { version: 'marketing-de-1', purpose: 'marketing', locale: 'de', text: 'Ich willige ein, …', sha256: '…' }
 */
export async function consentText(
  catalog: TextCatalog,
  purpose: string,
  locale: string,
  version?: string | null,
): Promise<ConsentText> {
  const byLoc = own(catalog.consentTexts, purpose);
  if (!byLoc) throw new CatalogError('UNKNOWN_PURPOSE', `unknown purpose "${purpose}"`);
  const texts = own(byLoc, locale);
  if (!texts) throw new CatalogError('UNKNOWN_LOCALE', `unknown locale "${locale}"`);
  const id = version ?? texts.current;
  const template = own(texts.versions, id);
  if (template === undefined) {
    throw new CatalogError(
      'UNKNOWN_TEXT_VERSION',
      `text version "${id}" is not a ${purpose} text in ${locale}`,
    );
  }
  const text = renderTemplate(template, baseVars(catalog, locale));
  return { version: id, purpose, locale, text, sha256: await sha256Hex(text) };
}

/**
 * Looks a consent text up by version id alone (ids are unique across the catalog), e.g. to show
 * the wording behind a ledger event. Null when the catalog has no such version.
 *
 * @example
 * await findConsentText(catalog, 'marketing-en-1'); // → { version: 'marketing-en-1', locale: 'en', … }
 */
export async function findConsentText(catalog: TextCatalog, version: string): Promise<ConsentText | null> {
  for (const [purpose, byLoc] of Object.entries(catalog.consentTexts)) {
    for (const [locale, texts] of Object.entries(byLoc)) {
      if (Object.hasOwn(texts.versions, version)) return consentText(catalog, purpose, locale, version);
    }
  }
  return null;
}

/**
 * Renders a message for a locale. `business`, `privacyPolicyUrl` and `stopKeyword` come from the
 * catalog; the caller supplies the rest (e.g. `purposes`, see {@link purposeList}).
 *
 * @example
 * message(catalog, 'optOutHint', 'de'); // → 'Abmelden: STOPP antworten'
 */
export function message(
  catalog: TextCatalog,
  key: MessageKey,
  locale: string,
  vars: Readonly<Record<string, string>> = {},
): string {
  if (!catalog.locales.includes(locale))
    throw new CatalogError('UNKNOWN_LOCALE', `unknown locale "${locale}"`);
  const template = catalog.messages[key]?.[locale];
  if (template === undefined)
    throw new CatalogError('UNKNOWN_MESSAGE', `the catalog has no "${key}" message`);
  return renderTemplate(template, { ...baseVars(catalog, locale), ...vars });
}

/**
 * The purposes' labels joined as a list in the locale's language.
 *
 * @example
 * purposeList(catalog, ['marketing', 'transactional'], 'de');
 * // → 'Angebote und Neuigkeiten und Bestell- und Servicenachrichten'
 */
export function purposeList(
  catalog: TextCatalog,
  purposes: readonly string[] | 'all',
  locale: string,
): string {
  const ids = purposes === 'all' ? purposeIds(catalog) : purposes;
  const labels = ids.map((p) => {
    const purpose = own(catalog.purposes, p);
    const label = purpose && own(purpose.label, locale);
    if (label === undefined)
      throw new CatalogError('UNKNOWN_PURPOSE', `no label for purpose "${p}" in ${locale}`);
    return label;
  });
  return new Intl.ListFormat(locale, { type: 'conjunction' }).format(labels);
}

/**
 * The double opt-in request: the `doiRequest` message, then each purpose's consent wording, so the
 * person sees exactly what they agree to. `consents` is what the ledger records per purpose.
 *
 * @example
 * const { text, consents } = await doiRequestMessage(catalog, ['marketing'], 'de');
 */
export async function doiRequestMessage(
  catalog: TextCatalog,
  purposes: readonly string[],
  locale: string,
  versions: Readonly<Record<string, string>> = {},
): Promise<{ text: string; consents: ConsentText[] }> {
  const consents = await Promise.all(
    purposes.map((p) => consentText(catalog, p, locale, Object.hasOwn(versions, p) ? versions[p] : null)),
  );
  const intro = message(catalog, 'doiRequest', locale, { purposes: purposeList(catalog, purposes, locale) });
  return { text: [intro, ...consents.map((c) => c.text)].join('\n\n'), consents };
}

/** What a lock check found: released versions that changed or vanished, and unreleased ones. */
export interface TextLockCheck {
  errors: string[];
  newVersions: { version: string; sha256: string }[];
}

/**
 * Compares every rendered consent text with the lock. A released version (one in the lock) must
 * keep its hash and stay in the catalog; versions not yet in the lock are reported as new.
 *
 * @example
 * const { errors, newVersions } = await checkTextLock(catalog, lock);
 */
export async function checkTextLock(catalog: TextCatalog, lock: TextLock): Promise<TextLockCheck> {
  const errors: string[] = [];
  const newVersions: TextLockCheck['newVersions'] = [];
  const rendered = new Map<string, string>();
  for (const [purpose, byLoc] of Object.entries(catalog.consentTexts)) {
    for (const [locale, texts] of Object.entries(byLoc)) {
      for (const version of Object.keys(texts.versions)) {
        const { sha256 } = await consentText(catalog, purpose, locale, version);
        rendered.set(version, sha256);
        const locked = own(lock.versions, version);
        if (locked === undefined) newVersions.push({ version, sha256 });
        else if (locked !== sha256) {
          errors.push(
            `text version ${version} was already released and is immutable; add a new version instead`,
          );
        }
      }
    }
  }
  for (const version of Object.keys(lock.versions)) {
    if (!rendered.has(version)) {
      errors.push(
        `text version ${version} was released and must stay in the catalog: consents given under it cite it`,
      );
    }
  }
  return { errors, newVersions };
}

function baseVars(catalog: TextCatalog, locale: string): Record<string, string> {
  const stopKeyword = own(catalog.stopKeyword, locale);
  if (stopKeyword === undefined) throw new CatalogError('UNKNOWN_LOCALE', `unknown locale "${locale}"`);
  return {
    business: catalog.business.name,
    privacyPolicyUrl: catalog.business.privacyPolicyUrl,
    stopKeyword,
  };
}

// Records parsed from JSON are plain objects: "constructor" must not resolve through the prototype.
function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}
