/**
 * Salesforce Outbound Messages are signals, not sources (sync rule 7; issue 14): anyone who knows
 * the org id (not a secret) can post one, so nothing is created, linked, opted out or messaged from
 * its values. The service reads the record back through the authenticated API and acts on what the
 * Salesforce simulator holds. With `SALESFORCE_OUTBOUND_MESSAGES=off` (the default) it is refused.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type CrmHarness, startCrmHarness } from '../helpers/crm.ts';
import { json } from '../helpers/harness.ts';
import { textMessage } from '../helpers/whatsapp.ts';

// Fictitious numbers only (German mobile drama range), and made-up record ids.
const VICTIM = '+4915123400301';
const ATTACKER = '+4915123400399';
const UNKNOWN_CONTACT = '0035e00000Zz9XyAAB';

let h: CrmHarness;
afterEach(async () => {
  await h?.close();
});

type States = Record<string, { status: string; source: string | null }>;
const states = async (phone: string) =>
  (
    await json<{ purposes: States }>(
      await h.request(`/v1/subjects/${encodeURIComponent(phone)}`, { role: 'operator' }),
    )
  ).purposes;
const post = (xml: string) => h.salesforce.sendOutbound(`${h.url}/webhooks/salesforce`, xml);
const subjects = () => h.services.store.listSubjects('', 1_000);

/** The victim: a Salesforce Contact, opted in to marketing through a confirmed WhatsApp double opt-in. */
async function victim(): Promise<string> {
  const sf = h.salesforce.add('Contact', { MobilePhone: VICTIM, LastName: 'Person' });
  await h.request('/v1/consents', {
    method: 'POST',
    role: 'intake',
    json: { phone: VICTIM, purposes: ['marketing'], locale: 'en' },
  });
  await h.settle();
  await h.webhook(textMessage(VICTIM.slice(1), 'YES', { timestamp: String(Math.floor(Date.now() / 1000)) }));
  await h.settle();
  expect((await states(VICTIM))?.marketing?.status).toBe('opted_in');
  const link = await h.services.store.findLink('salesforce', 'Contact', sf);
  expect(link).not.toBeNull();
  return sf;
}

