/**
 * Sync rules 4 and 4a, order-independence through the service and a real SQLite file: the same
 * changes for one person (their own opt-outs, CRM opt-outs and opt-ins, a double opt-in request and
 * its confirmations, random times with ties) delivered in different orders end in one status, before
 * and after the expiry sweep, and it is the status the pure core gives for the changes in time order.
 * The core alone, with many more cases: src/core/consent-order.property.test.ts; in workerd over D1:
 * test/workers/consent-order.test.ts.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describeOrder,
  foldCore,
  historyWithOrders,
  statusesThroughService,
} from '../helpers/consent-history.ts';
import { runs, timeoutFor } from '../helpers/fuzz.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

const UNIT = 10 * 60_000; // a tick: ten minutes
const TTL = 6; // DOI_TTL_HOURS=1: six ticks
const N = 40;

let h: Harness;
let serial = 0;
/** Fictitious German mobile numbers, fresh for every delivery order. */
const phone = () => `+4915123${String(600_000 + ++serial)}`;

beforeAll(async () => {
  h = await startHarness({ whatsapp: false, env: { DOI_TTL_HOURS: '1' } });
});
afterAll(async () => {
  await h?.close();
});

describe('order-independence through the service (SQLite)', () => {
  it(
    "every delivery order ends in the same status, the core's for the same changes, before and after expiry",
    async () => {
      await fc.assert(
        fc.asyncProperty(
          historyWithOrders(TTL, 3),
          fc.integer({ min: 0, max: TTL + 3 }),
          async ({ events, orders }, wait) => {
            const target = {
              services: h.services,
              now: () => h.now().getTime(),
              advanceTo: (ms: number) => h.advance(Math.max(0, ms - h.now().getTime())),
            };
            const r = await statusesThroughService(target, events, orders, { unitMs: UNIT, wait, phone });
            const core = { start: r.start, unitMs: UNIT, ttlMs: TTL * UNIT };
            const expected = foldCore(orders[0] ?? [], core);
            const expired = foldCore(orders[0] ?? [], { ...core, sweepAt: r.last + 1 + wait });
            for (const [i, order] of orders.entries()) {
              expect(r.before[i], `before expiry: ${describeOrder(order)}`).toBe(expected);
              expect(r.after[i], `after expiry: ${describeOrder(order)}`).toBe(expired);
            }
            h.advance(24 * 3_600_000);
          },
        ),
        { numRuns: runs(N, 'http') },
      );
    },
    timeoutFor(N, 1_000, 'http'),
  );
});
