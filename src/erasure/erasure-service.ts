/**
 * Erasure (GDPR Art. 17, 19, 12(3)): one request per person, whatever the way in; one task per
 * connected system, run by the durable dispatcher with the same retry and dead-letter rules as sync;
 * a receipt with no personal data when every task has ended.
 *
 * Order matters: a CRM task needs the person's number to find their records, so the local task
 * (crypto-shredding) runs only after every CRM task has ended. From the moment of the request a
 * suppression tombstone (the keyed hash of the number) blocks every send and keeps the person from
 * being re-created by a webhook, an import or reconciliation; their queued jobs are cancelled.
 */

import type { ConnectorError } from '../../connectors/errors.ts';
import type { Connector, ConnectorName, RecordRef } from '../../connectors/types.ts';
import { ConnectorFailure } from '../../connectors/types.ts';
import type { Identifier } from '../core/identity.ts';
import { matchValue } from '../core/mapping.ts';
import type {
  ErasedRecord,
  ErasureRow,
  ErasureSource,
  ErasureTask,
  IdentifierRow,
  NewOutboxJob,
  OutboxJob,
  SubjectRow,
} from '../core/types.ts';
import { newId } from '../crypto/encoding.ts';
import type { PiiCrypto } from '../crypto/pii.ts';
import type { Log } from '../service/log.ts';
import { KeyedMutex } from '../service/mutex.ts';
import type { Subjects } from '../service/subjects.ts';
import type { Store } from '../store/port.ts';
import type { HandlerResult, JobHandler } from '../sync/dispatcher.ts';
import type { Mappings } from '../sync/mappings.ts';
import { nativeConfig } from '../sync/native-sync.ts';

export const LOCAL = 'local';
export const erasureKind = (system: string) => `erasure.${system}`;

export interface ErasureDeps {
  store: Store;
  subjects: Subjects;
  pii: PiiCrypto;
  mappings: Mappings;
  connectors: ReadonlyMap<ConnectorName, Connector>;
  clock: () => Date;
  log: Log;
  /** days from receipt to the due date (Art. 12(3): one month) */
  dueDays: number;
  onJobs?: () => void;
}

export interface ErasureView extends ErasureRow {
  overdue: boolean;
  tasks: ErasureTask[];
}

export type RequestInput =
  | { e164: string; source: ErasureSource }
  /** a number or a BSUID (an erasure request may name either) */
  | { identifier: Identifier; source: ErasureSource }
  | { subjectId: string; source: ErasureSource };

/** The receipt: request id, keyed hash of the person, systems, outcomes, timestamps. */
export interface Receipt {
  requestId: string;
  subject: string;
  source: ErasureSource;
  receivedAt: string;
  dueAt: string;
  completedAt: string;
  withinDeadline: boolean;
  systems: Array<{
    system: string;
    status: string;
    records: number;
    attempts: number;
    finishedAt: string | null;
  }>;
}

export class ErasureService {
  private readonly d: ErasureDeps;
  private readonly locks = new KeyedMutex();

  constructor(deps: ErasureDeps) {
    this.d = deps;
  }

  private systems(): ConnectorName[] {
    return [...this.d.connectors.keys()].filter((c) => this.d.mappings.has(c));
  }

