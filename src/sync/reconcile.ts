/**
 * Reconciliation (issue 3, deliver 7): compares what each CRM holds in the mapped fields with
 * what the ledger says, for every known person, and repairs drift under the sync rules:
 *
 * - the CRM shows an opt-out the ledger lacks (a missed webhook): the opt-out applies (rule 2)
 *   and propagates to every system;
 * - the CRM shows an opt-in for a purpose the ledger has never seen: it starts a WhatsApp double
 *   opt-in, or counts as consent for a trusted connector (rule 3);
 * - anything else that differs (an opt-in against a recorded opt-out, a stale date, a property
 *   someone cleared) is overwritten with the ledger's values: the ledger is the system of record
 *   (rule 1), and an opt-in against a withdrawal cannot be assumed newer.
 *
 * People missing in a CRM are left alone (rule 6). The report counts; it never names anyone.
 */
import type { Connector, ConnectorName, RecordRef, RemoteRecord } from '../../connectors/types.ts';
import { ConnectorFailure } from '../../connectors/types.ts';
import { localView, matchValue, pull, push } from '../core/mapping.ts';
import type { CrmLink, SubjectRow } from '../core/types.ts';
import { newId } from '../crypto/encoding.ts';
import type { ConsentService } from '../service/consent-service.ts';
import type { Log } from '../service/log.ts';
import type { Subjects } from '../service/subjects.ts';
import type { Store } from '../store/port.ts';
import type { Mappings } from './mappings.ts';
import { nativeConfig, nativeDrift, nativeIntent } from './native-sync.ts';
import { type SyncService, syncKind, toIntents } from './sync-service.ts';

export interface ReconcileReport {
  connector: ConnectorName;
  /** people looked at */
  people: number;
  /** CRM records compared */
  records: number;
  inSync: number;
  /** records whose values differed */
  drift: number;
  /** opt-outs taken over from the CRM */
  optOutsApplied: number;
  /** opt-ins taken over (double opt-in started, or granted for a trusted connector) */
  optInsApplied: number;
  /** people queued for a write of the ledger's values */
  pushed: number;
  /** records found by phone and linked in this run */
  linked: number;
  /** people with no record in this CRM (left alone) */
  absent: number;
  /** people skipped because a CRM call failed (the next run tries again) */
  failed: number;
}

export interface ReconcileDeps {
  store: Store;
  subjects: Subjects;
  consent: ConsentService;
  mappings: Mappings;
  sync: SyncService;
  clock: () => Date;
  log: Log;
}

export interface ReconcileOptions {
  connectors?: ConnectorName[];
  /** called after each page with people done so far */
  onProgress?: (connector: ConnectorName, done: number) => void;
  pageSize?: number;
}

/** Values compare as the CRM returns them: strings case-insensitively, dates by instant, "" as null. */
function same(a: unknown, b: unknown): boolean {
  const norm = (v: unknown) => (v === null || v === undefined ? '' : String(v));
  const x = norm(a);
  const y = norm(b);
  if (x.toLowerCase() === y.toLowerCase()) return true;
  const iso = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/;
  if (iso.test(x) && iso.test(y)) return Date.parse(x) === Date.parse(y);
  return false;
}

/**
 * @example
 * const reports = await reconcile(deps, { onProgress: (c, n) => bar.update(n) });
 */
export async function reconcile(
  deps: ReconcileDeps,
  options: ReconcileOptions = {},
): Promise<ReconcileReport[]> {
  const names = (options.connectors ?? deps.sync.enabled()).filter((c) => deps.sync.enabled().includes(c));
  const reports: ReconcileReport[] = [];
  for (const name of names)
    reports.push(await reconcileOne(deps, name, deps.sync.connector(name) as Connector, options));
  return reports;
}

async function reconcileOne(
  deps: ReconcileDeps,
  name: ConnectorName,
  connector: Connector,
  options: ReconcileOptions,
): Promise<ReconcileReport> {
  const { store } = deps;
  const report: ReconcileReport = {
    connector: name,
    people: 0,
    records: 0,
    inSync: 0,
    drift: 0,
    optOutsApplied: 0,
    optInsApplied: 0,
    pushed: 0,
    linked: 0,
    absent: 0,
    failed: 0,
  };
  const pageSize = options.pageSize ?? Math.min(connector.limits.readBatch, connector.limits.findBatch);
  const runId = newId();
  let after = '';
  for (;;) {
    const page = (await store.listSubjects(after, pageSize)).filter((s): s is SubjectRow => s !== null);
    if (page.length === 0) break;
    after = page.at(-1)?.id ?? after;
    // Erased people (or with an erasure open) are never looked up again.
    const tombs = new Set(
      (await store.tombstonesFor(page.map((s) => s.phoneHash))).map((t) => t.subjectHash),
    );
    const people = page.filter((s) => s.dekWrapped !== null && !tombs.has(s.phoneHash));
    report.people += people.length;
    try {
      await reconcilePage(deps, name, connector, people, report, runId);
    } catch (err) {
      if (!(err instanceof ConnectorFailure)) throw err;
      report.failed += people.length;
      deps.log.warn({ connector: name, code: err.error.code }, 'reconciliation page failed');
    }
    options.onProgress?.(name, report.people);
  }
  deps.log.info({ ...report }, 'reconciliation finished');
  return report;
}

