/**
 * Issue 15, end to end: consent reaches Salesforce's own objects (MessagingEndUser and the consent
 * data model) through the real connector and the simulator, opt-outs made there come back through a
 * Flow callout (read back, sync rule 7) to the ledger and HubSpot, and erasure reaches them all.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type NativeMapping, nativeWritable } from '../../src/core/native-mapping.ts';
import { type CrmHarness, SALESFORCE, startCrmHarness } from '../helpers/crm.ts';
import { json, NO_INTAKE_LIMITS } from '../helpers/harness.ts';
import { textMessage } from '../helpers/whatsapp.ts';

// Fictitious numbers only.
const PHONE = '+4915123400111';
const WA = '4915123400111';
const ts = () => String(Math.floor(Date.now() / 1000));

const NATIVE: NativeMapping = {
  messaging: {
    purpose: 'marketing',
    direction: 'both',
    find: ['record'],
    platformKeyFormat: 'e164',
    optInStatus: 'ExplicitlyOptedIn',
  },
  consent: {
    channel: 'WhatsApp',
    purposes: { marketing: 'Marketing', transactional: 'Transactional' },
    direction: 'both',
    individual: 'create',
    individualName: 'WhatsApp consent',
    doubleConsentCaptureDate: true,
    effectiveFrom: true,
  },
};

let h: CrmHarness;
afterEach(async () => {
  await h?.close();
});

async function start(opts: Parameters<typeof startCrmHarness>[0] = {}, native: NativeMapping = NATIVE) {
  h = await startCrmHarness({
    ...opts,
    mappings: (m) => {
      m.salesforce.native = native;
    },
  });
  const hs = h.hubspot.addContact({ mobilephone: PHONE, firstname: 'Example', lastname: 'Person' });
  const sf = h.salesforce.add('Contact', { MobilePhone: PHONE, FirstName: 'Example', LastName: 'Person' });
  const meu =
    opts.salesforce?.features?.messaging === false
      ? ''
      : h.salesforce.add('MessagingEndUser', {
          Name: 'Example messaging user',
          MessagingChannelId: '0Mj5e000000ABCDEAA',
          MessageType: 'WhatsApp',
          MessagingPlatformKey: PHONE,
          MessagingConsentStatus: 'ImplicitlyOptedIn',
          ContactId: sf,
        });
  h.salesforce.add('EngagementChannelType', { Name: 'WhatsApp', ContactPointType: 'Phone' });
  h.salesforce.add('DataUsePurpose', { Name: 'Marketing' });
  h.salesforce.add('DataUsePurpose', { Name: 'Transactional' });
  return { hs, sf, meu };
}

type States = Record<string, { status: string; source: string | null }>;
const states = async () =>
  (
    await json<{ purposes: States }>(
      await h.request(`/v1/subjects/${encodeURIComponent(PHONE)}`, { role: 'operator' }),
    )
  ).purposes;

/** The ContactPointTypeConsent of a purpose name, from the simulator. */
function consentOf(purposeName: string) {
  const purpose = h.salesforce.all('DataUsePurpose').find((p) => p.Name === purposeName);
  return h.salesforce.all('ContactPointTypeConsent').filter((c) => c.DataUsePurposeId === purpose?.Id);
}

/** Every field the app wrote per object type, from the collections requests the simulator received. */
function writtenFields(): Record<string, Set<string>> {
  const out: Record<string, Set<string>> = {};
  for (const r of h.salesforce.requests) {
    if (!(r.method === 'PATCH' || r.method === 'POST') || !r.path.includes('/composite/sobjects')) continue;
    for (const rec of (r.body as { records: Array<Record<string, unknown>> }).records) {
      const type = (rec.attributes as { type: string }).type;
      out[type] ??= new Set();
      for (const k of Object.keys(rec)) if (k !== 'attributes' && k !== 'id') out[type].add(k);
    }
  }
  return out;
}

async function flow(objectType: string, recordId: string, id: string) {
  const r = await h.salesforce.flowCallout(`${h.url}/webhooks/salesforce`, SALESFORCE.webhookSecret, {
    events: [{ id, objectType, recordId, occurredAt: new Date().toISOString(), fields: {} }],
  });
  expect(r.status).toBe(200);
  await h.settle();
}

