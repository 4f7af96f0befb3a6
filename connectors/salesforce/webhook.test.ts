/**
 * Salesforce webhooks (Outbound Messages and Flow callouts) and SOQL building: pure functions, no server.
 */
import { describe, expect, it } from 'vitest';
import type { LookupSpec, WebhookRequest } from '../types.ts';
import { createSalesforceConnector } from './index.ts';
import { ACK_ENVELOPE } from './outbound.ts';
import { chunk, selectIn, soqlString } from './soql.ts';

const ORG_18 = '00D5e000000KQ2eEAG';
const ORG_15 = '00D5e000000KQ2e';
const SECRET = 'flow-secret-for-tests';
const PHONE = '+447700900001'; // example number (UK drama range)

const SPEC: LookupSpec = {
  objectTypes: ['Contact', 'Lead'],
  matchField: 'MobilePhone',
  properties: ['WhatsApp_Opted_Out__c', 'WhatsApp_Consent_Source__c', 'WhatsApp_Consent_Text_Version__c'],
};

const connector = (orgId: string | null = ORG_18, webhookSecret: string | null = SECRET) =>
  createSalesforceConnector({
    loginUrl: 'http://127.0.0.1:9',
    clientId: 'unused',
    clientSecret: 'unused',
    apiVersion: '62.0',
    orgId,
    webhookSecret,
  });

interface Note {
  id?: string;
  type?: string;
  recordId?: string;
  fields?: string;
}

function envelope(org: string, notes: Note[]): string {
  const items = notes.map(
    (n, i) => `   <Notification>
    <Id>${n.id ?? `04l5e00000Gx7Q${String(i).padStart(4, '0')}`}</Id>
    <sObject xsi:type="sf:${n.type ?? 'Contact'}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>${n.recordId ?? '0035e00000ZkM3hAAF'}</sf:Id>
${n.fields ?? ''}
    </sObject>
   </Notification>`,
  );
  return `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>${org}</OrganizationId>
   <ActionId>04k5e000000CaRkAAK</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://example.my.salesforce.com/services/Soap/c/62.0/${ORG_15}</EnterpriseUrl>
   <PartnerUrl>https://example.my.salesforce.com/services/Soap/u/62.0/${ORG_15}</PartnerUrl>
${items.join('\n')}
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>`;
}

const request = (
  rawBody: string,
  headers: Record<string, string> = {},
  now = Date.now(),
): WebhookRequest => ({
  method: 'POST',
  url: 'https://consent-sync.example/webhooks/salesforce',
  headers: new Headers(headers),
  rawBody,
  now,
});
const soap = (rawBody: string, now?: number) =>
  request(rawBody, { 'content-type': 'text/xml; charset=utf-8' }, now);

describe('SOQL building', () => {
  it('escapes backslashes before quotes, and control characters', () => {
    expect(soqlString("O'Brien")).toBe("'O\\'Brien'");
    expect(soqlString('a\\b')).toBe("'a\\\\b'");
    expect(soqlString("\\'")).toBe("'\\\\\\''");
    expect(soqlString('x"y\nz\t')).toBe("'x\\\"y\\nz\\t'");
    expect(soqlString(PHONE)).toBe(`'${PHONE}'`); // example number
  });

  it('builds one IN query, de-duplicates fields and refuses names that are not API names', () => {
    expect(selectIn('Contact', ['Id', 'MobilePhone', 'mobilephone'], 'MobilePhone', ['a', "b'"])).toBe(
      "SELECT Id, MobilePhone FROM Contact WHERE MobilePhone IN ('a', 'b\\'')",
    );
    expect(() => selectIn('Contact', ['Id, (SELECT Id FROM Cases)'], 'MobilePhone', ['a'])).toThrow(
      /not a Salesforce API name/,
    );
    expect(() => selectIn('Contact WHERE', ['Id'], 'MobilePhone', ['a'])).toThrow();
    expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
  });
});

