/**
 * Every Salesforce fixture (test/fixtures/salesforce, sources in its SOURCES.md) through the
 * connector's webhook reader, with the shipped mapping's lookup spec: Outbound Messages become
 * value-free signals, Flow callout items changes of whitelisted fields.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readableProperties, validateMapping } from '../../src/core/mapping.ts';
import type { LookupSpec, WebhookRequest } from '../types.ts';
import { createSalesforceConnector } from './index.ts';

const DIR = new URL('../../test/fixtures/salesforce/', import.meta.url);
const ORG = '00D5e000000KQ2eEAG';
const SECRET = 'fixture-flow-secret';
const RECEIVED = Date.parse('2026-01-02T10:00:00.000Z');
const mapping = (() => {
  const r = validateMapping(
    JSON.parse(readFileSync(new URL('../../mappings/salesforce.json', import.meta.url), 'utf8')),
    ['marketing', 'transactional'],
  );
  if (!r.ok) throw new Error('the shipped Salesforce mapping is invalid');
  return r.mapping;
})();
const SPEC: LookupSpec = {
  objectTypes: mapping.match.objects,
  matchField: mapping.match.field,
  properties: readableProperties(mapping),
};
const connector = createSalesforceConnector({
  loginUrl: 'http://127.0.0.1:9',
  clientId: 'unused',
  clientSecret: 'unused',
  apiVersion: '62.0',
  orgId: ORG,
  webhookSecret: SECRET,
  outboundMessages: true,
});
const request = (file: string): WebhookRequest => ({
  method: 'POST',
  url: 'https://consent-sync.example/webhooks/salesforce',
  headers: new Headers(
    file.endsWith('.xml')
      ? { 'content-type': 'text/xml; charset=utf-8', soapaction: '""' }
      : { 'content-type': 'application/json', 'x-consent-sync-secret': SECRET },
  ),
  rawBody: readFileSync(new URL(file, DIR), 'utf8'),
  now: RECEIVED,
});

const signal = (eventId: string, objectType: string, id: string) => ({
  eventId,
  type: 'property_change',
  ref: { objectType, id },
  occurredAt: new Date(RECEIVED).toISOString(),
  properties: {},
  matchValue: null,
  changeSource: null,
  signal: true,
});
const flow = (
  eventId: string,
  type: string,
  objectType: string,
  id: string,
  occurredAt: string,
  properties: Record<string, unknown>,
  matchValue: string | null,
) => ({ eventId, type, ref: { objectType, id }, occurredAt, properties, matchValue, changeSource: null });

const EXPECTED: Record<string, { changes: unknown[]; skipped: string[] }> = {
  'outbound-contact.xml': {
    changes: [
      signal('04l5e00000Gx7QzAAJ', 'Contact', '0035e00000ZkM3hAAF'),
      signal('04l5e00000Gx7R0AAJ', 'Contact', '0035e00000ZkM3iAAF'),
    ],
    skipped: [],
  },
  'outbound-lead.xml': {
    changes: [signal('04l5e00000Gx7S1AAJ', 'Lead', '00Q5e00000AbCdEFGH')],
    skipped: [],
  },
  'flow-callout.json': {
    changes: [
      flow(
        'a0B5e00000FlowRun1-1',
        'property_change',
        'Contact',
        '0035e00000ZkM3hAAF',
        '2026-01-01T00:00:00.000Z',
        { WhatsApp_Opted_Out__c: true, WhatsApp_Marketing_Consent__c: 'Opted Out' },
        '+447700900123',
      ),
      flow(
        'a0B5e00000FlowRun2-1',
        'property_change',
        'Lead',
        '00Q5e00000AbCdEFGH',
        '2026-01-01T00:00:00.000Z',
        { WhatsApp_Marketing_Consent__c: 'Opted In' },
        null,
      ),
      flow(
        'a0B5e00000FlowRun3-1',
        'privacy_deletion',
        'Individual',
        '0PK5e000000AbCdGAA',
        '2026-01-01T00:02:00.000Z',
        {},
        null,
      ),
      flow(
        'a0B5e00000FlowRun4-1',
        'deletion',
        'Contact',
        '0035e00000ZkM3iAAF',
        '2026-01-01T00:03:00.000Z',
        {},
        null,
      ),
    ],
    skipped: [],
  },
  'flow-callout-unreadable-item.json': {
    changes: [
      flow(
        'a0B5e00000FlowRun6-1',
        'property_change',
        'Contact',
        '0035e00000ZkM3hAAF',
        '2026-01-01T00:04:00.000Z',
        { WhatsApp_Opted_Out__c: true },
        null,
      ),
    ],
    skipped: ['events.0.occurredAt: invalid (invalid_format)'],
  },
};

describe('Salesforce webhook fixtures', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.xml') || f.endsWith('.json'));

  it('every fixture has an expectation here and a source in SOURCES.md', () => {
    expect(files.sort()).toEqual(Object.keys(EXPECTED).sort());
    const sources = readFileSync(new URL('SOURCES.md', DIR), 'utf8');
    for (const f of files) expect(sources).toContain(`\`${f}\``);
  });

  for (const [file, expected] of Object.entries(EXPECTED)) {
    it(file, async () => {
      const req = request(file);
      expect(await connector.verifyWebhook(req)).toEqual({ ok: true });
      const parsed = connector.parseWebhook(req, SPEC);
      expect(parsed.ok).toBe(true);
      if (!parsed.ok) return;
      expect(parsed.changes).toEqual(expected.changes);
      expect(parsed.skipped.map((k) => k.reason)).toEqual(expected.skipped);
      expect(parsed.ack.status).toBe(200);
      // An Outbound Message's values go nowhere: not the number, not the flags, not its times.
      if (file.endsWith('.xml'))
        for (const v of ['+4477009001', 'Opted', '2026-01-01'])
          expect(JSON.stringify(parsed.changes)).not.toContain(v);
    });
  }
});