  /**
   * Opens an erasure, or returns the one already open for the person (a second request, a
   * redelivered webhook). `created` says which.
   */
  async request(input: RequestInput): Promise<{ erasure: ErasureView; created: boolean }> {
    const { store, subjects, clock } = this.d;
    let row: SubjectRow | null;
    let hash: string;
    /** what finds the person's open erasure: the named value under every key, or the stored hash */
    let hashes: string[];
    let named: Identifier | null = null;
    if ('e164' in input || 'identifier' in input) {
      named = 'e164' in input ? { kind: 'phone', value: input.e164 } : input.identifier;
      hashes = await subjects.hashesOf(named.value);
      hash = hashes[0] as string; // stored: the current key's
      row = await store.findSubjectByHash(hashes);
    } else {
      row = await store.getSubject(input.subjectId);
      if (!row) throw new Error('unknown subject');
      hash = row.phoneHash;
      hashes = [hash];
    }
    return this.locks.run(hash, async () => {
      const open = await store.findOpenErasure(hashes);
      if (open) return { erasure: await this.view(open), created: false };
      const now = clock();
      const at = now.toISOString();
      const id = newId();
      const systems = this.systems();
      // A person we never saw may still be in a CRM: keep their number (encrypted, under a key of
      // their own) until the CRM tasks have looked for it; the local task shreds it with the rest.
      let newSubject: SubjectRow | undefined;
      let rekey: { id: string; rekey: { phoneEnc: string | null; dekWrapped: string } } | undefined;
      let identifiers: IdentifierRow[] = [];
      if (!row && named && systems.length > 0) {
        const created = await subjects.create(named, hash, null, at);
        newSubject = created.row;
        row = created.row;
        identifiers = await subjects.identifierRows(created, [{ ...named, hash }], at);
      } else if (row && !row.dekWrapped && named && systems.length > 0) {
        // Shredded by retention earlier: the CRMs may still hold the person, so they need the number.
        const again = await subjects.rekey(row, named);
        rekey = {
          id: row.id,
          rekey: { phoneEnc: again.row.phoneEnc, dekWrapped: again.row.dekWrapped as string },
        };
        identifiers = await subjects.identifierRows(again, [{ ...named, hash }], at);
      }
      // Every identifier of the person (and of records merged into them) is tombstoned, so a
      // message under any of them re-creates nothing.
      const tombHashes = new Set([hash]);
      if (row) {
        const ids = [row.id, ...(await store.mergedInto(row.id)).map((m) => m.id)];
        for (const i of await store.identifiersOf(ids)) tombHashes.add(i.hash);
        tombHashes.add(row.phoneHash);
      }
      const erasure: ErasureRow = {
        id,
        subjectHash: hash,
        subjectId: row?.id ?? null,
        status: 'open',
        source: input.source,
        receivedAt: at,
        dueAt: new Date(now.getTime() + this.d.dueDays * 86_400_000).toISOString(),
        completedAt: null,
        receipt: null,
      };
      const task = (system: string): ErasureTask => ({
        erasureId: id,
        system,
        status: 'pending',
        attempts: 0,
        records: 0,
        lastError: null,
        updatedAt: at,
        finishedAt: null,
      });
      const jobs = (systems.length > 0 ? systems : [LOCAL]).map((s) => this.job(id, s, row?.id ?? null, at));
      const r = await store.commit({
        ...(newSubject ? { newSubject } : {}),
        ...(identifiers.length > 0 ? { identifiers } : {}),
        ...(rekey ? { subjectUpdates: [rekey] } : {}),
        erasures: [erasure],
        erasureTasks: [...systems.map(task), task(LOCAL)],
        tombstones: [...tombHashes].map((subjectHash) => ({ subjectHash, erasureId: id, createdAt: at })),
        ...(row ? { cancelJobsOf: [row.id] } : {}),
        jobs,
      });
      if (r.status === 'conflict' && r.reason === 'erasure_open') {
        const again = await store.findOpenErasure(hashes);
        if (again) return { erasure: await this.view(again), created: false };
      }
      if (r.status !== 'committed') throw new Error(`erasure not stored: ${r.status}`);
      this.d.log.info(
        { erasureId: id, source: input.source, systems: [...systems, LOCAL] },
        'erasure requested',
      );
      this.d.onJobs?.();
      return { erasure: await this.view(erasure), created: true };
    });
  }

  private job(erasureId: string, system: string, subjectId: string | null, at: string): NewOutboxJob {
    return {
      id: newId(),
      kind: erasureKind(system),
      subjectId,
      idempotencyKey: `${erasureKind(system)}:${erasureId}`,
      payload: { erasureId },
      nextAttemptAt: at,
    };
  }

  async get(id: string): Promise<ErasureView | null> {
    const e = await this.d.store.getErasure(id);
    return e ? this.view(e) : null;
  }

  async list(filter: {
    status?: 'open' | 'completed';
    overdue?: boolean;
    limit: number;
  }): Promise<ErasureView[]> {
    const now = this.d.clock().toISOString();
    const rows = await this.d.store.listErasures({
      limit: filter.limit,
      ...(filter.overdue ? { overdueAt: now } : filter.status ? { status: filter.status } : {}),
    });
    return Promise.all(rows.map((r) => this.view(r)));
  }

  async view(e: ErasureRow): Promise<ErasureView> {
    const now = this.d.clock().toISOString();
    const overdue = e.status === 'open' ? e.dueAt < now : (e.completedAt ?? '') > e.dueAt;
    return { ...e, overdue, tasks: await this.d.store.erasureTasks(e.id) };
  }

  /** The CRM that a webhook says deleted or forgot a record: is it our own erasure coming back? */
  async isOwnErasure(connector: ConnectorName, ref: RecordRef): Promise<boolean> {
    return (await this.d.store.findErasedRecord(connector, ref.objectType, ref.id)) !== null;
  }

  /** Open erasures past their due date, logged (counts and ids only) by the periodic sweep. */
  async flagOverdue(): Promise<number> {
    const overdue = await this.d.store.listErasures({ overdueAt: this.d.clock().toISOString(), limit: 1000 });
    if (overdue.length > 0)
      this.d.log.warn(
        { overdue: overdue.length, ids: overdue.slice(0, 20).map((e) => e.id) },
        'erasures overdue',
      );
    return overdue.length;
  }

