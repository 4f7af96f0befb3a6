/**
 * Salesforce's own consent objects (issue 15; docs/salesforce-consent-objects.md): the person's
 * `MessagingEndUser` for WhatsApp and, on their `Individual`, one `ContactPointTypeConsent` per
 * purpose for the WhatsApp `EngagementChannelType`. The sync layer decides the values from the
 * mapping (src/core/native-mapping.ts); this file finds the records and writes exactly those values,
 * batched: per batch one query per lookup, one collections create, one collections update (MEUs and
 * consents together), whatever the number of people.
 *
 * - A `MessagingEndUser` is found, never created (Salesforce Messaging creates it when the person
 *   writes to the channel): by `ContactId`/`LeadId` of the person's records, or by `MessageType`
 *   WhatsApp and `MessagingPlatformKey`. Only `MessagingConsentStatus` is written.
 * - A `ContactPointTypeConsent` is upserted on the configured External ID field (key: Individual,
 *   channel and purpose ids), or else found by `PartyId`, `EngagementChannelTypeId` and
 *   `DataUsePurposeId` and updated, or created with the fields Salesforce requires.
 * - The channel and purpose records are looked up by name once per connector (`--fix` in doctor
 *   creates them); a missing one fails the consent writes with `NATIVE_SETUP_MISSING`.
 * - An org without the feature answers INVALID_TYPE: a non-retryable failure naming the object.
 */
import type { ConnectorError } from '../errors.ts';
import type {
  EraseOutcome,
  NativeCheck,
  NativeConfig,
  NativeConsent,
  NativeOutcome,
  NativeRecord,
  NativeTarget,
  RecordRef,
  RecordWrite,
  RemoteValue,
} from '../types.ts';

export type { NativeCheck, NativeConfig, NativeConsent, NativeOutcome, NativeRecord, NativeTarget };

import { ConnectorFailure } from '../types.ts';
import { deleteRecords, type RoundOptions, saveRecords, writeRecords } from './collections.ts';
import type { EraseMode } from './erase.ts';
import type { Caller } from './http.ts';
import { chunk, isApiName, isSalesforceId, soqlString } from './soql.ts';

export const MEU = 'MessagingEndUser';
export const CPTC = 'ContactPointTypeConsent';
const CHANNEL = 'EngagementChannelType';
const PURPOSE = 'DataUsePurpose';
const PHONE_POINT = 'ContactPointPhone';
const IN_BATCH = 200;

interface Ids {
  channelId: string;
  purposes: Map<string, string>;
}

/**
 * @example
 * const native = createNative(api, rounds, 'delete');
 * await native.push([{ records: [{ objectType: 'Contact', id }], platformKey: null, messagingStatus: 'OptedOut', consents: [] }], config);
 */
