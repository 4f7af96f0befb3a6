/**
 * The Workers inbox (issue 17, issue 19 item 3): a signed WhatsApp delivery is acknowledged once
 * its minimised events are in a Cloudflare Queue (durable once `send` resolves), sealed under the
 * service key; D1 leaves the acknowledgement path. The queue consumer decides them against D1
 * within a per-invocation query budget: Cloudflare caps D1 queries per Worker invocation (1,000 on
 * Workers Paid, 50 on Free; https://developers.cloudflare.com/d1/platform/limits/), so what a
 * budget does not cover is sent on as a new message and decided by another invocation.
 */
import type { InboundEvent } from '../../../connectors/whatsapp/parse.ts';
import { identifiersOf } from '../../core/identity.ts';
import { newId } from '../../crypto/encoding.ts';
import type { PiiCrypto } from '../../crypto/pii.ts';
import type { InboxRow } from '../../store/inbox-sql.ts';
import type { DeadEvents } from '../dead-events.ts';
import type { InboundSummary, InboundWhatsApp } from '../inbound-whatsapp.ts';
import type { Log } from '../log.ts';
import { type InboxEvent, optOutScope } from './classify.ts';
import type { Accepted } from './durable-inbox.ts';

/** One queue message: up to `perMessage` minimised events, sealed (AAD `inbox-message:<id>`). */
export interface InboxMessage {
  inbox: 1;
  id: string;
  sealed: string;
  /**
   * the opt-out marker of each sealed event (same order; null for events that are no opt-out):
   * deleted once the event is decided. Ids only (keyed hashes), no personal data.
   */
  markers?: Array<string | null>;
}

/**
 * Opt-out markers (D1's `inbox` table on Workers): an acknowledged opt-out still in the queue is
 * invisible to the send guard, so the webhook also writes one marker row per opt-out event (keyed
 * hashes of the sender's identifiers, the purposes withdrawn, no payload) in one D1 statement, and
 * the consumer deletes the markers of the events it decided.
 */
export interface OptOutMarkers {
  /** writes the markers of one delivery (idempotent by id) */
  add(rows: InboxRow[]): Promise<void>;
  /** deletes the markers of decided events */
  remove(ids: string[]): Promise<void>;
  /** the scopes (`*` or comma-separated purposes) of undecided opt-outs naming any of the hashes */
  scopes(hashes: string[]): Promise<string[]>;
}

/** Counts D1 queries of the current invocation (each statement of a batch counted as one). */
export interface QueryMeter {
  used(): number;
}

export interface QueueInboxDeps {
  pii: PiiCrypto;
  inbound: InboundWhatsApp;
  deadEvents: DeadEvents;
  log: Log;
  clock: () => Date;
  /** sends messages to the inbox queue (`env.INBOX.sendBatch`) */
  send: (messages: InboxMessage[]) => Promise<void>;
  /** opt-out markers for the send guard (Workers: D1); without them the guard cannot see the queue */
  markers?: OptOutMarkers;
  /**
   * events per message: a message stays far under Queues' 128 KB, and one message's events fit in
   * one invocation's D1 budget (default 25)
   */
  perMessage?: number;
}

/** What one consumer invocation did. */
export interface ConsumeReport extends InboundSummary {
  /** events sent on in new messages because the budget was spent */
  deferred: number;
  /** D1 queries the invocation used */
  queries: number;
}

/** An event with its opt-out marker (null when it is no opt-out or no markers are kept). */
interface Pending {
  event: InboxEvent;
  row: InboxRow | null;
}

/** Sent on as its own message: a set of events decided as one (never split between invocations). */
const aad = (id: string) => `inbox-message:${id}`;

export class QueueInbox {
  private readonly d: QueueInboxDeps;
  private readonly perMessage: number;

  constructor(deps: QueueInboxDeps) {
    this.d = deps;
    this.perMessage = deps.perMessage ?? 25;
  }

  /**
   * Classifies a delivery and sends what matters to the queue; resolves once the queue has it. The
   * opt-out markers are written first (one D1 statement), so the send guard sees an opt-out from
   * the moment it is acknowledged; if the queue refuses the messages, the markers are taken back.
   */
  async accept(events: readonly InboundEvent[]): Promise<Accepted> {
    const receivedAt = this.d.clock().toISOString();
    const c = this.d.inbound.classify(events, receivedAt);
    if (c.records.length > 0) {
      const pending = await this.markersFor(c.records, receivedAt);
      const rows = pending.flatMap((p) => (p.row ? [p.row] : []));
      if (rows.length > 0) await this.d.markers?.add(rows);
      try {
        await this.d.send(
          await this.seal(pending.map((p) => ({ event: p.event, marker: p.row?.id ?? null }))),
        );
      } catch (err) {
        // Not acknowledged: Meta redelivers, and the redelivery writes the same marker ids again.
        if (rows.length > 0) await this.d.markers?.remove(rows.map((r) => r.id)).catch(() => undefined);
        throw err;
      }
    }
    this.d.inbound.links.remember(c.linkKeys);
    return { stored: c.records.length, dropped: c.dropped };
  }

  /**
   * The guard's question: is an acknowledged opt-out of one of these identifier hashes for the
   * purpose still undecided? False without markers.
   */
  async optOutPending(hashes: string[], purpose: string): Promise<boolean> {
    if (!this.d.markers || hashes.length === 0) return false;
    const scopes = await this.d.markers.scopes(hashes);
    return scopes.some((s) => s === '*' || s.split(',').includes(purpose));
  }

