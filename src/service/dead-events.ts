/**
 * Readers skip, never drop (sync rule 8): an event of a signed delivery that could not be read is
 * counted, logged by kind and reason (never a value) and kept, encrypted, in a bounded table an
 * operator can inspect in the console; retention purges it with the dead letters.
 */
import type { SkippedEvent } from '../../connectors/types.ts';
import type { DeadEventRow } from '../core/types.ts';
import { newId } from '../crypto/encoding.ts';
import type { PiiCrypto } from '../crypto/pii.ts';
import { DEAD_EVENTS_KEPT, type Store } from '../store/port.ts';
import type { Log } from './log.ts';

/** The largest raw event kept (bytes of JSON); a bigger one is kept cut, and says so. */
const MAX_RAW = 16_384;
/** Reasons are built from schema paths; capped all the same. */
const MAX_REASON = 300;

/** Nesting kept of a raw event: deeper levels are replaced by a marker (a hostile body may nest thousands deep). */
const MAX_DEPTH = 32;

/**
 * A copy of a parsed JSON value cut at `depth` levels and at 1,000 entries per level, so keeping an
 * unreadable event never recurses without bound (JSON.stringify of a 10,000-deep array throws).
 */
export function bounded(value: unknown, depth: number): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth <= 0) return '[nested deeper than kept]';
  if (Array.isArray(value)) return value.slice(0, 1000).map((v) => bounded(v, depth - 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value).slice(0, 1000)) out[k] = bounded(v, depth - 1);
  return out;
}

/** A dead event as an operator sees it: the raw event only for roles that may read it. */
export interface DeadEventView {
  id: string;
  source: string;
  kind: string;
  reason: string;
  receivedAt: string;
  raw?: unknown;
}

export class DeadEvents {
  private readonly store: Store;
  private readonly pii: PiiCrypto;
  private readonly clock: () => Date;
  private readonly log: Log;

  constructor(deps: { store: Store; pii: PiiCrypto; clock: () => Date; log: Log }) {
    this.store = deps.store;
    this.pii = deps.pii;
    this.clock = deps.clock;
    this.log = deps.log;
  }

  /** Stores the skipped events of one delivery (one commit); resolves once they are durable. */
  async record(skipped: SkippedEvent[]): Promise<number> {
    if (skipped.length === 0) return 0;
    const at = this.clock().toISOString();
    const rows: DeadEventRow[] = await Promise.all(
      skipped.slice(0, DEAD_EVENTS_KEPT).map(async (e) => {
        const id = newId();
        let raw = JSON.stringify(bounded(e.raw ?? null, MAX_DEPTH)) ?? 'null';
        if (raw.length > MAX_RAW) raw = JSON.stringify({ truncated: true, start: raw.slice(0, MAX_RAW) });
        return {
          id,
          source: e.source,
          kind: e.kind.slice(0, 64),
          reason: e.reason.slice(0, MAX_REASON),
          payloadEnc: await this.pii.sealService(raw, `dead-event:${id}`),
          receivedAt: at,
        };
      }),
    );
    const r = await this.store.commit({ deadEvents: rows });
    if (r.status !== 'committed') throw new Error(`dead events not stored: ${r.status}`);
    // Kinds and reasons only: reasons name schema paths and expectations, never a value.
    const byReason = new Map<string, number>();
    for (const e of rows) {
      const k = `${e.source} ${e.kind}: ${e.reason}`;
      byReason.set(k, (byReason.get(k) ?? 0) + 1);
    }
    this.log.warn(
      { skipped: rows.length, reasons: Object.fromEntries(byReason) },
      'webhook events skipped as unreadable (kept for inspection)',
    );
    return rows.length;
  }

  /** The newest dead events; `withRaw` decrypts the events themselves (auditor and admin only). */
  async list(limit: number, withRaw: boolean): Promise<{ total: number; events: DeadEventView[] }> {
    const rows = await this.store.listDeadEvents(limit);
    const events = await Promise.all(
      rows.map(async (r) => {
        const view: DeadEventView = {
          id: r.id,
          source: r.source,
          kind: r.kind,
          reason: r.reason,
          receivedAt: r.receivedAt,
        };
        if (withRaw) {
          try {
            view.raw = JSON.parse(await this.pii.openService(r.payloadEnc, `dead-event:${r.id}`));
          } catch {
            view.raw = { unreadable: 'encrypted under a key this deployment no longer has' };
          }
        }
        return view;
      }),
    );
    return { total: await this.store.countDeadEvents(), events };
  }
}
