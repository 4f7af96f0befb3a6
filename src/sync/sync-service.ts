/**
 * Keeps every connected CRM in step with the ledger, and the ledger with what CRMs report
 * (ARCHITECTURE "Sync rules"; issue 3).
 *
 * Out: a consent change commits one `sync.<connector>` job per CRM with the ledger events
 * (transactional outbox). Jobs coalesce per (connector, person) and carry no values: when one
 * runs it reads the person's current state and writes absolute values through the mapping, so a
 * repeat or a late run is harmless. Jobs of a kind run in batches as large as the vendor allows.
 *
 * In: a CRM webhook is reduced to whitelisted consent values, our own writes coming back are
 * dropped (echo suppression: the last value we wrote per property is kept), and what is left
 * enters the same consent pipe as a WhatsApp message: an opt-out applies at once and propagates;
 * an opt-in starts a WhatsApp double opt-in unless the connector is trusted.
 */

import type { ConnectorError } from '../../connectors/errors.ts';
import type {
  Connector,
  ConnectorName,
  InboundChange,
  RecordRef,
  RecordWrite,
  RemoteRecord,
  RemoteValue,
} from '../../connectors/types.ts';
import { ConnectorFailure } from '../../connectors/types.ts';
import type { Intent } from '../core/consent.ts';
import type { Identity } from '../core/identity.ts';
import {
  localView,
  matchValue,
  type PulledChange,
  pull,
  push,
  subscriptionStatuses,
} from '../core/mapping.ts';
import { normalizePhone } from '../core/phone.ts';
import type {
  CrmLink,
  NewOutboxJob,
  OutboxJob,
  Purpose,
  PurposeState,
  SubjectRow,
  SyncWrite,
} from '../core/types.ts';
import { newId, sha256Hex } from '../crypto/encoding.ts';
import type { ChangeRequest, ConsentService } from '../service/consent-service.ts';
import type { Log } from '../service/log.ts';
import type { Subject, Subjects } from '../service/subjects.ts';
import type { Store } from '../store/port.ts';
import type { BatchHandler, HandlerResult, JobHandler } from './dispatcher.ts';
import type { Mappings } from './mappings.ts';
import { isNativeType, nativeConfig, nativeIntent, nativeTarget } from './native-sync.ts';

/** How long a value we wrote counts as ours when it comes back (HubSpot retries deliveries for hours). */
export const ECHO_WINDOW_MS = 24 * 3_600_000;

export interface SyncDeps {
  store: Store;
  subjects: Subjects;
  consent: ConsentService;
  mappings: Mappings;
  connectors: ReadonlyMap<ConnectorName, Connector>;
  clock: () => Date;
  log: Log;
  onJobs?: () => void;
}

/** What the erasure service makes of a CRM's deletion or forget request for a record. */
export type PrivacyDeletionHandler = (
  connector: ConnectorName,
  change: InboundChange,
) => Promise<'erasure' | 'echo' | 'unknown'>;

/** What a webhook delivery did, for the response log and tests (counts only). */
export interface ReceiveReport {
  received: number;
  applied: number;
  duplicates: number;
  echoes: number;
  ignored: number;
  queued: number;
  unlinked: number;
}

export const syncKind = (c: ConnectorName) => `sync.${c}`;
export const inboundKind = (c: ConnectorName) => `crm.inbound.${c}`;

interface PushItem {
  job: OutboxJob;
  row: SubjectRow;
  properties: Record<string, RemoteValue>;
  /** HubSpot communication-preferences statuses (mapping `subscriptions`), usually none */
  subscriptions: ReturnType<typeof subscriptionStatuses>;
  records: RecordRef[];
  errors: ConnectorError[];
  states: PurposeState[];
  /** opt-outs a newly found record holds that the ledger lacks: taken over instead of overwritten */
  takeOver: Array<{ ref: RecordRef; purposes: Purpose[] | 'all'; remote: string[] }>;
}

const failure = (errors: ConnectorError[]): HandlerResult => {
  const retryable = errors.some((e) => e.retryable);
  const first = errors.find((e) => e.retryable === retryable) ?? (errors[0] as ConnectorError);
  const after = Math.max(0, ...errors.map((e) => e.retryAfterMs ?? 0));
  return { ok: false, retryable, error: `${first.code}: ${first.message}`, retryAfterMs: after || null };
};

