/**
 * The whitelist, as properties (issue 3, deliver 4; GDPR Art. 5(1)(c) and 25): nothing outside the
 * mapping is ever sent to a CRM, and nothing outside it is ever read or stored from one.
 *
 * One harness per property; each fast-check run resets the simulators and uses fresh phone numbers,
 * so runs (shrinking runs included) do not see each other's people.
 *
 * 1. Random states → writes: random consent actions (form requests, YES, STOP, API opt-outs, CRM UI
 *    edits, Outbound Messages) under random valid mappings (fields dropped, directions changed,
 *    object types, trustOptIn) put in force through the admin API. Every captured CRM request is
 *    checked against the mapping in force when it was sent: writes carry push/both fields only,
 *    lookups ask for the match field and pull/both fields only and filter on the match field or id.
 * 2. Random CRM payloads → nothing read or stored: records and signed webhooks (HubSpot property
 *    changes, Salesforce Outbound Messages and Flow callouts) full of marker strings in
 *    non-whitelisted properties with random names, and in whitelisted ones as unmappable values.
 *    No marker reaches the SQLite file (and its WAL), the decrypted ledger, the outbox, the logs or
 *    any request back to a CRM; whitelisted opt-outs take effect and everything else changes nothing.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectorName } from '../../connectors/types.ts';
import type { Mapping } from '../../src/core/mapping.ts';
import { NATIVE_OBJECTS, nativeWritable } from '../../src/core/native-mapping.ts';
import { type CrmHarness, HUBSPOT, SALESFORCE, startCrmHarness } from '../helpers/crm.ts';
import { json, NO_INTAKE_LIMITS } from '../helpers/harness.ts';
import { textMessage } from '../helpers/whatsapp.ts';
import {
  type HubSpotWebhookEvent,
  hubspotWebhookRequest,
  makeHubSpotEvent,
  type ReceivedRequest,
} from '../sim/hubspot.ts';
import { DEFAULT_FIELDS, parseSoql, type SimRequest } from '../sim/salesforce.ts';

type Json = Record<string, unknown>;
type Purpose = 'marketing' | 'transactional';
type SfType = 'Contact' | 'Lead';
type States = Record<string, { status: string }>;

const PURPOSES: Purpose[] = ['marketing', 'transactional'];
/** Standard properties the simulators define that no mapping names. */
const HS_PERSONAL = ['firstname', 'lastname', 'email', 'phone'] as const;
const SF_PERSONAL = ['FirstName', 'LastName', 'Email', 'Phone'] as const;

const ts = () => String(Math.floor(Date.now() / 1000));
const lower = (xs: Iterable<string>) => new Set([...xs].map((x) => x.toLowerCase()));

/** Fictitious German mobile numbers, never the same twice in this file. */
let serial = 0;
function nextPhone(): { phone: string; wa: string } {
  serial += 1;
  const digits = `49151234${String(serial).padStart(5, '0')}`;
  return { phone: `+${digits}`, wa: digits };
}

// ---- the whitelist as the oracle reads it -------------------------------------------------------

/** Remote names the mapping writes (push/both). */
const pushSet = (m: Mapping) => m.fields.filter((f) => f.direction !== 'pull').map((f) => f.remote);
/** Remote names the mapping reads (pull/both). */
const pullSet = (m: Mapping) => m.fields.filter((f) => f.direction !== 'push').map((f) => f.remote);

/** What may be sent to and asked of HubSpot under `m`; one line per violation. */
function hubspotViolations(r: ReceivedRequest, m: Mapping): string[] {
  const out: string[] = [];
  const url = new URL(r.path, 'http://sim.invalid');
  const body = (r.body ?? {}) as Json;
  const match = m.match.field;
  const bsuid = m.match.bsuidField;
  const writable = new Set(pushSet(m));
  // The BSUID field identifies, like the match field: it is read, and people can be found by it.
  const readable = new Set([match, ...(bsuid ? [bsuid] : []), ...pullSet(m)]);
  const where = `${r.method} ${url.pathname}`;
  const asked = (names: unknown) => {
    if (!Array.isArray(names)) return;
    for (const n of names) if (!readable.has(String(n))) out.push(`${where} asks for ${String(n)}`);
  };
  if (r.method === 'POST' && url.pathname === '/crm/v3/objects/contacts/batch/update') {
    const inputs = Array.isArray(body.inputs) ? (body.inputs as Json[]) : [];
    if (inputs.length === 0) out.push(`${where} without inputs`);
    for (const input of inputs) {
      for (const key of Object.keys(input))
        if (!['id', 'properties', 'objectWriteTraceId'].includes(key))
          out.push(`${where} input carries ${key}`);
      const props = Object.keys((input.properties ?? {}) as Json);
      if (props.length === 0) out.push(`${where} writes nothing`);
      for (const p of props) {
        if (p === match) out.push(`${where} writes the match field`);
        else if (!writable.has(p)) out.push(`${where} writes ${p}`);
      }
    }
  } else if (r.method === 'POST' && url.pathname === '/crm/v3/objects/contacts/search') {
    asked(body.properties);
    const groups = Array.isArray(body.filterGroups) ? (body.filterGroups as Json[]) : [];
    const filters = groups.flatMap((g) => (Array.isArray(g.filters) ? (g.filters as Json[]) : []));
    if (filters.length === 0) out.push(`${where} without a filter`);
    for (const f of filters)
      if (f.propertyName !== match && (bsuid === undefined || f.propertyName !== bsuid))
        out.push(`${where} filters on ${String(f.propertyName)}`);
    if (body.sorts !== undefined && JSON.stringify(body.sorts) !== '[]') out.push(`${where} sorts`);
  } else if (r.method === 'POST' && url.pathname === '/crm/v3/objects/contacts/batch/read') {
    asked(body.properties);
    if (Array.isArray(body.propertiesWithHistory) && body.propertiesWithHistory.length > 0)
      out.push(`${where} asks for property history`);
    if (body.idProperty !== undefined && body.idProperty !== 'hs_object_id')
      out.push(`${where} reads by ${String(body.idProperty)}`);
  } else if (r.method === 'GET' && /^\/crm\/v3\/objects\/contacts\/[^/]+$/.test(url.pathname)) {
    asked(url.searchParams.getAll('properties').flatMap((p) => p.split(',')));
  } else if (r.method === 'GET' && url.pathname === '/crm/v3/properties/contacts') {
    // the data model (property definitions, no record): read to check a mapping before it is saved
  } else {
    out.push(`unexpected HubSpot request ${where}`);
  }
  return out;
}

