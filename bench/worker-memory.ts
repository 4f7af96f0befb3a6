/**
 * A bench-only Worker entry (bench/worker.ts): the same app as src/runtime/worker.ts, over the
 * in-memory store instead of D1, so the Worker's own CPU per request can be told apart from local
 * D1's (which, on Cloudflare, runs elsewhere and is not billed as the Worker's CPU). Never deployed.
 */
import keywords from '../catalog/keywords.json' with { type: 'json' };
import templates from '../catalog/templates.json' with { type: 'json' };
import texts from '../catalog/texts.json' with { type: 'json' };
import hubspotMapping from '../mappings/hubspot.json' with { type: 'json' };
import salesforceMapping from '../mappings/salesforce.json' with { type: 'json' };
import { buildServices } from '../src/app/services.ts';
import { parseConfig } from '../src/config.ts';
import { createApp } from '../src/http/app.ts';
import { consoleLog } from '../src/runtime/console-log.ts';
import { Catalog } from '../src/service/catalog-service.ts';
import { createMemoryStore } from '../src/store/memory.ts';
import { memoryMappingStorage } from '../src/sync/mappings.ts';

let app: Promise<ReturnType<typeof createApp>> | null = null;

export default {
  async fetch(request: Request, env: Record<string, unknown>): Promise<Response> {
    app ??= (async () => {
      const vars: Record<string, string> = {};
      for (const [k, v] of Object.entries(env)) if (typeof v === 'string') vars[k] = v;
      const config = parseConfig(vars);
      const store = createMemoryStore();
      await store.migrate();
      const services = await buildServices({
        config,
        store,
        catalog: Catalog.load({ texts, keywords, templates }),
        log: consoleLog(config.LOG_LEVEL),
        mappings: {
          storage: memoryMappingStorage(),
          defaults: { hubspot: hubspotMapping, salesforce: salesforceMapping },
        },
        onJobs: () => {}, // no queue consumer in this measurement: the jobs stay in the outbox
      });
      return createApp(services);
    })();
    return (await app).fetch(request);
  },
};