  handlers(): Record<string, JobHandler> {
    const out: Record<string, JobHandler> = { [erasureKind(LOCAL)]: (job) => this.runLocal(job) };
    for (const c of this.systems()) out[erasureKind(c)] = (job) => this.runCrm(c, job);
    return out;
  }

  private async task(erasureId: string, system: string): Promise<ErasureTask | null> {
    return (await this.d.store.erasureTasks(erasureId)).find((t) => t.system === system) ?? null;
  }

  /** Finds every record of the person in one CRM (linked ones and by number) and erases them. */
  private async runCrm(name: ConnectorName, job: OutboxJob): Promise<HandlerResult> {
    const { store, subjects, mappings, clock } = this.d;
    const erasureId = String(job.payload.erasureId);
    const erasure = await store.getErasure(erasureId);
    const task = await this.task(erasureId, name);
    if (!erasure || !task) return { ok: false, cancel: true, error: 'no such erasure' };
    if (task.status !== 'pending') return { ok: true };
    const connector = this.d.connectors.get(name);
    if (!connector || !mappings.has(name)) return { ok: false, cancel: true, error: 'connector not enabled' };
    const now = clock().toISOString();
    const attempts = task.attempts + 1;
    try {
      const refs = new Map<string, RecordRef>();
      const row = erasure.subjectId ? await store.getSubject(erasure.subjectId) : null;
      if (row) {
        for (const l of await store.linksOf(row.id))
          if (l.connector === name)
            refs.set(`${l.objectType}/${l.remoteId}`, { objectType: l.objectType, id: l.remoteId });
        // Every number the person (or a record merged into them) was known by, current or former.
        // Every number and BSUID the person (or a record merged into them) was known by.
        const values = new Set<string>();
        const bsuids = new Set<string>();
        for (const other of [row, ...(await store.mergedInto(row.id))]) {
          const subject = await subjects.fromRow(other);
          if (!subject) continue;
          for (const i of await subjects.identifiers(subject)) {
            if (i.kind === 'phone') values.add(matchValue(mappings.get(name), i.value));
            if (i.kind === 'bsuid') bsuids.add(i.value);
          }
        }
        const spec = mappings.spec(name);
        const found = [
          ...(values.size > 0 ? await connector.find([...values], spec) : []),
          ...(bsuids.size > 0 && spec.bsuidField ? await connector.find([...bsuids], spec, 'bsuid') : []),
        ];
        for (const r of found) refs.set(`${r.objectType}/${r.id}`, { objectType: r.objectType, id: r.id });
      }
      const list = [...refs.values()];
      // Recorded before the call: the deletion webhooks it causes may arrive before it returns.
      const marks: ErasedRecord[] = list.map((ref) => ({
        connector: name,
        objectType: ref.objectType,
        remoteId: ref.id,
        erasureId,
        erasedAt: now,
      }));
      if (marks.length > 0) await store.commit({ erasedRecords: marks });
      // Salesforce's own consent objects first (issue 15): they are found through the records.
      const native = connector.native ? nativeConfig(mappings.get(name)) : null;
      const errors: ConnectorError[] =
        native && connector.native && list.length > 0 ? await connector.native.erase(list, native) : [];
      const outcomes = list.length > 0 && errors.length === 0 ? await connector.erase(list) : [];
      const erased: ErasedRecord[] = [];
      outcomes.forEach((o, i) => {
        if (o.status === 'done') erased.push(marks[i] as ErasedRecord);
        else if (o.status === 'failed') errors.push(o.error);
      });
      const retryable = errors.find((e) => e.retryable);
      const fatal = errors.find((e) => !e.retryable);
      const status: ErasureTask['status'] =
        errors.length === 0 ? (erased.length > 0 ? 'done' : 'not_found') : fatal ? 'failed' : 'pending';
      const lastError =
        (retryable ?? fatal) ? `${(retryable ?? fatal)?.code}: ${(retryable ?? fatal)?.message}` : null;
      await store.commit({
        erasureTasks: [
          {
            ...task,
            status,
            attempts,
            records: task.records + erased.length,
            lastError,
            updatedAt: now,
            finishedAt: status === 'pending' ? null : now,
          },
        ],
      });
      if (status === 'pending' && retryable) {
        return {
          ok: false,
          retryable: true,
          error: lastError ?? 'retry',
          retryAfterMs: retryable.retryAfterMs,
        };
      }
      await this.advance(erasureId);
      return status === 'failed'
        ? { ok: false, retryable: false, error: lastError ?? 'failed' }
        : { ok: true };
    } catch (err) {
      if (!(err instanceof ConnectorFailure)) throw err;
      const e = err.error;
      const failed = !e.retryable;
      await store.commit({
        erasureTasks: [
          {
            ...task,
            status: failed ? 'failed' : 'pending',
            attempts,
            lastError: `${e.code}: ${e.message}`,
            updatedAt: now,
            finishedAt: failed ? now : null,
          },
        ],
      });
      if (failed) await this.advance(erasureId);
      return {
        ok: false,
        retryable: e.retryable,
        error: `${e.code}: ${e.message}`,
        retryAfterMs: e.retryAfterMs,
      };
    }
  }