/** What may be sent to and asked of Salesforce under `m`; one line per violation. */
function salesforceViolations(r: SimRequest, m: Mapping): string[] {
  const out: string[] = [];
  const url = new URL(r.path, 'http://sim.invalid');
  const where = `${r.method} ${url.pathname}`;
  if (r.method === 'POST' && url.pathname === '/services/oauth2/token') return out;
  const rest = /^\/services\/data\/v\d+\.\d+(\/.*)$/.exec(url.pathname)?.[1] ?? '';
  const objects = lower(m.match.objects);
  const match = m.match.field.toLowerCase();
  if (r.method === 'GET' && rest === '/query') {
    const soql = url.searchParams.get('q') ?? '';
    let parsed: ReturnType<typeof parseSoql>;
    try {
      parsed = parseSoql(soql);
    } catch {
      return [`${where}: unparsable SOQL`];
    }
    const bsuid = m.match.bsuidField?.toLowerCase();
    const native = nativeQuery(m, parsed.from, parsed.fields);
    if (native) {
      for (const f of parsed.fields)
        if (!native.select.has(f.toLowerCase())) out.push(`SOQL selects ${parsed.from}.${f}`);
      if (parsed.where.length === 0) out.push('SOQL without a filter');
      for (const c of parsed.where)
        if (!native.filter.has(c.field.toLowerCase())) out.push(`SOQL filters ${parsed.from} on ${c.field}`);
      return out;
    }
    const selectable = lower(['Id', m.match.field, ...(bsuid ? [bsuid] : []), ...pullSet(m)]);
    for (const f of parsed.fields) if (!selectable.has(f.toLowerCase())) out.push(`SOQL selects ${f}`);
    if (!objects.has(parsed.from.toLowerCase())) out.push(`SOQL reads from ${parsed.from}`);
    if (parsed.where.length === 0) out.push('SOQL without a filter');
    for (const c of parsed.where)
      if (![match, 'id', bsuid].includes(c.field.toLowerCase())) out.push(`SOQL filters on ${c.field}`);
  } else if (r.method === 'GET' && /^\/query\/[A-Za-z0-9]+-\d+$/.test(rest)) {
    // the next page of a query checked above
  } else if (r.method === 'GET' && /^\/sobjects\/[A-Za-z0-9_]+\/describe$/.test(rest)) {
    // the data model of a mapped object type (no record): read to check a mapping before it is saved
    const type = rest.split('/')[2] ?? '';
    if (!objects.has(type.toLowerCase())) out.push(`${where} describes ${type}`);
  } else if ((r.method === 'PATCH' || r.method === 'POST') && rest === '/composite/sobjects') {
    const records = Array.isArray((r.body as Json | null)?.records)
      ? ((r.body as Json).records as Json[])
      : [];
    if (records.length === 0) out.push(`${where} without records`);
    const writable = lower(pushSet(m));
    const allowed = m.native ? nativeWritable(m.native, m.match.objects) : {};
    for (const rec of records) {
      const type = (rec.attributes as Json | undefined)?.type;
      const typeName = typeof type === 'string' ? type : '';
      const nativeFields = allowed[typeName];
      if (nativeFields && (r.method === 'POST' || !objects.has(typeName.toLowerCase()))) {
        // Salesforce's own consent objects, and IndividualId on Contact/Lead: only what the native section allows.
        for (const f of Object.keys(rec).filter((k) => k !== 'attributes' && k.toLowerCase() !== 'id'))
          if (!nativeFields.includes(f)) out.push(`${where} writes ${String(type)}.${f}`);
        continue;
      }
      if (r.method === 'POST' || typeof type !== 'string' || !objects.has(type.toLowerCase()))
        out.push(`${where} writes to ${String(type)}`);
      const fields = Object.keys(rec).filter((k) => k !== 'attributes' && k.toLowerCase() !== 'id');
      if (fields.length === 0) out.push(`${where} writes nothing`);
      for (const f of fields) {
        if (f.toLowerCase() === match) out.push(`${where} writes the match field`);
        else if (f === 'IndividualId' && allowed[String(type)]?.includes(f)) continue;
        else if (!writable.has(f.toLowerCase())) out.push(`${where} writes ${f}`);
      }
    }
  } else {
    out.push(`unexpected Salesforce request ${where}`);
  }
  return out;
}

/** What a query of a native object (or of IndividualId on Contact/Lead) may select and filter on. */
function nativeQuery(
  m: Mapping,
  from: string,
  fields: string[],
): { select: Set<string>; filter: Set<string> } | null {
  const n = m.native;
  if (!n) return null;
  const type = from.toLowerCase();
  const byKey = n.messaging?.find.includes('platformKey') ? ['MessagingPlatformKey'] : [];
  if (n.messaging && type === NATIVE_OBJECTS.messaging.toLowerCase())
    return {
      select: lower(['Id', 'ContactId', 'LeadId', 'MessagingConsentStatus', 'MessageType', ...byKey]),
      filter: lower(['Id', 'ContactId', 'LeadId', 'MessageType', ...byKey]),
    };
  if (!n.consent) return null;
  if (type === NATIVE_OBJECTS.consent.toLowerCase())
    return {
      select: lower(['Id', 'PrivacyConsentStatus', 'PartyId', 'DataUsePurposeId', 'EngagementChannelTypeId']),
      filter: lower(['Id', 'PartyId', 'EngagementChannelTypeId']),
    };
  if (type === NATIVE_OBJECTS.channel.toLowerCase() || type === NATIVE_OBJECTS.purpose.toLowerCase())
    return { select: lower(['Id', 'Name']), filter: lower(['Name']) };
  if (
    m.match.objects.some((o) => o.toLowerCase() === type) &&
    fields.some((f) => f.toLowerCase() === 'individualid')
  )
    return { select: lower(['Id', 'IndividualId']), filter: lower(['Id', 'IndividualId']) };
  return null;
}

// ---- random valid mappings ------------------------------------------------------------------

type Direction = 'push' | 'pull' | 'both';
interface MappingEdit {
  trustOptIn: boolean;
  fields: Array<{ keep: boolean; direction: Direction }>;
  /** Salesforce only: which object types to search */
  objects: SfType[];
  /** Salesforce only: a native section (issue 15), or none */
  native: {
    messaging: boolean;
    consent: boolean;
    platformKey: boolean;
    individual: 'link' | 'create';
    evidence: boolean;
  } | null;
}