/** Values compare as CRMs send them back: HubSpot turns `true` into "true" and null into "". */
const comparable = (v: unknown): string => (v === null || v === undefined ? '' : String(v).toLowerCase());

export class SyncService {
  private readonly d: SyncDeps;
  /** set by the composition root once the erasure service exists */
  onPrivacyDeletion: PrivacyDeletionHandler | null = null;

  constructor(deps: SyncDeps) {
    this.d = deps;
  }

  enabled(): ConnectorName[] {
    return [...this.d.connectors.keys()].filter((c) => this.d.mappings.has(c));
  }

  connector(name: ConnectorName): Connector | null {
    return this.d.connectors.get(name) ?? null;
  }

  /** The sync jobs a committed change of `subjectId` needs, one per enabled CRM (coalescing). */
  jobsFor(subjectId: string, cause: string, now: string): NewOutboxJob[] {
    return this.enabled().map((c) => ({
      id: newId(),
      kind: syncKind(c),
      subjectId,
      idempotencyKey: `${syncKind(c)}:${subjectId}:${cause}`,
      coalesceKey: `${syncKind(c)}:${subjectId}`,
      payload: { cause },
      nextAttemptAt: now,
    }));
  }

  /** The dispatcher handlers of every enabled connector. */
  handlers(): Record<string, BatchHandler | JobHandler> {
    const out: Record<string, BatchHandler | JobHandler> = {};
    for (const c of this.enabled()) {
      const connector = this.d.connectors.get(c) as Connector;
      out[syncKind(c)] = {
        maxBatch: connector.limits.writeBatch,
        // Enough batches in flight that preparing one overlaps the vendor calls of the others.
        parallel: 16,
        batch: (jobs) => this.pushBatch(c, jobs),
      };
      out[inboundKind(c)] = (job) => this.handleInboundJob(c, job);
    }
    return out;
  }

  /** What would be written for a person now (the mapping preview). No call is made. */
  async desired(name: ConnectorName, subjectId: string): Promise<Record<string, RemoteValue>> {
    return push(this.d.mappings.get(name), localView(await this.d.store.getStates(subjectId)));
  }

