import { z } from 'zod';
import {
  consentText,
  loadTextCatalog,
  message,
  purposeIds,
  resolveLocale,
  type TextCatalog,
} from '../core/catalog.ts';
import {
  compileKeywords,
  type KeywordCatalog,
  type KeywordMatcher,
  keywordCatalogSchema,
  normalizeReply,
} from '../core/keywords.ts';
import type { Purpose, TextRow } from '../core/types.ts';

/** WhatsApp messages the product itself sends. */
export type ReplyMessage = 'doiRequest' | 'optInConfirmed' | 'optOutConfirmed' | 'erasureQuestion';

const templatesSchema = z.strictObject({
  $comment: z.string().optional(),
  templates: z.record(
    z.string().min(1).max(512),
    z.strictObject({
      purposes: z.array(z.string()).min(1),
      languages: z.record(z.string(), z.string()),
      includesOptOutHint: z.literal(true),
    }),
  ),
});
export type TemplateCatalog = z.infer<typeof templatesSchema>;

export type ResolvedText = Omit<TextRow, 'firstUsedAt'>;

/**
 * The validated catalog data (purposes, consent texts, keywords, templates) behind one object
 * the services use. Built once at start from the files under CATALOG_DIR.
 */
export class Catalog {
  readonly purposes: Purpose[];
  readonly keywords: KeywordMatcher;
  readonly texts: TextCatalog;
  private readonly templates: TemplateCatalog;
  private readonly keywordCatalog: KeywordCatalog;
  private readonly byVersion = new Map<string, { purpose: Purpose; locale: string }>();
  /** Normalised erasure keyword → its language and normalised form (built once, first listed wins). */
  private erasureIndex: Map<string, { locale: string; keyword: string }> | null = null;

  constructor(
    texts: TextCatalog,
    keywords: KeywordMatcher,
    templates: TemplateCatalog,
    keywordCatalog: KeywordCatalog,
  ) {
    this.keywordCatalog = keywordCatalog;
    this.texts = texts;
    this.keywords = keywords;
    this.templates = templates;
    this.purposes = purposeIds(texts);
    for (const [purpose, byLocale] of Object.entries(texts.consentTexts)) {
      for (const [locale, t] of Object.entries(byLocale)) {
        for (const version of Object.keys(t.versions)) this.byVersion.set(version, { purpose, locale });
      }
    }
  }

  /** Validates the three catalog files (parsed JSON); throws naming what is wrong. */
  static load(files: { texts: unknown; keywords: unknown; templates: unknown }): Catalog {
    const texts = loadTextCatalog(files.texts);
    const keywordCatalog = keywordCatalogSchema.parse(files.keywords);
    const keywords = compileKeywords(keywordCatalog);
    const templates = templatesSchema.parse(files.templates);
    const catalog = new Catalog(texts, keywords, templates, keywordCatalog);
    for (const [name, t] of Object.entries(templates.templates)) {
      const unknown = t.purposes.filter((p) => !catalog.purposes.includes(p));
      if (unknown.length)
        throw new Error(`templates.json: ${name} names unknown purposes ${unknown.join(', ')}`);
    }
    return catalog;
  }

  resolveLocale(wanted: string | null | undefined): string {
    return resolveLocale(this.texts, wanted ?? null);
  }

  textPurpose(version: string): Purpose | null {
    return this.byVersion.get(version)?.purpose ?? null;
  }

  /** The exact wording for a purpose: the given version when it is this purpose's, else the current one. */
  async consentText(purpose: Purpose, locale: string, version: string | null): Promise<ResolvedText> {
    const owner = version ? this.byVersion.get(version) : undefined;
    const useVersion = owner?.purpose === purpose ? version! : undefined;
    const loc = owner?.purpose === purpose ? owner.locale : locale;
    const t = await consentText(this.texts, purpose, loc, useVersion);
    return { version: t.version, purpose, locale: loc, text: t.text, sha256: t.sha256 };
  }

  async textById(version: string): Promise<ResolvedText | null> {
    const owner = this.byVersion.get(version);
    if (!owner) return null;
    const t = await consentText(this.texts, owner.purpose, owner.locale, version);
    return { version, purpose: owner.purpose, locale: owner.locale, text: t.text, sha256: t.sha256 };
  }

  /** Checks that no text version already used (stored) was changed in the files. */
  async checkUsedTexts(used: TextRow[]): Promise<string[]> {
    const problems: string[] = [];
    for (const row of used) {
      const now = await this.textById(row.version);
      if (now && now.sha256 !== row.sha256) {
        problems.push(`text version ${row.version} was used and is immutable, but its wording changed`);
      }
    }
    return problems;
  }

  private labels(purposes: Purpose[], locale: string): string {
    return purposes.map((p) => this.texts.purposes[p]?.label[locale] ?? p).join(', ');
  }

  /** Renders a reply; the DOI request carries the consent wordings and the privacy link. */
  async reply(
    kind: ReplyMessage,
    locale: string,
    purposes: Purpose[],
    firstContact: boolean,
  ): Promise<string> {
    const parts = [message(this.texts, kind, locale, { purposes: this.labels(purposes, locale) })];
    if (kind === 'doiRequest') {
      for (const p of purposes) parts.push((await this.consentText(p, locale, null)).text);
    } else if (firstContact) {
      parts.push(message(this.texts, 'privacyNotice', locale, {}));
    }
    return parts.join('\n\n');
  }

  /** A business message with the opt-out hint (and the privacy link on first contact). */
  withHint(text: string, locale: string, firstContact: boolean): string {
    const parts = [text.trim(), message(this.texts, 'optOutHint', locale, {})];
    if (firstContact) parts.push(message(this.texts, 'privacyNotice', locale, {}));
    return parts.join('\n\n');
  }

  /** The erasure keyword a reply is, with its locale; null when it is not one (or none are configured). */
  erasureRequest(text: string): { locale: string; keyword: string } | null {
    const e = this.keywordCatalog.erasure;
    if (!e) return null;
    if (!this.erasureIndex) {
      // Every text message asks: normalise the keywords once, not on each call.
      this.erasureIndex = new Map();
      for (const [locale, words] of Object.entries(e.keywords)) {
        for (const w of words) {
          const keyword = normalizeReply(w);
          if (!this.erasureIndex.has(keyword)) this.erasureIndex.set(keyword, { locale, keyword });
        }
      }
    }
    return this.erasureIndex.get(normalizeReply(text)) ?? null;
  }

  /** Button ids of the erasure question: confirm and cancel. */
  erasureButtons(): { confirm: string; cancel: string } | null {
    const e = this.keywordCatalog.erasure;
    return e ? { confirm: e.confirmButton, cancel: e.cancelButton } : null;
  }

  /** The erasure question and its two buttons, in the person's language. */
  erasureQuestion(locale: string): { body: string; buttons: Array<{ id: string; title: string }> } | null {
    const ids = this.erasureButtons();
    const m = this.texts.messages;
    if (!ids || !m.erasureQuestion || !m.erasureConfirmButton || !m.erasureCancelButton) return null;
    return {
      body: message(this.texts, 'erasureQuestion', locale, {}),
      buttons: [
        { id: ids.confirm, title: message(this.texts, 'erasureConfirmButton', locale, {}) },
        { id: ids.cancel, title: message(this.texts, 'erasureCancelButton', locale, {}) },
      ],
    };
  }

  doiTemplate(locale: string): { name: string; languageCode: string } | null {
    const t = this.texts.doiTemplate;
    return t ? { name: t.name, languageCode: t.language[locale] ?? locale } : null;
  }

  template(name: string) {
    return this.templates.templates[name];
  }
}