const mappingEdit: fc.Arbitrary<MappingEdit> = fc.record({
  trustOptIn: fc.boolean(),
  fields: fc.array(
    fc.record({ keep: fc.boolean(), direction: fc.constantFrom<Direction>('push', 'pull', 'both') }),
    { minLength: 6, maxLength: 6 },
  ),
  objects: fc.oneof(
    fc.constant<SfType[]>(['Contact', 'Lead']),
    fc.constant<SfType[]>(['Lead', 'Contact']),
    fc.constant<SfType[]>(['Contact']),
    fc.constant<SfType[]>(['Lead']),
  ),
  native: fc.option(
    fc.record({
      messaging: fc.boolean(),
      consent: fc.boolean(),
      platformKey: fc.boolean(),
      individual: fc.constantFrom<'link' | 'create'>('link', 'create'),
      evidence: fc.boolean(),
    }),
    { nil: null },
  ),
});

/** Drops fields and changes directions (only consent values may be pulled); keeps one written field. */
function edited(base: Mapping, connector: ConnectorName, e: MappingEdit): Mapping {
  const pullable = (local: string) => local === 'optedOut' || local.endsWith('.status');
  const fields = base.fields.flatMap((f, i) => {
    const fe = e.fields[i];
    if (!fe?.keep) return [];
    return [{ ...f, direction: pullable(f.local) ? fe.direction : 'push' }];
  });
  if (!fields.some((f) => f.direction !== 'pull')) {
    const extra = base.fields.find((f) => !pullable(f.local) && !fields.some((k) => k.remote === f.remote));
    if (extra) fields.push({ ...extra, direction: 'push' });
  }
  const match = connector === 'salesforce' ? { ...base.match, objects: [...e.objects] } : base.match;
  const n = connector === 'salesforce' ? e.native : null;
  const native: Mapping['native'] =
    n && (n.messaging || n.consent)
      ? {
          ...(n.messaging
            ? {
                messaging: {
                  purpose: 'marketing',
                  direction: 'both' as const,
                  find: n.platformKey ? ['record' as const, 'platformKey' as const] : ['record' as const],
                  platformKeyFormat: 'e164' as const,
                  optInStatus: 'ExplicitlyOptedIn' as const,
                },
              }
            : {}),
          ...(n.consent
            ? {
                consent: {
                  channel: 'WhatsApp',
                  purposes: { marketing: 'Marketing', transactional: 'Transactional' },
                  direction: 'both' as const,
                  individual: n.individual,
                  individualName: 'WhatsApp consent',
                  doubleConsentCaptureDate: n.evidence,
                  effectiveFrom: n.evidence,
                },
              }
            : {}),
        }
      : undefined;
  const { native: _dropped, ...rest } = base;
  return { ...rest, trustOptIn: e.trustOptIn, match, fields, ...(native ? { native } : {}) };
}

// ---- property 1: random states → writes ---------------------------------------------------------

const someText = fc.stringMatching(/^[A-Za-z][A-Za-z .'-]{0,15}$/);
const purposes = fc.subarray(PURPOSES, { minLength: 1 });

const hsUiProps = fc
  .record(
    {
      whatsapp_opted_out: fc.constantFrom('true', 'false'),
      whatsapp_marketing_consent: fc.constantFrom('not_set', 'pending', 'granted', 'withdrawn'),
      whatsapp_transactional_consent: fc.constantFrom('not_set', 'pending', 'granted', 'withdrawn'),
      whatsapp_consent_source: fc.constantFrom('whatsapp', 'hubspot', 'typed by hand'),
      whatsapp_marketing_consent_date: fc
        .date({
          min: new Date('2020-01-01T00:00:00Z'),
          max: new Date('2030-01-01T00:00:00Z'),
          noInvalidDate: true,
        })
        .map((d) => d.toISOString()),
      firstname: someText,
      email: someText,
    },
    { requiredKeys: [] },
  )
  .filter((o) => Object.keys(o).length > 0);

const sfUiFields = fc
  .record(
    {
      WhatsApp_Opted_Out__c: fc.boolean(),
      WhatsApp_Marketing_Consent__c: fc.constantFrom('None', 'Pending', 'Opted In', 'Opted Out'),
      WhatsApp_Transactional_Consent__c: fc.constantFrom('None', 'Pending', 'Opted In', 'Opted Out'),
      WhatsApp_Consent_Source__c: fc.constantFrom('whatsapp', 'salesforce', 'typed by hand'),
      FirstName: someText,
      Email: someText,
    },
    { requiredKeys: [] },
  )
  .filter((o) => Object.keys(o).length > 0);

/** An Outbound Message without the number: for an unlinked record, the app reads the record by id. */
const sfNotifyFields = fc
  .record(
    {
      WhatsApp_Opted_Out__c: fc.boolean(),
      WhatsApp_Marketing_Consent__c: fc.constantFrom('None', 'Pending', 'Opted In', 'Opted Out'),
    },
    { requiredKeys: [] },
  )
  .filter((o) => Object.keys(o).length > 0);

type Action =
  | { kind: 'request'; p: number; purposes: Purpose[] }
  | { kind: 'yes'; p: number }
  | { kind: 'stop'; p: number }
  | { kind: 'optOut'; p: number; purposes: Purpose[] }
  | { kind: 'hsUi'; p: number; props: Record<string, string> }
  | { kind: 'sfUi'; p: number; fields: Record<string, string | boolean> }
  | { kind: 'sfNotify'; p: number; fields: Record<string, string | boolean> }
  | { kind: 'settle' }
  | { kind: 'mapping'; connector: ConnectorName; edit: MappingEdit };

const PEOPLE = 3;
const who = fc.nat({ max: PEOPLE - 1 });
/** A first action that changes person 0's state, so every run has something to write. */
const firstAction: fc.Arbitrary<Action> = fc.oneof(
  purposes.map((ps): Action => ({ kind: 'request', p: 0, purposes: ps })),
  fc.constant<Action>({ kind: 'stop', p: 0 }),
  purposes.map((ps): Action => ({ kind: 'optOut', p: 0, purposes: ps })),
);
const action: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ kind: fc.constant('request' as const), p: who, purposes }),
  fc.record({ kind: fc.constant('yes' as const), p: who }),
  fc.record({ kind: fc.constant('stop' as const), p: who }),
  fc.record({ kind: fc.constant('optOut' as const), p: who, purposes }),
  fc.record({ kind: fc.constant('hsUi' as const), p: who, props: hsUiProps }),
  fc.record({ kind: fc.constant('sfUi' as const), p: who, fields: sfUiFields }),
  fc.record({ kind: fc.constant('sfNotify' as const), p: who, fields: sfNotifyFields }),
  fc.constant<Action>({ kind: 'settle' }),
  fc.record({
    kind: fc.constant('mapping' as const),
    connector: fc.constantFrom<ConnectorName>('hubspot', 'salesforce'),
    edit: mappingEdit,
  }),
);

