/**
 * The Node inbox (issue 17): a signed WhatsApp delivery is acknowledged once its minimised events
 * are committed to the inbox file (`inbox.db`, one group-committed write, encrypted under the service
 * key, with keyed hashes of each identifier for the send guard); a decider loop then drains the inbox
 * in batches against the main database, and deletes each batch's rows from the inbox file after the
 * main database's commits that applied them.
 *
 * Crash safety: a row is deleted only after its effect is committed, and every effect is keyed by the
 * event's dedupe key, so a row decided again after a crash is a no-op: decided exactly once.
 */
import type { InboundEvent } from '../../../connectors/whatsapp/parse.ts';
import { identifiersOf } from '../../core/identity.ts';
import { newId } from '../../crypto/encoding.ts';
import type { PiiCrypto } from '../../crypto/pii.ts';
import type { InboxRow } from '../../store/inbox-sql.ts';
import type { InboxStore } from '../../store/inbox-store.ts';
import type { DeadEvents } from '../dead-events.ts';
import {
  byPerson,
  type DecideOptions,
  type InboundSummary,
  type InboundWhatsApp,
  type Pending,
} from '../inbound-whatsapp.ts';
import type { Log } from '../log.ts';
import { type InboxEvent, optOutScope } from './classify.ts';

/** What acknowledging one delivery did (counts only). */
export interface Accepted {
  /** minimised events stored in the inbox */
  stored: number;
  /** readable events that change nothing: counted, never stored */
  dropped: number;
}

export interface InboxStats {
  acknowledged: number;
  decided: number;
  dead: number;
  batches: number;
  /** the thread the decider runs on (`worker_threads.threadId`: 0 is the main thread) */
  threadId?: number;
  /** times the decider thread was restarted after it died (Node's decider thread) */
  restarts?: number;
}

/**
 * What the webhook route, the send guard and the server need of the Node inbox: `DurableInbox`
 * (decider on this thread) and `DeciderThread` (decider on a worker thread) both provide it.
 */
export interface Inbox {
  accept(events: readonly InboundEvent[]): Promise<Accepted>;
  optOutPending(hashes: string[], purpose: string): Promise<boolean>;
  start(): void;
  stop(): Promise<void>;
  drained(): Promise<InboundSummary>;
  readonly stats: InboxStats;
}

export interface DurableInboxDeps {
  /** the inbox file (appends, reads, deletes, the send guard); decisions go to the services' store */
  inbox: InboxStore;
  pii: PiiCrypto;
  inbound: InboundWhatsApp;
  deadEvents: DeadEvents;
  clock: () => Date;
  log: Log;
  /** events decided per batch (one group commit) */
  batchSize?: number;
  /** a failing event is retried this often before it goes to the dead-event table */
  maxAttempts?: number;
  /** test hook: runs after a batch's decisions are committed, before its rows leave the inbox file */
  afterDecided?: () => Promise<void> | void;
  /** called after each batch with the counters (the decider thread reports them to the main thread) */
  onBatch?: (stats: InboxStats) => void;
}

const aad = (id: string) => `inbox:${id}`;

/**
 * Events decided per slice of a batch read: each slice holds the event loop for its decisions and
 * its group commit (about 0.6 ms per event on 2 shared cores), so webhooks wait at most one slice.
 */
const DECIDE_SLICE = 64;

/** Resolves after the event loop has polled for I/O once (an immediate queued from an immediate). */
const turn = () => new Promise<void>((ok) => setImmediate(() => setImmediate(ok)));

/** A batch cut into slices of about `size` events, never splitting one person's events. */
function slices(batch: Pending[], size: number): Pending[][] {
  const out: Pending[][] = [];
  let current: Pending[] = [];
  for (const group of byPerson(batch)) {
    if (current.length > 0 && current.length + group.length > size) {
      out.push(current);
      current = [];
    }
    current.push(...group);
  }
  if (current.length > 0) out.push(current);
  return out;
}

