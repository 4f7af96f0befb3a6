/**
 * Readers of each enabled CRM's data model (HubSpot properties API, Salesforce sObject describe),
 * built from the configuration, for the console's property picker and the check before a mapping
 * is saved. Node only: the Worker bundle does not carry the properties client.
 */
import { createHubSpotSchema } from '../../connectors/hubspot/schema.ts';
import { createSalesforceSchema } from '../../connectors/salesforce/schema.ts';
import type { ConnectorName, CrmSchema } from '../../connectors/types.ts';
import type { Config } from '../config.ts';

/** Short budgets: a person is waiting on the page. */
const QUICK = { attempts: 2, minBackoffMs: 200, maxWaitMs: 2_000, timeoutMs: 10_000 };

/**
 * @example crmSchemasFor(config).hubspot?.describe(['contact'])
 */
export function crmSchemasFor(c: Config): Partial<Record<ConnectorName, CrmSchema>> {
  const out: Partial<Record<ConnectorName, CrmSchema>> = {};
  if (c.HUBSPOT_ACCESS_TOKEN)
    out.hubspot = createHubSpotSchema({
      accessToken: c.HUBSPOT_ACCESS_TOKEN,
      baseUrl: c.HUBSPOT_BASE_URL,
      ...QUICK,
    });
  if (c.SALESFORCE_CLIENT_ID && c.SALESFORCE_CLIENT_SECRET)
    out.salesforce = createSalesforceSchema({
      loginUrl: c.SALESFORCE_LOGIN_URL,
      clientId: c.SALESFORCE_CLIENT_ID,
      clientSecret: c.SALESFORCE_CLIENT_SECRET,
      apiVersion: c.SALESFORCE_API_VERSION,
      orgId: c.SALESFORCE_ORG_ID ?? null,
      ...QUICK,
    });
  return out;
}