const seededPerson = fc.record({
  hs: fc.boolean(),
  sf: fc.constantFrom<SfType | null>('Contact', 'Lead', null),
  first: someText,
  last: someText,
  email: someText,
});

interface Epoch {
  hs: number;
  sf: number;
  mapping: Record<ConnectorName, Mapping>;
}

describe('nothing outside the whitelist is ever sent', () => {
  let h: CrmHarness;
  let shipped: Record<ConnectorName, Mapping>;
  beforeAll(async () => {
    // Rate limits are not what this is about: a budget that never throttles keeps runs fast.
    h = await startCrmHarness({ hubspot: { requestsPerWindow: 10_000 }, env: NO_INTAKE_LIMITS });
    const get = async (c: ConnectorName) =>
      (await json<{ mapping: Mapping }>(await h.request(`/v1/mappings/${c}`, { role: 'editor' }))).mapping;
    shipped = { hubspot: await get('hubspot'), salesforce: await get('salesforce') };
  });
  afterAll(async () => {
    await h?.close();
  });

  it('every captured request carries and asks for whitelisted properties only, under the mapping in force', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          hubspot: fc.option(mappingEdit, { nil: null }),
          salesforce: fc.option(mappingEdit, { nil: null }),
        }),
        fc.array(seededPerson, { minLength: PEOPLE, maxLength: PEOPLE }),
        firstAction,
        fc.array(action, { maxLength: 8 }),
        async (initial, seeds, first, rest) => {
          runs += 1;
          h.hubspot.reset();
          h.salesforce.reset();
          const epochs: Epoch[] = [];
          const inForce: Record<ConnectorName, Mapping> = {
            hubspot: initial.hubspot ? edited(shipped.hubspot, 'hubspot', initial.hubspot) : shipped.hubspot,
            salesforce: initial.salesforce
              ? edited(shipped.salesforce, 'salesforce', initial.salesforce)
              : shipped.salesforce,
          };
          const putMapping = async (c: ConnectorName, m: Mapping) => {
            // The epoch starts with the PUT: the save reads the CRM's data model for the new mapping.
            inForce[c] = m;
            epochs.push({
              hs: h.hubspot.requests.length,
              sf: h.salesforce.requests.length,
              mapping: { ...inForce },
            });
            // admin: the edits change trustOptIn and match.objects, which editors may not (finding 4)
            const res = await h.request(`/v1/mappings/${c}`, { method: 'PUT', role: 'admin', json: m });
            expect(res.status, JSON.stringify(await res.clone().json())).toBe(200);
          };
          await putMapping('hubspot', inForce.hubspot);
          await putMapping('salesforce', inForce.salesforce);

          // People, with personal data the whitelist must keep out of every write.
          const people = seeds.map((s, i) => {
            const { phone, wa } = nextPhone();
            const hs = i === 0 || s.hs;
            const sfType = i === 0 ? (inForce.salesforce.match.objects[0] as SfType) : s.sf;
            const hsProps = { mobilephone: phone, firstname: s.first, lastname: s.last, email: s.email };
            const sfFields = { MobilePhone: phone, FirstName: s.first, LastName: s.last, Email: s.email };
            return {
              phone,
              wa,
              hs: hs
                ? { id: h.hubspot.addContact(hsProps), expected: { ...hsProps } as Record<string, string> }
                : null,
              sf: sfType
                ? {
                    type: sfType,
                    id: h.salesforce.add(sfType, sfFields),
                    expected: { ...sfFields } as Record<string, string>,
                  }
                : null,
            };
          });
          const person = (p: number) => people[p] as (typeof people)[number];
          // Salesforce's own consent objects, for mappings with a native section (issue 15).
          h.salesforce.add('EngagementChannelType', { Name: 'WhatsApp', ContactPointType: 'Phone' });
          h.salesforce.add('DataUsePurpose', { Name: 'Marketing' });
          h.salesforce.add('DataUsePurpose', { Name: 'Transactional' });
          for (const p of people)
            if (p.sf)
              h.salesforce.add('MessagingEndUser', {
                Name: 'Example messaging user',
                MessagingChannelId: '0Mj5e000000ABCDEAA',
                MessageType: 'WhatsApp',
                MessagingPlatformKey: p.phone,
                MessagingConsentStatus: 'ImplicitlyOptedIn',
                [p.sf.type === 'Contact' ? 'ContactId' : 'LeadId']: p.sf.id,
              });

          for (const a of [first, ...rest]) {
            switch (a.kind) {
              case 'request': {
                const res = await h.request('/v1/consents', {
                  method: 'POST',
                  role: 'intake',
                  json: { phone: person(a.p).phone, purposes: a.purposes, locale: 'en' },
                });
                expect([200, 202]).toContain(res.status);
                break;
              }
              case 'yes':
              case 'stop': {
                const res = await h.webhook(
                  textMessage(person(a.p).wa, a.kind === 'yes' ? 'YES' : 'STOP', { timestamp: ts() }),
                );
                expect(res.status).toBe(200);
                break;
              }
              case 'optOut': {
                const res = await h.request(`/v1/subjects/${encodeURIComponent(person(a.p).phone)}/opt-out`, {
                  method: 'POST',
                  role: 'operator',
                  json: { purposes: a.purposes },
                });
                expect(res.status).toBe(200);
                break;
              }
              case 'hsUi': {
                const hs = person(a.p).hs;
                if (!hs) break;
                h.hubspot.updateFromUi(hs.id, a.props);
                for (const name of HS_PERSONAL) {
                  const v = a.props[name];
                  if (v !== undefined) hs.expected[name] = v;
                }
                break;
              }
              case 'sfUi': {
                const sf = person(a.p).sf;
                if (!sf) break;
                h.salesforce.updateFromUi(sf.type, sf.id, a.fields);
                for (const name of SF_PERSONAL) {
                  const v = a.fields[name];
                  if (typeof v === 'string') sf.expected[name] = v;
                }
                break;
              }
              case 'sfNotify': {
                const sf = person(a.p).sf;
                if (!sf) break;
                const xml = h.salesforce.outboundMessage([
                  { objectType: sf.type, id: sf.id, fields: a.fields },
                ]);
                expect((await h.salesforce.sendOutbound(`${h.url}/webhooks/salesforce`, xml)).status).toBe(
                  200,
                );
                break;
              }
              case 'settle':
                await h.settle();
                break;
              case 'mapping':
                // Only when nothing is in flight, so every request belongs to exactly one epoch.
                await h.settle();
                await putMapping(a.connector, edited(shipped[a.connector], a.connector, a.edit));
                break;
            }
          }
          await h.settle();

          const epochAt = (c: 'hs' | 'sf', index: number) =>
            [...epochs].reverse().find((e) => e[c] <= index) as Epoch;
          const violations = [
            ...h.hubspot.requests.flatMap((r, i) => hubspotViolations(r, epochAt('hs', i).mapping.hubspot)),
            ...h.salesforce.requests.flatMap((r, i) =>
              salesforceViolations(r, epochAt('sf', i).mapping.salesforce),
            ),
          ];
          expect(violations).toEqual([]);

          // The test can fail: person 0's first change was written to both CRMs.
          const hsWrites = h.hubspot.requests.filter(
            (r) => r.path === '/crm/v3/objects/contacts/batch/update',
          );
          const sfWrites = h.salesforce.requests.filter(
            (r) => r.method === 'PATCH' && r.path.includes('/composite/sobjects'),
          );
          expect(hsWrites.length).toBeGreaterThan(0);
          expect(sfWrites.length).toBeGreaterThan(0);
          expect(h.hubspot.requests.some((r) => r.path === '/crm/v3/objects/contacts/search')).toBe(true);
          expect(h.salesforce.requests.some((r) => r.path.includes('/query?q='))).toBe(true);

          // …and the CRMs' own data is as people left it: never overwritten, never cleared.
          for (const p of people) {
            if (p.hs) {
              const c = h.hubspot.getContact(p.hs.id) ?? {};
              for (const [k, v] of Object.entries(p.hs.expected)) expect(c[k], k).toBe(v);
            }
            if (p.sf) {
              const r = h.salesforce.get(p.sf.type, p.sf.id) ?? {};
              for (const [k, v] of Object.entries(p.sf.expected)) expect(r[k], k).toBe(v);
            }
          }
          expect((await h.services.store.countJobs()).dead).toBe(0);
        },
      ),
      { numRuns: 15, interruptAfterTimeLimit: 100_000 },
    );
    expect(runs).toBeGreaterThanOrEqual(15);
  }, 150_000);
});