  /**
   * A marker row for each opt-out event. Its id is a keyed hash of the event's identity (its wamid,
   * else the whole minimised event), so a redelivered webhook writes the same marker again.
   */
  private async markersFor(records: InboxEvent[], receivedAt: string): Promise<Pending[]> {
    const out: Pending[] = [];
    for (const event of records) {
      const scope = this.d.markers ? optOutScope(event) : null;
      if (!scope) {
        out.push({ event, row: null });
        continue;
      }
      const key = 'wamid' in event ? `${event.t}:${event.wamid}` : JSON.stringify(event);
      const hashes = await Promise.all(identifiersOf(event.who).map((i) => this.d.pii.lookupHash(i.value)));
      out.push({
        event,
        row: {
          id: `mk:${await this.d.pii.lookupHash(`inbox-marker:${key}`)}`,
          receivedAt,
          optOut: scope === 'all' ? '*' : scope.join(','),
          hashes: hashes.slice(0, 3),
          payloadEnc: '',
        },
      });
    }
    return out;
  }

  private async seal(items: Array<{ event: InboxEvent; marker: string | null }>): Promise<InboxMessage[]> {
    const out: InboxMessage[] = [];
    for (let i = 0; i < items.length; i += this.perMessage) {
      const id = newId();
      const chunk = items.slice(i, i + this.perMessage);
      const sealed = await this.d.pii.sealService(JSON.stringify(chunk.map((c) => c.event)), aad(id));
      const markers = chunk.map((c) => c.marker);
      out.push({ inbox: 1, id, sealed, ...(markers.some((m) => m !== null) ? { markers } : {}) });
    }
    return out;
  }

  /**
   * Decides messages in order while the budget lasts. Before each message the consumer checks that
   * `reserve` queries per event are still left; the messages it cannot cover are sent on (a new
   * message each, so a redelivery of this batch repeats nothing: every event is keyed by its
   * dedupe key). An event whose decision throws makes the batch fail (the queue retries it) until
   * `lastAttempt`; then it is kept as a dead event and the others are decided.
   */
  async consume(
    messages: readonly InboxMessage[],
    meter: QueryMeter,
    options: { budget: number; reserve?: number; lastAttempt?: boolean },
  ): Promise<ConsumeReport> {
    const { budget, lastAttempt = false } = options;
    // Queries one event may cost: the worst seen in this invocation, never below the starting guess
    // (a new person's STOP averaged about 21 statements in workerd).
    let reserve = options.reserve ?? 60;
    const report: ConsumeReport = { applied: 0, duplicates: 0, ignored: 0, deferred: 0, queries: 0 };
    const start = meter.used();
    const pending: Array<{ event: InboxEvent; marker: string | null }> = [];
    for (const m of messages) {
      const events = (await this.open(m)) ?? [];
      events.forEach((event, i) => {
        pending.push({ event, marker: m.markers?.[i] ?? null });
      });
    }
    let decided = 0;
    while (decided < pending.length) {
      const left = budget - (meter.used() - start);
      // At least one event per invocation, whatever the budget: progress is guaranteed.
      const fits = Math.min(
        pending.length - decided,
        Math.max(decided === 0 ? 1 : 0, Math.floor(left / reserve)),
      );
      if (fits === 0) break;
      const chunk = pending.slice(decided, decided + fits);
      const before = meter.used();
      const dead = new Set<InboxEvent>();
      const s = await this.d.inbound.decide(
        chunk.map(({ event }) => ({ event })),
        {
          poisoned: async (p, error) => {
            if (!lastAttempt) throw error;
            dead.add(p.event);
            await this.d.deadEvents.record([
              {
                source: 'whatsapp',
                kind: `inbox:${p.event.t}`,
                reason: `decision failed: ${(error as Error)?.name ?? 'Error'}`,
                raw: p.event,
              },
            ]);
          },
        },
      );
      // Decided: the guard no longer needs their markers (one statement). An opt-out kept as a dead
      // event was never decided: its marker stays, so sends to that person stay refused.
      const done = chunk.flatMap((p) => (p.marker && !dead.has(p.event) ? [p.marker] : []));
      if (done.length > 0) await this.d.markers?.remove(done);
      reserve = Math.max(reserve, Math.ceil(((meter.used() - before) / chunk.length) * 1.2));
      decided += fits;
      report.applied += s.applied;
      report.duplicates += s.duplicates;
      report.ignored += s.ignored;
    }
    const later = pending.slice(decided);
    if (later.length > 0) {
      await this.d.send(await this.seal(later));
      report.deferred = later.length;
    }
    report.queries = meter.used() - start;
    return report;
  }

  private async open(m: InboxMessage): Promise<InboxEvent[] | null> {
    // An unreadable message keeps its markers: its opt-outs were acknowledged and stay in force.
    try {
      return JSON.parse(await this.d.pii.openService(m.sealed, aad(m.id))) as InboxEvent[];
    } catch {
      await this.d.deadEvents.record([
        {
          source: 'whatsapp',
          kind: 'inbox:unreadable',
          reason: 'inbox message does not open under the current keys',
          raw: { sealed: m.sealed },
        },
      ]);
      return null;
    }
  }
}

/** True for a message of the inbox queue (the outbox queue's messages are `{ kick }`). */
export function isInboxMessage(body: unknown): body is InboxMessage {
  return typeof body === 'object' && body !== null && (body as { inbox?: unknown }).inbox === 1;
}