  /** When every CRM task has ended, queue the local task; when that has ended, write the receipt. */
  private async advance(erasureId: string): Promise<void> {
    const tasks = await this.d.store.erasureTasks(erasureId);
    const crm = tasks.filter((t) => t.system !== LOCAL);
    if (crm.some((t) => t.status === 'pending')) return;
    const local = tasks.find((t) => t.system === LOCAL);
    const erasure = await this.d.store.getErasure(erasureId);
    if (!erasure || !local) return;
    if (local.status === 'pending') {
      await this.d.store.commit({
        jobs: [this.job(erasureId, LOCAL, erasure.subjectId, this.d.clock().toISOString())],
      });
      this.d.onJobs?.();
    }
  }

  /**
   * Removes what the shred left in the store's files (SQLite: the old page images in the WAL still
   * hold the wrapped key and the number's ciphertext). Never fails the erasure, which is done: what
   * could not be removed now goes with the next retention purge's scrub (hourly).
   */
  private async scrub(erasureId: string): Promise<void> {
    const ok = await this.d.store.scrub?.().catch(() => false);
    if (ok === false) this.d.log.warn({ erasureId }, 'erasure: the database WAL could not be emptied yet');
  }

  /** Crypto-shreds the person and records the erasure in the ledger; then the receipt. */
  private async runLocal(job: OutboxJob): Promise<HandlerResult> {
    const { store, pii, clock } = this.d;
    const erasureId = String(job.payload.erasureId);
    const erasure = await store.getErasure(erasureId);
    const local = await this.task(erasureId, LOCAL);
    if (!erasure || !local) return { ok: false, cancel: true, error: 'no such erasure' };
    if (local.status !== 'pending') return { ok: true };
    const now = clock().toISOString();
    const row = erasure.subjectId ? await store.getSubject(erasure.subjectId) : null;
    // Records merged into the person hold their older evidence under their own keys: shred them too.
    const merged = row ? await store.mergedInto(row.id) : [];
    const shred = [
      ...(row?.dekWrapped ? [row.id] : []),
      ...merged.filter((m) => m.dekWrapped).map((m) => m.id),
    ];
    const tasks = (await store.erasureTasks(erasureId)).map((t) =>
      t.system === LOCAL
        ? {
            ...t,
            status: (row?.dekWrapped ? 'done' : 'not_found') as ErasureTask['status'],
            attempts: t.attempts + 1,
            records: row?.dekWrapped ? 1 : 0,
            updatedAt: now,
            finishedAt: now,
          }
        : t,
    );
    const receipt: Receipt = {
      requestId: erasure.id,
      subject: erasure.subjectHash,
      source: erasure.source,
      receivedAt: erasure.receivedAt,
      dueAt: erasure.dueAt,
      completedAt: now,
      withinDeadline: now <= erasure.dueAt,
      systems: tasks.map((t) => ({
        system: t.system,
        status: t.status,
        records: t.records,
        attempts: t.attempts,
        finishedAt: t.finishedAt,
      })),
    };
    await store.commit({
      shred,
      // The erasure itself is on the ledger: the person's earlier events stay chained but unreadable.
      events: row
        ? [
            {
              id: newId(),
              subjectId: row.id,
              purpose: '*',
              action: 'erased',
              source: 'system',
              occurredAt: now,
              recordedAt: now,
              textVersion: null,
              textSha256: null,
              evidenceEnc: null,
            },
          ]
        : [],
      erasureTasks: tasks.filter((t) => t.system === LOCAL),
      erasures: [
        {
          ...erasure,
          status: 'completed',
          completedAt: now,
          receipt: receipt as unknown as Record<string, unknown>,
        },
      ],
    });
    for (const id of shred) pii.forget(id);
    if (shred.length > 0) await this.scrub(erasureId);
    this.d.log.info(
      {
        erasureId,
        withinDeadline: receipt.withinDeadline,
        systems: receipt.systems.map((s) => `${s.system}:${s.status}`),
      },
      'erasure completed',
    );
    return { ok: true };
  }
}
