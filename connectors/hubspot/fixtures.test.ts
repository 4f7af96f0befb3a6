/**
 * Every HubSpot fixture (test/fixtures/hubspot, sources in its SOURCES.md) through the reader, with
 * the shipped mapping's lookup spec: what each delivery yields.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readableProperties, validateMapping } from '../../src/core/mapping.ts';
import type { LookupSpec } from '../types.ts';
import { parseHubSpotWebhook } from './webhook.ts';

const DIR = new URL('../../test/fixtures/hubspot/', import.meta.url);
const mapping = (() => {
  const r = validateMapping(
    JSON.parse(readFileSync(new URL('../../mappings/hubspot.json', import.meta.url), 'utf8')),
    ['marketing', 'transactional'],
  );
  if (!r.ok) throw new Error('the shipped HubSpot mapping is invalid');
  return r.mapping;
})();
const SPEC: LookupSpec = {
  objectTypes: mapping.match.objects,
  matchField: mapping.match.field,
  properties: readableProperties(mapping),
};

/** Per file: [type, contact id, properties, matchValue] of each change, skip reasons, ignored count. */
const EXPECTED: Record<string, { changes: unknown[]; skipped: string[]; ignored: number }> = {
  'classic-property-change.json': {
    changes: [
      ['property_change', '1234501', { whatsapp_opted_out: 'true' }, null],
      ['property_change', '1234502', {}, '+447700900123'],
    ],
    skipped: [],
    ignored: 1,
  },
  'legacy-event-type.json': {
    changes: [
      ['property_change', '1234511', { whatsapp_marketing_consent: 'withdrawn' }, null],
      ['deletion', '1234512', {}, null],
    ],
    skipped: [],
    ignored: 0,
  },
  'generic-object-events.json': {
    changes: [
      ['property_change', '1234521', { whatsapp_opted_out: 'true' }, null],
      ['deletion', '1234523', {}, null],
    ],
    skipped: [],
    ignored: 2,
  },
  'association-change.json': {
    changes: [['property_change', '1234531', { whatsapp_opted_out: 'true' }, null]],
    skipped: [],
    ignored: 2,
  },
  'privacy-deletion-pair.json': {
    changes: [['privacy_deletion', '1234541', {}, null]],
    skipped: [],
    ignored: 1,
  },
  'unreadable-event.json': {
    changes: [['property_change', '1234551', { whatsapp_opted_out: 'true' }, null]],
    skipped: ['[0].objectId: expected a numeric id'],
    ignored: 0,
  },
};

describe('HubSpot webhook fixtures', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));

  it('every fixture has an expectation here and a source in SOURCES.md', () => {
    expect(files.sort()).toEqual(Object.keys(EXPECTED).sort());
    const sources = readFileSync(new URL('SOURCES.md', DIR), 'utf8');
    for (const f of files) expect(sources).toContain(`\`${f}\``);
  });

  for (const [file, expected] of Object.entries(EXPECTED)) {
    it(file, () => {
      const parsed = parseHubSpotWebhook(readFileSync(new URL(file, DIR), 'utf8'), SPEC);
      expect(parsed.ok).toBe(true);
      if (!parsed.ok) return;
      expect(parsed.changes.map((c) => [c.type, c.ref.id, c.properties, c.matchValue])).toEqual(
        expected.changes,
      );
      for (const c of parsed.changes) {
        expect(c.ref.objectType).toBe('contact');
        expect(c.signal).toBeUndefined();
        expect(Date.parse(c.occurredAt)).toBeGreaterThanOrEqual(Date.parse('2026-01-01T00:00:00Z'));
      }
      expect(parsed.skipped.map((k) => k.reason)).toEqual(expected.skipped);
      expect(parsed.ignored).toBe(expected.ignored);
    });
  }
});