  /** Runs sync jobs of one connector as one lookup call and as few write calls as the vendor allows. */
  async pushBatch(name: ConnectorName, jobs: OutboxJob[]): Promise<Map<string, HandlerResult>> {
    const { store, subjects, mappings, clock } = this.d;
    const connector = this.d.connectors.get(name);
    const results = new Map<string, HandlerResult>();
    if (!connector || !mappings.has(name)) {
      for (const j of jobs)
        results.set(j.id, { ok: false, cancel: true, error: `connector ${name} not enabled` });
      return results;
    }
    const mapping = mappings.get(name);
    const spec = mappings.spec(name);
    const now = clock().toISOString();

    // Three queries for the whole batch, not three per person.
    const ids = [...new Set(jobs.flatMap((j) => (j.subjectId ? [j.subjectId] : [])))];
    const rows = new Map((await store.getSubjects(ids)).map((r) => [r.id, r]));
    const statesOf = groupBy(await store.getStatesFor(ids), (s) => s.subjectId);
    const linksOf = groupBy(
      (await store.linksFor(ids)).filter(
        (l) => l.connector === name && mapping.match.objects.includes(l.objectType),
      ),
      (l) => l.subjectId,
    );
    const items: PushItem[] = [];
    for (const job of jobs) {
      const row = job.subjectId ? rows.get(job.subjectId) : undefined;
      if (!row?.dekWrapped) {
        results.set(job.id, { ok: false, cancel: true, error: 'person erased or unknown' });
        continue;
      }
      items.push({
        job,
        row,
        properties: push(mapping, localView(statesOf.get(row.id) ?? [])),
        subscriptions: subscriptionStatuses(mapping, localView(statesOf.get(row.id) ?? [])),
        records: (linksOf.get(row.id) ?? []).map((l) => ({ objectType: l.objectType, id: l.remoteId })),
        errors: [],
        states: statesOf.get(row.id) ?? [],
        takeOver: [],
      });
    }

    // Find the records of people not linked yet: one lookup for the whole batch.
    const links: CrmLink[] = [];
    const unlinked = items.filter((i) => i.records.length === 0);
    if (unlinked.length > 0) {
      // By number when a number is known; a person known only by a BSUID by the mapped BSUID field.
      const byPhone = new Map<string, PushItem[]>();
      const byBsuid = new Map<string, PushItem[]>();
      const add = (m: Map<string, PushItem[]>, k: string, item: PushItem) =>
        m.set(k, [...(m.get(k) ?? []), item]);
      for (const item of unlinked) {
        const subject = await subjects.byId(item.row.id);
        if (!subject) continue;
        const phone = await subjects.phoneOrNull(subject);
        if (phone) add(byPhone, matchValue(mapping, phone), item);
        else if (spec.bsuidField) {
          const bsuid = await subjects.bsuid(subject);
          if (bsuid) add(byBsuid, bsuid, item);
        }
      }
      const attach = (r: RemoteRecord, found: PushItem[]) => {
        for (const item of found) {
          // A record seen for the first time may hold an opt-out we never heard of (a webhook
          // lost before we were connected): rule 2 says it applies, so it is taken over, not overwritten.
          const status = new Map(item.states.map((st) => [st.purpose, st.status]));
          for (const it of toIntents(pull(mapping, r.properties).changes, false)) {
            if (it.intent !== 'opt_out') continue;
            const purposes = it.purposes === 'all' ? [...status.keys()] : it.purposes;
            if (purposes.some((p) => status.get(p) !== 'opted_out') || purposes.length === 0)
              item.takeOver.push({
                ref: { objectType: r.objectType, id: r.id },
                purposes: it.purposes,
                remote: it.remote,
              });
          }
          item.records.push({ objectType: r.objectType, id: r.id });
          links.push({
            connector: name,
            objectType: r.objectType,
            remoteId: r.id,
            subjectId: item.row.id,
            linkedAt: now,
          });
        }
      };
      try {
        if (byPhone.size > 0)
          for (const r of await connector.find([...byPhone.keys()], spec))
            attach(r, byPhone.get(r.matchValue ?? '') ?? []);
        if (byBsuid.size > 0)
          for (const r of await connector.find([...byBsuid.keys()], spec, 'bsuid'))
            attach(r, byBsuid.get(r.bsuid ?? '') ?? []);
      } catch (err) {
        if (!(err instanceof ConnectorFailure)) throw err;
        for (const item of unlinked) item.errors.push(err.error);
      }
    }

    // Opt-outs found on first contact are applied to the ledger; the change queues fresh sync jobs
    // (to every CRM) that write the merged state, so this job writes nothing for that person.
    for (const item of items) {
      if (item.takeOver.length === 0 || item.errors.length > 0) continue;
      const subject = await subjects.byId(item.row.id);
      for (const t of subject ? item.takeOver : []) {
        await this.d.consent.changeFor(subject as Subject, {
          intent: 'opt_out',
          purposes: t.purposes,
          source: name,
          occurredAt: now,
          evidence: {
            reason: 'crm_opt_out_found_on_first_sync',
            matched: t.remote.map((p) => `${name}:${p}`).join(','),
            reference: `${t.ref.objectType}/${t.ref.id}`,
          },
          reply: null,
        });
      }
      item.records = [];
    }

    // Record what we are about to write before writing it, so an echo that races the response is known.
    const writes: Array<{ item: PushItem; write: RecordWrite }> = [];
    const syncWrites: SyncWrite[] = [];
    for (const item of items) {
      if (item.errors.length > 0) continue;
      for (const ref of item.records) {
        writes.push({
          item,
          write: {
            ...ref,
            key: `${item.job.idempotencyKey}:${ref.objectType}:${ref.id}`,
            properties: item.properties,
            ...(item.subscriptions.length > 0 ? { subscriptions: item.subscriptions } : {}),
          },
        });
        // Only properties that can come back (pull/both) need remembering for echo suppression.
        for (const property of spec.properties) {
          if (!(property in item.properties)) continue;
          const value = JSON.stringify(item.properties[property]);
          syncWrites.push({ connector: name, ...remote(ref), property, value, writtenAt: now });
        }
      }
    }
    if (links.length > 0 || syncWrites.length > 0) await store.commit({ links, syncWrites });

    const unlinks: Array<Pick<CrmLink, 'connector' | 'objectType' | 'remoteId'>> = [];
    const size = connector.limits.writeBatch;
    for (let i = 0; i < writes.length; i += size) {
      const chunk = writes.slice(i, i + size);
      try {
        const outcomes = await connector.write(chunk.map((w) => w.write));
        chunk.forEach((w, k) => {
          const o = outcomes[k];
          if (!o || o.ok) return;
          // The record is gone from the CRM: forget the link (left alone, rule 6), not an error.
          if (o.error.code === 'NOT_FOUND') unlinks.push({ connector: name, ...remote(w.write) });
          else w.item.errors.push(o.error);
        });
      } catch (err) {
        if (!(err instanceof ConnectorFailure)) throw err;
        for (const w of chunk) w.item.errors.push(err.error);
      }
    }
    if (unlinks.length > 0) await store.commit({ unlinks });
    const native = await this.pushNative(name, items, now);

    let absent = 0;
    for (const item of items) {
      if (item.records.length === 0 && item.errors.length === 0 && item.takeOver.length === 0) absent++;
      results.set(item.job.id, item.errors.length === 0 ? { ok: true } : failure(item.errors));
    }
    this.d.log.info(
      {
        connector: name,
        jobs: jobs.length,
        writes: writes.length,
        linked: links.length,
        absent,
        gone: unlinks.length,
        native,
      },
      'crm sync batch',
    );
    return results;
  }

