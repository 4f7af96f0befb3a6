/**
 * The `native` section of the Salesforce mapping (issue 15): consent written where Salesforce itself
 * looks for it, beside the fields on Contact/Lead. Pure: the schema, what to write for a person, and
 * what a native record read back from Salesforce means for the ledger.
 *
 * - `messaging`: the person's `MessagingEndUser` for WhatsApp. A channel carries one status, so one
 *   purpose drives `MessagingConsentStatus`: opted out → `OptedOut`; opted in → `DoublyOptedIn` after a
 *   double opt-in, else `optInStatus`. Pending and none leave the record alone. Only
 *   `MessagingConsentStatus` is ever written; the record is found, never created.
 * - `consent`: one `ContactPointTypeConsent` per mapped purpose on the person's `Individual`, for the
 *   `EngagementChannelType` named `channel`: `PrivacyConsentStatus` (opted in → `OptIn`, opted out →
 *   `OptOut`, pending → `OptInPending`) with the evidence `CaptureDate`, `CaptureSource` (always:
 *   Salesforce requires them) and, when mapped, `DoubleConsentCaptureDate`, `EffectiveFrom` and the
 *   text version in a field of the admin's choosing. A purpose with no state yet is not written.
 *
 * Pulled values map back symmetrically (an `OptedOut`/`OptOut` is an opt-out of that purpose, an
 * opted-in value a request for consent), so our own writes read back change nothing.
 */
import { z } from 'zod';
import type { ConsentStatus, Purpose } from './types.ts';

const API_NAME = /^[A-Za-z][A-Za-z0-9_]{0,79}$/;
const PURPOSE = /^[a-z][a-z0-9_]{0,39}$/;

/** `MessagingConsentStatus` values a WhatsApp opt-in may be written as (object reference, help "messaging_consent_status"). */
export const MESSAGING_OPT_IN = ['ImplicitlyOptedIn', 'ExplicitlyOptedIn', 'DoublyOptedIn'] as const;
export const MESSAGING_STATUSES = [...MESSAGING_OPT_IN, 'OptedOut'] as const;
/** `PrivacyConsentStatus` values (OptInPending / OptOutPending need API 58.0+). */
export const PRIVACY_STATUSES = [
  'NotSeen',
  'Seen',
  'OptIn',
  'OptOut',
  'OptInPending',
  'OptOutPending',
] as const;

export const NATIVE_OBJECTS = {
  messaging: 'MessagingEndUser',
  consent: 'ContactPointTypeConsent',
  individual: 'Individual',
  channel: 'EngagementChannelType',
  purpose: 'DataUsePurpose',
  phone: 'ContactPointPhone',
} as const;

export const messagingSchema = z
  .object({
    purpose: z
      .string()
      .regex(PURPOSE, 'must be a purpose name')
      .describe('The purpose whose state drives MessagingConsentStatus (a channel carries one status).'),
    direction: z
      .enum(['push', 'pull', 'both'])
      .default('both')
      .describe(
        'push: ledger → MessagingEndUser; pull: an OptedOut set in Salesforce reaches the ledger; both.',
      ),
    find: z
      .array(z.enum(['record', 'platformKey']))
      .min(1)
      .max(2)
      .default(['record'])
      .describe(
        'How the MessagingEndUser is found: record (ContactId/LeadId of the linked Contact or Lead), platformKey (MessageType WhatsApp + MessagingPlatformKey = the number).',
      ),
    platformKeyFormat: z
      .enum(['e164', 'digits'])
      .default('e164')
      .describe('How MessagingPlatformKey holds numbers: e164 (+447700900123) or digits (447700900123).'),
    optInStatus: z
      .enum(['ImplicitlyOptedIn', 'ExplicitlyOptedIn'])
      .default('ExplicitlyOptedIn')
      .describe('Written for an opt-in without a double opt-in; after one, DoublyOptedIn.'),
  })
  .strict();

