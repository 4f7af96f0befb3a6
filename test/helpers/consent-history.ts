/**
 * Random consent histories of one person and one purpose, and the orders they may arrive in, for the
 * order-independence properties (sync rules 4 and 4a): the same changes must end in the same status
 * whatever order Meta and the CRMs deliver them in. Used on the pure core, on the service over
 * SQLite, and in workerd over D1.
 *
 * A history: any number of the person's own opt-outs (STOP, Meta's stop, error 131050, the API),
 * CRM opt-outs and trusted CRM opt-ins, and at most one double opt-in request with the person's
 * confirmations (some after the request ran out). Times are whole ticks, so ties happen.
 *
 * The one constraint on the order is causal: a confirmation answers the message a request sent, so
 * it is never delivered before its request (with two requests: before the first delivered). With
 * several requests, a confirmation does not say which one it answers, so overlapping requests
 * delivered out of order can end differently; the properties check one request exactly, and two
 * only for never ending opted in where time order does not (docs/CONSENT-RULES.md, limits).
 */
import fc from 'fast-check';
import type { Services } from '../../src/app/services.ts';
import { decide, type Intent, isPersonsOwn } from '../../src/core/consent.ts';
import type { ConsentStatus, PurposeState, Source } from '../../src/core/types.ts';

export interface Happening {
  intent: Exclude<Intent, 'expire' | 'evidence'>;
  source: Source;
  /** whole ticks after the history's start */
  tick: number;
}

/** The ticks a history spans; the request's window (TTL) is given in ticks by the caller. */
export const SPAN = 20;

const person = fc.constantFrom<Source>('whatsapp', 'api', 'meta_preferences', 'meta_status');
const crm = fc.constantFrom<Source>('hubspot', 'salesforce');
const tick = fc.integer({ min: 0, max: SPAN });

/**
 * A random history for a request window of `ttlTicks` (some confirmations come after it), with one
 * double opt-in request, or two (then a confirmation may answer either: see the file's comment).
 *
 * @example
 * fc.assert(fc.property(history(6), (events) => …));
 */
export function history(ttlTicks: number, requests: 1 | 2 = 1): fc.Arbitrary<Happening[]> {
  const each = (intent: Happening['intent'], source: fc.Arbitrary<Source>, max: number) =>
    fc.array(
      fc.record({ source, tick }).map((e) => ({ intent, ...e })),
      { maxLength: max },
    );
  const doubleOptIn = fc.option(
    fc
      .tuple(
        fc.constantFrom<Source>('form', 'whatsapp', 'hubspot', 'salesforce'),
        tick,
        fc.array(fc.integer({ min: 0, max: ttlTicks + 2 }), { maxLength: 2 }),
      )
      .map(([source, at, delays]) => [
        { intent: 'request' as const, source, tick: at },
        ...delays.map((d) => ({ intent: 'confirm' as const, source: 'whatsapp' as const, tick: at + d })),
      ]),
    { nil: [] as Happening[] },
  );
  return fc
    .tuple(
      each('opt_out', person, 3),
      each('opt_out', crm, 3),
      each('grant', crm, 3),
      doubleOptIn,
      requests === 2 ? doubleOptIn : fc.constant([] as Happening[]),
    )
    .map((parts) => parts.flat())
    .filter((events) => events.length > 0);
}

/**
 * Orders `events` by `keys` (one random number per event), then moves each confirmation that would
 * come before its request to just after it (the causal constraint).
 */
export function deliveryOrder(events: Happening[], keys: number[]): Happening[] {
  const shuffled = events
    .map((e, i) => ({ e, k: keys[i] ?? i }))
    .sort((a, b) => a.k - b.k)
    .map((x) => x.e);
  const out: Happening[] = [];
  const held: Happening[] = [];
  let requested = !events.some((e) => e.intent === 'request');
  for (const e of shuffled) {
    if (e.intent === 'confirm' && !requested) held.push(e);
    else {
      out.push(e);
      if (e.intent === 'request') {
        requested = true;
        out.push(...held.splice(0));
      }
    }
  }
  return [...out, ...held];
}

