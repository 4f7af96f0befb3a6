import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  localView,
  type Mapping,
  mappingJsonSchema,
  matchValue,
  pull,
  push,
  readableProperties,
  validateMapping,
} from './mapping.ts';
import { adminOnlyChanges } from './mapping-policy.ts';
import { isStandardField } from './standard-fields.ts';
import type { PurposeState } from './types.ts';

const PURPOSES = ['marketing', 'transactional'];
const shipped = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../mappings/${name}.json`, import.meta.url), 'utf8')) as Record<
    string,
    unknown
  >;
const valid = (json: unknown): Mapping => {
  const r = validateMapping(json, PURPOSES);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.mapping;
};
const state = (
  purpose: string,
  status: PurposeState['status'],
  over: Partial<PurposeState> = {},
): PurposeState => ({
  subjectId: 's1',
  purpose,
  status,
  changedAt: '2026-03-01T10:00:00.000Z',
  source: 'whatsapp',
  statusBeforePending: null,
  pendingExpiresAt: null,
  doubleOptInAt: null,
  textVersion: 'marketing-de-1',
  occurredAt: '2026-03-01T10:00:00.000Z',
  withdrawnAt: null,
  crmOptedOutAt: null,
  crmGrantedAt: null,
  requestedAt: null,
  ...over,
});

describe('mappings', () => {
  it('the shipped mappings are valid and the committed JSON Schema is current', () => {
    expect(validateMapping(shipped('hubspot'), PURPOSES, 'hubspot').ok).toBe(true);
    expect(validateMapping(shipped('salesforce'), PURPOSES, 'salesforce').ok).toBe(true);
    const committed = JSON.parse(
      readFileSync(new URL('../../mappings/mapping.schema.json', import.meta.url), 'utf8'),
    );
    expect(committed, 'run npm run mappings:schema').toEqual(mappingJsonSchema());
  });

  it('rejects bad mappings with the path of each problem', () => {
    const base = shipped('hubspot') as { fields: Array<Record<string, unknown>> } & Record<string, unknown>;
    const issues = (json: unknown, connector?: string) => {
      const r = validateMapping(json, PURPOSES, connector);
      return r.ok ? [] : r.issues.map((i) => `${i.path}: ${i.message}`);
    };
    expect(issues({ ...base, fields: [...base.fields, { ...base.fields[0] }] })).toEqual([
      'fields.8.remote: whatsapp_opted_out is mapped twice',
    ]);
    expect(
      issues({
        ...base,
        fields: [
          {
            local: 'marketing.changedAt',
            remote: 'x_date',
            direction: 'both',
            transform: { type: 'date', format: 'iso' },
          },
        ],
      }),
    ).toEqual([
      'fields.0.direction: only consent values (a status or optedOut) can be pulled; marketing.changedAt is push only',
    ]);
    expect(
      issues({ ...base, fields: [{ local: 'newsletter.status', remote: 'x', direction: 'push' }] }),
    ).toEqual(['fields.0.local: unknown purpose newsletter (known: marketing, transactional)']);
    expect(issues({ ...base, fields: [{ local: 'phone', remote: 'x', direction: 'push' }] })[0]).toMatch(
      /^fields.0.local: must be optedOut/,
    );
    expect(
      issues({
        ...base,
        fields: [
          { local: 'optedOut', remote: 'mobilephone', direction: 'push', transform: { type: 'boolean' } },
        ],
      }),
    ).toEqual(['fields.0.remote: the match field is never written or pulled as a value']);
    expect(
      issues({
        ...base,
        fields: [
          {
            local: 'marketing.status',
            remote: 'x',
            direction: 'both',
            transform: { type: 'enum', values: { opted_in: 'y', opted_out: 'y' } },
          },
        ],
      }),
    ).toEqual([
      'fields.0.transform.values: "y" stands for both opted_in and opted_out: a pulled value must map back to one',
    ]);
    expect(issues({ ...base, extra: 1 })).toEqual(['(root): Unrecognized key: "extra"']);
    expect(issues(base, 'salesforce')).toEqual(['connector: this is the salesforce mapping']);
  });

  it('match.bsuidField names where the BSUID is held: optional, never the phone field, never a mapped value', () => {
    const base = shipped('hubspot') as {
      match: Record<string, unknown>;
      fields: Array<Record<string, unknown>>;
    };
    expect(valid(base).match.bsuidField).toBe('whatsapp_bsuid');
    expect(valid(shipped('salesforce')).match.bsuidField).toBe('WhatsApp_BSUID__c');
    const { bsuidField: _b, ...withoutBsuid } = base.match;
    expect(valid({ ...base, match: withoutBsuid }).match.bsuidField).toBeUndefined();
    const issues = (json: unknown) => {
      const r = validateMapping(json, PURPOSES);
      return r.ok ? [] : r.issues.map((i) => `${i.path}: ${i.message}`);
    };
    expect(issues({ ...base, match: { ...base.match, bsuidField: 'MobilePhone' } })).toEqual([
      'match.bsuidField: the BSUID field cannot be the phone number field',
    ]);
    expect(issues({ ...base, match: { ...base.match, bsuidField: 'bsuid; DROP' } })[0]).toMatch(
      /^match.bsuidField:/,
    );
    expect(
      issues({
        ...base,
        fields: [
          ...base.fields,
          {
            local: 'marketing.source',
            remote: 'WhatsApp_BSUID',
            direction: 'push',
            transform: { type: 'text' },
          },
        ],
      }),
    ).toEqual(['fields.8.remote: the BSUID field is never written or pulled as a consent value']);
    // The schema says which identifier each match field holds.
    const match = (
      mappingJsonSchema().properties as Record<
        string,
        { properties: Record<string, { description: string }> }
      >
    ).match;
    expect(match?.properties.field?.description).toMatch(/phone number/);
    expect(match?.properties.bsuidField?.description).toMatch(/business-scoped user id \(BSUID/);
  });

  it('push writes every push/both field from its local value and nothing else', () => {
    const m = valid(shipped('hubspot'));
    const view = localView([
      state('marketing', 'opted_out'),
      state('transactional', 'opted_in', { textVersion: null }),
    ]);
    expect(push(m, view)).toEqual({
      whatsapp_opted_out: false,
      whatsapp_marketing_opted_out: true,
      whatsapp_transactional_opted_out: false,
      whatsapp_marketing_consent: 'withdrawn',
      whatsapp_marketing_consent_date: '2026-03-01T10:00:00.000Z',
      whatsapp_consent_source: 'whatsapp',
      whatsapp_consent_text_version: 'marketing-de-1',
      whatsapp_transactional_consent: 'granted',
    });
    const out = push(m, localView([state('marketing', 'opted_out'), state('transactional', 'opted_out')]));
    expect(out.whatsapp_opted_out).toBe(true);
    // A person never seen for a purpose: status none, nothing else known.
    const none = push(m, localView([]));
    expect(none).toMatchObject({
      whatsapp_opted_out: false,
      whatsapp_marketing_consent: 'not_set',
      whatsapp_marketing_consent_date: null,
    });
  });

  it('transforms: checkbox of a status, dates, digits', () => {
    const m = valid({
      connector: 'salesforce',
      match: { objects: ['Contact'], field: 'MobilePhone', format: 'digits' },
      fields: [
        {
          local: 'marketing.status',
          remote: 'Mkt__c',
          direction: 'both',
          transform: { type: 'boolean', true: 'opted_in', false: 'opted_out' },
        },
        {
          local: 'marketing.changedAt',
          remote: 'D__c',
          direction: 'push',
          transform: { type: 'date', format: 'date' },
        },
        {
          local: 'marketing.doubleOptInAt',
          remote: 'E__c',
          direction: 'push',
          transform: { type: 'date', format: 'epoch_ms' },
        },
      ],
    });
    expect(
      push(m, localView([state('marketing', 'opted_in', { doubleOptInAt: '2026-03-01T10:00:00.000Z' })])),
    ).toEqual({
      Mkt__c: true,
      D__c: '2026-03-01',
      E__c: Date.UTC(2026, 2, 1, 10),
    });
    expect(pull(m, { Mkt__c: false }).changes).toEqual([
      { kind: 'status', purpose: 'marketing', status: 'opted_out', remote: 'Mkt__c' },
    ]);
    expect(matchValue(m, '+447700900123')).toBe('447700900123'); // example number
    expect(readableProperties(m)).toEqual(['Mkt__c']);
  });

  it('pull reads only pull/both fields and ignores values it cannot map back', () => {
    const m = valid(shipped('hubspot'));
    expect(
      pull(m, {
        whatsapp_opted_out: 'true',
        whatsapp_marketing_consent: 'granted',
        whatsapp_transactional_consent: 'withdrawn',
        whatsapp_consent_source: 'hubspot',
        firstname: 'Example',
      }),
    ).toEqual({
      changes: [
        { kind: 'optedOut', value: true, remote: 'whatsapp_opted_out' },
        { kind: 'status', purpose: 'marketing', status: 'opted_in', remote: 'whatsapp_marketing_consent' },
      ],
      ignored: [],
    });
    expect(pull(m, { whatsapp_marketing_consent: 'maybe', whatsapp_opted_out: 'yes' })).toEqual({
      changes: [],
      ignored: ['whatsapp_opted_out', 'whatsapp_marketing_consent'],
    });
  });
});

describe('standard CRM fields and admin-only settings (issue 14, finding 4)', () => {
  const sf = () => valid(shipped('salesforce'));
  const hs = () => valid(shipped('hubspot'));
  const issuesOf = (json: unknown) => {
    const r = validateMapping(json, PURPOSES);
    return r.ok ? [] : r.issues.map((i) => `${i.path}: ${i.message}`);
  };

  it('tells custom fields from the CRM’s own', () => {
    for (const name of ['HasOptedOutOfEmail', 'DoNotCall', 'LastName', 'Email', 'MobilePhone'])
      expect(isStandardField('salesforce', name), name).toBe(true);
    for (const name of ['WhatsApp_Opted_Out__c', 'ns__Consent__c'])
      expect(isStandardField('salesforce', name), name).toBe(false);
    for (const name of [
      'lastname',
      'email',
      'mobilephone',
      'hs_email_optout',
      'HS_LEAD_STATUS',
      'lifecyclestage',
    ])
      expect(isStandardField('hubspot', name), name).toBe(true);
    for (const name of ['whatsapp_opted_out', 'x', 'x_date', 'newsletter_consent'])
      expect(isStandardField('hubspot', name), name).toBe(false);
  });

  it('a mapping may name a standard field only when allowStandardFields lists it', () => {
    const pushOptOut = { local: 'optedOut', direction: 'push', transform: { type: 'boolean' } } as const;
    const base = shipped('salesforce') as { fields: unknown[] } & Record<string, unknown>;
    expect(
      issuesOf({ ...base, fields: [...base.fields, { ...pushOptOut, remote: 'HasOptedOutOfEmail' }] }),
    ).toEqual([
      'fields.6.remote: HasOptedOutOfEmail is a standard Salesforce field (custom fields end in __c); only an admin may allow it, by listing it in allowStandardFields',
    ]);
    expect(
      issuesOf({
        ...base,
        allowStandardFields: ['hasoptedoutofemail'],
        fields: [...base.fields, { ...pushOptOut, remote: 'HasOptedOutOfEmail' }],
      }),
    ).toEqual([]);
    const hsBase = shipped('hubspot') as { fields: unknown[] } & Record<string, unknown>;
    expect(
      issuesOf({
        ...hsBase,
        fields: [...hsBase.fields, { local: 'marketing.source', remote: 'lastname', direction: 'push' }],
      }),
    ).toEqual([
      'fields.8.remote: lastname is a property HubSpot defines; only an admin may allow it, by listing it in allowStandardFields',
    ]);
    expect(sf().allowStandardFields).toEqual([]);
  });

  it('names every admin-only change, and nothing an editor may change', () => {
    const before = sf();
    const edit = (change: (m: Mapping) => void) => {
      const m = structuredClone(before);
      change(m);
      return adminOnlyChanges(before, m);
    };
    expect(edit(() => {})).toEqual([]);
    // an editor's business: custom fields added, removed, renamed, described, redirected
    expect(
      edit((m) => {
        m.fields = m.fields.filter((f) => f.remote !== 'WhatsApp_Consent_Source__c');
        m.fields[0] = { ...m.fields[0]!, description: 'changed', direction: 'push' };
        m.fields.push({
          local: 'marketing.doubleOptInAt',
          remote: 'DOI__c',
          direction: 'push',
          transform: { type: 'date', format: 'iso' },
        });
      }),
    ).toEqual([]);
    expect(
      edit((m) => {
        m.trustOptIn = true;
      }),
    ).toEqual(['trustOptIn']);
    expect(
      edit((m) => {
        m.match.objects = ['User'];
      }),
    ).toEqual(['match.objects']);
    expect(
      edit((m) => {
        m.match.field = 'Phone';
      }),
    ).toEqual(['match.field']);
    expect(
      edit((m) => {
        m.match.format = 'digits';
      }),
    ).toEqual(['match.format']);
    // a match key added later (e.g. bsuidField) is admin-only without naming it here
    expect(edit((m) => Object.assign(m.match, { bsuidField: 'Other_BSUID__c' }))).toEqual([
      'match.bsuidField',
    ]);
    expect(
      edit((m) => {
        m.allowStandardFields = ['DoNotCall'];
      }),
    ).toEqual(['allowStandardFields']);
    expect(
      edit((m) => {
        m.allowStandardFields = ['DoNotCall'];
        m.fields.push({
          local: 'optedOut',
          remote: 'DoNotCall',
          direction: 'pull',
          transform: { type: 'boolean' },
        });
      }),
    ).toEqual(['allowStandardFields', 'fields[DoNotCall]']);
    // once an admin has mapped a standard field, an editor may neither change nor drop it
    const withStandard = structuredClone(before);
    withStandard.allowStandardFields = ['HasOptedOutOfEmail'];
    withStandard.fields.push({
      local: 'optedOut',
      remote: 'HasOptedOutOfEmail',
      direction: 'push',
      transform: { type: 'boolean' },
    });
    const dropped = structuredClone(withStandard);
    dropped.fields.pop();
    expect(adminOnlyChanges(withStandard, dropped)).toEqual(['fields[HasOptedOutOfEmail]']);
    const described = structuredClone(withStandard);
    described.fields.at(-1)!.description = 'mirrors the WhatsApp opt-out';
    expect(adminOnlyChanges(withStandard, described)).toEqual([]);
    expect(
      adminOnlyChanges(hs(), { ...hs(), trustOptIn: true, match: { ...hs().match, field: 'phone' } }),
    ).toEqual(['trustOptIn', 'match.field']);
  });
});