export const consentModelSchema = z
  .object({
    channel: z
      .string()
      .min(1)
      .max(80)
      .default('WhatsApp')
      .describe('Name of the EngagementChannelType the consents are for.'),
    purposes: z
      .record(z.string().regex(PURPOSE, 'must be a purpose name'), z.string().min(1).max(80))
      .refine((r) => Object.keys(r).length > 0, 'name at least one purpose')
      .describe('Local purpose → name of its DataUsePurpose record, e.g. { "marketing": "Marketing" }.'),
    direction: z
      .enum(['push', 'pull', 'both'])
      .default('both')
      .describe(
        'push: ledger → ContactPointTypeConsent; pull: an OptOut set in Salesforce reaches the ledger; both.',
      ),
    externalIdField: z
      .string()
      .regex(API_NAME)
      .refine((s) => s.endsWith('__c'), 'an External ID field is a custom field (…__c)')
      .optional()
      .describe(
        'A custom External ID field on ContactPointTypeConsent: records are upserted on it (one call). Without it they are found by Individual, channel and purpose.',
      ),
    individual: z
      .enum(['link', 'create'])
      .default('link')
      .describe(
        'link: only people whose Contact/Lead has an Individual get consents; create: an Individual is created and linked when missing.',
      ),
    individualName: z
      .string()
      .min(1)
      .max(80)
      .default('WhatsApp consent')
      .describe("LastName of Individuals created here (the person's name is never read or copied)."),
    doubleConsentCaptureDate: z.boolean().default(true).describe('Write the double opt-in time.'),
    effectiveFrom: z.boolean().default(true).describe('Write EffectiveFrom (when the status took effect).'),
    textVersionField: z
      .string()
      .regex(API_NAME)
      .refine((s) => s.endsWith('__c'), 'the text version goes to a custom field (…__c)')
      .optional()
      .describe('A custom text field on ContactPointTypeConsent for the consent text version.'),
  })
  .strict();

export const nativeSchema = z
  .object({
    messaging: messagingSchema.optional(),
    consent: consentModelSchema.optional(),
  })
  .strict()
  .refine((n) => n.messaging || n.consent, 'name messaging, consent or both')
  .describe('Salesforce only: MessagingEndUser and the consent data model (ContactPointTypeConsent).');

export type NativeMapping = z.output<typeof nativeSchema>;
export type MessagingMapping = z.output<typeof messagingSchema>;
export type ConsentModelMapping = z.output<typeof consentModelSchema>;

/** What the ledger holds for one purpose, as the native plan reads it. */
export interface NativeState {
  status: ConsentStatus;
  changedAt: string | null;
  source: string | null;
  textVersion: string | null;
  doubleOptInAt: string | null;
}

/** The purposes the native section names. */
export function nativePurposes(n: NativeMapping): Purpose[] {
  return [
    ...new Set([...(n.messaging ? [n.messaging.purpose] : []), ...Object.keys(n.consent?.purposes ?? {})]),
  ];
}

/**
 * The `MessagingConsentStatus` to write, or null to leave the record alone.
 *
 * @example messagingStatus(m, { status: 'opted_out', … }) // 'OptedOut'
 */
export function messagingStatus(m: MessagingMapping, s: NativeState | undefined): string | null {
  if (!s || m.direction === 'pull') return null;
  if (s.status === 'opted_out') return 'OptedOut';
  if (s.status === 'opted_in') return s.doubleOptInAt ? 'DoublyOptedIn' : m.optInStatus;
  return null;
}

const PRIVACY: Partial<Record<ConsentStatus, string>> = {
  opted_in: 'OptIn',
  opted_out: 'OptOut',
  pending: 'OptInPending',
};

/**
 * The values of one purpose's ContactPointTypeConsent, or null when there is nothing to write
 * (no state yet, or pull only). Only the status and the evidence: nothing else about the person.
 *
 * @example consentValues(c, state) // { PrivacyConsentStatus: 'OptOut', CaptureDate: '…', CaptureSource: 'whatsapp', … }
 */
