/** The doctor's WhatsApp-channel probe against the HubSpot simulator, channel refused and accepted. */
import { afterEach, describe, expect, it } from 'vitest';
import example from '../../mappings/examples/hubspot-native-workflow.json' with { type: 'json' };
import { type HubSpotSimulator, startHubSpotSimulator } from '../../test/sim/hubspot.ts';
import { type Mapping, validateMapping } from '../core/mapping.ts';
import { whatsappChannelCheck } from './doctor-subscriptions.ts';

const TOKEN = 'sim-token';
let hs: HubSpotSimulator;
afterEach(async () => {
  await hs?.close();
});

function mapping(mode: 'properties' | 'communication-preferences'): Mapping {
  const r = validateMapping({ ...example, subscriptions: { mode, types: { marketing: 2001 } } }, [
    'marketing',
    'transactional',
  ]);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.mapping;
}

describe('doctor: WhatsApp channel of the communication-preferences API', () => {
  it('refused: "not yet", fine in properties mode, a failure with a hint in communication-preferences mode', async () => {
    hs = await startHubSpotSimulator({ accessToken: TOKEN, whatsappChannel: false });
    const hubspot = { baseUrl: hs.url, accessToken: TOKEN };
    const a = await whatsappChannelCheck(hubspot, mapping('properties'));
    expect(a).toMatchObject({ status: 'ok', detail: expect.stringContaining('not yet') });
    const b = await whatsappChannelCheck(hubspot, mapping('communication-preferences'));
    expect(b).toMatchObject({ status: 'fail', hint: expect.stringContaining('"properties"') });
  });

  it('accepted: names the WhatsApp types and suggests the switch in properties mode', async () => {
    hs = await startHubSpotSimulator({ accessToken: TOKEN, whatsappChannel: true });
    const hubspot = { baseUrl: hs.url, accessToken: TOKEN };
    const a = await whatsappChannelCheck(hubspot, mapping('properties'));
    expect(a.status).toBe('warn');
    expect(a.detail).toContain('WhatsApp Marketing (2001)');
    expect(a.hint).toContain('communication-preferences');
    expect(await whatsappChannelCheck(hubspot, mapping('communication-preferences'))).toMatchObject({
      status: 'ok',
    });
  });

  it('a wrong token is "could not ask", not a verdict', async () => {
    hs = await startHubSpotSimulator({ accessToken: TOKEN });
    const check = await whatsappChannelCheck(
      { baseUrl: hs.url, accessToken: 'wrong' },
      mapping('properties'),
    );
    expect(check).toMatchObject({ status: 'warn', detail: expect.stringContaining('UNAUTHORIZED') });
  });
});
