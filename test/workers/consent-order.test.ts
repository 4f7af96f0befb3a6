/**
 * Sync rules 4 and 4a inside workerd over D1: the same changes for one person, delivered in
 * different orders through the service, end in one status, before and after the expiry sweep, and
 * it is the status the pure core gives for the changes in time order. The same property on Node and
 * SQLite: test/e2e/consent-order.property.test.ts.
 */
import { reset } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import keywords from '../../catalog/keywords.json' with { type: 'json' };
import templates from '../../catalog/templates.json' with { type: 'json' };
import texts from '../../catalog/texts.json' with { type: 'json' };
import { buildServices, type Services } from '../../src/app/services.ts';
import { parseConfig } from '../../src/config.ts';
import { Catalog } from '../../src/service/catalog-service.ts';
import { silentLog } from '../../src/service/log.ts';
import { openD1Store } from '../../src/store/d1.ts';
import {
  describeOrder,
  foldCore,
  historyWithOrders,
  type ServiceUnderTest,
  statusesThroughService,
} from '../helpers/consent-history.ts';

const UNIT = 10 * 60_000;
const TTL = 6;

let services: Services;
let clock = Date.parse('2026-03-02T09:00:00.000Z');
let serial = 0;
const phone = () => `+4915123${String(700_000 + ++serial)}`; // fictitious

beforeAll(async () => {
  await reset();
  const store = openD1Store({ db: env.DB, migrations: env.TEST_MIGRATIONS });
  await store.migrate();
  services = await buildServices({
    // No WhatsApp or CRM credentials: only the consent decisions and D1 are under test.
    config: parseConfig({
      NODE_ENV: 'test',
      PII_KEY: env.PII_KEY,
      API_KEYS: env.API_KEYS,
      WHATSAPP_APP_SECRET: env.WHATSAPP_APP_SECRET,
      WHATSAPP_VERIFY_TOKEN: env.WHATSAPP_VERIFY_TOKEN,
      DOI_TTL_HOURS: '1',
    }),
    store,
    catalog: Catalog.load({ texts, keywords, templates }),
    log: silentLog,
    clock: () => new Date(clock),
  });
});

describe('order-independence in workerd (D1)', () => {
  it("every delivery order ends in the same status, the core's for the same changes, before and after expiry", async () => {
    const target: ServiceUnderTest = {
      get services() {
        return services;
      },
      now: () => clock,
      advanceTo: (ms) => {
        clock = Math.max(clock, ms);
      },
    };
    await fc.assert(
      fc.asyncProperty(
        historyWithOrders(TTL, 2),
        fc.integer({ min: 0, max: TTL + 3 }),
        async ({ events, orders }, wait) => {
          const r = await statusesThroughService(target, events, orders, { unitMs: UNIT, wait, phone });
          const core = { start: r.start, unitMs: UNIT, ttlMs: TTL * UNIT };
          const expected = foldCore(orders[0] ?? [], core);
          const expired = foldCore(orders[0] ?? [], { ...core, sweepAt: r.last + 1 + wait });
          for (const [i, order] of orders.entries()) {
            expect(r.before[i], `before expiry: ${describeOrder(order)}`).toBe(expected);
            expect(r.after[i], `after expiry: ${describeOrder(order)}`).toBe(expired);
          }
          clock += 24 * 3_600_000;
        },
      ),
      { numRuns: 15 },
    );
  }, 120_000);
});
