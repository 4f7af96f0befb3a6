import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { draftOf, formFromBody, formOf } from './mapping-form.ts';

const shipped = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../mappings/${name}.json`, import.meta.url), 'utf8')) as Record<
    string,
    unknown
  >;

/** The form as a browser posts it. */
function post(form: ReturnType<typeof formOf>, edit: Record<string, string> = {}): Record<string, string> {
  const body: Record<string, string> = {
    base: JSON.stringify(form.base),
    'match.objects': form.match.objects,
    'match.field': form.match.field,
    'match.format': form.match.format,
    'match.bsuidField': form.match.bsuidField,
  };
  form.rows.forEach((r, i) => {
    for (const [k, v] of Object.entries(r)) body[`f.${i}.${k}`] = v;
  });
  return { ...body, ...edit };
}

describe('the mapping form', () => {
  it('posted unchanged, makes the same mapping, key order included (HubSpot and Salesforce)', () => {
    for (const name of ['hubspot', 'salesforce']) {
      const m = shipped(name);
      const { form, issues } = formFromBody(post(formOf(m)));
      expect(issues).toEqual([]);
      const made = draftOf(form);
      expect(made.issues).toEqual([]);
      expect(JSON.stringify(made.draft)).toBe(JSON.stringify(m));
    }
  });

  it('keeps keys it does not edit: other sections, unknown match keys, unknown field keys', () => {
    const m = {
      ...shipped('salesforce'),
      messaging: { object: 'MessagingEndUser' },
    } as unknown as Record<string, unknown> & {
      match: Record<string, unknown>;
      fields: Array<Record<string, unknown>>;
    };
    m.match = { ...m.match, properties: ['MobilePhone', 'Phone'] };
    m.fields[2] = { ...m.fields[2], target: 'ContactPointTypeConsent' };
    const { form } = formFromBody(post(formOf(m), { 'f.2.remote': 'Renamed__c', 'f.0.remove': '1' }));
    const { draft } = draftOf(form) as unknown as { draft: typeof m };
    expect(draft.messaging).toEqual({ object: 'MessagingEndUser' });
    expect(draft.match.properties).toEqual(['MobilePhone', 'Phone']);
    // Row 0 removed: the old field 2 is now field 1, with its unknown key.
    expect(draft.fields).toHaveLength(m.fields.length - 1);
    expect(draft.fields[1]).toMatchObject({ remote: 'Renamed__c', target: 'ContactPointTypeConsent' });
  });

  it('reads enum values one a line or comma-separated, and names a pair it cannot read', () => {
    const m = shipped('hubspot');
    const { form } = formFromBody(
      post(formOf(m), { 'f.1.values': 'none=not_set, opted_in = granted\nopted_out=withdrawn\nmaybe' }),
    );
    const made = draftOf(form) as { draft: { fields: Array<{ transform: unknown }> }; issues: unknown[] };
    expect(made.draft.fields[1]?.transform).toEqual({
      type: 'enum',
      values: { none: 'not_set', opted_in: 'granted', opted_out: 'withdrawn' },
    });
    expect(made.issues).toEqual([
      { path: 'fields.1.transform.values', message: expect.stringContaining('not "maybe"') },
    ]);
  });

  it('a lost base is a problem, not an empty mapping', () => {
    expect(formFromBody({ base: 'not json' }).issues).toEqual([
      { path: '(root)', message: expect.stringContaining('open the editor again') },
    ]);
  });
});