/** A history with several delivery orders of it: random ones, and in time order and its reverse. */
export function historyWithOrders(
  ttlTicks: number,
  orders: number,
  requests: 1 | 2 = 1,
): fc.Arbitrary<{ events: Happening[]; orders: Happening[][] }> {
  return history(ttlTicks, requests).chain((events) =>
    fc
      .array(
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), {
          minLength: events.length,
          maxLength: events.length,
        }),
        {
          minLength: orders,
          maxLength: orders,
        },
      )
      .map((keys) => {
        const byTime = events.map((e) => e.tick + (e.intent === 'confirm' ? 0.5 : 0));
        return {
          events,
          orders: [
            deliveryOrder(events, byTime),
            deliveryOrder(
              events,
              byTime.map((t) => -t),
            ),
            ...keys.map((k) => deliveryOrder(events, k)),
          ],
        };
      }),
  );
}

/** A short description of an order for failure messages (no personal data: intents, sources, ticks). */
export const describeOrder = (order: Happening[]): string =>
  order.map((e) => `${e.intent}:${e.source}@${e.tick}`).join(' ');

/**
 * Delivers `order` to the pure core, ticks `unitMs` apart from `start`; then, when `sweepAt` is
 * given, runs the expiry sweep at that tick. Returns the final status.
 */
export function foldCore(
  order: Happening[],
  o: { start: number; unitMs: number; ttlMs: number; sweepAt?: number },
): ConsentStatus {
  const at = (tick: number) => new Date(o.start + tick * o.unitMs).toISOString();
  const base = { purpose: 'marketing', subjectId: 's1', ttlMs: o.ttlMs };
  let s: PurposeState | undefined;
  for (const e of order) {
    const d = decide(s, { ...base, ...e, byPerson: isPersonsOwn(e.source), occurredAt: at(e.tick) });
    if (d.next) s = d.next;
  }
  if (o.sweepAt !== undefined) {
    const d = decide(s, {
      ...base,
      intent: 'expire',
      source: 'system',
      byPerson: false,
      occurredAt: at(o.sweepAt),
    });
    if (d.next) s = d.next;
  }
  return s?.status ?? 'none';
}

/** A service graph with a clock the caller moves. */
export interface ServiceUnderTest {
  services: Services;
  now(): number;
  /** moves the clock forward to `ms` */
  advanceTo(ms: number): void;
}

/**
 * Delivers each order of one history to a fresh person through `ConsentService` (ticks `unitMs`
 * apart, all in the past when delivered, so no time is capped); reads each person's `marketing`
 * status; runs the expiry sweep `wait` ticks after the last change; reads them again.
 */
export async function statusesThroughService(
  t: ServiceUnderTest,
  events: Happening[],
  orders: Happening[][],
  o: { unitMs: number; wait: number; phone: () => string },
): Promise<{ start: number; last: number; before: ConsentStatus[]; after: ConsentStatus[] }> {
  const { services } = t;
  const start = t.now();
  const last = Math.max(...events.map((e) => e.tick));
  const at = (tick: number) => new Date(start + tick * o.unitMs).toISOString();
  t.advanceTo(start + (last + 1) * o.unitMs);
  const people: string[] = [];
  for (const order of orders) {
    const e164 = o.phone();
    people.push(e164);
    for (const e of order) {
      await services.consent.change({
        identity: { phone: e164 },
        intent: e.intent,
        purposes: ['marketing'],
        source: e.source,
        occurredAt: at(e.tick),
        evidence: { reason: 'order_property' },
        create: e.intent !== 'confirm',
        reply: null,
      });
    }
  }
  const read = () =>
    Promise.all(
      people.map(async (e164) => {
        const subject = await services.subjects.find(await services.subjects.hash(e164));
        const states = subject ? await services.store.getStates(subject.row.id) : [];
        return states.find((s) => s.purpose === 'marketing')?.status ?? 'none';
      }),
    );
  const before = await read();
  t.advanceTo(start + (last + 1 + o.wait) * o.unitMs);
  await services.expirePending();
  return { start, last, before, after: await read() };
}
