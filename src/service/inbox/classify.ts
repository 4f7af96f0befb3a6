/**
 * The acknowledgement path's half of a WhatsApp delivery (issue 17): a pure, synchronous step that
 * turns each readable event into the minimised record the decider needs, or drops it. A record keeps
 * only what a decision reads: kind, the sender's identifiers, the keyword or button match (action,
 * purposes, locale, matched label), the erasure step, wamid, `occurredAt` capped at receipt time
 * (sync rule 4), the context id of a button and Meta's error code. Never free text, names or media.
 * Events that change nothing (ordinary text, statuses without a consent-relevant error) are only
 * counted; an event that names a person by two identifiers becomes a `link` record the first time
 * this process sees that pair (see `LinkMemo`).
 */
import type { InboundEvent, MessageContent } from '../../../connectors/whatsapp/parse.ts';
import { type Identity, identifiersOf } from '../../core/identity.ts';
import type { KeywordAction, PurposeScope } from '../../core/keywords.ts';
import { capOccurredAt } from '../../core/occurred-at.ts';
import type { Catalog } from '../catalog-service.ts';

/** When an event happened (capped at receipt plus skew) and, when capped, what the sender claimed. */
interface Timed {
  who: Identity;
  occurredAt: string;
  claimedOccurredAt?: string;
}

/** One minimised inbox record (what is encrypted into the inbox, or a queue message on Workers). */
export type InboxEvent = Timed &
  (
    | {
        t: 'keyword';
        wamid: string;
        action: KeywordAction;
        purposes: PurposeScope;
        locale: string | null;
        matched: string;
      }
    | { t: 'erasure_ask'; wamid: string; keyword: string; locale: string }
    | { t: 'erasure_confirm'; wamid: string; contextId: string | null }
    | { t: 'meta_stop'; wamid: string; status: string; errorCode: 131050 }
    | { t: 'preference'; value: 'stop' | 'resume' | 'signup' }
    | { t: 'number_change'; wamid: string; newPhone: string; newBsuid?: string }
    | { t: 'user_id_change'; wamid: string; newBsuid: string }
    | { t: 'link'; wamid: string }
  );

export interface Classified {
  records: InboxEvent[];
  /** readable events that change nothing: counted, never stored */
  dropped: number;
  /** identifier pairs of this delivery's `link` records: `LinkMemo.remember` them once durable */
  linkKeys: string[];
}

export interface ClassifyOptions {
  catalog: Catalog;
  /** receipt time (ISO): no `occurredAt` is trusted beyond it plus `clockSkewMs` */
  receivedAt: string;
  clockSkewMs: number;
  /** pairs already handed to the decider by this process */
  links: LinkMemo;
}

/**
 * A bounded, in-process memory of identifier pairs already handed to the decider, so a campaign's
 * three status callbacks per message do not store one inbox row each just to link a number to a
 * BSUID that is linked already. Lost on restart (the next status links again); least recently seen
 * pairs go first. It holds identifiers only in this process's memory, never in logs or storage.
 */
export class LinkMemo {
  private readonly seen = new Map<string, true>();
  private readonly max: number;
  constructor(max = 50_000) {
    this.max = max;
  }

  has(key: string): boolean {
    if (!this.seen.has(key)) return false;
    this.seen.delete(key);
    this.seen.set(key, true);
    return true;
  }

  remember(keys: readonly string[]): void {
    for (const k of keys) {
      this.seen.delete(k);
      this.seen.set(k, true);
      if (this.seen.size > this.max) this.seen.delete(this.seen.keys().next().value as string);
    }
  }

  get size(): number {
    return this.seen.size;
  }
}

/** The memo key of an identity with two or more identifiers, else null (nothing to link). */
export function linkKey(who: Identity): string | null {
  const ids = identifiersOf(who);
  return ids.length < 2 ? null : ids.map((i) => `${i.kind}:${i.value}`).join('\u0000');
}

/**
 * Classifies one delivery's readable events, in order.
 *
 * @example
 * const c = classify(parsed.events, { catalog, receivedAt: now, clockSkewMs: 300_000, links });
 * // a STOP → { t: 'keyword', action: 'opt_out', purposes: 'all', matched: 'stop', … }; a 'delivered' status → dropped
 */