export class DurableInbox implements Inbox {
  private readonly d: DurableInboxDeps;
  private readonly batchSize: number;
  private readonly maxAttempts: number;
  /** failed attempts per row (in memory: a restart gives an event fresh attempts) */
  private readonly attempts = new Map<string, number>();
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = true;
  private timer: ReturnType<typeof setInterval> | null = null;
  readonly stats: InboxStats = { acknowledged: 0, decided: 0, dead: 0, batches: 0 };
  /** what the decider did since the last `drained()` */
  private tally: InboundSummary = { applied: 0, duplicates: 0, ignored: 0 };

  constructor(deps: DurableInboxDeps) {
    this.d = deps;
    this.batchSize = deps.batchSize ?? 256;
    this.maxAttempts = deps.maxAttempts ?? 3;
  }

  /**
   * Classifies a delivery's events and appends the ones that matter in one commit; resolves once
   * that commit is durable (then the webhook may answer 200). Starts the decider.
   */
  async accept(events: readonly InboundEvent[]): Promise<Accepted> {
    const receivedAt = this.d.clock().toISOString();
    const c = this.d.inbound.classify(events, receivedAt);
    if (c.records.length > 0) {
      const rows = await Promise.all(c.records.map((r) => this.row(r, receivedAt)));
      await this.d.inbox.append(rows);
      this.stats.acknowledged += rows.length;
      this.kick();
    }
    this.d.inbound.links.remember(c.linkKeys);
    return { stored: c.records.length, dropped: c.dropped };
  }

  private async row(event: InboxEvent, receivedAt: string): Promise<InboxRow> {
    const id = newId();
    const scope = optOutScope(event);
    // Hashes only for undecided opt-outs: the send guard's only question of the inbox.
    const hashes = scope
      ? await Promise.all(identifiersOf(event.who).map((i) => this.d.pii.lookupHash(i.value)))
      : [];
    return {
      id,
      receivedAt,
      optOut: scope === null ? null : scope === 'all' ? '*' : scope.join(','),
      hashes,
      payloadEnc: await this.d.pii.sealService(JSON.stringify(event), aad(id)),
    };
  }

  /**
   * True when an acknowledged, undecided opt-out names any of these identifier hashes for the
   * purpose: a STOP acknowledged a moment before a send still stops it.
   */
  async optOutPending(hashes: string[], purpose: string): Promise<boolean> {
    const scopes = await this.d.inbox.optOuts(hashes);
    return scopes.some((s) => s === '*' || s.split(',').includes(purpose));
  }

