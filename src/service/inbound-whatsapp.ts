import type { InboundEvent } from '../../connectors/whatsapp/parse.ts';
import { type Identifier, type Identity, identifiersOf } from '../core/identity.ts';
import type { Evidence } from '../core/types.ts';
import type { Catalog } from './catalog-service.ts';
import type { ChangeRequest, ChangeResult, ConsentService, DedupeKeys } from './consent-service.ts';
import { type Classified, classify, type InboxEvent, LinkMemo } from './inbox/classify.ts';
import type { Log } from './log.ts';

/** Counts of what one batch of events did, for the response and the logs (no personal data). */
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

/** One event to decide (its inbox row or queue message is removed by the caller once it is decided). */
export interface Pending {
  event: InboxEvent;
}

export interface DecideOptions {
  /**
   * Called for an event whose decision threw (a poisoned event); without it the error is thrown.
   * The other events of the batch are decided all the same.
   */
  poisoned?: (p: Pending, error: unknown) => Promise<void>;
}

/**
 * Turns WhatsApp webhook events into consent changes, in two steps (issue 17): `classify` (pure,
 * synchronous, on the acknowledgement path) keeps only what a decision needs, and `decide` applies
 * a batch of those records. Only replies that are exactly a keyword or a configured button count;
 * other messages are not stored (minimisation). Senders are found by every identifier Meta gives
 * (number, BSUID, parent BSUID): a person who hides their number behind a username is the same person.
 */
export class InboundWhatsApp {
  private readonly consent: ConsentService;
  private readonly catalog: Catalog;
  private readonly log: Log;
  private readonly clockSkewMs: number;
  /** identifier pairs already handed to the decider by this process (see `LinkMemo`) */
  readonly links = new LinkMemo();
  erasure: WhatsAppErasure | null = null;

  constructor(consent: ConsentService, catalog: Catalog, log: Log, clockSkewMs = 300_000) {
    this.consent = consent;
    this.catalog = catalog;
    this.log = log;
    this.clockSkewMs = clockSkewMs;
  }

  /** The acknowledgement path's step: minimised records, and how many events change nothing. */
  classify(events: readonly InboundEvent[], receivedAt: string): Classified {
    return classify(events, {
      catalog: this.catalog,
      receivedAt,
      clockSkewMs: this.clockSkewMs,
      links: this.links,
    });
  }

  /** Classifies and decides at once (no inbox): resolves only after every change is committed. */
  async handle(events: InboundEvent[], receivedAt = new Date().toISOString()): Promise<InboundSummary> {
    const c = this.classify(events, receivedAt);
    const summary = await this.decide(c.records.map((event) => ({ event })));
    this.links.remember(c.linkKeys);
    summary.ignored += c.dropped;
    return summary;
  }

  /**
   * Decides a batch: the events of one person (any shared identifier) in batch order. Consent
   * changes (keywords, Meta's stops and preferences, erasure questions) go through the batch
   * decider: one read for everyone, one unit per person, one group commit. A person with an event it
   * does not take (identity changes, links, erasure confirmations), or whose unit lost a race with an
   * API call, is decided one event at a time, different people concurrently.
   */
  async decide(batch: readonly Pending[], options: DecideOptions = {}): Promise<InboundSummary> {
    const summary: InboundSummary = { applied: 0, duplicates: 0, ignored: 0 };
    const count = (r: ChangeResult | null) => {
      if (!r || r.status === 'unknown_subject') summary.ignored++;
      else if (r.status === 'duplicate') summary.duplicates++;
      else summary.applied++;
    };
    const groups = byPerson(batch);
    const outcomes = await this.batched(groups);
    await Promise.all(
      groups.map(async (group, n) => {
        const decided = outcomes[n];
        if (decided) {
          for (const r of decided) count(r);
          return;
        }
        for (const p of group) {
          let r: ChangeResult | null;
          try {
            r = await this.one(p);
          } catch (e) {
            if (!options.poisoned) throw e;
            await options.poisoned(p, e);
            summary.ignored++;
            continue;
          }
          count(r);
        }
      }),
    );
    return summary;
  }

  /** The batch decider's results per group (null: decide that group one event at a time). */
  private async batched(groups: Pending[][]): Promise<Array<ChangeResult[] | null>> {
    const none = groups.map(() => null);
    try {
      const requests = await Promise.all(groups.map((g) => this.requestsOf(g)));
      const take = requests.flatMap((r, n) => (r ? [n] : []));
      if (take.length === 0) return none;
      const decided = await this.consent.changeBatch(take.map((n) => requests[n] as ChangeRequest[]));
      const out: Array<ChangeResult[] | null> = [...none];
      take.forEach((n, k) => {
        out[n] = decided[k] ?? null;
      });
      return out;
    } catch (e) {
      // A failing batch read: every event is decided on its own, so a poisoned one stays alone.
      this.log.warn(
        { err: (e as Error)?.name ?? 'Error' },
        'batch decision failed; deciding one event at a time',
      );
      return none;
    }
  }