export function classify(events: readonly InboundEvent[], o: ClassifyOptions): Classified {
  const out: Classified = { records: [], dropped: 0, linkKeys: [] };
  for (const e of events) {
    const r = one(e, o);
    if (!r) {
      out.dropped++;
      continue;
    }
    if (identifiersOf(r.who).length === 0) {
      out.dropped++;
      continue;
    }
    if (r.t === 'link') {
      const key = linkKey(r.who) as string;
      if (o.links.has(key) || out.linkKeys.includes(key)) {
        out.dropped++;
        continue;
      }
      out.linkKeys.push(key);
    }
    out.records.push(r);
  }
  return out;
}

type Draft = InboxEvent extends infer E ? (E extends InboxEvent ? Omit<E, 'occurredAt'> : never) : never;

function one(e: InboundEvent, o: ClassifyOptions): InboxEvent | null {
  const timed = (r: Draft): InboxEvent => {
    const { occurredAt, claimed } = capOccurredAt(e.occurredAt, o.receivedAt, o.clockSkewMs);
    return { ...r, occurredAt, ...(claimed ? { claimedOccurredAt: claimed } : {}) } as InboxEvent;
  };
  const link = (who: Identity, wamid: string) => (linkKey(who) ? timed({ t: 'link', who, wamid }) : null);
  switch (e.kind) {
    case 'message': {
      const erasure = erasureStep(e.content, o.catalog);
      if (erasure === 'cancel') return null;
      if (erasure === 'confirm')
        return timed({ t: 'erasure_confirm', who: e.who, wamid: e.waMessageId, contextId: e.contextId });
      if (erasure) return timed({ t: 'erasure_ask', who: e.who, wamid: e.waMessageId, ...erasure });
      const m = match(e.content, o.catalog);
      if (!m) return link(e.who, e.waMessageId);
      return timed({ t: 'keyword', who: e.who, wamid: e.waMessageId, ...m });
    }
    case 'status':
      if (!e.errorCodes.includes(131050)) return link(e.who, e.waMessageId);
      return timed({ t: 'meta_stop', who: e.who, wamid: e.waMessageId, status: e.status, errorCode: 131050 });
    case 'preference':
      return timed({ t: 'preference', who: e.who, value: e.value });
    case 'number_change':
      if (e.who.phone === e.newPhone) return null;
      return timed({
        t: 'number_change',
        who: e.who,
        wamid: e.waMessageId,
        newPhone: e.newPhone,
        ...(e.newBsuid ? { newBsuid: e.newBsuid } : {}),
      });
    case 'user_id_change':
      if (e.who.bsuid === e.newBsuid) return null;
      return timed({ t: 'user_id_change', who: e.who, wamid: e.waMessageId, newBsuid: e.newBsuid });
    default:
      return null;
  }
}

/**
 * Art. 17 on WhatsApp: an erasure keyword is answered with a question and two buttons; the
 * confirming button opens the erasure (checked against the question we sent, by the decider).
 */
function erasureStep(
  c: MessageContent,
  catalog: Catalog,
): { keyword: string; locale: string } | 'confirm' | 'cancel' | null {
  if (c.type === 'text') {
    const hit = catalog.erasureRequest(c.body);
    return hit && catalog.erasureQuestion(hit.locale) ? hit : null;
  }
  const ids = catalog.erasureButtons();
  const pressed = c.type === 'interactive' ? c.replyId : c.type === 'button' ? c.payload : null;
  if (!ids || pressed === null) return null;
  return pressed === ids.confirm ? 'confirm' : pressed === ids.cancel ? 'cancel' : null;
}

/** Keyword for text, configured payload for buttons (falling back to the button's label). */
function match(c: MessageContent, catalog: Catalog) {
  const k = catalog.keywords;
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

/** Whether a record withdraws consent (the send guard looks for these in the inbox), and for what. */
export function optOutScope(r: InboxEvent): PurposeScope | null {
  if (r.t === 'keyword') return r.action === 'opt_out' ? r.purposes : null;
  if (r.t === 'meta_stop') return ['marketing'];
  if (r.t === 'preference') return r.value === 'stop' ? ['marketing'] : null;
  return null;
}
