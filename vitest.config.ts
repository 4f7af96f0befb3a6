import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { configDefaults, defineConfig } from 'vitest/config';
import { loadMigrations } from './src/store/migrations.node.ts';
import { GRAPH, HUBSPOT } from './test/workers/sim-control.ts';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'node',
          include: ['src/**/*.test.ts', 'connectors/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'test/workers/**'],
          environment: 'node',
          testTimeout: 20_000,
          hookTimeout: 30_000,
        },
      },
      {
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: './wrangler.toml' },
            // wrangler.toml's Worker with its bindings (INBOX queue included), wrapped to count the inbox
            // messages in flight so tests can wait for the queue consumer (test/workers/entry.ts).
            main: './test/workers/entry.ts',
            // Workers has no file system: the test reads the migrations through this binding.
            miniflare: {
              bindings: {
                TEST_MIGRATIONS: loadMigrations().map(({ name, sql }) => ({ name, sql })),
                // Configuration of the Worker under test (test values only).
                NODE_ENV: 'test',
                LOG_LEVEL: 'warn',
                PII_KEY: 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=',
                API_KEYS:
                  'admin:workers-admin-token-0123456789,operator:workers-operator-token-0123456789,intake:workers-intake-token-0123456789,auditor:workers-auditor-token-0123456789',
                WHATSAPP_APP_SECRET: 'workers-app-secret',
                WHATSAPP_VERIFY_TOKEN: 'workers-verify-token',
                // The WhatsApp sender, against the Graph API simulator started by the globalSetup.
                WHATSAPP_ACCESS_TOKEN: GRAPH.accessToken,
                WHATSAPP_PHONE_NUMBER_ID: GRAPH.phoneNumberId,
                WHATSAPP_GRAPH_URL: inject('graphUrl'),
                // HubSpot sync, against the HubSpot simulator started by the globalSetup.
                HUBSPOT_ACCESS_TOKEN: HUBSPOT.sim.accessToken,
                HUBSPOT_CLIENT_SECRET: HUBSPOT.sim.clientSecret,
                HUBSPOT_BASE_URL: inject('hubspotUrl'),
              },
            },
          })),
        ],
        test: {
          name: 'workers',
          include: ['test/workers/**/*.test.ts'],
          // Node side: the CRM and Graph API simulators and their control server (see the file).
          globalSetup: ['./test/workers/sim-setup.ts'],
          testTimeout: 20_000,
          hookTimeout: 30_000,
        },
      },
    ],
  },
});
