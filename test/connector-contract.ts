/**
 * The contract every CRM connector passes (issue 3, deliver 1): find by phone, read by id,
 * apply a batch, erase, verify and parse its webhooks, classify its errors. Each connector's
 * test file calls `connectorContract(name, makeFixture)` with a fixture over its simulator,
 * so the same expectations run against HubSpot and Salesforce through their real SDKs.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NativeConfig } from '../connectors/salesforce/native.ts';
import {
  type Connector,
  ConnectorFailure,
  type LookupSpec,
  type RecordRef,
  type RemoteValue,
  type WebhookRequest,
} from '../connectors/types.ts';

export interface ConnectorFixture {
  connector: Connector;
  /** The whitelist for these tests: must include `writable.property`, must not include `secretProperty`. */
  spec: LookupSpec;
  /** Creates a record in the simulator; `matchValue` is stored as given. */
  seed(objectType: string, matchValue: string, properties: Record<string, RemoteValue>): Promise<RecordRef>;
  /** The record as the simulator holds it now (all properties), or null when it is gone. */
  remote(ref: RecordRef): Record<string, unknown> | null;
  /** A writable, whitelisted property and two values it accepts. */
  writable: { property: string; value: RemoteValue; other: RemoteValue };
  /** A property the simulator holds but the whitelist leaves out (e.g. a name). */
  secretProperty: string;
  /** A property the CRM does not have at all (writes to it are rejected, not retried). */
  unknownProperty: string;
  /** The webhook the vendor sends when properties of `ref` changed (signed or carrying the secret). */
  webhook(change: {
    ref: RecordRef;
    properties: Record<string, RemoteValue>;
    occurredAt: number;
    eventId: string;
  }): WebhookRequest;
  /** The same request with its signature or secret broken. */
  forge(req: WebhookRequest): WebhookRequest;
  /** The next `n` API calls fail: `rate_limit` (429 / REQUEST_LIMIT_EXCEEDED) or `server` (5xx). */
  failNext(n: number, kind: 'rate_limit' | 'server'): void;
  /** API calls the simulator has received so far. */
  calls(): number;
  close(): Promise<void>;
  /**
   * The CRM's own consent objects (Salesforce MessagingEndUser and ContactPointTypeConsent), for a
   * connector with `native`: seed any record, read any record as the simulator holds it now.
   */
  native?: {
    add(objectType: string, fields: Record<string, RemoteValue>): Promise<string>;
    get(objectType: string, id: string): Promise<Record<string, unknown> | null>;
  };
}

/** The native section of the contract: channel, purposes and how they are found. */
export const NATIVE_CONFIG: NativeConfig = {
  objects: ['Contact', 'Lead'],
  messaging: { find: ['record'] },
  consent: {
    channel: 'WhatsApp',
    purposeNames: ['Marketing'],
    externalIdField: null,
    createIndividual: true,
    individualName: 'WhatsApp consent',
  },
};

/** What the shipped HubSpot mapping looks up and reads (the connector tests on Node and in workerd). */
export const HUBSPOT_SPEC: LookupSpec = {
  objectTypes: ['contact'],
  matchField: 'hs_whatsapp_phone_number',
  bsuidField: 'whatsapp_bsuid',
  properties: ['whatsapp_marketing_consent', 'whatsapp_opted_out', 'whatsapp_consent_source'],
};

/** What the shipped Salesforce mapping looks up and reads. */
export const SALESFORCE_SPEC: LookupSpec = {
  objectTypes: ['Contact', 'Lead'],
  matchField: 'MobilePhone',
  bsuidField: 'WhatsApp_BSUID__c',
  properties: [
    'WhatsApp_Marketing_Consent__c',
    'WhatsApp_Marketing_Consent_Date__c',
    'WhatsApp_Opted_Out__c',
    'WhatsApp_Consent_Source__c',
  ],
};

/** Example numbers only (Ofcom / Bundesnetzagentur drama ranges), never real people. */
const PHONES = ['+447700900001', '+447700900002', '+447700900003', '+447700900004'];
/** Made-up business-scoped user ids in Meta's shape (`CC.` + digits). */
const BSUIDS = ['GB.1000000000000000001', 'GB.1000000000000000002', 'GB.1000000000000000003'];

