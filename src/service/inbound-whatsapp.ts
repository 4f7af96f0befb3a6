import type { InboundEvent } from '../../connectors/whatsapp/parse.ts';
import { type Identifier, type Identity, identifiersOf } from '../core/identity.ts';
import type { Evidence } from '../core/types.ts';
import type { Catalog } from './catalog-service.ts';
import type { ChangeRequest, ChangeResult, ConsentService, DedupeKeys } from './consent-service.ts';
import type { Log } from './log.ts';

/** Counts of what one webhook delivery did, for the response and the logs (no personal data). */
export interface InboundSummary {
  applied: number;
  duplicates: number;
  ignored: number;
}

/** What the erasure path needs (wired by the composition root once the erasure service exists). */
export interface WhatsAppErasure {
  /**
   * The person `contextId` (the wamid a button answers) was asked about, when it is an erasure
   * question we sent to the person `identity` names; else null.
   */
  askedBy(contextId: string, identity: Identity): Promise<string | null>;
  request(subjectId: string, keys: DedupeKeys): Promise<'opened' | 'open' | 'duplicate'>;
}

type Message = Extract<InboundEvent, { kind: 'message' }>;

/**
 * Turns parsed WhatsApp webhook events into consent changes. Only replies that are exactly a
 * keyword or a configured button count; other messages are not stored (minimisation). Senders
 * are found by every identifier Meta gives (number, BSUID, parent BSUID): a person who hides
 * their number behind a username is still the same person.
 */
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
      case 'number_change':
        return this.numberChange(e);
      case 'user_id_change':
        return this.userIdChange(e);
      default:
        return Promise.resolve(null);
    }
  }

  private message(e: Message): Promise<ChangeResult | null> {
    const erasure = this.erasureStep(e);
    if (erasure) return erasure;
    const m = this.match(e.content);
    if (!m) return this.link(e.who, e.occurredAt, e.waMessageId);
    const intent = m.action === 'opt_out' ? 'opt_out' : m.action === 'opt_in' ? 'request' : 'confirm';
    return this.apply(e.who, {
      intent,
      purposes: m.purposes,
      source: 'whatsapp',
      occurredAt: e.occurredAt,
      evidence: { waMessageId: e.waMessageId, matched: m.matched },
      dedupeKeys: [`wa:msg:${e.waMessageId}`], // hashed in apply()
      locale: m.locale,
      // A STOP or START from an unknown sender is recorded; a YES with nothing pending is not.
      create: intent !== 'confirm',
    });
  }

  /**
   * Art. 17 on WhatsApp: an erasure keyword (LÖSCHEN, DELETE MY DATA…) is answered with a question
   * and two buttons; the confirming button, answering that very question, opens the erasure.
   */
  private erasureStep(e: Message): Promise<ChangeResult | null> | null {
    if (!this.erasure) return null;
    const c = e.content;
    if (c.type === 'text') {
      const hit = this.catalog.erasureRequest(c.body);
      if (!hit || !this.catalog.erasureQuestion(hit.locale)) return null;
      return this.apply(e.who, {
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

  private async confirmErasure(e: Message): Promise<ChangeResult | null> {
    if (!this.erasure || !e.contextId) return null;
    const subjectId = await this.erasure.askedBy(e.contextId, e.who);
    if (!subjectId) {
      this.log.warn({}, 'erasure confirmation that answers no question of ours ignored');
      return null;
    }
    const keys = await this.consent.dedupeKeysOf([`wa:msg:${e.waMessageId}`]);
    const r = await this.erasure.request(subjectId, keys);
    return r === 'duplicate' ? { status: 'duplicate' } : { status: 'erased' };
  }

  /** Keyword for text, configured payload for buttons (falling back to the button's label). */
  private match(c: Message['content']) {
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

  /** Error 131050: Meta says the person stopped marketing messages (recipient by number or BSUID). */
  private status(e: Extract<InboundEvent, { kind: 'status' }>): Promise<ChangeResult | null> {
    if (!e.errorCodes.includes(131050)) return this.link(e.who, e.occurredAt, e.waMessageId);
    return this.apply(e.who, {
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

  /**
   * Meta's `user_preferences`: `stop` withdraws marketing consent; `resume` and `signup` are kept as
   * evidence only (neither is the person's double opt-in for this business's purposes).
   */
  private preference(e: Extract<InboundEvent, { kind: 'preference' }>): Promise<ChangeResult | null> {
    const stop = e.value === 'stop';
    const evidence: Evidence = {
      preference: e.value,
      reason: stop
        ? 'meta_user_preferences_stop'
        : e.value === 'signup'
          ? 'meta_signup_grants_nothing'
          : 'meta_resume_grants_nothing',
    };
    const first = identifiersOf(e.who)[0]?.value ?? '';
    return this.apply(e.who, {
      intent: stop ? 'opt_out' : 'evidence',
      purposes: ['marketing'],
      source: 'meta_preferences',
      occurredAt: e.occurredAt,
      evidence,
      // preference events carry no id: the person's identifier, value and time identify a delivery
      dedupeKeys: [`wa:pref:${first}:${e.value}:${e.occurredAt}`],
      create: stop,
      reply: null,
    });
  }

  /**
   * `user_changed_number`: the same WhatsApp user (Meta says so) now has another number. Their
   * consent stays with them; the new number (and the new BSUID that comes with it) is linked, the
   * old number is kept as history and never messaged again.
   */
  private numberChange(e: Extract<InboundEvent, { kind: 'number_change' }>): Promise<ChangeResult | null> {
    if (e.who.phone === e.newPhone) return Promise.resolve(null);
    const retire: Identifier[] = [];
    if (e.who.phone) retire.push({ kind: 'phone', value: e.who.phone });
    // A number change comes with a new BSUID; the old one then names nobody.
    if (e.newBsuid && e.who.bsuid && e.who.bsuid !== e.newBsuid)
      retire.push({ kind: 'bsuid', value: e.who.bsuid });
    const link = { phone: e.newPhone, ...(e.newBsuid ? { bsuid: e.newBsuid } : {}) };
    return this.identityChange(e, 'number_changed', link, retire);
  }

  /** `user_changed_user_id`: the person's BSUID changed; the new one is linked, the old one retired. */
  private userIdChange(e: Extract<InboundEvent, { kind: 'user_id_change' }>): Promise<ChangeResult | null> {
    if (e.who.bsuid === e.newBsuid) return Promise.resolve(null);
    const retire: Identifier[] = e.who.bsuid ? [{ kind: 'bsuid', value: e.who.bsuid }] : [];
    return this.identityChange(e, 'user_id_changed', { bsuid: e.newBsuid }, retire);
  }

  /** A change of the person's identifiers, recorded as evidence for every purpose (with the message id). */
  private identityChange(
    e: { who: Identity; occurredAt: string; waMessageId: string },
    reason: string,
    link: Identity,
    retire: Identifier[],
  ): Promise<ChangeResult | null> {
    return this.apply(e.who, {
      intent: 'evidence',
      purposes: 'all',
      source: 'whatsapp',
      occurredAt: e.occurredAt,
      evidence: { waMessageId: e.waMessageId, reason },
      dedupeKeys: [`wa:msg:${e.waMessageId}`],
      create: false,
      reply: null,
      link,
      retire,
    });
  }

  /**
   * An event that changes no consent but names a person by several identifiers (a status carries
   * `recipient_id` and `recipient_user_id`): the identifiers are linked to the person we know, so a
   * later STOP under the BSUID alone finds them. Nothing is stored about the event itself, and
   * nothing at all when the identifiers are already linked or none of them is known.
   */
  private async link(who: Identity, occurredAt: string, waMessageId: string): Promise<ChangeResult | null> {
    if (identifiersOf(who).length < 2) return null;
    const r = await this.consent.change({
      identity: who,
      intent: 'evidence',
      purposes: this.catalog.purposes.slice(0, 1),
      source: 'whatsapp',
      occurredAt,
      evidence: { waMessageId, reason: 'identifiers_linked' },
      create: false,
      reply: null,
      linkOnly: true,
    });
    // Linking is bookkeeping: the event itself still counts as ignored.
    return r.status === 'erased' ? r : null;
  }

  private async apply(who: Identity, req: Omit<ChangeRequest, 'identity'>): Promise<ChangeResult | null> {
    if (identifiersOf(who).length === 0) {
      this.log.warn({}, 'webhook event without a usable identifier ignored');
      return null;
    }
    // Keys are stored as keyed hashes: wamids embed the sender's number (base64), and a preference
    // event is identified by an identifier itself; neither may sit in the database in clear.
    const keys = await this.consent.dedupeKeysOf(req.dedupeKeys ?? []);
    return this.consent.change({ ...req, ...keys, identity: who });
  }
}
