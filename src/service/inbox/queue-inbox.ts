/**
 * The Workers inbox (issue 17, issue 19 item 3): a signed WhatsApp delivery is acknowledged once
 * its minimised events are in a Cloudflare Queue (durable once `send` resolves), sealed under the
 * service key; D1 leaves the acknowledgement path. The queue consumer decides them against D1
 * within a per-invocation query budget: Cloudflare caps D1 queries per Worker invocation (1,000 on
 * Workers Paid, 50 on Free; https://developers.cloudflare.com/d1/platform/limits/), so what a
 * budget does not cover is sent on as a new message and decided by another invocation.
 */
import type { InboundEvent } from '../../../connectors/whatsapp/parse.ts';
import { newId } from '../../crypto/encoding.ts';
import type { PiiCrypto } from '../../crypto/pii.ts';
import type { DeadEvents } from '../dead-events.ts';
import type { InboundSummary, InboundWhatsApp } from '../inbound-whatsapp.ts';
import type { Log } from '../log.ts';
import type { InboxEvent } from './classify.ts';
import type { Accepted } from './durable-inbox.ts';

/** One queue message: up to `perMessage` minimised events, sealed (AAD `inbox-message:<id>`). */
export interface InboxMessage {
  inbox: 1;
  id: string;
  sealed: string;
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

/** Sent on as its own message: a set of events decided as one (never split between invocations). */
const aad = (id: string) => `inbox-message:${id}`;

export class QueueInbox {
  private readonly d: QueueInboxDeps;
  private readonly perMessage: number;

  constructor(deps: QueueInboxDeps) {
    this.d = deps;
    this.perMessage = deps.perMessage ?? 25;
  }

  /** Classifies a delivery and sends what matters to the queue; resolves once the queue has it. */
  async accept(events: readonly InboundEvent[]): Promise<Accepted> {
    const c = this.d.inbound.classify(events, this.d.clock().toISOString());
    if (c.records.length > 0) await this.d.send(await this.seal(c.records));
    this.d.inbound.links.remember(c.linkKeys);
    return { stored: c.records.length, dropped: c.dropped };
  }

  private async seal(records: InboxEvent[]): Promise<InboxMessage[]> {
    const out: InboxMessage[] = [];
    for (let i = 0; i < records.length; i += this.perMessage) {
      const id = newId();
      const chunk = JSON.stringify(records.slice(i, i + this.perMessage));
      out.push({ inbox: 1, id, sealed: await this.d.pii.sealService(chunk, aad(id)) });
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
    const pending: InboxEvent[] = [];
    for (const m of messages) pending.push(...((await this.open(m)) ?? []));
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
      const s = await this.d.inbound.decide(
        chunk.map((event) => ({ event })),
        {
          poisoned: async (p, error) => {
            if (!lastAttempt) throw error;
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