async function reconcilePage(
  deps: ReconcileDeps,
  name: ConnectorName,
  connector: Connector,
  people: SubjectRow[],
  report: ReconcileReport,
  runId: string,
): Promise<void> {
  const { store, subjects, mappings, clock } = deps;
  const mapping = mappings.get(name);
  // Reconciliation reads every mapped field (push ones too, to see drift), and nothing else.
  const spec = { ...mappings.spec(name), properties: mapping.fields.map((f) => f.remote) };
  const now = clock().toISOString();

  const refsOf = new Map<string, RecordRef[]>();
  const owner = new Map<string, string>();
  const unlinkedByValue = new Map<string, string[]>();
  const unlinkedByBsuid = new Map<string, string[]>();
  for (const row of people) {
    const links = (await store.linksOf(row.id)).filter(
      (l) => l.connector === name && mapping.match.objects.includes(l.objectType),
    );
    refsOf.set(
      row.id,
      links.map((l) => ({ objectType: l.objectType, id: l.remoteId })),
    );
    for (const l of links) owner.set(`${l.objectType}/${l.remoteId}`, row.id);
    if (links.length === 0) {
      const subject = await subjects.byId(row.id);
      if (!subject) continue;
      const phone = await subjects.phoneOrNull(subject);
      if (phone) {
        const value = matchValue(mapping, phone);
        unlinkedByValue.set(value, [...(unlinkedByValue.get(value) ?? []), row.id]);
      } else if (spec.bsuidField) {
        // Known only by a BSUID: matched by the mapped BSUID field.
        const bsuid = await subjects.bsuid(subject);
        if (bsuid) unlinkedByBsuid.set(bsuid, [...(unlinkedByBsuid.get(bsuid) ?? []), row.id]);
      }
    }
  }

  const records: RemoteRecord[] = [];
  const newLinks: CrmLink[] = [];
  const found: Array<[RemoteRecord, string[]]> = [];
  if (unlinkedByValue.size > 0)
    for (const r of await connector.find([...unlinkedByValue.keys()], spec))
      found.push([r, unlinkedByValue.get(r.matchValue ?? '') ?? []]);
  if (unlinkedByBsuid.size > 0)
    for (const r of await connector.find([...unlinkedByBsuid.keys()], spec, 'bsuid'))
      found.push([r, unlinkedByBsuid.get(r.bsuid ?? '') ?? []]);
  for (const [r, sids] of found) {
    for (const sid of sids) {
      records.push(r);
      owner.set(`${r.objectType}/${r.id}`, sid);
      newLinks.push({
        connector: name,
        objectType: r.objectType,
        remoteId: r.id,
        subjectId: sid,
        linkedAt: now,
      });
    }
  }
  if (newLinks.length > 0) await store.commit({ links: newLinks });
  report.linked += newLinks.length;
  const linkedRefs = [...refsOf.values()].flat();
  const returned = new Set<string>();
  for (let i = 0; i < linkedRefs.length; i += connector.limits.readBatch) {
    for (const r of await connector.read(linkedRefs.slice(i, i + connector.limits.readBatch), spec)) {
      records.push(r);
      returned.add(`${r.objectType}/${r.id}`);
    }
  }
  // Linked records the CRM no longer has: forget the link (the next sync looks the person up again).
  const gone = linkedRefs.filter((r) => !returned.has(`${r.objectType}/${r.id}`));
  if (gone.length > 0) {
    await store.commit({
      unlinks: gone.map((r) => ({ connector: name, objectType: r.objectType, remoteId: r.id })),
    });
  }

  const seen = new Set<string>();
  const toPush = new Set<string>();
  for (const r of records) {
    const sid = owner.get(`${r.objectType}/${r.id}`);
    if (!sid) continue;
    seen.add(sid);
    report.records++;
    const states = await store.getStates(sid);
    const desired = push(mapping, localView(states));
    const differing = Object.keys(desired).filter((p) => !same(desired[p], r.properties[p]));
    if (differing.length === 0) {
      report.inSync++;
      continue;
    }
    report.drift++;
    const readable = Object.fromEntries(
      differing.filter((p) => p in r.properties).map((p) => [p, r.properties[p]] as const),
    );
    const status = new Map(states.map((s) => [s.purpose, s.status]));
    const subject = await subjects.byId(sid);
    let applied = false;
    for (const it of toIntents(pull(mapping, readable).changes, mapping.trustOptIn)) {
      if (!subject) break;
      const purposes = it.purposes === 'all' ? null : it.purposes;
      if (it.intent !== 'opt_out') {
        // An opt-in only fills a purpose the ledger has never seen; it never overrides a withdrawal.
        const fresh = (purposes ?? []).filter((p) => (status.get(p) ?? 'none') === 'none');
        if (fresh.length === 0) continue;
        await deps.consent.changeFor(subject, {
          intent: it.intent,
          purposes: fresh,
          source: name,
          occurredAt: now,
          evidence: { reason: 'reconciliation', reference: `${r.objectType}/${r.id}` },
          dedupeKeys: [`reconcile:${runId}:${sid}:${it.intent}`],
        });
        report.optInsApplied++;
        applied = true;
        continue;
      }
      await deps.consent.changeFor(subject, {
        intent: 'opt_out',
        purposes: it.purposes,
        source: name,
        occurredAt: now,
        evidence: { reason: 'reconciliation', reference: `${r.objectType}/${r.id}` },
        dedupeKeys: [`reconcile:${runId}:${sid}:opt_out`],
      });
      report.optOutsApplied++;
      applied = true;
    }
    // A change applied above queued its own sync jobs; otherwise write the ledger's values back.
    if (!applied) toPush.add(sid);
  }
  for (const row of people) if (!seen.has(row.id) && refsOf.has(row.id)) report.absent++;
  await reconcileNative(deps, name, connector, records, owner, report, runId, toPush);

  if (toPush.size > 0) {
    const jobs = [...toPush].flatMap((sid) =>
      deps.sync.jobsFor(sid, `reconcile:${runId}`, now).filter((j) => j.kind === syncKind(name)),
    );
    await store.commit({ jobs });
    report.pushed += toPush.size;
  }
}