describe('Outbound Messages', () => {
  const fields = `     <sf:WhatsApp_Opted_Out__c>true</sf:WhatsApp_Opted_Out__c>
     <sf:WhatsApp_Consent_Source__c>Web &amp; App &#233;</sf:WhatsApp_Consent_Source__c>
     <sf:WhatsApp_Consent_Text_Version__c xsi:nil="true"/>
     <sf:MobilePhone>${PHONE}</sf:MobilePhone>
     <sf:LastName>Example Person</sf:LastName>
     <sf:LastModifiedDate>2024-06-01T12:00:00.000Z</sf:LastModifiedDate>`;

  it('verifies the org on the first 15 characters, case-sensitively, 15 against 18 either way', async () => {
    const body = envelope(ORG_18, [{}]);
    expect(await connector(ORG_18).verifyWebhook(soap(body))).toEqual({ ok: true });
    expect(await connector(ORG_15).verifyWebhook(soap(body))).toEqual({ ok: true });
    expect(await connector(ORG_18).verifyWebhook(soap(envelope(ORG_15, [{}])))).toEqual({ ok: true });
    // Another suffix is the same org; another case in the first 15 is another org.
    expect(await connector(ORG_18).verifyWebhook(soap(envelope(`${ORG_15}AAA`, [{}])))).toEqual({ ok: true });
    expect(await connector(ORG_18).verifyWebhook(soap(envelope('00D5E000000KQ2EEAG', [{}])))).toMatchObject({
      ok: false,
      status: 403,
      code: 'ORG_MISMATCH',
    });
    expect(await connector(null).verifyWebhook(soap(body))).toMatchObject({
      ok: false,
      status: 403,
      code: 'WEBHOOK_NOT_CONFIGURED',
    });
    // A body that hides its org is refused, and parsing re-checks the org.
    expect(await connector().verifyWebhook(soap('<x/>'))).toMatchObject({ ok: false, status: 403 });
    expect(connector().parseWebhook(soap(envelope('00D5e000000XY9zEAC', [{}])), SPEC)).toMatchObject({
      ok: false,
      status: 403,
      code: 'ORG_MISMATCH',
    });
  });

  it('parses notifications into whitelisted changes and acknowledges with the exact envelope', () => {
    const parsed = connector().parseWebhook(
      soap(envelope(ORG_18, [{ id: '04l5e00000Gx7QzAAJ', fields }])),
      SPEC,
    );
    expect(parsed).toEqual({
      ok: true,
      changes: [
        {
          eventId: '04l5e00000Gx7QzAAJ',
          type: 'property_change',
          ref: { objectType: 'Contact', id: '0035e00000ZkM3hAAF' },
          occurredAt: '2024-06-01T12:00:00.000Z',
          properties: {
            WhatsApp_Opted_Out__c: true,
            WhatsApp_Consent_Source__c: 'Web & App é',
            WhatsApp_Consent_Text_Version__c: null,
          },
          matchValue: PHONE,
          changeSource: null,
        },
      ],
      ack: { status: 200, contentType: 'text/xml; charset=utf-8', body: ACK_ENVELOPE },
    });
    expect(ACK_ENVELOPE).toBe(`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
  <soapenv:Body>
    <notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack></notificationsResponse>
  </soapenv:Body>
</soapenv:Envelope>`);
    expect(JSON.stringify(parsed)).not.toContain('Example Person');
  });

  it('uses the delivery time when LastModifiedDate is not sent, and reads the sObject type of Leads', () => {
    const now = Date.parse('2024-07-01T08:00:00Z');
    const parsed = connector().parseWebhook(
      soap(envelope(ORG_18, [{ type: 'Lead', recordId: '00Q5e00000AbCdEFGH', fields: '' }]), now),
      SPEC,
    );
    expect(parsed).toMatchObject({
      ok: true,
      changes: [
        { ref: { objectType: 'Lead', id: '00Q5e00000AbCdEFGH' }, occurredAt: '2024-07-01T08:00:00.000Z' },
      ],
    });
  });

  it('refuses DOCTYPE and ENTITY declarations (XXE) before parsing', async () => {
    const xxe = `<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
${envelope(ORG_18, [{ fields: '<sf:WhatsApp_Consent_Source__c>&xxe;</sf:WhatsApp_Consent_Source__c>' }]).replace(/^<\?xml[^>]*>\n/, '')}`;
    const parsed = connector().parseWebhook(soap(xxe), SPEC);
    expect(parsed).toMatchObject({ ok: false, status: 400, code: 'XML_DOCTYPE_FORBIDDEN' });
    if (!parsed.ok) {
      expect(parsed.reply.status).toBe(400);
      expect(parsed.reply.body).toContain('<faultcode>soapenv:Client</faultcode>');
    }
    expect(await connector().verifyWebhook(soap(xxe))).toMatchObject({
      ok: false,
      status: 403,
      code: 'XML_DOCTYPE_FORBIDDEN',
    });
    const lowercase = envelope(ORG_18, [{}]).replace('<soapenv:Body>', '<!doctype x><soapenv:Body>');
    expect(connector().parseWebhook(soap(lowercase), SPEC)).toMatchObject({ ok: false, status: 400 });
    // Undeclared entities are left as written, never resolved.
    const undeclared = envelope(ORG_18, [
      { fields: '<sf:WhatsApp_Consent_Source__c>&xxe;</sf:WhatsApp_Consent_Source__c>' },
    ]);
    const plain = connector().parseWebhook(soap(undeclared), SPEC);
    expect(plain.ok && plain.changes[0]?.properties.WhatsApp_Consent_Source__c).toBe('&xxe;');
  });

  it('accepts 100 notifications and refuses 101', () => {
    const notes = (n: number) => Array.from({ length: n }, () => ({}));
    const hundred = connector().parseWebhook(soap(envelope(ORG_18, notes(100))), SPEC);
    expect(hundred.ok && hundred.changes.length).toBe(100);
    const tooMany = connector().parseWebhook(soap(envelope(ORG_18, notes(101))), SPEC);
    expect(tooMany).toMatchObject({ ok: false, status: 400, code: 'TOO_MANY_NOTIFICATIONS' });
  });

  it('answers malformed envelopes with 400 and a SOAP Fault', () => {
    const cases = [
      '<soapenv:Envelope><soapenv:Body></soapenv:Envelope>',
      '<a>not salesforce</a>',
      envelope(ORG_18, []),
      envelope(ORG_18, [{ id: 'not an id' }]),
      envelope(ORG_18, [{ recordId: "x' OR 1=1" }]),
      envelope(ORG_18, [{ type: 'Contact; DROP' }]),
      envelope(ORG_18, [{ fields: '<sf:MobilePhone>a</sf:MobilePhone><sf:MobilePhone>b</sf:MobilePhone>' }]),
    ];
    for (const body of cases) {
      const parsed = connector().parseWebhook(soap(body), SPEC);
      expect(parsed).toMatchObject({ ok: false, status: 400 });
      if (!parsed.ok) {
        expect(parsed.reply.contentType).toBe('text/xml; charset=utf-8');
        expect(parsed.reply.body).toContain('<soapenv:Fault>');
      }
    }
  });
});

