/**
 * Issue 15, HubSpot half, end to end: the app on a loopback port with the example mapping
 * `mappings/examples/hubspot-native-workflow.json` put in force through the API, the real SDK and
 * the HubSpot simulator. A WhatsApp STOP reaches a contact found only by `hs_whatsapp_phone_number`
 * and sets the marketing opt-out checkbox, not the transactional one; with
 * `subscriptions.mode: communication-preferences` the status also lands in the v4 API when the
 * portal accepts the WhatsApp channel, and dead-letters (properties still written) when it does not.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkMappings } from '../../src/cli/mappings.ts';
import { type CrmHarness, startCrmHarness } from '../helpers/crm.ts';
import { textMessage } from '../helpers/whatsapp.ts';

// Fictitious numbers only.
const PHONE = '+4915123400151';
const WA = '4915123400151';
const ts = () => String(Math.floor(Date.now() / 1000));
const EXAMPLE = JSON.parse(readFileSync('mappings/examples/hubspot-native-workflow.json', 'utf8'));

let h: CrmHarness;
afterEach(async () => {
  await h?.close();
});

async function start(mapping: unknown, whatsappChannel = false) {
  h = await startCrmHarness({ enable: ['hubspot'], hubspot: { whatsappChannel } });
  const put = await h.request('/v1/mappings/hubspot', { method: 'PUT', role: 'admin', json: mapping });
  expect(put.status).toBe(200);
  const id = h.hubspot.addContact({ hs_whatsapp_phone_number: PHONE, firstname: 'Example' });
  await h.request('/v1/consents', {
    method: 'POST',
    role: 'intake',
    json: { phone: PHONE, purposes: ['marketing', 'transactional'], locale: 'en' },
  });
  await h.webhook(textMessage(WA, 'YES', { timestamp: ts() }));
  await h.settle();
  return id;
}

describe('HubSpot WhatsApp identity and subscription types', () => {
  it('the example mapping passes consent-sync mappings check', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cs-mappings-'));
    mkdirSync(join(dir, 'm'));
    writeFileSync(join(dir, 'm', 'hubspot.json'), JSON.stringify(EXAMPLE));
    const out: string[] = [];
    const err: string[] = [];
    const code = checkMappings(
      { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } as never,
      { MAPPINGS_DIR: join(dir, 'm') },
    );
    expect(err).toEqual([]);
    expect(code).toBe(0);
    expect(out.join('\n')).toContain('match contact.hs_whatsapp_phone_number');
  });

  it('a marketing STOP reaches a contact found only by hs_whatsapp_phone_number: marketing opt-out set, transactional not', async () => {
    const id = await start(EXAMPLE);
    expect(h.hubspot.getContact(id)).toMatchObject({
      whatsapp_marketing_opted_out: 'false',
      whatsapp_transactional_opted_out: 'false',
    });
    await h.webhook(textMessage(WA, 'STOP MARKETING', { timestamp: ts() }));
    await h.settle();
    expect(h.hubspot.getContact(id)).toMatchObject({
      whatsapp_marketing_opted_out: 'true',
      whatsapp_transactional_opted_out: 'false',
      whatsapp_marketing_consent: 'withdrawn',
      whatsapp_transactional_consent: 'granted',
      hs_whatsapp_phone_number: PHONE,
      firstname: 'Example',
    });
    // the number's properties are searched, never written
    const written = h.hubspot.requests
      .filter((r) => r.path === '/crm/v3/objects/contacts/batch/update')
      .flatMap((r) => (r.body as { inputs: Array<{ properties: Record<string, string> }> }).inputs);
    expect(written.length).toBeGreaterThan(0);
    for (const w of written) expect(Object.keys(w.properties)).not.toContain('hs_whatsapp_phone_number');
    expect(h.hubspot.requests.some((r) => r.path.startsWith('/communication-preferences'))).toBe(false);
  });

  const prefsMapping = {
    ...EXAMPLE,
    subscriptions: { mode: 'communication-preferences', types: { marketing: 2001, transactional: 2002 } },
  };

  it('communication-preferences mode, channel accepted: the STOP unsubscribes WhatsApp Marketing only', async () => {
    await start(prefsMapping, true);
    expect(h.hubspot.commPrefs.statuses.get(`WHATSAPP:${PHONE}:2001`)).toBe('SUBSCRIBED');
    await h.webhook(textMessage(WA, 'STOP MARKETING', { timestamp: ts() }));
    await h.settle();
    expect(h.hubspot.commPrefs.statuses.get(`WHATSAPP:${PHONE}:2001`)).toBe('UNSUBSCRIBED');
    expect(h.hubspot.commPrefs.statuses.get(`WHATSAPP:${PHONE}:2002`)).toBe('SUBSCRIBED');
  });

  it('communication-preferences mode, channel refused: the job dead-letters with a clear reason, properties written', async () => {
    const id = await start(prefsMapping, false);
    await h.webhook(textMessage(WA, 'STOP MARKETING', { timestamp: ts() }));
    await h.settle();
    expect(h.hubspot.getContact(id)?.whatsapp_marketing_opted_out).toBe('true');
    const jobs = await (await h.request('/v1/sync/jobs?status=dead', { role: 'operator' })).text();
    expect(jobs).toContain('CHANNEL_NOT_SUPPORTED');
    expect(jobs).not.toContain(WA);
  });
});