  /** Starts the decider: drains what a previous run left, then runs after each append. */
  start(backstopMs = 1_000): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.timer = setInterval(() => this.kick(), backstopMs);
    this.timer.unref?.();
    this.kick();
  }

  /** Stops the decider after the batch in hand (undecided rows stay for the next start). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /**
   * Resolves once the inbox is empty (every acknowledged event decided), with what the decider did
   * since the last call (applied, duplicates, ignored); for tests and benchmarks.
   */
  async drained(): Promise<InboundSummary> {
    for (;;) {
      if (this.running) await this.running;
      else if ((await this.d.inbox.depth()) === 0) {
        const out = this.tally;
        this.tally = { applied: 0, duplicates: 0, ignored: 0 };
        return out;
      } else {
        this.kick(true);
        await this.running;
      }
    }
  }

  /**
   * Runs the decider (one run at a time; a kick during a run makes it go round again); `force`: even
   * when stopped (one pass, for `drained`). The decider thread calls it when the main thread appended.
   */
  kick(force = false): void {
    if (this.stopped && !force) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.loop(force).finally(() => {
      this.running = null;
      if (this.again && !this.stopped) this.kick();
    });
  }

  private async loop(force: boolean): Promise<void> {
    do {
      this.again = false;
      try {
        while ((force || !this.stopped) && (await this.drainOnce()) > 0) {}
      } catch (e) {
        this.d.log.error({ err: (e as Error).name }, 'inbox batch failed; retried on the next pass');
        return;
      }
    } while (this.again && !this.stopped);
  }

  /** Decides one batch; returns how many rows it took. */
  async drainOnce(): Promise<number> {
    const rows = await this.d.inbox.read(this.batchSize);
    if (rows.length === 0) return 0;
    // No `id` on the events: their units delete nothing (the rows are in the other file).
    const idOf = new Map<Pending, string>();
    const pending: Pending[] = [];
    const unreadable: InboxRow[] = [];
    for (const r of rows) {
      try {
        const p: Pending = { event: JSON.parse(await this.d.pii.openService(r.payloadEnc, aad(r.id))) };
        idOf.set(p, r.id);
        pending.push(p);
      } catch {
        unreadable.push(r);
      }
    }
    const dead: string[] = [];
    const failed = new Set<string>();
    const options: DecideOptions = {
      poisoned: async (p, error) => {
        const id = idOf.get(p) as string;
        const n = (this.attempts.get(id) ?? 0) + 1;
        this.attempts.set(id, n);
        if (n < this.maxAttempts) {
          failed.add(id);
          return;
        }
        this.attempts.delete(id);
        dead.push(id);
        await this.d.deadEvents.record([
          {
            source: 'whatsapp',
            kind: `inbox:${p.event.t}`,
            reason: `decision failed ${n} times: ${(error as Error)?.name ?? 'Error'}`,
            raw: p.event,
          },
        ]);
      },
    };
    // Decided in slices of whole people (a person's events stay in one slice, in order), each one
    // batch for the decider (one read, one group commit). A slice starts once the event loop has had a
    // turn since the one before, so webhooks arriving meanwhile are acknowledged in between; slices do
    // not wait for each other's fsync (they share no person).
    const running: Array<Promise<InboundSummary>> = [];
    for (const slice of slices(pending, DECIDE_SLICE)) {
      if (running.length > 0) await turn();
      running.push(this.d.inbound.decide(slice, options));
    }
    const summary: InboundSummary = { applied: 0, duplicates: 0, ignored: 0 };
    for (const s of await Promise.all(running)) {
      summary.applied += s.applied;
      summary.duplicates += s.duplicates;
      summary.ignored += s.ignored;
    }
    if (unreadable.length > 0) {
      // Sealed under a key this deployment no longer has: kept as a dead event, sealed as it was.
      dead.push(...unreadable.map((r) => r.id));
      await this.d.deadEvents.record(
        unreadable.map((r) => ({
          source: 'whatsapp',
          kind: 'inbox:unreadable',
          reason: 'inbox row does not open under the current keys',
          raw: { sealed: r.payloadEnc },
        })),
      );
    }
    // Every decision above is committed (and synced) to the main database: only now are the rows
    // deleted from the inbox file. A crash in between decides them again, each a no-op by its dedupe key.
    const done = rows.map((r) => r.id).filter((id) => !failed.has(id));
    await this.d.afterDecided?.();
    await this.d.inbox.delete(done);
    // An erasure decided in this batch: the deleted rows' sealed identifiers leave the inbox's WAL too.
    if (pending.some((p) => p.event.t === 'erasure_confirm' && !failed.has(idOf.get(p) as string)))
      await this.d.inbox.scrub();
    this.stats.decided += done.length - dead.length;
    this.stats.dead += dead.length;
    this.stats.batches += 1;
    this.tally.applied += summary.applied;
    this.tally.duplicates += summary.duplicates;
    this.tally.ignored += summary.ignored - failed.size;
    if (dead.length > 0)
      this.d.log.warn({ dead: dead.length }, 'inbox events that could not be decided kept as dead events');
    this.d.onBatch?.(this.stats);
    return failed.size === rows.length ? 0 : rows.length;
  }
}
