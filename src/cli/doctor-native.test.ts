import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { type SalesforceSimulator, startSalesforceSimulator } from '../../test/sim/salesforce.ts';
import type { Config } from '../config.ts';
import { validateMapping } from '../core/mapping.ts';
import { checkNative } from './doctor-native.ts';
import type { Check } from './output.ts';

const CLIENT = { clientId: 'doctor-client', clientSecret: 'doctor-secret', orgId: '00D5e000000KQ2eEAG' };
const example = (() => {
  const raw = JSON.parse(
    readFileSync(new URL('../../mappings/examples/salesforce-both.json', import.meta.url), 'utf8'),
  );
  const r = validateMapping(raw, ['marketing', 'transactional']);
  if (!r.ok) throw new Error('example mapping invalid');
  return r.mapping;
})();

let sim: SalesforceSimulator;
afterEach(async () => {
  await sim?.close();
});

const config = () =>
  ({
    SALESFORCE_LOGIN_URL: sim.url,
    SALESFORCE_CLIENT_ID: CLIENT.clientId,
    SALESFORCE_CLIENT_SECRET: CLIENT.clientSecret,
    SALESFORCE_API_VERSION: '62.0',
    SALESFORCE_ORG_ID: CLIENT.orgId,
  }) as Config;

const line = (c: Check) => `${c.status} ${c.detail}${c.hint ? ` | ${c.hint}` : ''}`;

describe('doctor: Salesforce native objects', () => {
  it('says what to enable in Setup for a missing feature, and --fix creates the channel and purposes', async () => {
    sim = await startSalesforceSimulator({ ...CLIENT, features: { messaging: false } });
    const before: Check[] = [];
    await checkNative(config(), example, false, before);
    const text = before.map(line);
    expect(text).toContainEqual(
      expect.stringMatching(/^fail MessagingEndUser missing \| turn on Messaging in Setup/),
    );
    expect(text).toContain('ok ContactPointTypeConsent present');
    expect(text).toContainEqual(
      expect.stringMatching(/^fail EngagementChannelType "WhatsApp" missing \| create it/),
    );
    expect(text).toContainEqual(
      expect.stringMatching(/^fail DataUsePurpose "Marketing" missing .*doctor --fix/),
    );
    expect(sim.all('DataUsePurpose')).toEqual([]);

    const fixed: Check[] = [];
    await checkNative(config(), example, true, fixed);
    expect(fixed.map(line)).toContain(
      'ok created EngagementChannelType "WhatsApp", DataUsePurpose "Marketing", DataUsePurpose "Transactional"',
    );
    expect(fixed.filter((c) => c.status === 'fail').map((c) => c.detail)).toEqual([
      'MessagingEndUser missing',
    ]);
    expect(sim.all('EngagementChannelType')).toMatchObject([{ Name: 'WhatsApp', ContactPointType: 'Phone' }]);
  });

  it('without the consent data model, names Data Protection and Privacy', async () => {
    sim = await startSalesforceSimulator({ ...CLIENT, features: { consentModel: false } });
    const checks: Check[] = [];
    await checkNative(config(), example, true, checks);
    expect(checks.map(line)).toContainEqual(
      expect.stringMatching(/^fail ContactPointTypeConsent missing \| turn on Data Protection and Privacy/),
    );
    expect(checks.map(line)).toContain('ok MessagingEndUser present');
  });
});