  /**
   * Takes a verified webhook's changes into the ledger. Everything is stored (dedupe keys, ledger
   * events, queued jobs) before this returns, so the caller may acknowledge afterwards.
   */
  async receive(name: ConnectorName, changes: InboundChange[]): Promise<ReceiveReport> {
    const report: ReceiveReport = {
      received: changes.length,
      applied: 0,
      duplicates: 0,
      echoes: 0,
      ignored: 0,
      queued: 0,
      unlinked: 0,
    };
    for (const change of changes) {
      const outcome = await this.receiveOne(name, change);
      report[outcome]++;
    }
    if (report.queued > 0) this.d.onJobs?.();
    this.d.log.info({ connector: name, ...report }, 'crm webhook processed');
    return report;
  }

  private async receiveOne(
    name: ConnectorName,
    change: InboundChange,
  ): Promise<'applied' | 'duplicates' | 'echoes' | 'ignored' | 'queued' | 'unlinked'> {
    const { store, mappings } = this.d;
    const key = `crm:${name}:${await sha256Hex(change.eventId)}`;
    const ref = change.ref;
    if (change.type === 'privacy_deletion' && this.onPrivacyDeletion) {
      // A GDPR deletion or "forget" in the CRM: an erasure request, unless it is our own coming back.
      const first = await store.commit({ dedupeKeys: [key] });
      if (first.status === 'duplicate') return 'duplicates';
      const outcome = await this.onPrivacyDeletion(name, change);
      return outcome === 'erasure' ? 'applied' : 'ignored';
    }
    if (change.type !== 'property_change') {
      // The record is gone from the CRM: forget the link (the person stays, rule 6).
      const r = await store.commit({ dedupeKeys: [key], unlinks: [{ connector: name, ...remote(ref) }] });
      return r.status === 'duplicate' ? 'duplicates' : 'unlinked';
    }
    // Salesforce's own consent objects: always read back through the API (rule 7).
    if (isNativeType(mappings.get(name), ref.objectType)) return this.queueReadBack(name, change, key);
    // Only the object types the mapping names are read or acted on.
    if (!mappings.get(name).match.objects.includes(ref.objectType)) {
      const r = await store.commit({ dedupeKeys: [key] });
      return r.status === 'duplicate' ? 'duplicates' : 'ignored';
    }
    // Sync rule 7: an unauthenticated signal is never applied from its payload, linked or not.
    if (change.signal) return this.queueReadBack(name, change, key);
    const written = await store.syncWritesOf(name, ref.objectType, ref.id);
    const fresh = Object.entries(change.properties).filter(([property, value]) => {
      const w = written.find((x) => x.property === property);
      if (!w) return true;
      const recent = Math.abs(Date.parse(change.occurredAt) - Date.parse(w.writtenAt)) <= ECHO_WINDOW_MS;
      return !(recent && comparable(JSON.parse(w.value)) === comparable(value));
    });
    const { changes: pulled } = pull(mappings.get(name), Object.fromEntries(fresh));
    const intents = toIntents(pulled, mappings.get(name).trustOptIn);
    if (fresh.length === 0 || intents.length === 0) {
      const r = await store.commit({ dedupeKeys: [key] });
      if (r.status === 'duplicate') return 'duplicates';
      return fresh.length === 0 ? 'echoes' : 'ignored';
    }

    const link = await store.findLink(name, ref.objectType, ref.id);
    if (link) {
      const subject = await this.d.subjects.byId(link.subjectId);
      if (!subject) {
        const r = await store.commit({ dedupeKeys: [key] });
        return r.status === 'duplicate' ? 'duplicates' : 'ignored';
      }
      return this.apply(name, { subject }, intents, change, key);
    }
    if (change.matchValue) {
      const phone = normalizePhone(change.matchValue);
      if (!phone.ok) {
        const r = await store.commit({ dedupeKeys: [key] });
        return r.status === 'duplicate' ? 'duplicates' : 'ignored';
      }
      return this.apply(name, { identity: { phone: phone.e164 } }, intents, change, key);
    }
    // Unknown record and no number in the payload: read it from the CRM later, durably.
    const job: NewOutboxJob = {
      id: newId(),
      kind: inboundKind(name),
      subjectId: null,
      idempotencyKey: key,
      // Only what the mapping understood is kept: values it cannot map back, the vendor's free-text
      // event id and the payload's number (absent here anyway) are not.
      payload: {
        change: {
          ...change,
          eventId: key,
          matchValue: null,
          properties: Object.fromEntries(fresh.filter(([p]) => pulled.some((c) => c.remote === p))),
        },
      },
      nextAttemptAt: this.d.clock().toISOString(),
    };
    const r = await store.commit({ dedupeKeys: [key], jobs: [job] });
    return r.status === 'duplicate' ? 'duplicates' : 'queued';
  }