// ---- property 2: random CRM payloads → nothing read or stored --------------------------------

/** A marker: becomes `MARKER-<run>-<tag>`, a string that must never be stored anywhere. */
type Mk = { mk: string };
/** A random property name, never whitelisted. */
type Nm = { nm: string };
type Val = Mk | string | boolean | number | null;

const tag = fc.stringMatching(/^[a-z0-9]{6,10}$/);
const mk: fc.Arbitrary<Mk> = tag.map((t) => ({ mk: t }));
const nm: fc.Arbitrary<Nm> = tag.map((t) => ({ nm: t }));
const isMk = (v: unknown): v is Mk => typeof v === 'object' && v !== null && 'mk' in v;

/** Extra Salesforce fields (a custom field per org is as random as it gets), defined at start. */
const SF_EXTRA = Array.from({ length: 4 }, (_, i) => `Xpool${i}_${randomUUID().slice(0, 8)}__c`);

/** Values of readable consent fields: mappable ones (opt-outs, no-ops) and unmappable ones (markers). Never an opt-in. */
const hsReadable = fc.oneof(
  fc.record({
    prop: fc.constant('whatsapp_opted_out'),
    value: fc.oneof(fc.constantFrom<Val>('true', 'false', '1', '0', '', true, false, 'yes', 'withdrawn'), mk),
  }),
  fc.record({
    prop: fc.constant('whatsapp_marketing_consent'),
    value: fc.oneof(fc.constantFrom<Val>('withdrawn', 'not_set', 'pending', 'Withdrawn', 'true', null), mk),
  }),
);
const hsOther = fc.record({
  prop: fc.oneof(
    fc.constantFrom(
      'whatsapp_consent_source',
      'whatsapp_consent_text_version',
      'whatsapp_transactional_consent',
      'whatsapp_marketing_consent_date',
      'firstname',
      'email',
      'phone',
      'mobilephone',
    ),
    nm,
  ),
  value: mk as fc.Arbitrary<Val>,
});
const hsHookEvent = fc.oneof(hsReadable, hsOther);

const sfOptedOut = fc.oneof(
  fc.constantFrom<Val>(true, false, 'true', 'false', '1', '0', 1, 0, null, 'Opted Out'),
  mk,
);
const sfMarketing = fc.oneof(
  fc.constantFrom<Val>('Opted Out', 'None', 'Pending', 'opted_out', 'Withdrawn', true, null),
  mk,
);
const sfReadable = fc.oneof(
  sfOptedOut.map((v): [string, Val] => ['WhatsApp_Opted_Out__c', v]),
  sfMarketing.map((v): [string, Val] => ['WhatsApp_Marketing_Consent__c', v]),
);
const sfOther = fc.tuple(
  fc.oneof(
    fc.constantFrom(
      'WhatsApp_Consent_Source__c',
      'WhatsApp_Consent_Text_Version__c',
      'WhatsApp_Transactional_Consent__c',
      ...SF_PERSONAL,
      ...SF_EXTRA,
    ),
    nm,
  ),
  mk as fc.Arbitrary<Val>,
);
const sfField = fc.oneof(sfReadable, sfOther);

type Target = number | 'ghost';
type CrmEvent =
  | { kind: 'hsUi'; p: number; props: Array<{ prop: string | number; value: Val }> }
  | { kind: 'hsHook'; target: Target; events: Array<{ prop: string | Nm; value: Val }> }
  | { kind: 'sfUi'; p: number; fields: Array<[string, Val]> }
  | { kind: 'sfOutbound' | 'sfFlow'; target: Target; withPhone: boolean; fields: Array<[string | Nm, Val]> };

const target: fc.Arbitrary<Target> = fc.oneof(
  { weight: 4, arbitrary: who },
  { weight: 1, arbitrary: fc.constant<Target>('ghost') },
);
/** Without the number in the payload, a change of an unlinked record waits for a read of the CRM. */
const withPhone = fc.oneof(
  { weight: 2, arbitrary: fc.constant(false) },
  { weight: 1, arbitrary: fc.constant(true) },
);
/** UI edits: HubSpot only takes its dropdowns' options; free text takes markers. A number names a random extra property. */
const hsUiEdit = fc.array(
  fc.oneof(
    fc.record({
      prop: fc.constant<string | number>('whatsapp_opted_out'),
      value: fc.constantFrom<Val>('true', 'false'),
    }),
    fc.record({
      prop: fc.constant<string | number>('whatsapp_marketing_consent'),
      value: fc.constantFrom<Val>('withdrawn', 'not_set', 'pending'),
    }),
    fc.record({
      prop: fc.oneof(
        fc.constantFrom<string | number>(
          'whatsapp_consent_source',
          'whatsapp_consent_text_version',
          ...HS_PERSONAL,
        ),
        fc.nat({ max: 9 }),
      ),
      value: mk as fc.Arbitrary<Val>,
    }),
  ),
  { minLength: 1, maxLength: 4 },
);
const sfUiEdit = fc.array(
  fc.oneof(
    fc.tuple(fc.constant('WhatsApp_Opted_Out__c'), fc.constantFrom<Val>(true, false)),
    fc.tuple(
      fc.constant('WhatsApp_Marketing_Consent__c'),
      fc.oneof(fc.constantFrom<Val>('Opted Out', 'None', 'Pending'), mk),
    ),
    fc.tuple(
      fc.constantFrom(
        'WhatsApp_Consent_Source__c',
        'WhatsApp_Transactional_Consent__c',
        ...SF_PERSONAL,
        ...SF_EXTRA,
      ),
      mk as fc.Arbitrary<Val>,
    ),
  ),
  { minLength: 1, maxLength: 4 },
);