export function connectorContract(
  name: string,
  make: () => Promise<ConnectorFixture>,
  opts: { native?: boolean } = {},
): void {
  describe(`connector contract: ${name}`, () => {
    let f: ConnectorFixture;
    beforeEach(async () => {
      f = await make();
    });
    afterEach(async () => {
      await f.close();
    });

    const type = () => f.spec.objectTypes[0] as string;
    const seedOne = (i: number, extra: Record<string, RemoteValue> = {}) =>
      f.seed(type(), PHONES[i] as string, { [f.secretProperty]: 'Example Person', ...extra });

    it('finds records by phone across its object types and reads back only whitelisted properties', async () => {
      const a = await seedOne(0);
      const b = await seedOne(1);
      const last = f.spec.objectTypes.at(-1) as string;
      const c = await f.seed(last, PHONES[2] as string, { [f.secretProperty]: 'Example Person' });
      const found = await f.connector.find([PHONES[0], PHONES[1], PHONES[2], PHONES[3]] as string[], f.spec);
      expect(found.map((r) => `${r.objectType}/${r.id}`).sort()).toEqual(
        [a, b, c].map((r) => `${r.objectType}/${r.id}`).sort(),
      );
      for (const r of found) {
        expect(PHONES).toContain(r.matchValue);
        for (const key of Object.keys(r.properties)) expect(f.spec.properties).toContain(key);
        expect(r.properties).not.toHaveProperty(f.secretProperty);
      }
    });

    it('finds records by BSUID in the BSUID field across its object types, and reads BSUIDs back', async () => {
      const field = f.spec.bsuidField as string;
      const a = await seedOne(0, { [field]: BSUIDS[0] as string });
      const last = f.spec.objectTypes.at(-1) as string;
      const b = await f.seed(last, PHONES[1] as string, { [field]: BSUIDS[1] as string });
      await seedOne(2);
      const found = await f.connector.find(BSUIDS, f.spec, 'bsuid');
      expect(found.map((r) => `${r.objectType}/${r.id}`).sort()).toEqual(
        [a, b].map((r) => `${r.objectType}/${r.id}`).sort(),
      );
      expect(found.find((r) => r.id === a.id)).toMatchObject({ bsuid: BSUIDS[0], matchValue: PHONES[0] });
      for (const r of found) expect(r.properties).not.toHaveProperty(field);
      // By phone (the default) the BSUID comes back too; a BSUID is never looked up as a number.
      const byPhone = await f.connector.find([PHONES[0] as string, PHONES[2] as string], f.spec);
      expect(byPhone.map((r) => r.bsuid).sort()).toEqual([BSUIDS[0], null].sort());
      expect(await f.connector.find([BSUIDS[0] as string], f.spec)).toEqual([]);
      expect(await f.connector.find([PHONES[0] as string], f.spec, 'bsuid')).toEqual([]);
      const read = await f.connector.read([b], f.spec);
      expect(read[0]?.bsuid).toBe(BSUIDS[1]);
      // Without a BSUID field in the spec: nothing is found by BSUID and nothing is read as one.
      const { bsuidField: _none, ...plain } = f.spec;
      expect(await f.connector.find([BSUIDS[0] as string], plain, 'bsuid')).toEqual([]);
      expect((await f.connector.read([a], plain))[0]?.bsuid).toBeNull();
    });

    it('finds many numbers in batches of its lookup size', async () => {
      const values = Array.from({ length: f.connector.limits.findBatch * 2 + 3 }, (_, i) =>
        `+4477009${String(10_000 + i).padStart(5, '0')}`.slice(0, 13),
      );
      const unique = [...new Set(values)];
      await seedOne(0);
      const before = f.calls();
      const found = await f.connector.find([...unique, PHONES[0] as string], f.spec);
      expect(found).toHaveLength(1);
      const calls = f.calls() - before;
      const batches = Math.ceil((unique.length + 1) / f.connector.limits.findBatch);
      expect(calls).toBeGreaterThanOrEqual(batches);
      expect(calls).toBeLessThanOrEqual(batches * f.spec.objectTypes.length);
    });

    it('reads records by id and leaves out the ones that are gone', async () => {
      const a = await seedOne(0, { [f.writable.property]: f.writable.value });
      const gone = { objectType: a.objectType, id: missingId(a.id) };
      const read = await f.connector.read([a, gone], f.spec);
      expect(read).toHaveLength(1);
      expect(read[0]?.id).toBe(a.id);
      expect(read[0]?.properties[f.writable.property]).toEqual(f.writable.value);
      expect(read[0]?.properties).not.toHaveProperty(f.secretProperty);
    });

    it('applies a batch with absolute values and reports each record, a missing one as NOT_FOUND', async () => {
      const a = await seedOne(0);
      const b = await seedOne(1);
      const gone = { objectType: a.objectType, id: missingId(a.id) };
      const props = { [f.writable.property]: f.writable.value };
      const out = await f.connector.write([
        { ...a, key: 'k-a', properties: props },
        { ...gone, key: 'k-gone', properties: props },
        { ...b, key: 'k-b', properties: props },
      ]);
      expect(out[0]).toEqual({ ok: true });
      expect(out[1]).toMatchObject({ ok: false, error: { code: 'NOT_FOUND', retryable: false } });
      expect(out[2]).toEqual({ ok: true });
      expect(f.remote(a)?.[f.writable.property]).toEqual(f.remote(b)?.[f.writable.property]);
      // Repeating the same write is harmless.
      const again = await f.connector.write([{ ...a, key: 'k-a', properties: props }]);
      expect(again).toEqual([{ ok: true }]);
      const other = await f.connector.write([
        { ...a, key: 'k-a2', properties: { [f.writable.property]: f.writable.other } },
      ]);
      expect(other).toEqual([{ ok: true }]);
      expect(f.remote(a)?.[f.writable.property]).not.toEqual(f.remote(b)?.[f.writable.property]);
    });

    it('erases records and says not_found for the ones that do not exist', async () => {
      const a = await seedOne(0);
      const out = await f.connector.erase([a, { objectType: a.objectType, id: missingId(a.id) }]);
      expect(out).toEqual([{ status: 'done' }, { status: 'not_found' }]);
      expect(f.remote(a)).toBeNull();
    });

    it('verifies its webhooks and rejects forged ones', async () => {
      const a = await seedOne(0);
      const req = f.webhook({
        ref: a,
        properties: { [f.writable.property]: f.writable.value },
        occurredAt: Date.now(),
        eventId: 'evt-1',
      });
      expect(await f.connector.verifyWebhook(req)).toEqual({ ok: true });
      const bad = await f.connector.verifyWebhook(f.forge(req));
      expect(bad.ok).toBe(false);
      if (!bad.ok) expect([401, 403]).toContain(bad.status);
    });

    it('parses webhooks into changes of whitelisted properties only', async () => {
      const a = await seedOne(0);
      const at = Date.now();
      const req = f.webhook({
        ref: a,
        properties: { [f.writable.property]: f.writable.value, [f.secretProperty]: 'Example Person' },
        occurredAt: at,
        eventId: 'evt-2',
      });
      const parsed = f.connector.parseWebhook(req, f.spec);
      expect(parsed.ok).toBe(true);
      if (!parsed.ok) return;
      expect(parsed.ack.status).toBe(200);
      expect(parsed.changes.length).toBeGreaterThan(0);
      for (const change of parsed.changes) {
        expect(change.ref).toEqual({ objectType: a.objectType, id: a.id });
        expect(change.eventId).not.toBe('');
        expect(Math.abs(Date.parse(change.occurredAt) - at)).toBeLessThan(1_000);
        expect(change.properties).not.toHaveProperty(f.secretProperty);
        expect(JSON.stringify(change)).not.toContain('Example Person');
      }
      const values = Object.assign({}, ...parsed.changes.map((c) => c.properties));
      expect(values[f.writable.property]).toEqual(f.writable.value);
    });

    it('answers a malformed webhook body with a 400 and no changes', async () => {
      const a = await seedOne(0);
      const req = f.webhook({ ref: a, properties: {}, occurredAt: Date.now(), eventId: 'evt-3' });
      const parsed = f.connector.parseWebhook({ ...req, rawBody: '{"not": "what it expects"' }, f.spec);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.status).toBe(400);
    });

    it('retries a rate limit inside the call and succeeds', async () => {
      const a = await seedOne(0);
      f.failNext(1, 'rate_limit');
      const found = await f.connector.find([PHONES[0] as string], f.spec);
      expect(found.map((r) => r.id)).toEqual([a.id]);
    });

    it('gives up on a lasting outage with a retryable failure', async () => {
      await seedOne(0);
      f.failNext(50, 'server');
      const err = await f.connector.find([PHONES[0] as string], f.spec).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectorFailure);
      expect((err as ConnectorFailure).error.retryable).toBe(true);
      expect((err as ConnectorFailure).message).not.toContain('+44');
    });

    it('classifies a write the CRM rejects as not retryable', async () => {
      const a = await seedOne(0);
      const out = await f.connector
        .write([{ ...a, key: 'k-bad', properties: { [f.unknownProperty]: 'x' } }])
        .catch((e: unknown) => e);
      const error =
        out instanceof ConnectorFailure ? out.error : (out as Array<{ error?: unknown }>)[0]?.error;
      expect(error).toMatchObject({ retryable: false });
    });
    // Only for connectors with the CRM's own consent objects (Salesforce).
    if (opts.native) {
      it('native objects: writes MessagingEndUser and a ContactPointTypeConsent with the fields Salesforce requires, reads them back, erases them', async () => {
        const { n, native } = nativeOf(f);
        const contact = await f.seed('Contact', PHONES[0] as string, {});
        const meu = await n.add('MessagingEndUser', {
          Name: 'Example messaging user',
          MessagingChannelId: '0Mj5e000000ABCDEAA',
          MessageType: 'WhatsApp',
          MessagingPlatformKey: PHONES[0] as string,
          MessagingConsentStatus: 'ImplicitlyOptedIn',
          ContactId: contact.id,
        });
        await n.add('EngagementChannelType', { Name: 'WhatsApp', ContactPointType: 'Phone' });
        await n.add('DataUsePurpose', { Name: 'Marketing' });
        const at = '2026-03-01T10:00:00.000Z';
        const [outcome] = await native.push(
          [
            {
              records: [contact],
              platformKey: null,
              messagingStatus: 'OptedOut',
              consents: [
                {
                  purposeName: 'Marketing',
                  values: { PrivacyConsentStatus: 'OptOut', CaptureDate: at, CaptureSource: 'whatsapp' },
                },
              ],
            },
          ],
          NATIVE_CONFIG,
        );
        expect(outcome).toEqual({ ok: true, written: 2 });
        expect(await n.get('MessagingEndUser', meu)).toMatchObject({ MessagingConsentStatus: 'OptedOut' });
        const individual = (await n.get('Contact', contact.id))?.IndividualId as string;
        expect(typeof individual).toBe('string');
        const read = await native.readFor([contact], NATIVE_CONFIG);
        expect(read.map((r) => [r.kind, r.status]).sort()).toEqual([
          ['consent', 'OptOut'],
          ['messaging', 'OptedOut'],
        ]);
        const consent = read.find((r) => r.kind === 'consent');
        expect(consent?.owners.map((o) => o.id)).toEqual([contact.id]);
        expect(consent && consent.kind === 'consent' ? consent.purposeName : null).toBe('Marketing');
        expect(await native.erase([contact], NATIVE_CONFIG)).toEqual([]);
        expect(await n.get('MessagingEndUser', meu)).toBeNull();
        expect(await n.get('Individual', individual)).toBeNull();
        expect(await n.get('ContactPointTypeConsent', String(consent?.ref.id))).toBeNull();
      });

      it('native objects: a picklist value Salesforce does not know is rejected for that record, not retried', async () => {
        const { n, native } = nativeOf(f);
        const contact = await f.seed('Contact', PHONES[1] as string, {});
        await n.add('MessagingEndUser', {
          Name: 'Example messaging user',
          MessagingChannelId: '0Mj5e000000ABCDEAA',
          MessageType: 'WhatsApp',
          MessagingPlatformKey: PHONES[1] as string,
          ContactId: contact.id,
        });
        const [outcome] = await native.push(
          [{ records: [contact], platformKey: null, messagingStatus: 'Maybe', consents: [] }],
          { ...NATIVE_CONFIG, consent: null },
        );
        expect(outcome).toMatchObject({
          ok: false,
          error: { retryable: false, vendorCode: 'INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST' },
        });
      });
    }
  });
}

/** An id of the same shape that no record has. */
function missingId(id: string): string {
  return /^\d+$/.test(id)
    ? String(Number(id) + 9_000_000)
    : `${id.slice(0, 3)}${'0'.repeat(id.length - 6)}ZZZ`;
}

function nativeOf(f: ConnectorFixture) {
  const n = f.native;
  const native = f.connector.native;
  if (!n || !native) throw new Error('this fixture has no native objects');
  return { n, native };
}