  private async apply(
    name: ConnectorName,
    target: { subject: Subject } | { identity: Identity },
    intents: Array<{ intent: Intent; purposes: Purpose[] | 'all'; remote: string[] }>,
    change: InboundChange,
    key: string,
  ): Promise<'applied' | 'duplicates' | 'ignored'> {
    let result: 'applied' | 'duplicates' | 'ignored' = 'applied';
    for (const [i, it] of intents.entries()) {
      const req: Omit<ChangeRequest, 'identity' | 'create'> = {
        intent: it.intent,
        purposes: it.purposes,
        source: name,
        occurredAt: change.occurredAt,
        evidence: {
          reason: 'crm_property_change',
          matched: it.remote.map((p) => `${name}:${p}`).join(','),
          reference: `${change.ref.objectType}/${change.ref.id}`,
        },
        dedupeKeys: [i === 0 ? key : `${key}:${i}`],
        links: [{ connector: name, ...remote(change.ref), linkedAt: this.d.clock().toISOString() }],
      };
      const r =
        'subject' in target
          ? await this.d.consent.changeFor(target.subject, req)
          : await this.d.consent.change({ ...req, identity: target.identity, create: true });
      if (r.status === 'duplicate') result = 'duplicates';
      if (r.status === 'erased') return 'ignored';
    }
    return result;
  }

  /**
   * Sync rule 7: queues the authenticated read-back of the record a signal names. Only the record
   * reference, the dedupe key and the receipt time are kept; repeated signals for a record wait
   * as one job (it reads the latest state when it runs).
   */
  private async queueReadBack(name: ConnectorName, change: InboundChange, key: string) {
    const signal: InboundChange = {
      eventId: key,
      type: 'property_change',
      ref: { objectType: change.ref.objectType, id: change.ref.id },
      occurredAt: change.occurredAt,
      properties: {},
      matchValue: null,
      changeSource: null,
      signal: true,
    };
    const job: NewOutboxJob = {
      id: newId(),
      kind: inboundKind(name),
      subjectId: null,
      idempotencyKey: key,
      coalesceKey: `${inboundKind(name)}:${change.ref.objectType}/${change.ref.id}`,
      payload: { change: signal },
      nextAttemptAt: this.d.clock().toISOString(),
    };
    const r = await this.d.store.commit({ dedupeKeys: [key], jobs: [job] });
    return r.status === 'duplicate' ? ('duplicates' as const) : ('queued' as const);
  }

