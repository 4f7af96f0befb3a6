/**
 * The mapping's `native` section in the sync (issue 15): what a push writes to Salesforce's own
 * consent objects, and what a MessagingEndUser or ContactPointTypeConsent change made in Salesforce
 * means for the ledger. Inbound native changes are always signals (sync rule 7): the Flow callout
 * only names the record; its values are read back through the authenticated API.
 *
 * Our own writes read back change nothing: a pulled value is applied only when it differs from what
 * the ledger already holds for that purpose (an opt-out over an opt-out, an opt-in over an opt-in
 * or a pending request is dropped), so a change makes a bounded number of writes (rule 5).
 */
import type { NativeConfig, NativeRecord, NativeTarget } from '../../connectors/salesforce/native.ts';
import type { RecordRef } from '../../connectors/types.ts';
import type { Intent } from '../core/consent.ts';
import type { Mapping } from '../core/mapping.ts';
import { consentValues, messagingStatus, NATIVE_OBJECTS, nativePull } from '../core/native-mapping.ts';
import type { ConsentStatus, Purpose, PurposeState } from '../core/types.ts';

/** The object types a Flow callout may name for the native section. */
export function isNativeType(mapping: Mapping, objectType: string): boolean {
  const n = mapping.native;
  return (
    (objectType === NATIVE_OBJECTS.messaging && !!n?.messaging) ||
    (objectType === NATIVE_OBJECTS.consent && !!n?.consent)
  );
}

/** What the connector needs to know of the native section (no values, no transforms). */
export function nativeConfig(mapping: Mapping): NativeConfig | null {
  const n = mapping.native;
  if (!n) return null;
  return {
    objects: mapping.match.objects,
    messaging: n.messaging ? { find: n.messaging.find } : null,
    consent: n.consent
      ? {
          channel: n.consent.channel,
          purposeNames: [...new Set(Object.values(n.consent.purposes))],
          externalIdField: n.consent.externalIdField ?? null,
          createIndividual: n.consent.individual === 'create',
          individualName: n.consent.individualName,
        }
      : null,
  };
}

/**
 * One person's native writes from their purpose states.
 *
 * @example nativeTarget(mapping, records, states, '+447700900001', now) // { messagingStatus: 'OptedOut', consents: [{ purposeName: 'Marketing', values: { PrivacyConsentStatus: 'OptOut', … } }] } (an example number)
 */
export function nativeTarget(
  mapping: Mapping,
  records: RecordRef[],
  states: PurposeState[],
  phone: string | null,
  now: string,
): NativeTarget | null {
  const n = mapping.native;
  if (!n || records.length === 0) return null;
  const by = new Map(states.map((s) => [s.purpose, s]));
  const m = n.messaging;
  const status = m ? messagingStatus(m, by.get(m.purpose)) : null;
  const consents: NativeTarget['consents'] = [];
  for (const [purpose, purposeName] of Object.entries(n.consent?.purposes ?? {})) {
    const values = n.consent ? consentValues(n.consent, by.get(purpose), now) : null;
    if (values) consents.push({ purposeName, values });
  }
  if (status === null && consents.length === 0) return null;
  const platformKey =
    m?.find.includes('platformKey') && phone
      ? m.platformKeyFormat === 'digits'
        ? phone.replace(/^\+/, '')
        : phone
      : null;
  return { records, platformKey, messagingStatus: status, consents };
}

/** A native record's change as an intent, or null when it is nothing new for the ledger. */
export function nativeIntent(
  mapping: Mapping,
  record: NativeRecord,
  states: PurposeState[],
): { intent: Intent; purposes: Purpose[]; remote: string[] } | null {
  if (!mapping.native) return null;
  const pulled = nativePull(
    mapping.native,
    record.kind === 'messaging'
      ? { kind: 'messaging', status: record.status }
      : { kind: 'consent', status: record.status, purposeName: record.purposeName },
  );
  if (!pulled) return null;
  const now: ConsentStatus = states.find((s) => s.purpose === pulled.purpose)?.status ?? 'none';
  if (pulled.status === 'opted_out') {
    if (now === 'opted_out') return null;
    return { intent: 'opt_out', purposes: [pulled.purpose], remote: [pulled.remote] };
  }
  if (now === 'opted_in' || now === 'pending') return null;
  return {
    intent: mapping.trustOptIn ? 'grant' : 'request',
    purposes: [pulled.purpose],
    remote: [pulled.remote],
  };
}

/**
 * Reconciliation: whether a native record holds something other than what a push would write now
 * (the ledger is the system of record: the person is queued for a write).
 */
export function nativeDrift(mapping: Mapping, record: NativeRecord, states: PurposeState[]): boolean {
  const n = mapping.native;
  if (!n) return false;
  const by = new Map(states.map((s) => [s.purpose, s]));
  if (record.kind === 'messaging') {
    const want = n.messaging ? messagingStatus(n.messaging, by.get(n.messaging.purpose)) : null;
    return want !== null && want !== record.status;
  }
  const purpose = Object.entries(n.consent?.purposes ?? {}).find(
    ([, name]) => name === record.purposeName,
  )?.[0];
  if (!purpose || !n.consent) return false;
  const want = consentValues(n.consent, by.get(purpose), '')?.PrivacyConsentStatus ?? null;
  return want !== null && want !== record.status;
}
