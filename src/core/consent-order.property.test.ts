/**
 * Sync rules 4 and 4a, order-independence on the pure core: a person's changes (their own opt-outs,
 * CRM opt-outs and opt-ins, a double opt-in request and its confirmations, random times with ties)
 * end in one status whatever order they are delivered in, before and after the expiry sweep.
 * The same property over the service and SQLite: test/e2e/consent-order.property.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  describeOrder,
  foldCore,
  type Happening,
  historyWithOrders,
} from '../../test/helpers/consent-history.ts';
import { runs } from '../../test/helpers/fuzz.ts';

const TICK = 1000;
const TTL = 6;
const T0 = Date.UTC(2026, 0, 1);
const fold = (order: Happening[], sweepAt?: number) =>
  foldCore(order, {
    start: T0,
    unitMs: TICK,
    ttlMs: TTL * TICK,
    ...(sweepAt === undefined ? {} : { sweepAt }),
  });

describe('order-independence (sync rules 4 and 4a)', () => {
  it('every delivery order of the same changes ends in the same status, before and after expiry', () => {
    fc.assert(
      fc.property(
        historyWithOrders(TTL, 20),
        fc.integer({ min: 0, max: TTL + 3 }),
        ({ events, orders }, wait) => {
          const last = Math.max(...events.map((e) => e.tick));
          for (const sweepAt of [undefined, last + wait]) {
            const statuses = orders.map((o) => fold(o, sweepAt));
            const first = statuses[0];
            for (const [i, s] of statuses.entries()) {
              expect(s, `${describeOrder(orders[i] ?? [])} vs ${describeOrder(orders[0] ?? [])}`).toBe(first);
            }
          }
        },
      ),
      { numRuns: runs(1000) },
    );
  });

  it('with two requests, no delivery order ends opted in unless time order does (the limit errs towards less consent)', () => {
    fc.assert(
      fc.property(
        historyWithOrders(TTL, 20, 2),
        fc.integer({ min: 0, max: TTL + 3 }),
        ({ events, orders }, wait) => {
          const last = Math.max(...events.map((e) => e.tick));
          for (const sweepAt of [undefined, last + wait]) {
            const inTimeOrder = fold(orders[0] ?? [], sweepAt);
            for (const order of orders) {
              if (fold(order, sweepAt) !== 'opted_in') continue;
              expect(inTimeOrder, `${describeOrder(order)} vs ${describeOrder(orders[0] ?? [])}`).toBe(
                'opted_in',
              );
            }
          }
        },
      ),
      { numRuns: runs(1000) },
    );
  });
});
