import type { InboundEvent } from '../../connectors/whatsapp/parse.ts';
import { normalizePhone } from '../core/phone.ts';
import type { Evidence } from '../core/types.ts';
import type { Catalog } from './catalog-service.ts';
import type { ChangeRequest, ChangeResult, ConsentService } from './consent-service.ts';
import type { Log } from './log.ts';

/** Counts of what one webhook delivery did, for the response and the logs (no personal data). */
export interface InboundSummary {
  applied: number;
  duplicates: number;
  ignored: number;
}

/**
 * Turns parsed WhatsApp webhook events into consent changes. Only replies that are exactly a
 * keyword or a configured button count; other messages are not stored (minimisation).
 */
/** What the erasure path needs (wired by the composition root once the erasure service exists). */
export interface WhatsAppErasure {
  /** Whether `contextId` (the wamid a button answers) is an erasure question we sent that number. */
  askedBy(contextId: string, e164: string): Promise<boolean>;
  request(e164: string, dedupeKey: string): Promise<'opened' | 'open' | 'duplicate'>;
}

export class InboundWhatsApp {
  private readonly consent: ConsentService;
  private readonly catalog: Catalog;
  private readonly log: Log;
  erasure: WhatsAppErasure | null = null;

  constructor(consent: ConsentService, catalog: Catalog, log: Log) {
    this.consent = consent;
    this.catalog = catalog;
    this.log = log;
  }

  /** Handles every event; resolves only after all resulting changes are committed. */
  async handle(events: InboundEvent[]): Promise<InboundSummary> {
    const summary: InboundSummary = { applied: 0, duplicates: 0, ignored: 0 };
    const results = await Promise.all(events.map((e) => this.one(e)));
    for (const r of results) {
      if (!r || r.status === 'unknown_subject') summary.ignored++;
      else if (r.status === 'duplicate') summary.duplicates++;
      else summary.applied++;
    }
    return summary;
  }

  private one(e: InboundEvent): Promise<ChangeResult | null> {
    switch (e.kind) {
      case 'message':
        return this.message(e);
      case 'status':
        return this.status(e);
      case 'preference':
        return this.preference(e);
      default:
        return Promise.resolve(null);
    }
  }

  private message(e: Extract<InboundEvent, { kind: 'message' }>): Promise<ChangeResult | null> {
    const erasure = this.erasureStep(e);
    if (erasure) return erasure;
    const m = this.match(e.content);
    if (!m) return Promise.resolve(null);
    const intent = m.action === 'opt_out' ? 'opt_out' : m.action === 'opt_in' ? 'request' : 'confirm';
    return this.apply(e.who.phone, {
      // lead: replace (BSUID-only senders are skipped for now)
      intent,
      purposes: m.purposes,
      source: 'whatsapp',
      occurredAt: e.occurredAt,
      evidence: { waMessageId: e.waMessageId, matched: m.matched },
      dedupeKeys: [`wa:msg:${e.waMessageId}`], // hashed in apply()
      locale: m.locale,
      // A STOP or START from an unknown number is recorded; a YES with nothing pending is not.
      create: intent !== 'confirm',
    });
  }

  /**
   * Art. 17 on WhatsApp: an erasure keyword (LÖSCHEN, DELETE MY DATA…) is answered with a question
   * and two buttons; the confirming button, answering that very question, opens the erasure.
   */
  private erasureStep(e: Extract<InboundEvent, { kind: 'message' }>): Promise<ChangeResult | null> | null {
    if (!this.erasure) return null;
    const c = e.content;
    if (c.type === 'text') {
      const hit = this.catalog.erasureRequest(c.body);
      if (!hit || !this.catalog.erasureQuestion(hit.locale)) return null;
      return this.apply(e.who.phone, {
        // lead: replace (BSUID-only senders are skipped for now)
        intent: 'evidence',
        purposes: this.catalog.purposes.slice(0, 1),
        source: 'whatsapp',
        occurredAt: e.occurredAt,
        evidence: {
          waMessageId: e.waMessageId,
          matched: `erasure:${hit.keyword}`,
          reason: 'erasure_asked_on_whatsapp',
        },
        dedupeKeys: [`wa:msg:${e.waMessageId}`],
        locale: hit.locale,
        create: false,
        reply: 'erasureQuestion',
      });
    }
    const ids = this.catalog.erasureButtons();
    const pressed = c.type === 'interactive' ? c.replyId : c.type === 'button' ? c.payload : null;
    if (!ids || (pressed !== ids.confirm && pressed !== ids.cancel)) return null;
    if (pressed === ids.cancel) return Promise.resolve(null);
    return this.confirmErasure(e);
  }