export function createNative(api: Caller, rounds: RoundOptions, mode: EraseMode): NativeConsent {
  const idCache = new Map<string, Ids>();

  async function select(soql: string): Promise<Array<Record<string, unknown>>> {
    type Page = { done: boolean; nextRecordsUrl?: string; records: Array<Record<string, unknown>> };
    let page = await api.call<Page>({ method: 'GET', url: `/query?q=${encodeURIComponent(soql)}` });
    const rows = [...(page?.records ?? [])];
    while (page && !page.done && page.nextRecordsUrl?.startsWith('/services/')) {
      page = await api.call<Page>({ method: 'GET', url: page.nextRecordsUrl });
      rows.push(...(page?.records ?? []));
    }
    return rows.filter((r) => typeof r?.Id === 'string');
  }

  /** `SELECT … FROM type WHERE f1 IN (…) AND f2 = …`, `values` chunked on the first condition. */
  async function where(
    type: string,
    fields: string[],
    field: string,
    values: string[],
    also: Record<string, string> = {},
  ): Promise<Array<Record<string, unknown>>> {
    for (const n of [type, field, ...fields, ...Object.keys(also)]) if (!isApiName(n)) throw invalidName();
    const unique = [...new Set(values)];
    const extra = Object.entries(also)
      .map(([k, v]) => ` AND ${k} = ${soqlString(v)}`)
      .join('');
    const pages = await Promise.all(
      chunk(unique, IN_BATCH).map((slice) =>
        select(
          `SELECT ${['Id', ...fields].join(', ')} FROM ${type} WHERE ${field} IN (${slice.map(soqlString).join(', ')})${extra}`,
        ),
      ),
    );
    return pages.flat();
  }

  async function ids(
    c: NonNullable<NativeConfig['consent']>,
    fresh = false,
  ): Promise<Ids | { missing: string[] }> {
    const key = JSON.stringify([c.channel, c.purposeNames]);
    const cached = idCache.get(key);
    if (cached && !fresh) return cached;
    const channels = await where(CHANNEL, ['Name'], 'Name', [c.channel]);
    const purposes = await where(PURPOSE, ['Name'], 'Name', c.purposeNames);
    const byName = new Map(purposes.map((p) => [String(p.Name), String(p.Id)]));
    const missing = [
      ...(channels.length === 0 ? [`${CHANNEL} "${c.channel}"`] : []),
      ...c.purposeNames.filter((n) => !byName.has(n)).map((n) => `${PURPOSE} "${n}"`),
    ];
    if (missing.length > 0) return { missing };
    const found = { channelId: String(channels[0]?.Id), purposes: byName };
    idCache.set(key, found);
    return found;
  }

  /** Contact/Lead id (15) → IndividualId, for the records that have one. */
  async function individualsOf(records: RecordRef[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const [type, refs] of groupByType(records)) {
      const rows = await where(type, ['IndividualId'], 'Id', refs.map((r) => r.id).filter(isSalesforceId));
      for (const r of rows)
        if (typeof r.IndividualId === 'string' && isSalesforceId(r.IndividualId))
          out.set(String(r.Id).slice(0, 15), r.IndividualId);
    }
    return out;
  }

  async function messagingUsers(
    records: RecordRef[],
    keys: string[],
    find: Array<'record' | 'platformKey'>,
  ): Promise<Array<Record<string, unknown>>> {
    const rows: Array<Record<string, unknown>> = [];
    // The platform key (the number) is read only when the MEU is matched by it.
    const fields = [
      'ContactId',
      'LeadId',
      'MessagingConsentStatus',
      'MessageType',
      ...(find.includes('platformKey') ? ['MessagingPlatformKey'] : []),
    ];
    const whatsapp = { MessageType: 'WhatsApp' };
    if (find.includes('record')) {
      const contacts = records.filter((r) => r.objectType === 'Contact').map((r) => r.id);
      const leads = records.filter((r) => r.objectType === 'Lead').map((r) => r.id);
      if (contacts.length > 0) rows.push(...(await where(MEU, fields, 'ContactId', contacts, whatsapp)));
      if (leads.length > 0) rows.push(...(await where(MEU, fields, 'LeadId', leads, whatsapp)));
    }
    if (find.includes('platformKey') && keys.length > 0)
      rows.push(...(await where(MEU, fields, 'MessagingPlatformKey', keys, whatsapp)));
    const seen = new Set<string>();
    return rows.filter((r) => {
      const k = String(r.Id).slice(0, 15);
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
  }

  async function createIndividuals(
    targets: NativeTarget[],
    individuals: Map<string, string>,
    name: string,
  ): Promise<ConnectorError[]> {
    const lacking = targets.filter((t) => !t.records.some((r) => individuals.has(r.id.slice(0, 15))));
    if (lacking.length === 0) return [];
    const created = await saveRecords(
      api,
      'Individual',
      lacking.map(() => ({ LastName: name })),
      null,
      rounds,
    );
    const links: RecordWrite[] = [];
    const errors: ConnectorError[] = [];
    lacking.forEach((t, k) => {
      const c = created[k];
      if (!c?.ok) {
        if (c) errors.push(c.error);
        return;
      }
      for (const r of t.records) {
        individuals.set(r.id.slice(0, 15), c.id);
        links.push({ ...r, key: `individual-${r.id}`, properties: { IndividualId: c.id } });
      }
    });
    if (links.length > 0)
      for (const o of await writeRecords(api, links, rounds)) if (!o.ok) errors.push(o.error);
    return errors;
  }

  return {
    async push(targets, config) {
      const errors: ConnectorError[][] = targets.map(() => []);
      const written = targets.map(() => 0);
      const updates: Array<{ t: number; write: RecordWrite }> = [];
      const creates: Array<{ t: number; values: Record<string, RemoteValue> }> = [];
      const fail = (ts: number[], e: ConnectorError) => {
        for (const t of ts) errors[t]?.push(e);
      };

      const m = config.messaging;
      const wantMeu = targets.flatMap((t, i) => (t.messagingStatus ? [i] : []));
      if (m && wantMeu.length > 0) {
        try {
          const users = await messagingUsers(
            wantMeu.flatMap((i) => targets[i]?.records ?? []),
            wantMeu.flatMap((i) => (targets[i]?.platformKey ? [targets[i].platformKey] : [])),
            m.find,
          );
          for (const i of wantMeu) {
            const t = targets[i] as NativeTarget;
            const own = new Set(t.records.map((r) => r.id.slice(0, 15)));
            for (const u of users) {
              const byRecord =
                m.find.includes('record') &&
                [u.ContactId, u.LeadId].some((x) => typeof x === 'string' && own.has(x.slice(0, 15)));
              const byKey =
                m.find.includes('platformKey') &&
                t.platformKey !== null &&
                u.MessagingPlatformKey === t.platformKey;
              if (!byRecord && !byKey) continue;
              if (u.MessagingConsentStatus === t.messagingStatus) continue; // already so: no write
              updates.push({
                t: i,
                write: {
                  objectType: MEU,
                  id: String(u.Id),
                  key: `meu-${u.Id}`,
                  properties: { MessagingConsentStatus: t.messagingStatus },
                },
              });
            }
          }
        } catch (err) {
          fail(wantMeu, failureOf(err, MEU));
        }
      }

      const c = config.consent;
      const wantCptc = targets.flatMap((t, i) => (t.consents.length > 0 ? [i] : []));
      if (c && wantCptc.length > 0) {
        try {
          const found = await ids(c);
          if ('missing' in found) throw new ConnectorFailure(setupMissing(found.missing));
          const records = wantCptc.flatMap((i) => targets[i]?.records ?? []);
          const individuals = await individualsOf(records);
          if (c.createIndividual) {
            const errs = await createIndividuals(
              wantCptc.map((i) => targets[i] as NativeTarget),
              individuals,
              c.individualName,
            );
            if (errs.length > 0) fail(wantCptc, errs[0] as ConnectorError);
          }
          const partyOf = (t: NativeTarget) => [
            ...new Set(t.records.flatMap((r) => individuals.get(r.id.slice(0, 15)) ?? [])),
          ];
          const parties = [...new Set(wantCptc.flatMap((i) => partyOf(targets[i] as NativeTarget)))];
          const existing = new Map<string, string>(); // party15:purpose15 → id
          if (!c.externalIdField && parties.length > 0) {
            const rows = await where(CPTC, ['PartyId', 'DataUsePurposeId'], 'PartyId', parties, {
              EngagementChannelTypeId: found.channelId,
            });
            for (const r of rows)
              existing.set(
                `${String(r.PartyId).slice(0, 15)}:${String(r.DataUsePurposeId).slice(0, 15)}`,
                String(r.Id),
              );
          }
          for (const i of wantCptc) {
            const t = targets[i] as NativeTarget;
            for (const party of partyOf(t))
              for (const consent of t.consents) {
                const purposeId = found.purposes.get(consent.purposeName);
                if (!purposeId) continue;
                const k = `${party.slice(0, 15)}:${purposeId.slice(0, 15)}`;
                const id = existing.get(k);
                if (id) {
                  updates.push({
                    t: i,
                    write: { objectType: CPTC, id, key: `cptc-${id}`, properties: consent.values },
                  });
                  continue;
                }
                creates.push({
                  t: i,
                  values: {
                    ...(c.externalIdField
                      ? {
                          [c.externalIdField]: `${party.slice(0, 15)}:${found.channelId.slice(0, 15)}:${purposeId.slice(0, 15)}`,
                        }
                      : {}),
                    Name: `${c.channel} ${consent.purposeName}`.slice(0, 255),
                    PartyId: party,
                    EngagementChannelTypeId: found.channelId,
                    DataUsePurposeId: purposeId,
                    ContactPointType: 'Phone',
                    CaptureContactPointType: 'Phone',
                    ...consent.values,
                  },
                });
              }
          }
          if (creates.length > 0) {
            const saved = await saveRecords(
              api,
              CPTC,
              creates.map((x) => x.values),
              c.externalIdField,
              rounds,
            );
            saved.forEach((o, k) => {
              const t = creates[k]?.t as number;
              if (o.ok) written[t] = (written[t] ?? 0) + 1;
              else errors[t]?.push(o.error);
            });
          }
        } catch (err) {
          fail(wantCptc, failureOf(err, CPTC));
        }
      }

      if (updates.length > 0) {
        try {
          const outcomes = await writeRecords(
            api,
            updates.map((u) => u.write),
            rounds,
          );
          outcomes.forEach((o, k) => {
            const t = updates[k]?.t as number;
            if (o.ok) written[t] = (written[t] ?? 0) + 1;
            else if (o.error.code !== 'NOT_FOUND') errors[t]?.push(o.error);
          });
        } catch (err) {
          fail([...new Set(updates.map((u) => u.t))], failureOf(err, MEU));
        }
      }
      return targets.map((_, i) => {
        const e = errors[i] ?? [];
        return e.length === 0
          ? { ok: true, written: written[i] ?? 0 }
          : { ok: false, error: e.find((x) => x.retryable) ?? (e[0] as ConnectorError) };
      });
    },

    async read(refs, config) {
      const out: NativeRecord[] = [];
      const meus = refs.filter((r) => r.objectType === MEU && isSalesforceId(r.id)).map((r) => r.id);
      const cptcs = refs.filter((r) => r.objectType === CPTC && isSalesforceId(r.id)).map((r) => r.id);
      if (meus.length > 0 && config.messaging) {
        const rows = await where(
          MEU,
          ['ContactId', 'LeadId', 'MessagingConsentStatus', 'MessageType'],
          'Id',
          meus,
        );
        out.push(...rows.filter((r) => r.MessageType === 'WhatsApp').map((r) => meuRecord(r, config)));
      }
      if (cptcs.length > 0 && config.consent)
        out.push(...(await consentRecords(await where(CPTC, CPTC_FIELDS, 'Id', cptcs), config)));
      return out;
    },

    async readFor(records, config) {
      const out: NativeRecord[] = [];
      if (config.messaging)
        out.push(...(await messagingUsers(records, [], ['record'])).map((r) => meuRecord(r, config)));
      if (config.consent) {
        const parties = [...new Set((await individualsOf(records)).values())];
        if (parties.length > 0)
          out.push(...(await consentRecords(await where(CPTC, CPTC_FIELDS, 'PartyId', parties), config)));
      }
      return out;
    },

    async erase(records, config) {
      const errors: ConnectorError[] = [];
      try {
        const doomed: RecordRef[] = [];
        if (config.messaging)
          for (const u of await messagingUsers(records, [], ['record']))
            doomed.push({ objectType: MEU, id: String(u.Id) });
        const parties = config.consent ? [...new Set((await individualsOf(records)).values())] : [];
        if (parties.length > 0) {
          if (mode === 'delete') {
            for (const r of await where(CPTC, [], 'PartyId', parties))
              doomed.push({ objectType: CPTC, id: String(r.Id) });
            for (const r of await where(PHONE_POINT, [], 'ParentId', parties))
              doomed.push({ objectType: PHONE_POINT, id: String(r.Id) });
            for (const p of parties) doomed.push({ objectType: 'Individual', id: p });
          } else {
            // The Individual carries the flag; its consents and contact points wait for the org's policy.
            const flags = parties.map((id) => ({
              objectType: 'Individual',
              id,
              key: `forget-${id}`,
              properties: { ShouldForget: true },
            }));
            for (const o of await writeRecords(api, flags, rounds))
              if (!o.ok && o.error.code !== 'NOT_FOUND') errors.push(o.error);
          }
        }
        if (doomed.length > 0)
          for (const o of (await deleteRecords(api, doomed, rounds)) as EraseOutcome[])
            if (o.status === 'failed') errors.push(o.error);
      } catch (err) {
        errors.push(failureOf(err, MEU));
      }
      return errors;
    },

    async check(config) {
      const out: NativeCheck[] = [];
      const probe = async (object: string) => {
        try {
          await select(`SELECT Id FROM ${object} LIMIT 1`);
          out.push({ object, ok: true, problem: null });
          return true;
        } catch (err) {
          const code = err instanceof ConnectorFailure ? err.error.vendorCode : null;
          out.push({
            object,
            ok: false,
            problem: code === 'INVALID_TYPE' || code === 'NOT_FOUND' ? 'missing' : 'denied',
          });
          return false;
        }
      };
      if (config.messaging) await probe(MEU);
      if (config.consent) {
        const have = [
          await probe('Individual'),
          await probe(CPTC),
          await probe(CHANNEL),
          await probe(PURPOSE),
        ];
        if (have.every(Boolean)) {
          const found = await ids(config.consent, true);
          const missing = 'missing' in found ? found.missing : [];
          out.push({
            object: CHANNEL,
            name: config.consent.channel,
            ok: !missing.some((x) => x.startsWith(CHANNEL)),
            problem: missing.some((x) => x.startsWith(CHANNEL)) ? 'missing' : null,
          });
          for (const n of config.consent.purposeNames) {
            const gone = missing.includes(`${PURPOSE} "${n}"`);
            out.push({ object: PURPOSE, name: n, ok: !gone, problem: gone ? 'missing' : null });
          }
        }
      }
      return out;
    },

    async ensure(config) {
      const c = config.consent;
      if (!c) return [];
      const found = await ids(c, true);
      if (!('missing' in found)) return [];
      const created: string[] = [];
      if (found.missing.some((x) => x.startsWith(CHANNEL))) {
        const [o] = await saveRecords(
          api,
          CHANNEL,
          [{ Name: c.channel, ContactPointType: 'Phone' }],
          null,
          rounds,
        );
        if (!o?.ok) throw new ConnectorFailure(o?.error ?? setupMissing([CHANNEL]));
        created.push(`${CHANNEL} "${c.channel}"`);
      }
      const purposes = c.purposeNames.filter((n) => found.missing.includes(`${PURPOSE} "${n}"`));
      if (purposes.length > 0) {
        const saved = await saveRecords(
          api,
          PURPOSE,
          purposes.map((Name) => ({ Name })),
          null,
          rounds,
        );
        saved.forEach((o, k) => {
          if (!o.ok) throw new ConnectorFailure(o.error);
          created.push(`${PURPOSE} "${purposes[k]}"`);
        });
      }
      idCache.clear();
      return created;
    },
  };

  async function consentRecords(
    rows: Array<Record<string, unknown>>,
    config: NativeConfig,
  ): Promise<NativeRecord[]> {
    const c = config.consent;
    if (!c || rows.length === 0) return [];
    const found = await ids(c);
    if ('missing' in found) return [];
    const nameOf = new Map([...found.purposes].map(([name, id]) => [id.slice(0, 15), name]));
    const ours = rows.filter(
      (r) => String(r.EngagementChannelTypeId).slice(0, 15) === found.channelId.slice(0, 15),
    );
    const parties = [...new Set(ours.map((r) => String(r.PartyId)).filter(isSalesforceId))];
    const owners = new Map<string, RecordRef[]>();
    for (const type of config.objects)
      for (const r of parties.length > 0
        ? await where(type, ['IndividualId'], 'IndividualId', parties)
        : []) {
        const k = String(r.IndividualId).slice(0, 15);
        owners.set(k, [...(owners.get(k) ?? []), { objectType: type, id: String(r.Id) }]);
      }
    return ours.map((r) => ({
      kind: 'consent' as const,
      ref: { objectType: CPTC, id: String(r.Id) },
      status: r.PrivacyConsentStatus,
      purposeName: nameOf.get(String(r.DataUsePurposeId).slice(0, 15)) ?? null,
      owners: owners.get(String(r.PartyId).slice(0, 15)) ?? [],
    }));
  }
}

const CPTC_FIELDS = ['PrivacyConsentStatus', 'PartyId', 'DataUsePurposeId', 'EngagementChannelTypeId'];

function meuRecord(r: Record<string, unknown>, config: NativeConfig): NativeRecord {
  const owners: RecordRef[] = [];
  if (typeof r.ContactId === 'string' && config.objects.includes('Contact'))
    owners.push({ objectType: 'Contact', id: r.ContactId });
  if (typeof r.LeadId === 'string' && config.objects.includes('Lead'))
    owners.push({ objectType: 'Lead', id: r.LeadId });
  return {
    kind: 'messaging',
    ref: { objectType: MEU, id: String(r.Id) },
    status: r.MessagingConsentStatus,
    owners,
  };
}

function groupByType(refs: RecordRef[]): Map<string, RecordRef[]> {
  const out = new Map<string, RecordRef[]>();
  for (const r of refs) out.set(r.objectType, [...(out.get(r.objectType) ?? []), r]);
  return out;
}

/** A whole-call failure; INVALID_TYPE (the org lacks the object) names the object and what to enable. */
function failureOf(err: unknown, object: string): ConnectorError {
  if (!(err instanceof ConnectorFailure)) throw err;
  if (err.error.vendorCode === 'INVALID_TYPE')
    return {
      ...err.error,
      code: 'NATIVE_OBJECT_MISSING',
      message: `Salesforce INVALID_TYPE: the org lacks ${object} or access to it (run consent-sync doctor)`,
      retryable: false,
    };
  return err.error;
}

function setupMissing(what: string[]): ConnectorError {
  return {
    code: 'NATIVE_SETUP_MISSING',
    message: `missing in Salesforce: ${what.join(', ')} (consent-sync doctor --fix creates them)`,
    retryable: false,
    retryAfterMs: null,
    status: null,
    vendorCode: null,
  };
}

function invalidName(): ConnectorFailure {
  return new ConnectorFailure({
    code: 'INVALID_NAME',
    message: 'not a Salesforce API name',
    retryable: false,
    retryAfterMs: null,
    status: null,
    vendorCode: null,
  });
}