const crmEvent: fc.Arbitrary<CrmEvent> = fc.oneof(
  fc.record({ kind: fc.constant('hsUi' as const), p: who, props: hsUiEdit }),
  fc.record({
    kind: fc.constant('hsHook' as const),
    target,
    events: fc.array(hsHookEvent, { minLength: 1, maxLength: 5 }),
  }),
  fc.record({ kind: fc.constant('sfUi' as const), p: who, fields: sfUiEdit }),
  fc.record({
    kind: fc.constantFrom('sfOutbound' as const, 'sfFlow' as const),
    target,
    withPhone,
    fields: fc.array(sfField, { minLength: 1, maxLength: 6 }),
  }),
);
/** Every run starts with a whitelisted opt-out for person 0 among marker-laden fields. */
const firstEvent: fc.Arbitrary<CrmEvent> = fc.oneof(
  {
    weight: 1,
    arbitrary: fc.array(hsOther, { maxLength: 3 }).map(
      (extra): CrmEvent => ({
        kind: 'hsHook',
        target: 0,
        events: [...extra, { prop: 'whatsapp_opted_out', value: 'true' }],
      }),
    ),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({
        kind: fc.constantFrom('sfOutbound' as const, 'sfFlow' as const),
        withPhone,
        extra: fc.array(sfOther, { maxLength: 3 }),
        // One consent field opts out, the other carries a random value (mappable or not).
        consent: fc.oneof(
          sfMarketing.map(
            (v): Array<[string, Val]> => [
              ['WhatsApp_Opted_Out__c', true],
              ['WhatsApp_Marketing_Consent__c', v],
            ],
          ),
          sfOptedOut.map(
            (v): Array<[string, Val]> => [
              ['WhatsApp_Marketing_Consent__c', 'Opted Out'],
              ['WhatsApp_Opted_Out__c', v],
            ],
          ),
        ),
      })
      .map(
        (e): CrmEvent => ({
          kind: e.kind,
          target: 0,
          withPhone: e.withPhone,
          fields: [...e.extra, ...e.consent],
        }),
      ),
  },
);

type Initial = 'unknown' | 'pending' | 'opted_in' | 'marketing_out';
const crmPerson = fc.record({
  // Unknown people have unlinked records: the changes then wait for a read of the CRM.
  initial: fc.oneof(
    { weight: 3, arbitrary: fc.constant<Initial>('unknown') },
    { weight: 3, arbitrary: fc.constantFrom<Initial>('pending', 'opted_in', 'marketing_out') },
  ),
  hs: fc.boolean(),
  sf: fc.constantFrom<SfType | null>('Contact', 'Lead', null),
  personal: fc.record({ first: mk, last: mk, email: mk }),
  hsExtra: fc.array(fc.tuple(fc.nat({ max: 9 }), mk), { maxLength: 3 }),
  sfExtra: fc.array(fc.tuple(fc.constantFrom(...SF_EXTRA), mk), { maxLength: 3 }),
});

type CrmPerson = typeof crmPerson extends fc.Arbitrary<infer T> ? T : never;
const unknownPerson = (t: string): CrmPerson => ({
  initial: 'unknown',
  hs: false,
  sf: 'Contact',
  personal: { first: { mk: `${t}first` }, last: { mk: `${t}last` }, email: { mk: `${t}email` } },
  hsExtra: [],
  sfExtra: [],
});
/**
 * Always run first: what this property found and shrank to. An Outbound Message for a record not
 * linked yet, without the number, opts out and carries an unmappable value in another whitelisted
 * field; the message is a signal, so the record is read in a `crm.inbound.salesforce` job.
 */
const UNLINKED_OUTBOUND: [string[], CrmPerson[], CrmEvent, CrmEvent[]] = [
  ['aaaaaa'],
  [unknownPerson('a'), unknownPerson('b'), unknownPerson('c')],
  {
    kind: 'sfOutbound',
    target: 0,
    withPhone: false,
    fields: [
      ['WhatsApp_Opted_Out__c', true],
      ['WhatsApp_Marketing_Consent__c', { mk: 'unmappable' }],
    ],
  },
  [],
];

/** `truthy` as the mapping's boolean transform reads a checkbox. */
const checked = (v: unknown) => v === true || v === 1 || v === 'true' || v === '1';

/** What a person must show afterwards: the whitelisted opt-outs that reached them. */
interface Effect {
  all: boolean;
  marketing: boolean;
}

