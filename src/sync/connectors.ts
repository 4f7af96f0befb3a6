/**
 * The typed registry of CRM connectors: which exist, how each is built from configuration, and
 * when each is enabled (its credentials are set). A new connector is one folder under
 * `connectors/` plus one entry here, and passes `test/connector-contract.ts`.
 */
import { createHubSpotConnector } from '../../connectors/hubspot/index.ts';
import { createSalesforceConnector } from '../../connectors/salesforce/index.ts';
import type { Connector, ConnectorName } from '../../connectors/types.ts';
import type { Config } from '../config.ts';

export const CONNECTORS = ['hubspot', 'salesforce'] as const satisfies readonly ConnectorName[];

interface Entry {
  enabled(config: Config): boolean;
  build(config: Config): Connector;
}

const REGISTRY: Record<ConnectorName, Entry> = {
  hubspot: {
    enabled: (c) => Boolean(c.HUBSPOT_ACCESS_TOKEN),
    build: (c) =>
      createHubSpotConnector({
        accessToken: c.HUBSPOT_ACCESS_TOKEN as string,
        clientSecret: c.HUBSPOT_CLIENT_SECRET ?? null,
        baseUrl: c.HUBSPOT_BASE_URL,
        requestsPerWindow: c.HUBSPOT_REQUESTS_PER_10S,
        windowMs: 10_000,
      }),
  },
  salesforce: {
    enabled: (c) => Boolean(c.SALESFORCE_CLIENT_ID && c.SALESFORCE_CLIENT_SECRET),
    build: (c) =>
      createSalesforceConnector({
        loginUrl: c.SALESFORCE_LOGIN_URL,
        clientId: c.SALESFORCE_CLIENT_ID as string,
        clientSecret: c.SALESFORCE_CLIENT_SECRET as string,
        apiVersion: c.SALESFORCE_API_VERSION,
        orgId: c.SALESFORCE_ORG_ID ?? null,
        webhookSecret: c.SALESFORCE_WEBHOOK_SECRET ?? null,
        outboundMessages: c.SALESFORCE_OUTBOUND_MESSAGES === 'on',
        concurrency: c.SALESFORCE_CONCURRENCY,
        eraseMode: c.SALESFORCE_ERASE_MODE,
      }),
  },
};

/**
 * The enabled connectors; `overrides` replaces a built one (tests and benchmarks tune budgets).
 *
 * @example
 * const connectors = buildConnectors(config); // Map { 'hubspot' => Connector } when only HubSpot is configured
 */
export function buildConnectors(
  config: Config,
  overrides: Partial<Record<ConnectorName, Connector>> = {},
): Map<ConnectorName, Connector> {
  const out = new Map<ConnectorName, Connector>();
  for (const name of CONNECTORS) {
    const given = overrides[name];
    if (given) out.set(name, given);
    else if (REGISTRY[name].enabled(config)) out.set(name, REGISTRY[name].build(config));
  }
  return out;
}