  /**
   * A signal's record as the authenticated API returned it: the intents come from its values, the
   * person from its link or else from the number it holds; nothing from the signal's payload.
   */
  private async applyReadBack(
    name: ConnectorName,
    change: InboundChange,
    record: RemoteRecord | undefined,
    key: string,
  ): Promise<HandlerResult> {
    // Gone, or never there: nothing is created, linked or erased (rule 6).
    if (!record) return { ok: true };
    const mapping = this.d.mappings.get(name);
    const ref = { objectType: record.objectType, id: record.id };
    const written = await this.d.store.syncWritesOf(name, ref.objectType, ref.id);
    const fresh = notEchoed(record.properties, written, change.occurredAt);
    const intents = toIntents(pull(mapping, Object.fromEntries(fresh)).changes, mapping.trustOptIn);
    if (intents.length === 0) return { ok: true };
    const read = { ...change, ref };
    const link = await this.d.store.findLink(name, ref.objectType, ref.id);
    if (link) {
      const subject = await this.d.subjects.byId(link.subjectId);
      if (subject) await this.apply(name, { subject }, intents, read, key);
      return { ok: true };
    }
    const phone = record.matchValue ? normalizePhone(record.matchValue) : null;
    if (phone?.ok) await this.apply(name, { identity: { phone: phone.e164 } }, intents, read, key);
    return { ok: true };
  }

  /**
   * Issue 15: the mapping's native section for the people of a batch that were written (or have
   * records), in one batched call. Returns the native records written. Failures join the items'
   * errors, so the jobs retry or dead-letter like field writes.
   */
  private async pushNative(name: ConnectorName, items: PushItem[], now: string): Promise<number> {
    const connector = this.d.connectors.get(name);
    const mapping = this.d.mappings.get(name);
    const config = nativeConfig(mapping);
    if (!connector?.native || !config) return 0;
    const wantsPhone = mapping.native?.messaging?.find.includes('platformKey') ?? false;
    const planned: Array<{ item: PushItem; target: NonNullable<ReturnType<typeof nativeTarget>> }> = [];
    for (const item of items) {
      if (item.errors.length > 0 || item.records.length === 0) continue;
      const subject = wantsPhone ? await this.d.subjects.byId(item.row.id) : null;
      const phone = subject ? await this.d.subjects.phoneOrNull(subject) : null;
      const target = nativeTarget(mapping, item.records, item.states, phone, now);
      if (target) planned.push({ item, target });
    }
    if (planned.length === 0) return 0;
    const outcomes = await connector.native.push(
      planned.map((p) => p.target),
      config,
    );
    let written = 0;
    outcomes.forEach((o, k) => {
      if (o.ok) written += o.written;
      else planned[k]?.item.errors.push(o.error);
    });
    return written;
  }

  /**
   * A MessagingEndUser or ContactPointTypeConsent named by a Flow callout: read back, its person
   * found through the Contact/Lead it belongs to (link, else the number that record holds), and
   * applied when it is news to the ledger.
   */
  private async readBackNative(
    name: ConnectorName,
    connector: Connector,
    change: InboundChange,
    key: string,
  ): Promise<HandlerResult> {
    const mapping = this.d.mappings.get(name);
    const config = nativeConfig(mapping);
    if (!connector.native || !config) return { ok: true };
    let records: Awaited<ReturnType<NonNullable<Connector['native']>['read']>>;
    try {
      records = await connector.native.read([change.ref], config);
    } catch (err) {
      if (!(err instanceof ConnectorFailure)) throw err;
      return failure([err.error]);
    }
    for (const record of records) {
      let target: { subject: Subject } | { identity: Identity } | null = null;
      for (const owner of record.owners) {
        const link = await this.d.store.findLink(name, owner.objectType, owner.id);
        const subject = link ? await this.d.subjects.byId(link.subjectId) : null;
        if (subject) {
          target = { subject };
          break;
        }
      }
      if (!target && record.owners.length > 0) {
        let read: RemoteRecord[];
        try {
          read = await connector.read(record.owners, this.d.mappings.spec(name));
        } catch (err) {
          if (!(err instanceof ConnectorFailure)) throw err;
          return failure([err.error]);
        }
        const phone = read
          .map((r) => (r.matchValue ? normalizePhone(r.matchValue) : null))
          .find((p) => p?.ok);
        if (phone?.ok) target = { identity: { phone: phone.e164 } };
      }
      // No Contact/Lead we can name: left alone (rule 6).
      if (!target) continue;
      const states =
        'subject' in target ? await this.d.store.getStates(target.subject.row.id) : ([] as PurposeState[]);
      const intent = nativeIntent(mapping, record, states);
      if (!intent) continue;
      const owner = record.owners[0] as RecordRef;
      await this.apply(name, target, [intent], { ...change, ref: owner }, `${key}:${record.ref.id}`);
    }
    return { ok: true };
  }

