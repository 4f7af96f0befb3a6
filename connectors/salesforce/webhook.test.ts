/**
 * Salesforce webhooks (Outbound Messages and Flow callouts) and SOQL building: pure functions, no server.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it, vi } from 'vitest';
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

const connector = (
  orgId: string | null = ORG_18,
  webhookSecret: string | null = SECRET,
  outboundMessages = true,
) =>
  createSalesforceConnector({
    loginUrl: 'http://127.0.0.1:9',
    clientId: 'unused',
    clientSecret: 'unused',
    apiVersion: '62.0',
    orgId,
    webhookSecret,
    outboundMessages,
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

  it('is refused with 403 OUTBOUND_MESSAGES_DISABLED and a SOAP Fault while off, before any parsing', async () => {
    const off = connector(ORG_18, SECRET, false);
    // Not even XML: refused on the setting alone, by verify and by parse.
    for (const body of [envelope(ORG_18, [{ fields }]), '<not xml', `<!DOCTYPE x>${'<a>'.repeat(10)}`]) {
      const verdict = await off.verifyWebhook(soap(body));
      expect(verdict).toMatchObject({ ok: false, status: 403, code: 'OUTBOUND_MESSAGES_DISABLED' });
      expect(!verdict.ok && verdict.reply).toMatchObject({
        status: 403,
        contentType: 'text/xml; charset=utf-8',
      });
      expect(!verdict.ok && verdict.reply?.body).toContain('<faultcode>soapenv:Client</faultcode>');
      const parsed = off.parseWebhook(soap(body), SPEC);
      expect(parsed).toMatchObject({ ok: false, status: 403, code: 'OUTBOUND_MESSAGES_DISABLED' });
      expect(!parsed.ok && parsed.reply.body).toContain('<soapenv:Fault>');
    }
    // The default is off.
    const byDefault = createSalesforceConnector({
      loginUrl: 'http://127.0.0.1:9',
      clientId: 'unused',
      clientSecret: 'unused',
      apiVersion: '62.0',
      orgId: ORG_18,
      webhookSecret: SECRET,
    });
    expect(await byDefault.verifyWebhook(soap(envelope(ORG_18, [{}])))).toMatchObject({
      code: 'OUTBOUND_MESSAGES_DISABLED',
    });
    // Flow callouts are not affected.
    const flowBody = request(JSON.stringify({ events: [] }), {
      'content-type': 'application/json',
      'x-consent-sync-secret': SECRET,
    });
    expect(await off.verifyWebhook(flowBody)).toEqual({ ok: true });
  });

  it('turns notifications into value-free signals at receipt time and acknowledges with the exact envelope', () => {
    const now = Date.parse('2024-07-01T08:00:00Z');
    const parsed = connector().parseWebhook(
      soap(
        envelope(ORG_18, [
          { id: '04l5e00000Gx7QzAAJ', fields },
          { id: '04l5e00000Gx7R0AAJ', type: 'Lead', recordId: '00Q5e00000AbCdEFGH', fields: '' },
        ]),
        now,
      ),
      SPEC,
    );
    const signal = {
      type: 'property_change',
      occurredAt: '2024-07-01T08:00:00.000Z',
      properties: {},
      matchValue: null,
      changeSource: null,
      signal: true,
    };
    expect(parsed).toEqual({
      ok: true,
      changes: [
        {
          eventId: '04l5e00000Gx7QzAAJ',
          ref: { objectType: 'Contact', id: '0035e00000ZkM3hAAF' },
          ...signal,
        },
        { eventId: '04l5e00000Gx7R0AAJ', ref: { objectType: 'Lead', id: '00Q5e00000AbCdEFGH' }, ...signal },
      ],
      ack: { status: 200, contentType: 'text/xml; charset=utf-8', body: ACK_ENVELOPE },
      skipped: [],
      ignored: 0,
    });
    expect(ACK_ENVELOPE).toBe(`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
  <soapenv:Body>
    <notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack></notificationsResponse>
  </soapenv:Body>
</soapenv:Envelope>`);
    // No value of the message goes any further: not the number, the name, the flags or its time.
    const out = JSON.stringify(parsed);
    for (const value of [PHONE, 'Example Person', 'Web &', '2024-06-01']) expect(out).not.toContain(value);
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
    // A declaration hidden in a processing instruction's target (found by the hostile-input property).
    const inPi = envelope(ORG_18, [{}]).replace('<?xml', '<?<!ENTITYxml');
    expect(inPi.startsWith('<?<!ENTITYxml')).toBe(true);
    expect(connector().parseWebhook(soap(inPi), SPEC)).toMatchObject({ ok: false, status: 400 });
    // …or in the XML declaration's text, or in an attribute value (found by the same property later).
    const inDeclaration = envelope(ORG_18, [{}]).replace('<?xml ', '<?xml <!ENTITY');
    expect(inDeclaration.startsWith('<?xml <!ENTITY')).toBe(true);
    expect(connector().parseWebhook(soap(inDeclaration), SPEC)).toMatchObject({ ok: false, status: 400 });
    const inAttribute = envelope(ORG_18, [{}]).replace('xmlns:soapenv="', 'xmlns:soapenv="<!ENTITY x ');
    expect(inAttribute).toContain('="<!ENTITY x ');
    expect(connector().parseWebhook(soap(inAttribute), SPEC)).toMatchObject({ ok: false, status: 400 });
    const lowercase = envelope(ORG_18, [{}]).replace('<soapenv:Body>', '<!doctype x><soapenv:Body>');
    expect(connector().parseWebhook(soap(lowercase), SPEC)).toMatchObject({ ok: false, status: 400 });
  });

  it('accepts 100 notifications and refuses 101', () => {
    const notes = (n: number) => Array.from({ length: n }, () => ({}));
    const hundred = connector().parseWebhook(soap(envelope(ORG_18, notes(100))), SPEC);
    expect(hundred.ok && hundred.changes.length).toBe(100);
    const tooMany = connector().parseWebhook(soap(envelope(ORG_18, notes(101))), SPEC);
    expect(tooMany).toMatchObject({ ok: false, status: 400, code: 'TOO_MANY_NOTIFICATIONS' });
  });

  it('refuses too many attributes, elements or levels quickly, before the XML parser sees them', () => {
    const attributes = Array.from({ length: 80_000 }, (_, i) => `a${i}="x"`).join(' ');
    const wide = envelope(ORG_18, [{}]).replace('<sObject ', `<sObject ${attributes} `);
    const deep = envelope(ORG_18, [{ fields: `${'<sf:X>'.repeat(40)}${'</sf:X>'.repeat(40)}` }]);
    const many = envelope(ORG_18, [{ fields: '<sf:X/>'.repeat(30_000) }]);
    for (const [body, code] of [
      [wide, 'XML_TOO_MANY_ATTRIBUTES'],
      [deep, 'XML_TOO_DEEP'],
      [many, 'XML_TOO_LARGE'],
    ] as const) {
      // Structural, not timed: the one-pass pre-scan refuses the body before the validator or the
      // parser run (the XML parser took over a second for `wide`, docs/crm-webhook-facts.md).
      const validate = vi.spyOn(XMLValidator, 'validate');
      const parse = vi.spyOn(XMLParser.prototype, 'parse');
      const parsed = connector().parseWebhook(soap(body), SPEC);
      expect(parsed).toMatchObject({ ok: false, status: 400, code });
      expect(validate).not.toHaveBeenCalled();
      expect(parse).not.toHaveBeenCalled();
      vi.restoreAllMocks();
    }
    // The spies do see a body that passes the pre-scan.
    const validate = vi.spyOn(XMLValidator, 'validate');
    const parse = vi.spyOn(XMLParser.prototype, 'parse');
    expect(connector().parseWebhook(soap(envelope(ORG_18, [{}])), SPEC)).toMatchObject({ ok: true });
    expect(validate).toHaveBeenCalledTimes(1);
    expect(parse).toHaveBeenCalledTimes(1);
    vi.restoreAllMocks();
  });

  it('reads OrganizationId with a bounded scan: an org id buried past the start is not found', async () => {
    const padded = envelope(ORG_18, [{}]).replace(
      '<soapenv:Body>',
      `<!--${' '.repeat(9_000)}--><soapenv:Body>`,
    );
    expect(await connector().verifyWebhook(soap(padded))).toMatchObject({
      ok: false,
      status: 403,
      code: 'MALFORMED_ENVELOPE',
    });
    // A matching id in a comment at the start does not vouch for a body whose element says otherwise.
    const decoy = envelope('00D5e000000XY9zEAC', [{}]).replace(
      '<soapenv:Body>',
      `<!--<OrganizationId>${ORG_18}</OrganizationId>--><soapenv:Body>`,
    );
    expect(await connector().verifyWebhook(soap(decoy))).toEqual({ ok: true });
    expect(connector().parseWebhook(soap(decoy), SPEC)).toMatchObject({
      ok: false,
      status: 403,
      code: 'ORG_MISMATCH',
    });
  });

  it('skips an unreadable notification with a reason and reads the others (rule 8)', () => {
    const parsed = connector().parseWebhook(
      soap(
        envelope(ORG_18, [
          { id: 'not an id' },
          { recordId: "x' OR 1=1" },
          { type: 'Contact; DROP' },
          {
            id: '04l5e00000Gx7R1AAJ',
            fields: '<sf:MobilePhone>a</sf:MobilePhone><sf:MobilePhone>b</sf:MobilePhone>',
          },
        ]),
      ),
      SPEC,
    );
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.changes.map((c) => c.eventId)).toEqual(['04l5e00000Gx7R1AAJ']);
    expect(parsed.skipped.map((k) => [k.source, k.kind, k.reason])).toEqual([
      ['salesforce', 'notification', 'Notification[0].Id: expected a 15 or 18 character notification id'],
      ['salesforce', 'notification', 'Notification[1].sObject.Id: expected a 15 or 18 character record id'],
      ['salesforce', 'notification', 'Notification[2].sObject: expected an xsi:type naming the sObject'],
    ]);
    expect(parsed.skipped[1]?.raw).toMatchObject({ Id: '04l5e00000Gx7Q0001' });
    expect(parsed.ack.body).toBe(ACK_ENVELOPE);
  });

  it('answers malformed envelopes with 400 and a SOAP Fault', () => {
    const cases = [
      `<soapenv:Envelope><soapenv:Body><notifications><OrganizationId>${ORG_18}</OrganizationId></soapenv:Envelope>`,
      `<a><OrganizationId>${ORG_18}</OrganizationId>not salesforce</a>`,
      envelope(ORG_18, []),
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
      ack: { status: 200, contentType: 'application/json', body: '{"ok":true,"received":2,"skipped":0}' },
      skipped: [],
      ignored: 0,
    });
  });

  it('skips unreadable items with a reason naming the path, never a value, and reads the rest (rule 8)', () => {
    const bad = [
      { ...event, extra: 1 },
      { ...event, recordId: PHONE },
      { ...event, occurredAt: 'yesterday' },
      { ...event, type: 'merge' },
      { ...event, fields: { MobilePhone: { nested: PHONE } } },
      'x',
    ];
    const parsed = connector().parseWebhook(flow({ events: [...bad, event] }), SPEC);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.changes.map((c) => c.eventId)).toEqual(['flow-run-1']);
    expect(parsed.skipped.map((k) => k.reason)).toEqual([
      'events.0: invalid (unrecognized_keys)',
      'events.1.recordId: invalid (custom)',
      'events.2.occurredAt: invalid (invalid_format)',
      'events.3.type: invalid (invalid_value)',
      'events.4.fields.MobilePhone: invalid (invalid_union)',
      'events.5: expected object',
    ]);
    expect(parsed.skipped.every((k) => k.source === 'salesforce' && k.kind === 'event')).toBe(true);
    expect(JSON.stringify(parsed.skipped.map((k) => k.reason))).not.toContain('+44');
    expect(JSON.parse(parsed.ack.body)).toEqual({ ok: true, received: 1, skipped: 6 });
  });

  it('answers invalid bodies with 400 JSON naming the path, never a value', () => {
    const cases: unknown[] = [
      '{"not": "what it expects"',
      { events: [] },
      { events: [event], extra: PHONE },
      { events: 'x' },
      [event],
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
