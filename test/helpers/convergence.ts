/**
 * What the fault-injection and crash-recovery suites share: a seeded random generator, people
 * seeded in both CRM simulators, and the check that a CRM record holds exactly what the ledger's
 * current state maps to (read through `GET /v1/subjects/{phone}`, mapped with the shipped mappings).
 */
import type { ConnectorName } from '../../connectors/types.ts';
import { localView, mappingSchema, push } from '../../src/core/mapping.ts';
import type { PurposeState } from '../../src/core/types.ts';
import { defaultMappings } from '../../src/runtime/mappings.node.ts';
import type { AppliedWrite } from '../sim/http.ts';
import type { HubSpotSimulator } from '../sim/hubspot.ts';
import type { SalesforceSimulator } from '../sim/salesforce.ts';

export { seededRandom } from './net.ts';

/** The seed of this run: `FAULT_SEED` when set (to repeat a run), else a random one. */
export function runSeed(): number {
  const given = process.env.FAULT_SEED;
  return given ? Number(given) : Math.floor(Math.random() * 2 ** 31);
}

/** A person's CRM records. */
export interface SeededPerson {
  phone: string;
  /** WhatsApp id: the number without `+` */
  wa: string;
  hubspot: string;
  salesforce: string;
}

/** Adds every number as a HubSpot contact and a Salesforce Contact (no consent values yet). */
export function seedPeople(
  hubspot: HubSpotSimulator,
  salesforce: SalesforceSimulator,
  phones: string[],
): SeededPerson[] {
  return phones.map((phone) => ({
    phone,
    wa: phone.slice(1),
    hubspot: hubspot.addContact({ mobilephone: phone, firstname: 'Example', lastname: 'Person' }),
    salesforce: salesforce.add('Contact', { MobilePhone: phone, LastName: 'Person' }),
  }));
}

/** One purpose as `GET /v1/subjects/{phone}` shows it. */
export interface ApiState {
  status: PurposeState['status'];
  changedAt: string | null;
  source: string | null;
  doubleOptInAt?: string | null;
  textVersion?: string | null;
}

const MAPPINGS = defaultMappings();
const mapping = (c: ConnectorName) => mappingSchema.parse(MAPPINGS[c]);
const PARSED: Record<ConnectorName, ReturnType<typeof mapping>> = {
  hubspot: mapping('hubspot'),
  salesforce: mapping('salesforce'),
};

/** Values compare as text: null, undefined and '' are all "empty"; booleans as true/false. */
export const comparable = (v: unknown): string => (v === null || v === undefined ? '' : String(v));

/** What a CRM record must hold for a person whose ledger state the API shows as `purposes`. */
export function expectedProperties(
  connector: ConnectorName,
  purposes: Record<string, ApiState>,
): Record<string, string> {
  const states: PurposeState[] = Object.entries(purposes)
    .filter(([, s]) => s.changedAt !== null)
    .map(([purpose, s]) => ({
      subjectId: '',
      purpose,
      status: s.status,
      changedAt: s.changedAt as string,
      source: s.source as PurposeState['source'],
      statusBeforePending: null,
      pendingExpiresAt: null,
      doubleOptInAt: s.doubleOptInAt ?? null,
      textVersion: s.textVersion ?? null,
      occurredAt: s.changedAt as string,
      withdrawnAt: null,
      crmOptedOutAt: null,
      crmGrantedAt: null,
      requestedAt: null,
    }));
  const values = push(PARSED[connector], localView(states));
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, comparable(v)]));
}

/** The properties where `actual` differs from `expected` (names only: values can be personal). */
export function drift(expected: Record<string, string>, actual: Record<string, unknown> | null): string[] {
  if (!actual) return ['<record missing>'];
  return Object.keys(expected).filter((k) => comparable(actual[k]) !== expected[k]);
}

/**
 * Writes that carried an older consent date than a write applied before them: a stale job
 * overwriting a newer one. `dateField` is the mapped `marketing.changedAt` property. Dates compare
 * in whole seconds, the precision at which the ledger orders changes (WhatsApp timestamps); this
 * holds when each person's changes are sent in order.
 */
export function staleWrites(history: AppliedWrite[], dateField: string): number {
  let newest = Number.NEGATIVE_INFINITY;
  let stale = 0;
  for (const w of history) {
    const date = Math.floor(Date.parse(comparable(w.properties[dateField])) / 1000);
    if (Number.isNaN(date)) continue;
    if (date < newest) stale++;
    else newest = date;
  }
  return stale;
}

/** Property names of the mapped `marketing.changedAt` per connector. */
export const DATE_FIELD: Record<ConnectorName, string> = {
  hubspot: 'whatsapp_marketing_consent_date',
  salesforce: 'WhatsApp_Marketing_Consent_Date__c',
};

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
