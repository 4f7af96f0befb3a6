/** The shared scenarios (test/scenarios.ts) on Node, over SQLite; test/workers/scenarios.test.ts runs them in workerd. */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { type CrmHarness, startCrmHarness } from '../helpers/crm.ts';
import { SCENARIOS, type ScenarioDriver } from '../scenarios.ts';

let h: CrmHarness;
beforeAll(async () => {
  // HubSpot enabled, as in the workerd run (the CRM harness follows the wall clock).
  h = await startCrmHarness({ enable: ['hubspot'] });
});
afterAll(async () => {
  await h.close();
});

const driver: ScenarioDriver = {
  request: (path, init = {}) =>
    h.request(path, {
      ...(init.method ? { method: init.method } : {}),
      ...(init.role ? { role: init.role } : {}),
      ...(init.json !== undefined ? { json: init.json } : {}),
    }),
  webhook: (...changes) => h.webhook(...changes),
  drain: async () => {
    await h.drain();
  },
  sent: async () => h.graph.sent(),
  hubspot: {
    addContact: async (properties) => h.hubspot.addContact(properties),
    getContact: async (id) => h.hubspot.getContact(id),
  },
};

describe('shared scenarios on Node', () => {
  SCENARIOS.forEach((s, i) => {
    it(s.name, () => s.run(driver, 10 + i));
  });
});