  /** A group's consent changes with hashed dedupe keys, or null when one of its events is not for the batch. */
  private async requestsOf(group: Pending[]): Promise<ChangeRequest[] | null> {
    const specs = group.map((p) => this.requestOf(p));
    if (specs.some((s) => !s || identifiersOf(s.who).length === 0)) return null;
    return Promise.all(
      specs.map(async (s) => {
        const { who, req } = s as NonNullable<typeof s>;
        const keys = await this.consent.dedupeKeysOf(req.dedupeKeys ?? []);
        return { ...req, ...keys, identity: who };
      }),
    );
  }

  private one(p: Pending): Promise<ChangeResult | null> {
    const spec = this.requestOf(p);
    if (spec) return this.apply(spec.who, spec.req);
    const e = p.event;
    switch (e.t) {
      case 'erasure_confirm':
        return this.confirmErasure(e);
      case 'number_change':
        return this.numberChange(e);
      case 'user_id_change':
        return this.userIdChange(e);
      case 'link':
        return this.link(e.who, e.occurredAt, e.wamid);
      default:
        return Promise.resolve(null);
    }
  }

  /**
   * The consent change an event asks for (keywords, erasure questions, Meta's stops and
   * preferences), with its dedupe ids in clear (hashed before use); null for the other kinds.
   */
  private requestOf(p: Pending): { who: Identity; req: Omit<ChangeRequest, 'identity'> } | null {
    const e = p.event;
    const timing = { occurredAt: e.occurredAt };
    const claimed = e.claimedOccurredAt ? { claimedOccurredAt: e.claimedOccurredAt } : {};
    switch (e.t) {
      case 'keyword': {
        const intent = e.action === 'opt_out' ? 'opt_out' : e.action === 'opt_in' ? 'request' : 'confirm';
        return {
          who: e.who,
          req: {
            intent,
            purposes: e.purposes,
            source: 'whatsapp',
            ...timing,
            evidence: { waMessageId: e.wamid, matched: e.matched, ...claimed },
            dedupeKeys: [`wa:msg:${e.wamid}`], // hashed before use
            locale: e.locale,
            // A STOP or START from an unknown sender is recorded; a YES with nothing pending is not.
            create: intent !== 'confirm',
          },
        };
      }
      case 'erasure_ask':
        return {
          who: e.who,
          req: {
            intent: 'evidence',
            purposes: this.catalog.purposes.slice(0, 1),
            source: 'whatsapp',
            ...timing,
            evidence: {
              waMessageId: e.wamid,
              matched: `erasure:${e.keyword}`,
              reason: 'erasure_asked_on_whatsapp',
              ...claimed,
            },
            dedupeKeys: [`wa:msg:${e.wamid}`],
            locale: e.locale,
            create: false,
            reply: 'erasureQuestion',
          },
        };
      case 'meta_stop':
        // Error 131050: Meta says the person stopped marketing messages (recipient by number or BSUID).
        return {
          who: e.who,
          req: {
            intent: 'opt_out',
            purposes: ['marketing'],
            source: 'meta_status',
            ...timing,
            evidence: { waMessageId: e.wamid, reason: 'meta_error_131050', ...claimed },
            dedupeKeys: [`wa:status:${e.wamid}:${e.status}:131050`],
            create: false,
            reply: null,
          },
        };
      case 'preference':
        return { who: e.who, req: this.preference(e, timing, claimed) };
      default:
        return null;
    }
  }

  private async confirmErasure(
    e: Extract<InboxEvent, { t: 'erasure_confirm' }>,
  ): Promise<ChangeResult | null> {
    if (!this.erasure || !e.contextId) return null;
    const subjectId = await this.erasure.askedBy(e.contextId, e.who);
    if (!subjectId) {
      this.log.warn({}, 'erasure confirmation that answers no question of ours ignored');
      return null;
    }
    const keys = await this.consent.dedupeKeysOf([`wa:msg:${e.wamid}`]);
    const r = await this.erasure.request(subjectId, keys);
    return r === 'duplicate' ? { status: 'duplicate' } : { status: 'erased' };
  }