  private async confirmErasure(e: Extract<InboundEvent, { kind: 'message' }>): Promise<ChangeResult | null> {
    const phone = normalizePhone(e.who.phone ?? ''); // lead: replace
    if (!phone.ok || !this.erasure || !e.contextId) return null;
    if (!(await this.erasure.askedBy(e.contextId, phone.e164))) {
      this.log.warn({}, 'erasure confirmation that answers no question of ours ignored');
      return null;
    }
    const key = `wa:${await this.consent.hashOf(`wa:msg:${e.waMessageId}`)}`;
    const r = await this.erasure.request(phone.e164, key);
    return r === 'duplicate' ? { status: 'duplicate' } : { status: 'erased' };
  }

  /** Keyword for text, configured payload for buttons (falling back to the button's label). */
  private match(c: Extract<InboundEvent, { kind: 'message' }>['content']) {
    const k = this.catalog.keywords;
    if (c.type === 'text') {
      const m = k.reply(c.body);
      return m && { action: m.action, purposes: m.purposes, locale: m.locale, matched: m.keyword };
    }
    if (c.type === 'button') {
      const b = k.button(c.payload);
      if (b) return { action: b.action, purposes: b.purposes, locale: null, matched: `button:${b.id}` };
      const m = k.reply(c.text);
      return (
        m && { action: m.action, purposes: m.purposes, locale: m.locale, matched: `button-text:${m.keyword}` }
      );
    }
    if (c.type === 'interactive') {
      const b = k.button(c.replyId);
      return b && { action: b.action, purposes: b.purposes, locale: null, matched: `button:${b.id}` };
    }
    return null;
  }

  private status(e: Extract<InboundEvent, { kind: 'status' }>): Promise<ChangeResult | null> {
    if (!e.errorCodes.includes(131050)) return Promise.resolve(null);
    return this.apply(e.who.phone, {
      // lead: replace
      intent: 'opt_out',
      purposes: ['marketing'],
      source: 'meta_status',
      occurredAt: e.occurredAt,
      evidence: { waMessageId: e.waMessageId, reason: 'meta_error_131050' },
      dedupeKeys: [`wa:status:${e.waMessageId}:${e.status}:131050`],
      create: false,
      reply: null,
    });
  }

  private preference(e: Extract<InboundEvent, { kind: 'preference' }>): Promise<ChangeResult | null> {
    if (e.value === 'signup') return Promise.resolve(null); // lead: replace (In-App Signup not handled yet)
    const stop = e.value === 'stop';
    const evidence: Evidence = {
      preference: e.value,
      reason: stop ? 'meta_user_preferences_stop' : 'meta_resume_grants_nothing',
    };
    return this.apply(e.who.phone, {
      // lead: replace
      intent: stop ? 'opt_out' : 'evidence',
      purposes: ['marketing'],
      source: 'meta_preferences',
      occurredAt: e.occurredAt,
      evidence,
      // preference events carry no id: the person's hash, value and time identify a delivery
      dedupeKeys: [],
      create: stop,
      reply: null,
    });
  }

  private async apply(
    waId: string | undefined, // lead: replace (events without a phone are skipped)
    req: Omit<ChangeRequest, 'e164'>,
  ): Promise<ChangeResult | null> {
    if (waId === undefined) return null;
    const phone = normalizePhone(waId);
    if (!phone.ok) {
      this.log.warn({ code: phone.code }, 'webhook event with an invalid sender ignored');
      return null;
    }
    // Keys are stored as keyed hashes: wamids embed the sender's number (base64), and a preference
    // event is identified by the number itself; neither may sit in the database in clear.
    const raw = req.dedupeKeys?.length
      ? req.dedupeKeys
      : [`wa:pref:${phone.e164}:${req.evidence.preference}:${req.occurredAt}`];
    const dedupeKeys = await Promise.all(raw.map(async (k) => `wa:${await this.consent.hashOf(k)}`));
    return this.consent.change({ ...req, dedupeKeys, e164: phone.e164 });
  }
}