describe('nothing outside the whitelist is ever read or stored', () => {
  let h: CrmHarness;
  let shipped: Record<ConnectorName, Mapping>;
  beforeAll(async () => {
    h = await startCrmHarness({
      env: NO_INTAKE_LIMITS,
      hubspot: { requestsPerWindow: 10_000 },
      salesforce: {
        fields: {
          ...DEFAULT_FIELDS,
          Contact: [...(DEFAULT_FIELDS.Contact ?? []), ...SF_EXTRA],
          Lead: [...(DEFAULT_FIELDS.Lead ?? []), ...SF_EXTRA],
        },
      },
    });
    const get = async (c: ConnectorName) =>
      (await json<{ mapping: Mapping }>(await h.request(`/v1/mappings/${c}`, { role: 'editor' }))).mapping;
    shipped = { hubspot: await get('hubspot'), salesforce: await get('salesforce') };
  });
  afterAll(async () => {
    await h?.close();
  });

  it('markers in CRM records and webhooks never reach the database, the ledger, the outbox or the logs', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(tag, { minLength: 1, maxLength: 3 }),
        fc.array(crmPerson, { minLength: PEOPLE, maxLength: PEOPLE }),
        firstEvent,
        fc.array(crmEvent, { maxLength: 5 }),
        async (hsNameTags, seeds, first, rest) => {
          runs += 1;
          const run = runs;
          const forbidden = new Set<string>(SF_EXTRA);
          const marker = (m: Mk) => {
            const s = `MARKER-${run}-${m.mk}`;
            forbidden.add(s);
            return s;
          };
          const value = (v: Val) => (isMk(v) ? marker(v) : v);
          const randomName = (n: string | Nm, style: 'hs' | 'sf') => {
            if (typeof n === 'string') return n;
            const s = style === 'hs' ? `xq${run}_${n.nm}` : `Xq${run}_${n.nm}__c`;
            forbidden.add(s);
            return s;
          };

          h.hubspot.reset();
          h.salesforce.reset();
          // Random extra HubSpot properties, defined as a portal admin would.
          const hsNames = hsNameTags.map((t) => `xp${run}_${t}`);
          for (const name of hsNames) {
            forbidden.add(name);
            const res = await fetch(`${h.hubspot.url}/crm/v3/properties/contacts`, {
              method: 'POST',
              headers: { authorization: `Bearer ${HUBSPOT.token}`, 'content-type': 'application/json' },
              body: JSON.stringify({
                name,
                label: name,
                type: 'string',
                fieldType: 'text',
                groupName: 'contactinformation',
              }),
            });
            expect(res.status).toBe(201);
          }
          const hsName = (i: number) => hsNames[i % hsNames.length] as string;
          const ownRequests = h.hubspot.requests.length;

          const people = seeds.map((s, i) => {
            const { phone, wa } = nextPhone();
            const hs = i === 0 || s.hs;
            const sfType: SfType | null = i === 0 ? (s.sf ?? 'Contact') : s.sf;
            const hsProps: Record<string, string> = {
              mobilephone: phone,
              firstname: marker(s.personal.first),
              lastname: marker(s.personal.last),
              email: marker(s.personal.email),
            };
            for (const [k, m] of s.hsExtra) hsProps[hsName(k)] = marker(m);
            const sfFields: Record<string, string> = {
              MobilePhone: phone,
              FirstName: marker(s.personal.first),
              LastName: marker(s.personal.last),
              Email: marker(s.personal.email),
            };
            for (const [k, m] of s.sfExtra) sfFields[k] = marker(m);
            return {
              phone,
              wa,
              initial: s.initial,
              hs: hs ? h.hubspot.addContact(hsProps) : null,
              sf: sfType ? { type: sfType, id: h.salesforce.add(sfType, sfFields) } : null,
              effect: { all: false, marketing: false } as Effect,
            };
          });
          const person = (p: number) => people[p] as (typeof people)[number];

          // Where people start: unknown, asked, opted in, or out of marketing only.
          for (const p of people) {
            if (p.initial === 'pending' || p.initial === 'opted_in') {
              const res = await h.request('/v1/consents', {
                method: 'POST',
                role: 'intake',
                json: { phone: p.phone, purposes: PURPOSES, locale: 'en' },
              });
              expect(res.status).toBe(202);
            }
            if (p.initial === 'opted_in') await h.webhook(textMessage(p.wa, 'YES', { timestamp: ts() }));
            if (p.initial === 'marketing_out') {
              const res = await h.request(`/v1/subjects/${encodeURIComponent(p.phone)}/opt-out`, {
                method: 'POST',
                role: 'operator',
                json: { purposes: ['marketing'] },
              });
              expect(res.status).toBe(200);
            }
          }
          await h.settle();
          const statesOf = async (phone: string) =>
            (
              await json<{ purposes: States }>(
                await h.request(`/v1/subjects/${encodeURIComponent(phone)}`, { role: 'operator' }),
              )
            ).purposes;
          const historyOf = async (phone: string) =>
            (
              await json<{ events: Json[] }>(
                await h.request(`/v1/subjects/${encodeURIComponent(phone)}/history`, { role: 'auditor' }),
              )
            ).events;
          const before = await Promise.all(
            people.map(async (p) => ({
              states: await statesOf(p.phone),
              events: (await historyOf(p.phone)).length,
            })),
          );

          const statuses: number[] = [];
          const note = (p: Target, e: Partial<Effect>) => {
            if (p === 'ghost') return;
            const eff = person(p).effect;
            eff.all ||= e.all === true;
            eff.marketing ||= e.marketing === true;
          };
          /** The whitelisted Salesforce opt-outs among `fields` (what the mapping can map back). */
          const sfEffect = (fields: Record<string, unknown>): Partial<Effect> => ({
            all: checked(fields.WhatsApp_Opted_Out__c),
            marketing: fields.WhatsApp_Marketing_Consent__c === 'Opted Out',
          });

          for (const e of [first, ...rest]) {
            switch (e.kind) {
              case 'hsUi': {
                const id = person(e.p).hs;
                if (!id) break;
                const props = Object.fromEntries(
                  e.props.map(({ prop, value: v }) => [
                    typeof prop === 'number' ? hsName(prop) : prop,
                    String(value(v)),
                  ]),
                );
                const now = h.hubspot.getContact(id) ?? {};
                // HubSpot reports changed values only.
                const changed = (k: string) => props[k] !== undefined && (now[k] ?? '') !== props[k];
                note(e.p, {
                  all: changed('whatsapp_opted_out') && props.whatsapp_opted_out === 'true',
                  marketing:
                    changed('whatsapp_marketing_consent') && props.whatsapp_marketing_consent === 'withdrawn',
                });
                h.hubspot.updateFromUi(id, props);
                break;
              }
              case 'hsHook': {
                const objectId = e.target === 'ghost' ? 1 : Number(person(e.target).hs ?? 2);
                const events: HubSpotWebhookEvent[] = e.events.map((ev) => {
                  const v = value(ev.value);
                  return makeHubSpotEvent({
                    subscriptionType: 'contact.propertyChange',
                    objectId,
                    propertyName: randomName(ev.prop, 'hs'),
                    ...(v === null ? {} : { propertyValue: v as string }),
                    changeSource: 'CRM_UI',
                  });
                });
                if (e.target !== 'ghost' && person(e.target).hs)
                  for (const ev of events)
                    note(e.target, {
                      all: ev.propertyName === 'whatsapp_opted_out' && checked(ev.propertyValue),
                      marketing:
                        ev.propertyName === 'whatsapp_marketing_consent' && ev.propertyValue === 'withdrawn',
                    });
                const req = hubspotWebhookRequest({
                  url: `${h.url}/webhooks/hubspot`,
                  secret: HUBSPOT.secret,
                  events,
                });
                const res = await fetch(req.url, {
                  method: req.method,
                  headers: req.headers,
                  body: req.rawBody,
                });
                statuses.push(res.status);
                await res.arrayBuffer();
                break;
              }
              case 'sfUi': {
                const sf = person(e.p).sf;
                if (!sf) break;
                // The workflow rule sends the record as it is when the message goes out: nothing may
                // write to it between this edit and the delivery, so all is quiet before and after.
                await h.settle();
                const fields = Object.fromEntries(e.fields.map(([k, v]) => [k, value(v)]));
                const now = h.salesforce.get(sf.type, sf.id) ?? {};
                // The workflow rule fires when a watched field changes, and sends the record as it is.
                const watched = ['WhatsApp_Opted_Out__c', 'WhatsApp_Marketing_Consent__c'];
                if (watched.some((k) => k in fields && now[k] !== fields[k]))
                  note(e.p, sfEffect({ ...now, ...fields }));
                h.salesforce.updateFromUi(sf.type, sf.id, fields);
                await h.settle();
                break;
              }
              case 'sfOutbound':
              case 'sfFlow': {
                const sf = e.target === 'ghost' ? null : person(e.target).sf;
                const ref = sf ?? { type: 'Contact' as const, id: '0035e00000Gh0StAAA' };
                const fields: Record<string, string | boolean | number | null> = {};
                for (const [k, v] of e.fields) fields[randomName(k, 'sf')] = value(v);
                if (sf && e.withPhone && e.target !== 'ghost') fields.MobilePhone = person(e.target).phone;
                if (sf && e.target !== 'ghost') note(e.target, sfEffect(fields));
                if (e.kind === 'sfOutbound' && sf) {
                  // Salesforce sends an Outbound Message because the record changed, and only the
                  // record counts (sync rule 7: the message is a signal read back through the API).
                  // So the change is made to the record first: the fields the simulator defines.
                  const defined = new Set([...(DEFAULT_FIELDS[sf.type] ?? []), ...SF_EXTRA]);
                  const held = Object.fromEntries(Object.entries(fields).filter(([k]) => defined.has(k)));
                  if (Object.keys(held).length > 0) h.salesforce.updateFromUi(sf.type, sf.id, held);
                }
                if (e.kind === 'sfOutbound') {
                  const xml = h.salesforce.outboundMessage([
                    {
                      objectType: ref.type,
                      id: ref.id,
                      fields: Object.fromEntries(
                        Object.entries(fields).map(([k, v]) => [k, typeof v === 'number' ? String(v) : v]),
                      ),
                    },
                  ]);
                  statuses.push(
                    (await h.salesforce.sendOutbound(`${h.url}/webhooks/salesforce`, xml)).status,
                  );
                  // The message is a signal: the service reads the record back in a job. The effect
                  // noted above is the record as the message reports it, so the read-back must run
                  // before a later event edits the record (on a loaded machine it might not have).
                  if (sf) await h.settle();
                } else {
                  const body = {
                    events: [
                      {
                        id: `flow-${randomUUID()}`,
                        objectType: ref.type,
                        recordId: ref.id,
                        occurredAt: new Date().toISOString(),
                        fields,
                      },
                    ],
                  };
                  const res = await h.salesforce.flowCallout(
                    `${h.url}/webhooks/salesforce`,
                    SALESFORCE.webhookSecret,
                    body,
                  );
                  statuses.push(res.status);
                }
                break;
              }
            }
          }
          await h.settle();
          // Webhooks were delivered and accepted, markers were on their way in.
          const delivered =
            statuses.length + h.hubspot.deliveries.length + h.salesforce.stats().outboundDelivered;
          expect(delivered).toBeGreaterThan(0);
          expect(statuses.every((s) => s === 200)).toBe(true);
          expect(h.hubspot.deliveries.every((d) => d.status === 200)).toBe(true);
          expect(h.salesforce.pendingOutbound()).toBe(0);
          expect([...forbidden].some((s) => s.startsWith('MARKER-'))).toBe(true);

          // Looking people up read whitelisted properties only, however much else the records hold.
          const violations = [
            ...h.hubspot.requests.slice(ownRequests).flatMap((r) => hubspotViolations(r, shipped.hubspot)),
            ...h.salesforce.requests.flatMap((r) => salesforceViolations(r, shipped.salesforce)),
          ];
          expect(violations).toEqual([]);

          // Nothing of it stored: not in the database file, the ledger, the outbox or the logs.
          const files = [h.dbPath, `${h.dbPath}-wal`]
            .filter((f) => existsSync(f))
            .map((f) => readFileSync(f));
          const places: Record<string, string> = {
            'sqlite (latin1)': files.map((b) => b.toString('latin1')).join('\n'),
            'sqlite (utf8)': files.map((b) => b.toString('utf8')).join('\n'),
            ledger: JSON.stringify(await Promise.all(people.map((p) => historyOf(p.phone)))),
            outbox: JSON.stringify(await h.services.store.listJobs({ limit: 1000 })),
            logs: h.logs.join('\n'),
            // …and none of it went back out to a CRM.
            'requests to HubSpot': JSON.stringify(h.hubspot.requests.slice(ownRequests)),
            'requests to Salesforce': JSON.stringify(h.salesforce.requests),
          };
          const found = Object.entries(places).flatMap(([where, text]) =>
            [...forbidden].filter((s) => text.includes(s)).map((s) => `${s} in ${where}`),
          );
          expect(found).toEqual([]);

          // Whitelisted opt-outs took effect; everything else changed nothing.
          for (const [i, p] of people.entries()) {
            const states = await statesOf(p.phone);
            const was = before[i] as (typeof before)[number];
            const status = (purpose: Purpose) => states[purpose]?.status;
            if (p.effect.all) {
              expect(
                PURPOSES.some((x) => status(x) === 'opted_in' || status(x) === 'pending'),
                p.phone,
              ).toBe(false);
              expect(
                PURPOSES.some((x) => status(x) === 'opted_out'),
                p.phone,
              ).toBe(true);
            }
            if (p.effect.marketing) expect(status('marketing'), p.phone).toBe('opted_out');
            if (!p.effect.all && !p.effect.marketing) {
              expect(states, p.phone).toEqual(was.states);
              expect((await historyOf(p.phone)).length, p.phone).toBe(was.events);
            }
          }
          expect(people[0]?.effect.all || people[0]?.effect.marketing).toBe(true);
          expect((await h.services.store.countJobs()).dead).toBe(0);
        },
      ),
      { numRuns: 15, interruptAfterTimeLimit: 100_000, examples: [UNLINKED_OUTBOUND] },
    );
    expect(runs).toBeGreaterThanOrEqual(15);
  }, 150_000);
});