describe('Salesforce native consent objects', () => {
  it('a WhatsApp STOP sets MessagingConsentStatus OptedOut and PrivacyConsentStatus OptOut with capture date and source; only mapped fields are written', async () => {
    const { sf, meu } = await start();
    await h.webhook(textMessage(WA, 'STOP', { timestamp: ts() }));
    await h.settle();

    expect(h.salesforce.get('MessagingEndUser', meu)).toMatchObject({
      MessagingConsentStatus: 'OptedOut',
      IsFullyOptedIn: false,
    });
    const individual = h.salesforce.get('Contact', sf)?.IndividualId as string;
    expect(individual).toMatch(/^0PK/);
    expect(h.salesforce.get('Individual', individual)).toMatchObject({
      LastName: 'WhatsApp consent',
      FirstName: null,
    });
    const [marketing] = consentOf('Marketing');
    expect(marketing).toMatchObject({
      PartyId: individual,
      PrivacyConsentStatus: 'OptOut',
      CaptureSource: 'whatsapp',
      CaptureContactPointType: 'Phone',
      DoubleConsentCaptureDate: null,
    });
    expect(Date.parse(String(marketing?.CaptureDate))).toBeGreaterThan(Date.now() - 60_000);
    expect(marketing?.EffectiveFrom).toBe(marketing?.CaptureDate);
    expect(consentOf('Transactional')[0]).toMatchObject({ PrivacyConsentStatus: 'OptOut' });

    // The whitelist: the default fields on Contact, and on the native objects what the section allows.
    const allowed = nativeWritable(NATIVE, ['Contact', 'Lead']);
    const written = writtenFields();
    for (const [type, fields] of Object.entries(written)) {
      if (type === 'Contact') continue;
      for (const f of fields) expect(allowed[type] ?? [], `${type}.${f}`).toContain(f);
    }
    expect([...(written.Contact ?? [])].filter((f) => !f.startsWith('WhatsApp_'))).toEqual(['IndividualId']);
    // A second sync of the same state does not write the MessagingEndUser again.
    const before = h.salesforce.writeHistory(meu).length;
    await h.request(`/v1/subjects/${encodeURIComponent(PHONE)}/opt-out`, {
      method: 'POST',
      role: 'operator',
      json: { purposes: ['marketing'] },
    });
    await h.settle();
    expect(h.salesforce.writeHistory(meu).length).toBe(before);
  });

  it('a double opt-in sets DoublyOptedIn and OptIn with DoubleConsentCaptureDate', async () => {
    const { meu } = await start();
    await h.request('/v1/consents', {
      method: 'POST',
      role: 'intake',
      json: { phone: PHONE, purposes: ['marketing', 'transactional'], locale: 'en' },
    });
    await h.settle();
    expect(consentOf('Marketing')[0]).toMatchObject({ PrivacyConsentStatus: 'OptInPending' });
    // Pending leaves the MessagingEndUser alone.
    expect(h.salesforce.get('MessagingEndUser', meu)?.MessagingConsentStatus).toBe('ImplicitlyOptedIn');
    await h.webhook(textMessage(WA, 'YES', { timestamp: ts() }));
    await h.settle();
    expect((await states()).marketing?.status).toBe('opted_in');
    expect(h.salesforce.get('MessagingEndUser', meu)).toMatchObject({
      MessagingConsentStatus: 'DoublyOptedIn',
      IsFullyOptedIn: true,
    });
    const [marketing] = consentOf('Marketing');
    expect(marketing).toMatchObject({ PrivacyConsentStatus: 'OptIn' });
    expect(Date.parse(String(marketing?.DoubleConsentCaptureDate))).toBeGreaterThan(Date.now() - 60_000);
    expect(consentOf('Marketing')).toHaveLength(1); // updated, not created again
  });

  it('an opt-out made in Salesforce on the MessagingEndUser reaches the ledger and HubSpot', async () => {
    const { hs, meu } = await start({}, { ...NATIVE, consent: undefined } as NativeMapping);
    await h.request('/v1/consents', {
      method: 'POST',
      role: 'intake',
      json: { phone: PHONE, purposes: ['marketing'], locale: 'en' },
    });
    await h.webhook(textMessage(WA, 'YES', { timestamp: ts() }));
    await h.settle();
    expect((await states()).marketing?.status).toBe('opted_in');
    // An echo of our own write changes nothing.
    await flow('MessagingEndUser', meu, 'flow-echo-1');
    expect((await states()).marketing?.status).toBe('opted_in');

    h.salesforce.updateFromUi('MessagingEndUser', meu, { MessagingConsentStatus: 'OptedOut' });
    await flow('MessagingEndUser', meu, 'flow-meu-1');
    expect((await states()).marketing).toMatchObject({ status: 'opted_out', source: 'salesforce' });
    expect(h.hubspot.getContact(hs)).toMatchObject({ whatsapp_marketing_consent: 'withdrawn' });
  });

  it('an opt-out made in Salesforce on a ContactPointTypeConsent reaches the ledger and HubSpot', async () => {
    const { hs } = await start({}, { ...NATIVE, messaging: undefined } as NativeMapping);
    await h.request('/v1/consents', {
      method: 'POST',
      role: 'intake',
      json: { phone: PHONE, purposes: ['marketing', 'transactional'], locale: 'en' },
    });
    await h.webhook(textMessage(WA, 'YES', { timestamp: ts() }));
    await h.settle();
    const [transactional] = consentOf('Transactional');
    expect(transactional?.PrivacyConsentStatus).toBe('OptIn');
    h.salesforce.updateFromUi('ContactPointTypeConsent', String(transactional?.Id), {
      PrivacyConsentStatus: 'OptOut',
    });
    await flow('ContactPointTypeConsent', String(transactional?.Id), 'flow-cptc-1');
    const s = await states();
    expect(s.transactional).toMatchObject({ status: 'opted_out', source: 'salesforce' });
    expect(s.marketing?.status).toBe('opted_in');
    expect(h.hubspot.getContact(hs)).toMatchObject({ whatsapp_transactional_consent: 'withdrawn' });
  });

  it('reconciliation reads the native records: an opt-out made without a callout applies, drift is rewritten', async () => {
    const { meu, hs } = await start();
    await h.request('/v1/consents', {
      method: 'POST',
      role: 'intake',
      json: { phone: PHONE, purposes: ['marketing', 'transactional'], locale: 'en' },
    });
    await h.webhook(textMessage(WA, 'YES', { timestamp: ts() }));
    await h.settle();
    const [transactional] = consentOf('Transactional');
    // No Flow: the change is found by reconciliation alone.
    h.salesforce.updateFromUi('ContactPointTypeConsent', String(transactional?.Id), {
      PrivacyConsentStatus: 'OptOut',
    });
    h.salesforce.updateFromUi('MessagingEndUser', meu, { MessagingConsentStatus: 'ImplicitlyOptedIn' });
    const reports = await h.services.reconcile();
    expect(reports.find((r) => r.connector === 'salesforce')).toMatchObject({ optOutsApplied: 1 });
    await h.settle();
    expect((await states()).transactional?.status).toBe('opted_out');
    expect(h.hubspot.getContact(hs)).toMatchObject({ whatsapp_transactional_consent: 'withdrawn' });
    expect(h.salesforce.get('MessagingEndUser', meu)?.MessagingConsentStatus).toBe('DoublyOptedIn');
  });

  it('calls stay batched: the native writes of many people cost the same few calls as those of one', async () => {
    const calls: number[] = [];
    for (const n of [2, 40]) {
      if (calls.length > 0) await h.close(); // the last harness is closed by afterEach
      await start({
        env: NO_INTAKE_LIMITS,
        salesforce: { outboundOnChange: { url: 'http://127.0.0.1:9/', fields: [] } },
      });
      const phones = Array.from({ length: n }, (_, i) => `+49151234002${String(i).padStart(2, '0')}`);
      for (const phone of phones) {
        const id = h.salesforce.add('Contact', { MobilePhone: phone, LastName: 'Person' });
        h.salesforce.add('MessagingEndUser', {
          Name: 'Example messaging user',
          MessagingChannelId: '0Mj5e000000ABCDEAA',
          MessageType: 'WhatsApp',
          MessagingPlatformKey: phone,
          MessagingConsentStatus: 'ImplicitlyOptedIn',
          ContactId: id,
        });
      }
      // Linked first (one sync each), then one opt-out for everyone, synced as one batch.
      for (const phone of phones)
        await h.request('/v1/consents', {
          method: 'POST',
          role: 'intake',
          json: { phone, purposes: ['marketing'] },
        });
      await h.settle();
      h.services.dispatcher.pause();
      const before = h.salesforce.calls();
      for (const phone of phones)
        await h.request(`/v1/subjects/${encodeURIComponent(phone)}/opt-out`, {
          method: 'POST',
          role: 'operator',
          json: {},
        });
      await h.services.dispatcher.resume();
      await h.settle();
      calls.push(h.salesforce.calls() - before);
      console.info(`native sync of ${n} opt-outs: ${calls.at(-1)} Salesforce calls`);
      const mine = h.salesforce
        .all('MessagingEndUser')
        .filter((m) => phones.includes(String(m.MessagingPlatformKey)));
      expect(mine.map((m) => m.MessagingConsentStatus)).toEqual(phones.map(() => 'OptedOut'));
    }
    // Field update, MEU query, IndividualId query, consent query, consent create, one collections
    // update for MEUs and consents: the same for 2 people and for 40.
    expect(calls[1]).toBe(calls[0]);
    expect(calls[1]).toBeLessThanOrEqual(6);
  });

  it('consents are upserted on an External ID field in one call per batch', async () => {
    await start(
      { salesforce: { externalIds: { ContactPointTypeConsent: ['Consent_Sync_Key__c'] } } },
      {
        ...NATIVE,
        consent: {
          ...(NATIVE.consent as NonNullable<NativeMapping['consent']>),
          externalIdField: 'Consent_Sync_Key__c',
        },
      },
    );
    await h.webhook(textMessage(WA, 'STOP', { timestamp: ts() }));
    await h.settle();
    const upserts = h.salesforce.requests.filter(
      (r) =>
        r.method === 'PATCH' &&
        r.path.includes('/composite/sobjects/ContactPointTypeConsent/Consent_Sync_Key__c'),
    );
    expect(upserts).toHaveLength(1);
    expect(consentOf('Marketing')[0]?.Consent_Sync_Key__c).toMatch(/^0PK\w{12}:\w{15}:\w{15}$/);
  });

  it.each(['delete', 'should_forget'] as const)(
    'erasure (%s) reaches the MessagingEndUser, consents, ContactPointPhone and Individual',
    async (mode) => {
      const { sf, meu } = await start({ salesforceEraseMode: mode });
      await h.webhook(textMessage(WA, 'STOP', { timestamp: ts() }));
      await h.settle();
      const individual = h.salesforce.get('Contact', sf)?.IndividualId as string;
      const point = h.salesforce.add('ContactPointPhone', { ParentId: individual, TelephoneNumber: PHONE });
      const consents = h.salesforce.all('ContactPointTypeConsent').map((c) => String(c.Id));
      expect(consents).toHaveLength(2);

      const opened = await json<{ id: string }>(
        await h.request('/v1/erasures', { method: 'POST', role: 'operator', json: { phone: PHONE } }),
      );
      await h.settle();
      const done = await json<{ status: string }>(
        await h.request(`/v1/erasures/${opened.id}`, { role: 'operator' }),
      );
      expect(done.status).toBe('completed');
      expect(h.salesforce.get('MessagingEndUser', meu)).toBeNull();
      if (mode === 'delete') {
        expect(h.salesforce.get('Contact', sf)).toBeNull();
        expect(h.salesforce.get('Individual', individual)).toBeNull();
        expect(h.salesforce.get('ContactPointPhone', point)).toBeNull();
        for (const id of consents) expect(h.salesforce.get('ContactPointTypeConsent', id)).toBeNull();
      } else {
        expect(h.salesforce.get('Individual', individual)?.ShouldForget).toBe(true);
      }
    },
  );

  it('an org without Messaging fails the sync job with a clear, non-retryable reason and no personal data', async () => {
    await start({ salesforce: { features: { messaging: false } } }, {
      ...NATIVE,
      consent: undefined,
    } as NativeMapping);
    await h.webhook(textMessage(WA, 'STOP', { timestamp: ts() }));
    await h.settle();
    const jobs = await json<{ jobs: Array<{ kind: string; status: string; lastError: string | null }> }>(
      await h.request('/v1/sync/jobs?status=dead', { role: 'operator' }),
    );
    const dead = jobs.jobs.filter((j) => j.kind === 'sync.salesforce');
    expect(dead).toHaveLength(1);
    expect(dead[0]?.lastError).toContain('NATIVE_OBJECT_MISSING');
    expect(dead[0]?.lastError).toContain('MessagingEndUser');
    expect(dead[0]?.lastError).not.toContain(WA.slice(-6));
  });
});
