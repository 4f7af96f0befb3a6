/**
 * HubSpot deliveries in every dialect through the app (issue 13; sync rule 8): generic `object.*`
 * subscriptions, legacy `eventType` events, association changes mixed into a delivery, and a GDPR
 * delete's two events in either order. An opt-out in any of them reaches the ledger; nothing of an
 * unreadable or ignored event costs the readable ones.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type CrmHarness, HUBSPOT, startCrmHarness } from '../helpers/crm.ts';
import { json } from '../helpers/harness.ts';
import { textMessage } from '../helpers/whatsapp.ts';
import { hubspotWebhookRequest, makeHubSpotEvent } from '../sim/hubspot.ts';

// Fictitious number only.
const PHONE = '+4915123400501';
const WA = PHONE.slice(1);

let h: CrmHarness;
afterEach(async () => {
  await h?.close();
});

const marketing = async () =>
  (
    await json<{ purposes: Record<string, { status: string; source: string | null }> }>(
      await h.request(`/v1/subjects/${encodeURIComponent(PHONE)}`, { role: 'operator' }),
    )
  ).purposes.marketing;

/** A person opted in through WhatsApp, linked to a HubSpot contact by the first sync. */
async function linkedContact(): Promise<number> {
  const id = h.hubspot.addContact({ mobilephone: PHONE, lastname: 'Person' });
  await h.request('/v1/consents', {
    method: 'POST',
    role: 'intake',
    json: { phone: PHONE, purposes: ['marketing'], locale: 'en' },
  });
  await h.webhook(textMessage(WA, 'YES', { timestamp: String(Math.floor(Date.now() / 1000)) }));
  await h.settle();
  expect((await marketing())?.status).toBe('opted_in');
  expect(await h.services.store.findLink('hubspot', 'contact', id)).not.toBeNull();
  return Number(id);
}

/** POSTs a signed delivery of raw events, as HubSpot sends it. */
async function deliver(events: unknown[]): Promise<Response> {
  const req = hubspotWebhookRequest({
    url: `${h.url}/webhooks/hubspot`,
    secret: HUBSPOT.secret,
    body: JSON.stringify(events),
  });
  return fetch(req.url, { method: 'POST', headers: req.headers, body: req.rawBody });
}

const optOut = (objectId: number) =>
  makeHubSpotEvent({
    subscriptionType: 'contact.propertyChange',
    objectId,
    propertyName: 'whatsapp_opted_out',
    propertyValue: 'true',
    changeSource: 'CRM_UI',
  });

describe('HubSpot webhook dialects', () => {
  it('an opt-out ticked in HubSpot arrives as a generic object.propertyChange (0-1) and applies', async () => {
    h = await startCrmHarness({ enable: ['hubspot'], hubspot: { webhookDialect: 'generic' } });
    const id = await linkedContact();
    h.hubspot.updateFromUi(String(id), { whatsapp_opted_out: 'true' });
    expect(await h.hubspot.flushWebhooks()).toEqual([200]);
    expect(await marketing()).toMatchObject({ status: 'opted_out', source: 'hubspot' });
  });

  it('an opt-out in a legacy event that names its type eventType applies', async () => {
    h = await startCrmHarness({ enable: ['hubspot'] });
    const id = await linkedContact();
    const { subscriptionType: _t, ...legacy } = optOut(id);
    expect((await deliver([{ ...legacy, eventType: 'contact.propertyChange' }])).status).toBe(200);
    expect((await marketing())?.status).toBe('opted_out');
  });

  it('association changes and an unreadable event in the same delivery do not cost the opt-out', async () => {
    h = await startCrmHarness({ enable: ['hubspot'] });
    const id = await linkedContact();
    const association = {
      eventId: 7001,
      subscriptionId: 234_700,
      portalId: 12_345_678,
      appId: 987_654,
      occurredAt: Date.now(),
      attemptNumber: 0,
      subscriptionType: 'contact.associationChange',
      associationType: 'CONTACT_TO_COMPANY',
      fromObjectId: id,
      toObjectId: 9_000_001,
      associationRemoved: false,
      isPrimaryAssociation: false,
    };
    const unreadable = { ...optOut(id), objectId: 'not-an-id' };
    const res = await deliver([association, unreadable, optOut(id)]);
    expect(res.status).toBe(200);
    expect((await marketing())?.status).toBe('opted_out');
  });

  it('a GDPR delete (privacyDeletion and deletion in one delivery, either order) starts an erasure', async () => {
    const orders = [
      ['contact.deletion', 'contact.privacyDeletion'],
      ['contact.privacyDeletion', 'contact.deletion'],
    ];
    for (const [i, order] of orders.entries()) {
      if (i > 0) await h.close(); // the last one is closed by afterEach
      h = await startCrmHarness({ enable: ['hubspot'] });
      const id = await linkedContact();
      const events = order.map((subscriptionType) =>
        makeHubSpotEvent({ subscriptionType, objectId: id, changeSource: 'CRM_UI' }),
      );
      expect((await deliver(events)).status).toBe(200);
      const open = await h.services.store.listErasures({ status: 'open', limit: 10 });
      const done = await h.services.store.listErasures({ status: 'completed', limit: 10 });
      expect(open.length + done.length, order.join(' then ')).toBe(1);
    }
  });
});