export function consentValues(
  c: ConsentModelMapping,
  s: NativeState | undefined,
  now: string,
): Record<string, string | null> | null {
  const status = s ? PRIVACY[s.status] : undefined;
  if (!s || !status || c.direction === 'pull') return null;
  const at = s.changedAt ?? now;
  const out: Record<string, string | null> = {
    PrivacyConsentStatus: status,
    CaptureDate: at,
    CaptureSource: s.source ?? 'consent-sync',
  };
  if (c.doubleConsentCaptureDate) out.DoubleConsentCaptureDate = s.doubleOptInAt;
  if (c.effectiveFrom) out.EffectiveFrom = at;
  if (c.textVersionField) out[c.textVersionField] = s.textVersion;
  return out;
}

/** What a native record read back from Salesforce says, before it is compared with the ledger. */
export type NativeSignal =
  | { kind: 'messaging'; status: unknown }
  | { kind: 'consent'; status: unknown; purposeName: unknown };

/**
 * The consent change a native record stands for, or null: an opt-out, or an opt-in (a request for
 * consent unless the connector is trusted). Unknown values and pull-less directions are ignored.
 *
 * @example nativePull(n, { kind: 'consent', status: 'OptOut', purposeName: 'Marketing' }) // { purpose: 'marketing', status: 'opted_out', remote: 'ContactPointTypeConsent.PrivacyConsentStatus' }
 */
export function nativePull(
  n: NativeMapping,
  signal: NativeSignal,
): { purpose: Purpose; status: ConsentStatus; remote: string } | null {
  if (signal.kind === 'messaging') {
    const m = n.messaging;
    if (!m || m.direction === 'push') return null;
    const remote = `${NATIVE_OBJECTS.messaging}.MessagingConsentStatus`;
    if (signal.status === 'OptedOut') return { purpose: m.purpose, status: 'opted_out', remote };
    if ((MESSAGING_OPT_IN as readonly unknown[]).includes(signal.status))
      return { purpose: m.purpose, status: 'opted_in', remote };
    return null;
  }
  const c = n.consent;
  if (!c || c.direction === 'push') return null;
  const purpose = Object.entries(c.purposes).find(([, name]) => name === signal.purposeName)?.[0];
  if (!purpose) return null;
  const remote = `${NATIVE_OBJECTS.consent}.PrivacyConsentStatus`;
  if (signal.status === 'OptOut') return { purpose, status: 'opted_out', remote };
  if (signal.status === 'OptIn') return { purpose, status: 'opted_in', remote };
  return null;
}

/**
 * Every object and field the native section may write, for the whitelist checks: nothing outside
 * this list ever leaves. `IndividualId` on Contact/Lead and `Individual.LastName` only with
 * `individual: create`.
 */
export function nativeWritable(n: NativeMapping, objects: readonly string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  if (n.messaging && n.messaging.direction !== 'pull')
    out[NATIVE_OBJECTS.messaging] = ['MessagingConsentStatus'];
  const c = n.consent;
  if (c && c.direction !== 'pull') {
    out[NATIVE_OBJECTS.consent] = [
      'Name',
      'PartyId',
      'EngagementChannelTypeId',
      'DataUsePurposeId',
      'ContactPointType',
      'CaptureContactPointType',
      'PrivacyConsentStatus',
      'CaptureDate',
      'CaptureSource',
      ...(c.doubleConsentCaptureDate ? ['DoubleConsentCaptureDate'] : []),
      ...(c.effectiveFrom ? ['EffectiveFrom'] : []),
      ...(c.textVersionField ? [c.textVersionField] : []),
      ...(c.externalIdField ? [c.externalIdField] : []),
    ];
    if (c.individual === 'create') {
      out[NATIVE_OBJECTS.individual] = ['LastName'];
      for (const o of objects) out[o] = ['IndividualId'];
    }
  }
  return out;
}