/**
 * Issue 15: the native records (MessagingEndUser, ContactPointTypeConsent) of the people whose
 * records were read. An opt-out found there applies; an opt-in only fills a purpose the ledger has
 * never seen; anything else that differs queues a write of the ledger's values. A failure here is
 * logged and leaves the field reconciliation as it was.
 */
async function reconcileNative(
  deps: ReconcileDeps,
  name: ConnectorName,
  connector: Connector,
  records: RemoteRecord[],
  owner: Map<string, string>,
  report: ReconcileReport,
  runId: string,
  toPush: Set<string>,
): Promise<void> {
  const mapping = deps.mappings.get(name);
  const config = nativeConfig(mapping);
  if (!config || !connector.native || records.length === 0) return;
  let found: Awaited<ReturnType<NonNullable<Connector['native']>['readFor']>>;
  try {
    found = await connector.native.readFor(
      records.map((r) => ({ objectType: r.objectType, id: r.id })),
      config,
    );
  } catch (err) {
    if (!(err instanceof ConnectorFailure)) throw err;
    deps.log.warn({ connector: name, code: err.error.code }, 'native reconciliation failed');
    return;
  }
  const now = deps.clock().toISOString();
  for (const nr of found) {
    const sid = nr.owners.map((o) => owner.get(`${o.objectType}/${o.id}`)).find((x) => x !== undefined);
    if (!sid) continue;
    const states = await deps.store.getStates(sid);
    const intent = nativeIntent(mapping, nr, states);
    const fresh =
      intent &&
      (intent.intent === 'opt_out' ||
        intent.purposes.every((p) => !states.some((s) => s.purpose === p && s.status !== 'none')));
    const subject = intent && fresh ? await deps.subjects.byId(sid) : null;
    if (intent && subject) {
      await deps.consent.changeFor(subject, {
        intent: intent.intent,
        purposes: intent.purposes,
        source: name,
        occurredAt: now,
        evidence: { reason: 'reconciliation', reference: `${nr.ref.objectType}/${nr.ref.id}` },
        dedupeKeys: [`reconcile:${runId}:${sid}:native:${nr.ref.id}`],
      });
      if (intent.intent === 'opt_out') report.optOutsApplied++;
      else report.optInsApplied++;
      toPush.delete(sid);
    } else if (nativeDrift(mapping, nr, states)) {
      report.drift++;
      toPush.add(sid);
    }
  }
}