  /** A change from an unlinked record: read the record's number from the CRM, then apply it. */
  async handleInboundJob(name: ConnectorName, job: OutboxJob): Promise<HandlerResult> {
    const connector = this.d.connectors.get(name);
    if (!connector || !this.d.mappings.has(name))
      return { ok: false, cancel: true, error: 'connector not enabled' };
    const change = job.payload.change as InboundChange;
    if (isNativeType(this.d.mappings.get(name), change.ref.objectType))
      return this.readBackNative(name, connector, change, `${job.idempotencyKey}:apply`);
    // The mapping may have changed since the job was queued: never read an object type it leaves out.
    if (!this.d.mappings.get(name).match.objects.includes(change.ref.objectType)) return { ok: true };
    let records: Awaited<ReturnType<Connector['read']>>;
    try {
      records = await connector.read([change.ref], this.d.mappings.spec(name));
    } catch (err) {
      if (!(err instanceof ConnectorFailure)) throw err;
      return failure([err.error]);
    }
    if (change.signal) return this.applyReadBack(name, change, records[0], `${job.idempotencyKey}:apply`);
    const phone = records[0]?.matchValue ? normalizePhone(records[0].matchValue) : null;
    // Gone meanwhile, or no usable number: nothing to link the change to (rule 6: left alone).
    if (!phone?.ok) return { ok: true };
    const intents = toIntents(
      pull(this.d.mappings.get(name), change.properties).changes,
      this.d.mappings.get(name).trustOptIn,
    );
    await this.apply(
      name,
      { identity: { phone: phone.e164 } },
      intents,
      change,
      `${job.idempotencyKey}:apply`,
    );
    return { ok: true };
  }
}

/** The properties of `values` that are not our own recent writes coming back (echo suppression). */
function notEchoed(
  values: Record<string, RemoteValue>,
  written: SyncWrite[],
  occurredAt: string,
): Array<[string, RemoteValue]> {
  return Object.entries(values).filter(([property, value]) => {
    const w = written.find((x) => x.property === property);
    if (!w) return true;
    const recent = Math.abs(Date.parse(occurredAt) - Date.parse(w.writtenAt)) <= ECHO_WINDOW_MS;
    return !(recent && comparable(JSON.parse(w.value)) === comparable(value));
  });
}

function groupBy<T>(items: T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}

const remote = (ref: RecordRef) => ({ objectType: ref.objectType, remoteId: ref.id });

/**
 * Sync rules 2 and 3: an opt-out applies; an opt-in is a request for a WhatsApp double opt-in
 * (or consent itself when the connector is trusted); "not opted out" alone is nobody's consent.
 */
export function toIntents(
  pulled: PulledChange[],
  trustOptIn: boolean,
): Array<{ intent: Intent; purposes: Purpose[] | 'all'; remote: string[] }> {
  const all = pulled.find((p) => p.kind === 'optedOut' && p.value);
  if (all) return [{ intent: 'opt_out', purposes: 'all', remote: [all.remote] }];
  const out: Array<{ intent: Intent; purposes: Purpose[]; remote: string[] }> = [];
  for (const p of pulled) {
    if (p.kind !== 'status') continue;
    const intent: Intent | null =
      p.status === 'opted_out'
        ? 'opt_out'
        : p.status === 'opted_in'
          ? trustOptIn
            ? 'grant'
            : 'request'
          : null;
    if (!intent) continue;
    const same = out.find((o) => o.intent === intent);
    if (same) {
      same.purposes.push(p.purpose);
      same.remote.push(p.remote);
    } else out.push({ intent, purposes: [p.purpose], remote: [p.remote] });
  }
  // Opt-outs first: if anything fails midway, the less permissive change is the one already stored.
  return out.sort((a, b) => (a.intent === 'opt_out' ? -1 : 0) - (b.intent === 'opt_out' ? -1 : 0));
}
