import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { validateMapping } from './mapping.ts';
import {
  type ConsentModelMapping,
  consentValues,
  type MessagingMapping,
  messagingStatus,
  type NativeMapping,
  nativePull,
  nativeWritable,
} from './native-mapping.ts';

const PURPOSES = ['marketing', 'transactional'];
const base = () =>
  JSON.parse(readFileSync(new URL('../../mappings/salesforce.json', import.meta.url), 'utf8')) as Record<
    string,
    unknown
  >;
const issues = (json: unknown) => {
  const r = validateMapping(json, PURPOSES, 'salesforce');
  return r.ok ? [] : r.issues.map((i) => `${i.path}: ${i.message}`);
};
const state = (
  status: 'none' | 'pending' | 'opted_in' | 'opted_out',
  doubleOptInAt: string | null = null,
) => ({
  status,
  changedAt: '2026-03-01T10:00:00.000Z',
  source: 'whatsapp',
  textVersion: 'v3',
  doubleOptInAt,
});

describe('native mapping section', () => {
  it('accepts messaging and consent sections and fills the defaults', () => {
    const r = validateMapping(
      {
        ...base(),
        native: { messaging: { purpose: 'marketing' }, consent: { purposes: { marketing: 'Marketing' } } },
      },
      PURPOSES,
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.mapping.native?.messaging).toMatchObject({ find: ['record'], optInStatus: 'ExplicitlyOptedIn' });
    expect(r.mapping.native?.consent).toMatchObject({ channel: 'WhatsApp', individual: 'link' });
  });

  it('rejects, with the path named: unknown purposes, an empty section, HubSpot, bad field names, no fields at all', () => {
    expect(issues({ ...base(), native: { messaging: { purpose: 'newsletter' } } })).toEqual([
      'native: unknown purpose newsletter (known: marketing, transactional)',
    ]);
    expect(issues({ ...base(), native: {} })).toEqual(['native: name messaging, consent or both']);
    expect(issues({ ...base(), fields: [] })).toEqual([
      'fields: map at least one field (or a native section)',
    ]);
    expect(
      issues({ ...base(), native: { consent: { purposes: { marketing: 'M' }, externalIdField: 'Name' } } }),
    ).toEqual(['native.consent.externalIdField: an External ID field is a custom field (…__c)']);
    expect(
      issues({ ...base(), native: { messaging: { purpose: 'marketing', optInStatus: 'OptedOut' } } })[0],
    ).toMatch(/^native\.messaging\.optInStatus/);
    const hubspot = JSON.parse(readFileSync(new URL('../../mappings/hubspot.json', import.meta.url), 'utf8'));
    const r = validateMapping({ ...hubspot, native: { messaging: { purpose: 'marketing' } } }, PURPOSES);
    expect(r.ok ? [] : r.issues.map((i) => i.message)).toContain('native objects are Salesforce only');
  });

  it('MessagingConsentStatus follows its purpose: OptedOut, DoublyOptedIn after a double opt-in, else the configured opt-in; pending and none leave it alone', () => {
    const m: MessagingMapping = {
      purpose: 'marketing',
      direction: 'both',
      find: ['record'],
      platformKeyFormat: 'e164',
      optInStatus: 'ImplicitlyOptedIn',
    };
    expect(messagingStatus(m, state('opted_out'))).toBe('OptedOut');
    expect(messagingStatus(m, state('opted_in', '2026-03-01T10:05:00.000Z'))).toBe('DoublyOptedIn');
    expect(messagingStatus(m, state('opted_in'))).toBe('ImplicitlyOptedIn');
    expect(messagingStatus(m, state('pending'))).toBeNull();
    expect(messagingStatus(m, state('none'))).toBeNull();
    expect(messagingStatus({ ...m, direction: 'pull' }, state('opted_out'))).toBeNull();
  });

  it('consent values carry the status and the evidence only', () => {
    const c: ConsentModelMapping = {
      channel: 'WhatsApp',
      purposes: { marketing: 'Marketing' },
      direction: 'both',
      individual: 'link',
      individualName: 'WhatsApp consent',
      doubleConsentCaptureDate: true,
      effectiveFrom: false,
      textVersionField: 'Consent_Text_Version__c',
    };
    expect(consentValues(c, state('opted_in', '2026-03-01T10:05:00.000Z'), 'now')).toEqual({
      PrivacyConsentStatus: 'OptIn',
      CaptureDate: '2026-03-01T10:00:00.000Z',
      CaptureSource: 'whatsapp',
      DoubleConsentCaptureDate: '2026-03-01T10:05:00.000Z',
      Consent_Text_Version__c: 'v3',
    });
    expect(consentValues(c, state('pending'), 'now')?.PrivacyConsentStatus).toBe('OptInPending');
    expect(consentValues(c, state('none'), 'now')).toBeNull();
    expect(consentValues(c, undefined, 'now')).toBeNull();
    expect(Object.keys(nativeWritable({ consent: c }, ['Contact']))).toEqual(['ContactPointTypeConsent']);
    expect(nativeWritable({ consent: { ...c, individual: 'create' } }, ['Contact']).Contact).toEqual([
      'IndividualId',
    ]);
  });

  it('pulled values map back symmetrically; unknown values and push-only sections are ignored', () => {
    const n: NativeMapping = {
      messaging: {
        purpose: 'marketing',
        direction: 'both',
        find: ['record'],
        platformKeyFormat: 'e164',
        optInStatus: 'ExplicitlyOptedIn',
      },
      consent: {
        channel: 'WhatsApp',
        purposes: { transactional: 'Transactional' },
        direction: 'push',
        individual: 'link',
        individualName: 'x',
        doubleConsentCaptureDate: true,
        effectiveFrom: true,
      },
    };
    expect(nativePull(n, { kind: 'messaging', status: 'OptedOut' })?.status).toBe('opted_out');
    expect(nativePull(n, { kind: 'messaging', status: 'DoublyOptedIn' })?.status).toBe('opted_in');
    expect(nativePull(n, { kind: 'messaging', status: 'Bogus' })).toBeNull();
    expect(nativePull(n, { kind: 'consent', status: 'OptOut', purposeName: 'Transactional' })).toBeNull();
    const pullable: NativeMapping = {
      ...n,
      consent: { ...(n.consent as ConsentModelMapping), direction: 'both' },
    };
    expect(nativePull(pullable, { kind: 'consent', status: 'OptOut', purposeName: 'Transactional' })).toEqual(
      {
        purpose: 'transactional',
        status: 'opted_out',
        remote: 'ContactPointTypeConsent.PrivacyConsentStatus',
      },
    );
    expect(
      nativePull(pullable, { kind: 'consent', status: 'Seen', purposeName: 'Transactional' }),
    ).toBeNull();
  });
});