describe('Flow HTTP callouts', () => {
  const event = {
    id: 'flow-run-1',
    objectType: 'Lead',
    recordId: '00Q5e00000AbCdEFGH',
    occurredAt: '2024-06-01T14:00:00+02:00',
    fields: {
      WhatsApp_Opted_Out__c: true,
      WhatsApp_Consent_Text_Version__c: 4,
      MobilePhone: PHONE,
      LastName: 'X',
    },
  };
  const flow = (body: unknown, secret: string | null = SECRET) =>
    request(
      typeof body === 'string' ? body : JSON.stringify(body),
      secret === null
        ? { 'content-type': 'application/json' }
        : { 'content-type': 'application/json', 'x-consent-sync-secret': secret },
    );

  it('checks the shared secret', async () => {
    expect(await connector().verifyWebhook(flow({ events: [event] }))).toEqual({ ok: true });
    expect(await connector().verifyWebhook(flow({ events: [event] }, 'wrong'))).toMatchObject({
      ok: false,
      status: 401,
      code: 'BAD_SECRET',
    });
    expect(await connector().verifyWebhook(flow({ events: [event] }, `${SECRET}x`))).toMatchObject({
      status: 401,
    });
    expect(await connector().verifyWebhook(flow({ events: [event] }, null))).toMatchObject({
      status: 401,
      code: 'MISSING_SECRET',
    });
    expect(await connector(ORG_18, null).verifyWebhook(flow({ events: [event] }))).toMatchObject({
      status: 403,
      code: 'WEBHOOK_NOT_CONFIGURED',
    });
  });

  it('maps events to changes and acknowledges with JSON', () => {
    const parsed = connector().parseWebhook(
      flow({ events: [event, { ...event, id: 'flow-run-2', type: 'should_forget', fields: {} }] }),
      SPEC,
    );
    expect(parsed).toEqual({
      ok: true,
      changes: [
        {
          eventId: 'flow-run-1',
          type: 'property_change',
          ref: { objectType: 'Lead', id: '00Q5e00000AbCdEFGH' },
          occurredAt: '2024-06-01T12:00:00.000Z',
          properties: { WhatsApp_Opted_Out__c: true, WhatsApp_Consent_Text_Version__c: 4 },
          matchValue: PHONE,
          changeSource: null,
        },
        {
          eventId: 'flow-run-2',
          type: 'privacy_deletion',
          ref: { objectType: 'Lead', id: '00Q5e00000AbCdEFGH' },
          occurredAt: '2024-06-01T12:00:00.000Z',
          properties: {},
          matchValue: null,
          changeSource: null,
        },
      ],
      ack: { status: 200, contentType: 'application/json', body: '{"ok":true,"received":2}' },
    });
  });

  it('answers invalid bodies with 400 JSON naming the path, never a value', () => {
    const cases: unknown[] = [
      '{"not": "what it expects"',
      { events: [] },
      { events: [{ ...event, extra: 1 }] },
      { events: [{ ...event, recordId: PHONE }] },
      { events: [{ ...event, occurredAt: 'yesterday' }] },
      { events: [{ ...event, type: 'merge' }] },
      { events: [{ ...event, fields: { MobilePhone: { nested: PHONE } } }] },
      { events: Array.from({ length: 201 }, (_, i) => ({ ...event, id: `e${i}` })) },
    ];
    for (const body of cases) {
      const parsed = connector().parseWebhook(flow(body), SPEC);
      expect(parsed).toMatchObject({ ok: false, status: 400 });
      if (!parsed.ok) {
        expect(parsed.reply.contentType).toBe('application/json');
        expect(JSON.parse(parsed.reply.body)).toMatchObject({ ok: false, error: { code: parsed.code } });
        expect(parsed.message).not.toContain('+44');
      }
    }
  });
});
