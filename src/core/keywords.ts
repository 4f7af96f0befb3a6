import { z } from 'zod';

/**
 * Keyword matching for inbound WhatsApp replies (Art. 7(3): withdrawing must be as easy as consenting).
 * The words live in `catalog/keywords.json`; this file validates them, builds a lookup index once,
 * and matches a reply only when the whole reply is a keyword.
 */

const purposeId = z.string().regex(/^[a-z][a-z0-9_]{0,39}$/, 'purpose ids are lower-case snake_case');
const purposes = z.union([z.literal('all'), z.array(purposeId).min(1)]);
const locale = z.string().regex(/^[a-z]{2,3}(?:-[A-Z]{2})?$/, 'locales look like "de" or "de-AT"');
const keywordsByLocale = z
  .record(locale, z.array(z.string().min(1).max(64)).min(1))
  .refine((k) => Object.keys(k).length > 0, 'at least one locale');
const group = z.strictObject({ purposes, keywords: keywordsByLocale });
const button = z.strictObject({
  action: z.enum(['confirm', 'opt_out', 'opt_in']),
  purposes: purposes.optional(),
});

/** Schema of `catalog/keywords.json`. Strict: a misspelt field is an error, not silently ignored. */
export const keywordCatalogSchema = z.strictObject({
  optOut: z.array(group).min(1),
  /** START and friends: the caller re-subscribes through a new double opt-in, never directly. */
  optIn: z.array(group),
  confirm: z.strictObject({ keywords: keywordsByLocale }),
  /** Quick-reply payloads and interactive `button_reply` ids; WhatsApp caps ids at 256 characters. */
  buttons: z.record(z.string().min(1).max(256), button),
  /** asking to be forgotten (Art. 17): answered with a confirmation question and two buttons */
  erasure: z
    .strictObject({
      keywords: keywordsByLocale,
      confirmButton: z.string().min(1).max(256),
      cancelButton: z.string().min(1).max(256),
    })
    .optional(),
});

export type KeywordCatalog = z.infer<typeof keywordCatalogSchema>;
export type KeywordAction = 'opt_out' | 'opt_in' | 'confirm';
/** The purposes a reply is about: every purpose, or the listed ones. */
export type PurposeScope = 'all' | string[];

export interface KeywordMatch {
  action: KeywordAction;
  purposes: PurposeScope;
  /** the first locale of the catalog entry that lists this keyword */
  locale: string;
  /** the keyword as normalised by {@link normalizeReply} */
  keyword: string;
}

export interface ButtonMatch {
  action: KeywordAction;
  purposes: PurposeScope;
  /** the payload or button id exactly as received */
  id: string;
}

export interface KeywordMatcher {
  /** The match when the whole reply is a keyword, else null. */
  reply(text: string): KeywordMatch | null;
  /** The match for a quick-reply payload or `button_reply` id (exact, case-sensitive), else null. */
  button(id: string): ButtonMatch | null;
  /** Every normalised keyword in the index. */
  keywords(): string[];
}

export interface CompileOptions {
  /**
   * What to do when one keyword has two readings (e.g. `stop` as opt-out and as opt-in):
   * `error` (default) rejects the catalog; `resolve` keeps the less permissive reading.
   */
  conflicts?: 'error' | 'resolve';
}

/** A catalog that cannot be compiled; the message names the offending keyword. */
export class KeywordCatalogError extends Error {
  override name = 'KeywordCatalogError';
}

const MARKS = /\p{M}/gu;
// Everything but letters and digits (emoji, symbols, punctuation, whitespace) separates words.
const NON_WORD = /[^\p{L}\p{N}]+/gu;
// Turkish dotless ı has no decomposition; folding it lets a lower-case "çık" match "ÇIK".
const DOTLESS_I = /ı/g;

/**
 * Normalises a reply (or a keyword) for matching: NFKC, locale-independent lower case, diacritics
 * removed (so ARRÊT = ARRET, SÍ = SI), everything but letters and digits turned into single spaces,
 * trimmed. Diacritics are removed for matching only; catalogs and texts keep their spelling.
 *
 * @example
 * normalizeReply('  Arrêt!!! 🛑 '); // → 'arret'
 * normalizeReply('STOP-Werbung');    // → 'stop werbung'
 */
export function normalizeReply(text: string): string {
  return ASCII_ONLY.test(text) ? normalizeAscii(text) : normalizeUnicode(text);
}

const ASCII_ONLY = /^\p{ASCII}*$/u;
const NON_WORD_ASCII = /[^a-z0-9]+/g;

/**
 * The same result as {@link normalizeUnicode} for text that is all ASCII (most replies): ASCII is
 * unchanged by NFKC, NFD and NFC, has no combining marks and no dotless ı, and its letters and digits
 * after lower-casing are a–z and 0–9 (keywords.test.ts checks both paths agree on any ASCII text).
 */
export function normalizeAscii(text: string): string {
  return text.toLowerCase().replace(NON_WORD_ASCII, ' ').trim();
}

/** {@link normalizeReply} for any text. */
export function normalizeUnicode(text: string): string {
  return (
    text
      .normalize('NFKC')
      // toLowerCase uses the Unicode default mapping, never the host's locale (no Turkish-I surprise).
      .toLowerCase()
      .normalize('NFD')
      .replace(MARKS, '')
      .replace(DOTLESS_I, 'i')
      .replace(NON_WORD, ' ')
      .trim()
      // Recompose what NFD split without a mark (e.g. Hangul) so keywords stay readable.
      .normalize('NFC')
  );
}

type Entry = Omit<KeywordMatch, 'keyword'>;