  /**
   * Meta's `user_preferences`: `stop` withdraws marketing consent; `resume` and `signup` are kept as
   * evidence only (neither is the person's double opt-in for this business's purposes).
   */
  private preference(
    e: Extract<InboxEvent, { t: 'preference' }>,
    timing: { occurredAt: string },
    claimed: Evidence,
  ): Omit<ChangeRequest, 'identity'> {
    const stop = e.value === 'stop';
    const evidence: Evidence = {
      preference: e.value,
      reason: stop
        ? 'meta_user_preferences_stop'
        : e.value === 'signup'
          ? 'meta_signup_grants_nothing'
          : 'meta_resume_grants_nothing',
      ...claimed,
    };
    const first = identifiersOf(e.who)[0]?.value ?? '';
    // The sender's own time identifies the delivery (preference events carry no id), capped or not.
    const when =
      e.claimedOccurredAt && e.claimedOccurredAt !== 'unreadable' ? e.claimedOccurredAt : e.occurredAt;
    return {
      intent: stop ? 'opt_out' : 'evidence',
      purposes: ['marketing'],
      source: 'meta_preferences',
      ...timing,
      evidence,
      dedupeKeys: [`wa:pref:${first}:${e.value}:${when}`],
      create: stop,
      reply: null,
    };
  }

  /**
   * `user_changed_number`: the same WhatsApp user (Meta says so) now has another number. Their
   * consent stays with them; the new number (and the new BSUID that comes with it) is linked, the
   * old number is kept as history and never messaged again.
   */
  private numberChange(e: Extract<InboxEvent, { t: 'number_change' }>): Promise<ChangeResult | null> {
    const retire: Identifier[] = [];
    if (e.who.phone) retire.push({ kind: 'phone', value: e.who.phone });
    // A number change comes with a new BSUID; the old one then names nobody.
    if (e.newBsuid && e.who.bsuid && e.who.bsuid !== e.newBsuid)
      retire.push({ kind: 'bsuid', value: e.who.bsuid });
    const link = { phone: e.newPhone, ...(e.newBsuid ? { bsuid: e.newBsuid } : {}) };
    return this.identityChange(e, 'number_changed', link, retire);
  }

  /** `user_changed_user_id`: the person's BSUID changed; the new one is linked, the old one retired. */
  private userIdChange(e: Extract<InboxEvent, { t: 'user_id_change' }>): Promise<ChangeResult | null> {
    const retire: Identifier[] = e.who.bsuid ? [{ kind: 'bsuid', value: e.who.bsuid }] : [];
    return this.identityChange(e, 'user_id_changed', { bsuid: e.newBsuid }, retire);
  }

  /** A change of the person's identifiers, recorded as evidence for every purpose (with the message id). */
  private identityChange(
    e: { who: Identity; occurredAt: string; wamid: string },
    reason: string,
    link: Identity,
    retire: Identifier[],
  ): Promise<ChangeResult | null> {
    return this.apply(e.who, {
      intent: 'evidence',
      purposes: 'all',
      source: 'whatsapp',
      occurredAt: e.occurredAt,
      evidence: { waMessageId: e.wamid, reason },
      dedupeKeys: [`wa:msg:${e.wamid}`],
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

/** Every identifier an event names (the ones it finds a person by, and the ones it links). */
function namesOf(e: InboxEvent): string[] {
  const ids = identifiersOf(e.who).map((i) => i.value);
  if (e.t === 'number_change') ids.push(e.newPhone, ...(e.newBsuid ? [e.newBsuid] : []));
  if (e.t === 'user_id_change') ids.push(e.newBsuid);
  return ids;
}

/**
 * Splits a batch into groups that share no identifier (union-find over identifier values), each
 * in batch order: one person's events are decided in the order they were acknowledged.
 */
export function byPerson<T extends { event: InboxEvent }>(batch: readonly T[]): T[][] {
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let r = x;
    while (parent.get(r) !== r) r = parent.get(r) as string;
    parent.set(x, r);
    return r;
  };
  const roots: string[] = [];
  for (const [n, p] of batch.entries()) {
    const names = namesOf(p.event);
    const self = `#${n}`;
    parent.set(self, self);
    for (const name of names) {
      if (!parent.has(name)) parent.set(name, name);
      parent.set(find(name), find(self));
    }
    roots.push(self);
  }
  const groups = new Map<string, T[]>();
  for (const [n, p] of batch.entries()) {
    const r = find(roots[n] as string);
    const g = groups.get(r);
    if (g) g.push(p);
    else groups.set(r, [p]);
  }
  return [...groups.values()];
}
