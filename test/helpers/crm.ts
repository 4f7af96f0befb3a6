/**
 * A consent-sync wired to the HubSpot and Salesforce simulators: the app is served on a loopback
 * port (so the simulators deliver signed webhooks and Outbound Messages over real HTTP), the
 * connectors use the real SDKs with fast retry budgets, and the clock follows the wall clock
 * (the simulators sign with it).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { createHubSpotConnector } from '../../connectors/hubspot/index.ts';
import { createSalesforceConnector } from '../../connectors/salesforce/index.ts';
import type { ConnectorName } from '../../connectors/types.ts';
import {
  type HubSpotSimulator,
  type HubSpotSimulatorOptions,
  startHubSpotSimulator,
} from '../sim/hubspot.ts';
import {
  type SalesforceSimOptions,
  type SalesforceSimulator,
  startSalesforceSimulator,
} from '../sim/salesforce.ts';
import { type Harness, type HarnessOptions, startHarness } from './harness.ts';

export const HUBSPOT = { token: 'test-hubspot-token', secret: 'test-hubspot-client-secret' };
export const SALESFORCE = {
  clientId: 'test-sf-client-id',
  clientSecret: 'test-sf-client-secret',
  orgId: '00D5e000000KQ2eEAG',
  webhookSecret: 'test-sf-webhook-secret',
};

export interface CrmHarness extends Harness {
  /** where the app is served, e.g. `http://127.0.0.1:PORT` */
  url: string;
  hubspot: HubSpotSimulator;
  salesforce: SalesforceSimulator;
  /** runs the outbox, delivers the CRMs' webhooks (echoes included), and repeats until all is quiet */
  settle(timeoutMs?: number): Promise<void>;
}

export interface CrmHarnessOptions extends HarnessOptions {
  hubspot?: Partial<HubSpotSimulatorOptions>;
  salesforce?: Partial<SalesforceSimOptions>;
  /** which connectors to enable (default both) */
  enable?: ConnectorName[];
  /** in-call retry budget of both connectors */
  attempts?: number;
  /** accept Salesforce Outbound Messages (default true: the simulator's workflow rule sends them) */
  outboundMessages?: boolean;
  /** the Salesforce connector's erase mode (default delete) */
  salesforceEraseMode?: 'delete' | 'should_forget';
}

/**
 * @example
 * const h = await startCrmHarness();
 * const id = h.hubspot.addContact({ mobilephone: '+447700900001' }); // example number
 */
export async function startCrmHarness(options: CrmHarnessOptions = {}): Promise<CrmHarness> {
  let app: ((req: Request) => Response | Promise<Response>) | null = null;
  const listener = getRequestListener((req) => (app ? app(req) : new Response('starting', { status: 503 })));
  const server = createServer(listener);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const enable = options.enable ?? ['hubspot', 'salesforce'];

  const hubspot = await startHubSpotSimulator({
    accessToken: HUBSPOT.token,
    clientSecret: HUBSPOT.secret,
    webhookUrl: `${url}/webhooks/hubspot`,
    faultRetryAfterSeconds: 0,
    ...options.hubspot,
  });
  const salesforce = await startSalesforceSimulator({
    clientId: SALESFORCE.clientId,
    clientSecret: SALESFORCE.clientSecret,
    orgId: SALESFORCE.orgId,
    outboundOnChange: {
      url: `${url}/webhooks/salesforce`,
      fields: ['WhatsApp_Opted_Out__c', 'WhatsApp_Marketing_Consent__c'],
    },
    ...options.salesforce,
  });
  const fast = { attempts: options.attempts ?? 4, minBackoffMs: 5, maxWaitMs: 2_000 };
  const h = await startHarness({
    clock: 'real',
    ...options,
    env: {
      ...(enable.includes('hubspot')
        ? {
            HUBSPOT_ACCESS_TOKEN: HUBSPOT.token,
            HUBSPOT_CLIENT_SECRET: HUBSPOT.secret,
            HUBSPOT_BASE_URL: hubspot.url,
          }
        : {}),
      ...(enable.includes('salesforce')
        ? {
            SALESFORCE_LOGIN_URL: salesforce.url,
            SALESFORCE_CLIENT_ID: SALESFORCE.clientId,
            SALESFORCE_CLIENT_SECRET: SALESFORCE.clientSecret,
            SALESFORCE_ORG_ID: SALESFORCE.orgId,
            SALESFORCE_WEBHOOK_SECRET: SALESFORCE.webhookSecret,
            // The simulator's workflow rule sends Outbound Messages (read back as signals).
            SALESFORCE_OUTBOUND_MESSAGES: options.outboundMessages === false ? 'off' : 'on',
          }
        : {}),
      ...options.env,
    },
    connectors: () => ({
      ...(enable.includes('hubspot')
        ? {
            hubspot: createHubSpotConnector({
              accessToken: HUBSPOT.token,
              clientSecret: HUBSPOT.secret,
              baseUrl: hubspot.url,
              requestsPerWindow: options.hubspot?.requestsPerWindow ?? 100,
              windowMs: options.hubspot?.windowMs ?? 10_000,
              ...fast,
            }),
          }
        : {}),
      ...(enable.includes('salesforce')
        ? {
            salesforce: createSalesforceConnector({
              loginUrl: salesforce.url,
              clientId: SALESFORCE.clientId,
              clientSecret: SALESFORCE.clientSecret,
              apiVersion: '62.0',
              orgId: SALESFORCE.orgId,
              webhookSecret: SALESFORCE.webhookSecret,
              outboundMessages: options.outboundMessages !== false,
              ...(options.salesforceEraseMode ? { eraseMode: options.salesforceEraseMode } : {}),
              ...fast,
            }),
          }
        : {}),
    }),
    expose: (fetch) => {
      app = fetch;
    },
  });

  const close = h.close.bind(h);
  return Object.assign(h, {
    url,
    hubspot,
    salesforce,
    async settle(timeoutMs = 20_000) {
      const until = Date.now() + timeoutMs;
      let rounds = 0;
      while (Date.now() < until) {
        const ran = await h.drain();
        const hs = await hubspot.flushWebhooks();
        const sf = await salesforce.flushOutbound();
        const counts = await h.services.store.countJobs();
        if (ran === 0 && hs.length === 0 && sf.length === 0 && counts.pending + counts.leased === 0) return;
        // Webhook rounds are bounded: an echo that caused a write would go on for ever.
        if (hs.length + sf.length > 0 && ++rounds > 10) throw new Error('webhooks keep coming: a sync loop');
        if (ran === 0) await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error('the outbox did not settle in time');
    },
    async close() {
      await close();
      await hubspot.close();
      await salesforce.close();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  });
}
