/**
 * `consent-sync doctor` for the Salesforce mapping's native section (issue 15): are the objects
 * there and readable (MessagingEndUser needs Messaging, the consent data model needs Data Protection
 * and Privacy), do the EngagementChannelType and DataUsePurpose records it names exist. `--fix`
 * creates the missing channel and purpose records. Each problem says what to enable in Setup.
 */
import { createSalesforceConnector } from '../../connectors/salesforce/index.ts';
import { ConnectorFailure } from '../../connectors/types.ts';
import type { Config } from '../config.ts';
import type { Mapping } from '../core/mapping.ts';
import { nativeConfig } from '../sync/native-sync.ts';
import type { Check } from './output.ts';

const SETUP: Record<string, string> = {
  MessagingEndUser:
    'turn on Messaging in Setup → Messaging Settings and add a WhatsApp channel (Digital Engagement / Agentforce Contact Center), and give the integration user read/edit on Messaging Users',
  Individual:
    'turn on Setup → Data Protection and Privacy → "Make data protection details available in records", and give the integration user access to Individuals',
  ContactPointTypeConsent:
    'turn on Data Protection and Privacy (Setup), then give the integration user create/edit on Contact Point Type Consents',
  EngagementChannelType:
    'turn on Data Protection and Privacy (Setup), then give the integration user create/read on Engagement Channel Types',
  DataUsePurpose:
    'turn on Data Protection and Privacy (Setup), then give the integration user create/read on Data Use Purposes',
};

/**
 * @example await checkNative(config, mapping, false, checks) // pushes one check per object and record
 */
export async function checkNative(
  config: Config,
  mapping: Mapping,
  fix: boolean,
  checks: Check[],
): Promise<void> {
  const native = nativeConfig(mapping);
  if (!native) return;
  const connector = createSalesforceConnector({
    loginUrl: config.SALESFORCE_LOGIN_URL,
    clientId: config.SALESFORCE_CLIENT_ID as string,
    clientSecret: config.SALESFORCE_CLIENT_SECRET as string,
    apiVersion: config.SALESFORCE_API_VERSION,
    orgId: config.SALESFORCE_ORG_ID ?? null,
    webhookSecret: null,
    attempts: 2,
    minBackoffMs: 200,
    maxWaitMs: 2_000,
    timeoutMs: 15_000,
  });
  try {
    if (fix) {
      const created = await connector.native.ensure(native);
      if (created.length > 0)
        checks.push({ name: 'salesforce native fix', status: 'ok', detail: `created ${created.join(', ')}` });
    }
  } catch (e) {
    if (!(e instanceof ConnectorFailure)) throw e;
    checks.push({
      name: 'salesforce native fix',
      status: 'fail',
      detail: `${e.error.code}: ${e.error.message}`,
      hint: 'create them in Setup (Engagement Channel Types, Data Use Purposes) or give the integration user create access',
    });
  }
  let results: Awaited<ReturnType<typeof connector.native.check>>;
  try {
    results = await connector.native.check(native);
  } catch (e) {
    if (!(e instanceof ConnectorFailure)) throw e;
    checks.push({ name: 'salesforce native', status: 'fail', detail: `${e.error.code}: ${e.error.message}` });
    return;
  }
  for (const r of results) {
    const what = r.name ? `${r.object} "${r.name}"` : r.object;
    if (r.ok) {
      checks.push({ name: 'salesforce native', status: 'ok', detail: `${what} present` });
      continue;
    }
    const record = r.name !== undefined;
    checks.push({
      name: 'salesforce native',
      status: 'fail',
      detail: `${what} ${r.problem === 'denied' ? 'not accessible' : 'missing'}`,
      hint: record
        ? `create it (Setup → ${r.object === 'DataUsePurpose' ? 'Data Use Purposes' : 'Engagement Channel Types'}), or run consent-sync doctor --fix`
        : (SETUP[r.object] ?? 'see docs/salesforce-consent-objects.md'),
    });
  }
}
