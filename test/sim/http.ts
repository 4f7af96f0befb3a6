/** Small HTTP helpers the simulators share (node:http servers on loopback). */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The request body as text (empty string when there is none). */
export async function readText(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The request body parsed as JSON, the raw text when it is not JSON, or null when empty. */
export async function readBody(req: IncomingMessage): Promise<unknown> {
  const text = await readText(req);
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Request headers as one string each (repeated headers joined). */
export function flatten(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(req.headers)) {
    if (value !== undefined) out[key] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** The value when it is a plain object, else undefined. */
export function obj(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

/**
 * Random faults: `rate` of the authorised calls fail, at random positions: in every window of ten
 * calls exactly `round(rate × 10)` are picked (so a short run gets its share too, not a lucky few).
 * Kinds are dealt from a shuffled deck of `kinds` (reshuffled when empty), so every kind comes up in
 * turn; a kind that does not fit the call (a per-record fault on a read) stays on the deck, and the
 * fault is owed to the next call that fits one.
 */
export interface RandomFaults<K extends string> {
  rate: number;
  kinds: K[];
  /** a seeded generator, so a run can be repeated */
  random: () => number;
  /** share of a batch's records a `partial` (or Salesforce `lock`) fault hits (default 0.3) */
  recordRate?: number;
}

/** One API write as the simulator applied it, for ordering and idempotency checks. */
export interface AppliedWrite {
  /** arrival order over the simulator's life */
  seq: number;
  at: number;
  properties: Record<string, string | number | boolean | null>;
  /** HubSpot's `objectWriteTraceId` (null for Salesforce, which has none) */
  trace: string | null;
  /** false when the caller never got the answer (a `late` or `reset` fault) */
  answered: boolean;
}

/**
 * Sends the status line, headers (with the full Content-Length) and half the body, then destroys
 * the socket: a connection dropped mid-response.
 */
export function sendHalf(
  res: ServerResponse,
  status: number,
  headers: Record<string, string>,
  text: string,
): void {
  res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(text)) });
  res.write(text.slice(0, Math.floor(text.length / 2)), () => res.socket?.destroy());
}

/** Deals the fault of each call from `faults` (see `RandomFaults`); undefined: no fault. */
export function faultDealer<K extends string>(
  faults: RandomFaults<K>,
): (fits: (kind: K) => boolean) => K | undefined {
  const shuffle = <T>(items: T[]): T[] => {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(faults.random() * (i + 1));
      [items[i], items[j]] = [items[j] as T, items[i] as T];
    }
    return items;
  };
  const WINDOW = 10;
  const perWindow = Math.round(faults.rate * WINDOW);
  let slots: boolean[] = [];
  let owed = 0;
  let deck: K[] = [];
  return (fits) => {
    if (slots.length === 0) slots = shuffle(Array.from({ length: WINDOW }, (_, i) => i < perWindow));
    if (slots.pop()) owed += 1;
    if (owed === 0) return undefined;
    if (deck.length === 0) deck = shuffle([...faults.kinds]);
    const i = deck.findIndex(fits);
    if (i < 0) return undefined;
    owed -= 1;
    return deck.splice(i, 1)[0];
  };
}
