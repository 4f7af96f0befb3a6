import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConnectorFailure, type CrmSchema, type RemoteField } from '../../connectors/types.ts';
import { type Mapping, validateMapping } from '../core/mapping.ts';
import { CrmFields, compareMapping } from './crm-fields.ts';

const load = (name: 'hubspot' | 'salesforce'): Mapping => {
  const r = validateMapping(
    JSON.parse(readFileSync(new URL(`../../mappings/${name}.json`, import.meta.url), 'utf8')),
    ['marketing', 'transactional'],
    name,
  );
  if (!r.ok) throw new Error('shipped mapping invalid');
  return r.mapping;
};
const field = (
  name: string,
  type: string,
  kind: RemoteField['kind'],
  options: string[] = [],
): RemoteField => ({
  name,
  type,
  kind,
  options,
});
/** Salesforce fields a Contact has for the shipped mapping. */
function sfFields(m: Mapping): RemoteField[] {
  return [
    field('MobilePhone', 'phone', 'text'),
    field('WhatsApp_BSUID__c', 'string', 'text'),
    ...m.fields.map((f) =>
      f.transform.type === 'boolean'
        ? field(f.remote, 'boolean', 'boolean')
        : f.transform.type === 'date'
          ? field(f.remote, 'datetime', 'date')
          : field(f.remote, 'string', 'text'),
    ),
  ];
}

describe('compareMapping', () => {
  it('fits when every field exists on every matched object type', () => {
    const m = load('salesforce');
    expect(compareMapping(m, { Contact: sfFields(m), Lead: sfFields(m) })).toEqual([]);
  });

  it('names what one object type lacks, a misfit, a missing match field and a missing object type', () => {
    const m = load('salesforce');
    const lead = sfFields(m).filter((f) => f.name !== m.fields[3]!.remote && f.name !== 'MobilePhone');
    const contact = sfFields(m).map((f) =>
      f.name === m.fields[0]!.remote ? field(f.name, 'string', 'text') : f,
    );
    expect(compareMapping(m, { Contact: contact, Lead: lead })).toEqual([
      { path: 'match.field', message: 'Lead has no field MobilePhone' },
      {
        path: 'fields.0.transform',
        message: expect.stringContaining('on Contact: WhatsApp_Opted_Out__c is string'),
      },
      {
        path: 'fields.3.remote',
        message: expect.stringContaining(`Lead has no property ${m.fields[3]!.remote}`),
      },
    ]);
    expect(compareMapping(m, { Contact: sfFields(m), Lead: null })).toEqual([
      { path: 'match.objects', message: 'the CRM has no object type Lead' },
    ]);
  });

  it('a dropdown must have every value the enum writes', () => {
    const m = load('hubspot');
    const fields = [
      field('mobilephone', 'phone_number', 'text'),
      field('whatsapp_bsuid', 'string', 'text'),
      ...m.fields.map((f) =>
        f.remote === 'whatsapp_marketing_consent'
          ? field(f.remote, 'enumeration', 'enum', ['not_set', 'granted'])
          : field(f.remote, 'string', f.transform.type === 'boolean' ? 'boolean' : 'text'),
      ),
    ];
    expect(compareMapping(m, { contact: fields })).toEqual([
      {
        path: 'fields.1.transform',
        message: 'on contact: whatsapp_marketing_consent has no option(s) pending, withdrawn',
      },
    ]);
  });
});

describe('CrmFields', () => {
  it('reuses a description for the picker for a minute, asks afresh for a check, and says why it could not', async () => {
    const m = load('hubspot');
    let calls = 0;
    let down = false;
    const schema: CrmSchema = {
      async describe(types) {
        calls++;
        if (down)
          throw new ConnectorFailure({
            code: 'NETWORK',
            message: 'fetch failed',
            retryable: true,
            retryAfterMs: null,
            status: null,
            vendorCode: null,
          });
        return {
          objects: Object.fromEntries(types.map((t) => [t, [field('mobilephone', 'string', 'text')]])),
          quota: null,
        };
      },
    };
    let now = 0;
    const fields = new CrmFields({ hubspot: schema }, () => new Date(now));
    await fields.describe('hubspot', ['contact']);
    await fields.describe('hubspot', ['contact']);
    expect(calls).toBe(1);
    now = 61_000;
    await fields.describe('hubspot', ['contact']);
    expect(calls).toBe(2);
    const check = await fields.check('hubspot', m);
    expect(calls).toBe(3);
    expect(check.status).toBe('mismatch');
    down = true;
    expect(await fields.check('hubspot', m)).toEqual({
      status: 'unreachable',
      reason: 'the CRM could not be reached (NETWORK)',
    });
    expect(await fields.check('salesforce', load('salesforce'))).toEqual({ status: 'unavailable' });
  });
});