// Less permissive first: an opt-out never loses to a reading that would keep or grant consent.
const RANK: Record<KeywordAction, number> = { opt_out: 0, opt_in: 1, confirm: 2 };

/**
 * Validates a catalog and builds its lookup index (one Map, O(1) per reply).
 * Throws {@link KeywordCatalogError} when a keyword is empty once normalised, or when the same
 * normalised keyword has two readings (different actions, or opt-outs for different purposes).
 *
 * @example
 * const matcher = compileKeywords(keywordCatalogSchema.parse(json));
 * matcher.reply('Stop!!! 🛑');      // → { action: 'opt_out', purposes: 'all', locale: 'de', keyword: 'stop' }
 * matcher.button('CONSENT_CONFIRM'); // → { action: 'confirm', purposes: 'all', id: 'CONSENT_CONFIRM' }
 */
export function compileKeywords(catalog: KeywordCatalog, options: CompileOptions = {}): KeywordMatcher {
  const index = new Map<string, Entry>();
  const add = (raw: string, entry: Entry, where: string): void => {
    const keyword = normalizeReply(raw);
    if (keyword === '') throw new KeywordCatalogError(`keyword "${raw}" (${where}) is empty once normalised`);
    const seen = index.get(keyword);
    if (!seen) index.set(keyword, entry);
    else if (!sameReading(seen, entry)) {
      if (options.conflicts !== 'resolve') {
        throw new KeywordCatalogError(
          `keyword "${keyword}" (${where}) means both ${describe(seen)} and ${describe(entry)}`,
        );
      }
      index.set(keyword, lessPermissive(seen, entry));
    }
  };
  const addGroups = (name: string, action: KeywordAction, groups: KeywordCatalog['optOut']): void => {
    groups.forEach((g, i) => {
      for (const [loc, words] of Object.entries(g.keywords)) {
        for (const w of words) add(w, { action, purposes: g.purposes, locale: loc }, `${name}[${i}].${loc}`);
      }
    });
  };
  // Opt-outs are indexed first so that, within a reading, the first-listed locale is kept.
  addGroups('optOut', 'opt_out', catalog.optOut);
  addGroups('optIn', 'opt_in', catalog.optIn);
  addGroups('confirm', 'confirm', [{ purposes: 'all', keywords: catalog.confirm.keywords }]);

  // A Map, not the parsed object: ids such as "constructor" must not hit Object.prototype.
  const buttons = new Map(
    Object.entries(catalog.buttons).map(([id, b]) => [
      id,
      { action: b.action, purposes: b.purposes ?? 'all' },
    ]),
  );

  return {
    reply(text) {
      const keyword = normalizeReply(text);
      const e = index.get(keyword);
      return e ? { action: e.action, purposes: copy(e.purposes), locale: e.locale, keyword } : null;
    },
    button(id) {
      const b = buttons.get(id);
      return b ? { action: b.action, purposes: copy(b.purposes), id } : null;
    },
    keywords: () => [...index.keys()],
  };
}

const compiled = new WeakMap<KeywordCatalog, KeywordMatcher>();

function matcherFor(catalog: KeywordCatalog): KeywordMatcher {
  let m = compiled.get(catalog);
  if (!m) {
    m = compileKeywords(catalog);
    compiled.set(catalog, m);
  }
  return m;
}

/**
 * Matches a reply against a catalog; the index is compiled on first use and cached per catalog.
 *
 * @example
 * matchReply('  STOP. ', catalog);            // → { action: 'opt_out', purposes: 'all', … }
 * matchReply('please stop sending', catalog); // → null
 */
export function matchReply(text: string, catalog: KeywordCatalog): KeywordMatch | null {
  return matcherFor(catalog).reply(text);
}

/**
 * Matches a quick-reply payload or interactive `button_reply` id exactly (case-sensitive).
 *
 * @example
 * matchButton('OPT_OUT_MARKETING', catalog); // → { action: 'opt_out', purposes: ['marketing'], id: 'OPT_OUT_MARKETING' }
 */
export function matchButton(id: string, catalog: KeywordCatalog): ButtonMatch | null {
  return matcherFor(catalog).button(id);
}

/**
 * Every purpose id the catalog names, so startup can check them against the text catalog.
 *
 * @example
 * namedPurposes(catalog); // → ['marketing']
 */
export function namedPurposes(catalog: KeywordCatalog): string[] {
  const scopes = [...catalog.optOut, ...catalog.optIn, ...Object.values(catalog.buttons)].map(
    (g) => g.purposes,
  );
  return [...new Set(scopes.flatMap((p) => (Array.isArray(p) ? p : [])))];
}

function sameReading(a: Entry, b: Entry): boolean {
  return a.action === b.action && scopeKey(a.purposes) === scopeKey(b.purposes);
}

function lessPermissive(a: Entry, b: Entry): Entry {
  if (a.action === 'opt_out' && b.action === 'opt_out') {
    // Two opt-outs: withdraw from everything either one names.
    const merged: PurposeScope =
      a.purposes === 'all' || b.purposes === 'all'
        ? 'all'
        : [...new Set([...a.purposes, ...b.purposes])].sort();
    return { ...a, purposes: merged };
  }
  return RANK[b.action] < RANK[a.action] ? b : a;
}

function scopeKey(p: PurposeScope): string {
  return p === 'all' ? 'all' : [...p].sort().join(',');
}

function describe(e: Entry): string {
  return `${e.action} (${e.purposes === 'all' ? 'all purposes' : e.purposes.join(', ')})`;
}

// Callers get their own array so no one can edit the shared index through a match.
function copy(p: PurposeScope): PurposeScope {
  return p === 'all' ? 'all' : [...p];
}