describe('Salesforce Outbound Messages (sync rule 7)', () => {
  it('are refused with 403 and a SOAP Fault while SALESFORCE_OUTBOUND_MESSAGES is off, and change nothing', async () => {
    h = await startCrmHarness({ outboundMessages: false });
    const sf = h.salesforce.add('Contact', { MobilePhone: VICTIM, WhatsApp_Opted_Out__c: true });
    const calls = h.salesforce.calls();
    const res = await fetch(`${h.url}/webhooks/salesforce`, {
      method: 'POST',
      headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: '""' },
      body: h.salesforce.outboundMessage([
        { objectType: 'Contact', id: sf, fields: { WhatsApp_Opted_Out__c: true } },
      ]),
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toContain('text/xml');
    const body = await res.text();
    expect(body).toContain('<soapenv:Fault>');
    expect(body).toContain('OUTBOUND_MESSAGES_DISABLED');
    expect(h.salesforce.calls()).toBe(calls);
    expect(await subjects()).toEqual([]);
    expect((await h.services.store.countJobs()).pending).toBe(0);
  });

  it('a forged message about records Salesforce does not have creates nobody, sends nothing and links nothing', async () => {
    h = await startCrmHarness();
    const notifications = Array.from({ length: 100 }, (_, i) => ({
      objectType: 'Contact',
      id: `0035e00000Zz${String(i).padStart(3, '0')}AAB`,
      fields: {
        MobilePhone: `+49151234004${String(i).padStart(2, '0')}`,
        WhatsApp_Opted_Out__c: i % 2 === 0,
        WhatsApp_Marketing_Consent__c: 'Opted In',
      },
    }));
    const res = await post(h.salesforce.outboundMessage(notifications));
    expect(res.status).toBe(200);
    await h.settle();
    expect(await subjects()).toEqual([]);
    expect(h.graph.sent()).toEqual([]);
    // Each named record was looked up through the authenticated API, and none was found.
    expect(h.salesforce.requests.some((r) => r.path.includes('/query'))).toBe(true);
  });

  it("a forged opt-out of a linked contact, claiming another number, changes nothing: Salesforce's record says otherwise", async () => {
    h = await startCrmHarness();
    const sf = await victim();
    const sentBefore = h.graph.sent().length;
    const forged = h.salesforce.outboundMessage([
      {
        objectType: 'Contact',
        id: sf,
        fields: {
          MobilePhone: ATTACKER,
          WhatsApp_Opted_Out__c: true,
          WhatsApp_Marketing_Consent__c: 'Opted Out',
        },
      },
    ]);
    expect((await post(forged)).status).toBe(200);
    await h.settle();
    expect((await states(VICTIM))?.marketing?.status).toBe('opted_in');
    expect((await states(ATTACKER))?.marketing?.status ?? 'none').toBe('none');
    const link = await h.services.store.findLink('salesforce', 'Contact', sf);
    const victimRow = (await subjects()).find((s) => s.id === link?.subjectId);
    expect(victimRow).toBeDefined();
    expect(await subjects()).toHaveLength(1);
    expect(h.graph.sent()).toHaveLength(sentBefore);
    expect(h.salesforce.get('Contact', sf)?.MobilePhone).toBe(VICTIM);
  });

  it('a forged message about an unlinked contact links it only to the number Salesforce holds', async () => {
    h = await startCrmHarness();
    const sf = h.salesforce.add('Contact', { MobilePhone: VICTIM, WhatsApp_Opted_Out__c: true });
    const forged = h.salesforce.outboundMessage([
      { objectType: 'Contact', id: sf, fields: { MobilePhone: ATTACKER, WhatsApp_Opted_Out__c: true } },
    ]);
    expect((await post(forged)).status).toBe(200);
    await h.settle();
    // The opt-out Salesforce holds applies, to the person whose number Salesforce holds.
    expect((await states(VICTIM))?.marketing?.status).toBe('opted_out');
    expect((await states(ATTACKER))?.marketing?.status ?? 'none').toBe('none');
    expect(await subjects()).toHaveLength(1);
  });

  it('a forged double opt-in request sends nothing unless Salesforce holds the opt-in', async () => {
    h = await startCrmHarness();
    const sf = h.salesforce.add('Contact', { MobilePhone: VICTIM, WhatsApp_Marketing_Consent__c: 'None' });
    const message = (id: string) =>
      h.salesforce.outboundMessage([
        {
          notificationId: id,
          objectType: 'Contact',
          id: sf,
          fields: { WhatsApp_Marketing_Consent__c: 'Opted In' },
        },
      ]);
    expect((await post(message('04l5e00000Gx7A1AAJ'))).status).toBe(200);
    await h.settle();
    expect(h.graph.sent()).toEqual([]);
    expect(await subjects()).toEqual([]);
    // Now Salesforce's record says so (a user chose it): the read-back starts the double opt-in.
    h.salesforce.updateFromUi('Contact', sf, { WhatsApp_Marketing_Consent__c: 'Opted In' });
    await h.settle();
    expect((await states(VICTIM))?.marketing?.status).toBe('pending');
    expect(h.graph.sent()).toHaveLength(1);
  });

  it('an unreadable notification is skipped and the readable ones of the same message still count', async () => {
    h = await startCrmHarness();
    const sf = h.salesforce.add('Contact', { MobilePhone: VICTIM, WhatsApp_Opted_Out__c: true });
    const xml = h.salesforce
      .outboundMessage([
        { notificationId: '04l5e00000Gx7B1AAJ', objectType: 'Contact', id: UNKNOWN_CONTACT, fields: {} },
        { notificationId: '04l5e00000Gx7B2AAJ', objectType: 'Contact', id: sf, fields: {} },
      ])
      .replace(`<sf:Id>${UNKNOWN_CONTACT}</sf:Id>`, '<sf:Id>not a record id</sf:Id>');
    const res = await post(xml);
    expect(res.status).toBe(200);
    expect(res.body).toContain('<Ack>true</Ack>');
    await h.settle();
    expect((await states(VICTIM))?.marketing?.status).toBe('opted_out');
  });
});
