import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { RemoteField } from '../../connectors/types.ts';
import { type Mapping, validateMapping } from '../core/mapping.ts';
import { compareFields } from './doctor-fields.ts';

const shipped = (name: string): Mapping => {
  const json = JSON.parse(readFileSync(new URL(`../../mappings/${name}.json`, import.meta.url), 'utf8'));
  const r = validateMapping(json, ['marketing', 'transactional']);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.mapping;
};
const text = (name: string): RemoteField => ({ name, type: 'string', kind: 'text', options: [] });
/** Every field the mapping names, with a fitting type, plus the match field. */
function fieldsFor(m: Mapping): RemoteField[] {
  return [
    text(m.match.field),
    ...m.fields.map(
      (f): RemoteField =>
        f.transform.type === 'boolean'
          ? { name: f.remote, type: 'bool', kind: 'boolean', options: ['true', 'false'] }
          : f.transform.type === 'date'
            ? { name: f.remote, type: 'datetime', kind: 'date', options: [] }
            : f.transform.type === 'enum'
              ? {
                  name: f.remote,
                  type: 'enumeration',
                  kind: 'enum',
                  options: Object.values(f.transform.values),
                }
              : text(f.remote),
    ),
  ];
}

describe('compareFields: the BSUID field', () => {
  it('is checked when the mapping names one: missing, present as text, or of another type', () => {
    const m = shipped('salesforce');
    const base = fieldsFor(m);
    const [contact, lead] = compareFields(m, {
      Contact: [...base, text('whatsapp_bsuid__C')],
      Lead: base,
    });
    expect(contact).toMatchObject({ objectType: 'Contact', bsuidFieldMissing: false, mismatches: [] });
    expect(lead).toMatchObject({ objectType: 'Lead', bsuidFieldMissing: true, mismatches: [] });
    const [number] = compareFields(m, {
      Contact: [...base, { name: 'WhatsApp_BSUID__c', type: 'double', kind: 'number', options: [] }],
      Lead: base,
    });
    expect(number?.mismatches).toEqual(['WhatsApp_BSUID__c is double, the BSUID needs text']);
  });

  it('is not asked for when the mapping names none', () => {
    const m = shipped('hubspot');
    const { bsuidField: _b, ...match } = m.match;
    const [report] = compareFields({ ...m, match }, { contact: fieldsFor(m) });
    expect(report).toMatchObject({ bsuidFieldMissing: false, matchFieldMissing: false, missing: [] });
  });
});
