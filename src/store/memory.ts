/**
 * In-memory twin of the SQLite store for unit tests: same dedupe, conflict, chaining and job rules
 * (it passes the same contract suite). A unit is applied to copies of the tables and swapped in only
 * when it commits, which gives the same all-or-nothing behaviour as a savepoint.
 */
import type { OutboxJob, PurposeState } from '../core/types.ts';
import { DEFAULT_JOB_LIMIT, zeroCounts } from './defaults.ts';
import { apply, cmp, copyTables, emptyTables, linkKey } from './memory-unit.ts';
import { hashList, noneDeleted, type Store } from './port.ts';
import { auditMatches, byKeys, type LedgerDay, type QueueStat, type StateCount } from './stats-sql.ts';

export interface MemoryStoreOptions {
  /** Stamps dedupe rows and job creation; injectable for tests. */
  clock?: () => Date;
}

/**
 * A fresh, empty store. `migrate()` is a no-op (there is no schema).
 *
 * @example
 * const store = createMemoryStore({ clock: () => new Date('2026-01-01T00:00:00Z') });
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): Store {
  const clock = options.clock ?? (() => new Date());
  let t = emptyTables();
  let closed = false;
  // Callers get copies, so mutating a returned row never changes the store.
  const out = <T>(v: T): T => structuredClone(v);

  return {
    async migrate() {},
    async close() {
      closed = true;
    },

    async commit(unit) {
      if (closed) throw new Error('store is closed');
      const next = copyTables(t);
      const result = apply(next, unit, clock().toISOString());
      if (result.status === 'committed') t = next;
      return result;
    },

    async findSubjectByHash(hashes) {
      for (const h of hashList(hashes)) {
        const id = t.identifiers.get(h)?.subjectId;
        const row = id === undefined ? undefined : t.subjects.get(id);
        if (row) return out(row);
      }
      return null;
    },
    async identifiersByHash(hashes) {
      return [...new Set(hashes)]
        .flatMap((h) => {
          const i = t.identifiers.get(h);
          return i ? [out(i)] : [];
        })
        .sort((a, b) => cmp(a.createdAt, b.createdAt) || cmp(a.hash, b.hash));
    },
    async identifiersOf(ids) {
      const wanted = new Set(ids);
      return [...t.identifiers.values()]
        .filter((i) => wanted.has(i.subjectId))
        .sort((a, b) => cmp(a.createdAt, b.createdAt) || cmp(a.hash, b.hash))
        .map(out);
    },
    async mergedInto(subjectId) {
      return [...t.subjects.values()]
        .filter((r) => r.mergedInto === subjectId)
        .sort((a, b) => cmp(a.createdAt, b.createdAt) || cmp(a.id, b.id))
        .map(out);
    },
    async listDeadEvents(limit) {
      return [...t.deadEvents.values()]
        .sort((a, b) => cmp(b.receivedAt, a.receivedAt) || cmp(b.id, a.id))
        .slice(0, limit)
        .map(out);
    },
    async countDeadEvents() {
      return t.deadEvents.size;
    },
    async readInbox(limit) {
      return [...t.inbox.values()].slice(0, Math.max(0, limit)).map(out);
    },
    async inboxDepth() {
      return t.inbox.size;
    },
    async inboxOptOuts(hashes) {
      const wanted = new Set(hashes);
      return [...t.inbox.values()]
        .filter((r) => r.optOut !== null && r.hashes.some((h) => wanted.has(h)))
        .map((r) => r.optOut as string);
    },
    async getSubject(id) {
      const row = t.subjects.get(id);
      return row ? out(row) : null;
    },
    async getStates(subjectId) {
      return [...t.states.values()]
        .filter((s) => s.subjectId === subjectId)
        .sort((a, b) => cmp(a.purpose, b.purpose))
        .map(out);
    },
    async findExpiredPending(now, limit) {
      return [...t.states.values()]
        .filter((s) => s.status === 'pending' && s.pendingExpiresAt !== null && s.pendingExpiresAt <= now)
        .sort(
          (a, b) =>
            cmp(a.pendingExpiresAt ?? '', b.pendingExpiresAt ?? '') ||
            cmp(a.subjectId, b.subjectId) ||
            cmp(a.purpose, b.purpose),
        )
        .slice(0, Math.max(0, limit))
        .map(out);
    },
    async listEvents(subjectId) {
      return t.ledger.filter((r) => r.subjectId === subjectId).map(out);
    },
    async readLedger(afterSeq, limit) {
      return t.ledger
        .filter((r) => r.seq > afterSeq)
        .slice(0, Math.max(0, limit))
        .map(out);
    },
    async ledgerHead() {
      return t.head ? { ...t.head } : null;
    },
    async getTexts(versions) {
      const wanted = new Set(versions);
      return [...t.texts.values()]
        .filter((x) => wanted.has(x.version))
        .sort((a, b) => cmp(a.version, b.version))
        .map(out);
    },
    async allTexts() {
      return [...t.texts.values()].sort((a, b) => cmp(a.version, b.version)).map(out);
    },
    async findSentMessage(ids) {
      const m = hashList(ids)
        .map((id) => t.sent.get(id))
        .find((x) => x !== undefined);
      return m ? out(m) : null;
    },
    async listSubjects(afterId, limit) {
      return [...t.subjects.values()]
        .filter((s) => s.id > afterId)
        .sort((a, b) => cmp(a.id, b.id))
        .slice(0, Math.max(0, limit))
        .map(out);
    },
    async findOpenErasure(hashes) {
      const wanted = new Set(hashList(hashes));
      const e = [...t.erasures.values()]
        .filter((x) => wanted.has(x.subjectHash) && x.status === 'open')
        .sort((a, b) => cmp(a.receivedAt, b.receivedAt) || cmp(a.id, b.id))[0];
      return e ? out(e) : null;
    },
    async getErasure(id) {
      const e = t.erasures.get(id);
      return e ? out(e) : null;
    },
    async listErasures(f) {
      const all = [...t.erasures.values()];
      if (f.overdueAt !== undefined) {
        const due = f.overdueAt;
        return all
          .filter((e) => e.status === 'open' && e.dueAt < due)
          .sort((a, b) => cmp(a.dueAt, b.dueAt))
          .slice(0, f.limit)
          .map(out);
      }
      return all
        .filter((e) => f.status === undefined || e.status === f.status)
        .sort((a, b) => cmp(b.receivedAt, a.receivedAt) || cmp(b.id, a.id))
        .slice(0, f.limit)
        .map(out);
    },
    async erasureTasks(id) {
      return [...t.tasks.values()]
        .filter((k) => k.erasureId === id)
        .sort((a, b) => cmp(a.system, b.system))
        .map(out);
    },
    async listLookupKeys() {
      return [...t.lookupKeys.values()]
        .sort((a, b) => cmp(a.createdAt, b.createdAt) || cmp(a.id, b.id))
        .map(out);
    },
    async getKeyRotation(keyId) {
      const r = t.rotations.get(keyId);
      return r ? out(r) : null;
    },
    async countSubjects(afterId) {
      return [...t.subjects.keys()].filter((id) => id > afterId).length;
    },
    async deadEventsAfter(afterId, limit) {
      return [...t.deadEvents.values()]
        .filter((d) => d.id > afterId)
        .sort((a, b) => cmp(a.id, b.id))
        .slice(0, Math.max(0, limit))
        .map(out);
    },
    async erasuresOf(hashes) {
      const wanted = new Set(hashList(hashes));
      return [...t.erasures.values()]
        .filter((e) => wanted.has(e.subjectHash))
        .sort((a, b) => cmp(a.receivedAt, b.receivedAt) || cmp(a.id, b.id))
        .map(out);
    },
    async tombstonesFor(hashes) {
      return hashes.flatMap((h) => {
        const b = t.tombstones.get(h);
        return b ? [out(b)] : [];
      });
    },
    async findErasedRecord(connector, objectType, remoteId) {
      const r = t.erased.get(linkKey(connector, objectType, remoteId));
      return r ? out(r) : null;
    },
    // Nothing to scrub: deleted rows are gone from the maps, and nothing was ever written to a file.
    async scrub() {
      return true;
    },
    async purge(c) {
      const before = (v: string, cutoff: string | null) => cutoff !== null && v < cutoff;
      const out = noneDeleted();
      for (const [id, j] of t.jobs) {
        if ((j.status === 'done' || j.status === 'cancelled') && before(j.updatedAt, c.finishedJobs)) {
          t.jobs.delete(id);
          out.finishedJobs++;
        } else if (j.status === 'dead' && before(j.updatedAt, c.deadLetters)) {
          t.jobs.delete(id);
          out.deadLetters++;
        }
      }
      for (const [k, at] of t.dedupe)
        if (before(at, c.inboundDedupe)) {
          t.dedupe.delete(k);
          out.inboundDedupe++;
        }
      for (const [k, m] of t.sent)
        if (before(m.sentAt, c.sentMessages)) {
          t.sent.delete(k);
          out.sentMessages++;
        }
      for (const [k, w] of t.syncWrites)
        if (before(w.writtenAt, c.syncWrites)) {
          t.syncWrites.delete(k);
          out.syncWrites++;
        }
      for (const [k, d] of t.deadEvents)
        if (before(d.receivedAt, c.deadEvents)) {
          t.deadEvents.delete(k);
          out.deadEvents++;
        }
      for (const [k, a] of t.audit)
        if (before(a.at, c.audit)) {
          t.audit.delete(k);
          out.audit++;
        }
      return out;
    },
    async findUnconfirmed(before, limit) {
      const by = new Map<string, PurposeState[]>();
      for (const s of t.states.values()) by.set(s.subjectId, [...(by.get(s.subjectId) ?? []), s]);
      return [...by]
        .filter(([id, states]) => {
          const row = t.subjects.get(id);
          return (
            row?.dekWrapped &&
            !row.mergedInto &&
            ![...t.identifiers.values()].some((i) => i.subjectId === id && t.tombstones.has(i.hash)) &&
            states.every((s) => s.status === 'none') &&
            states.every((s) => s.changedAt < before)
          );
        })
        .map(([id]) => id)
        .sort()
        .slice(0, limit);
    },
    async getSubjects(ids) {
      return ids.flatMap((id) => {
        const row = t.subjects.get(id);
        return row ? [out(row)] : [];
      });
    },
    async getStatesFor(ids) {
      const wanted = new Set(ids);
      return [...t.states.values()]
        .filter((s) => wanted.has(s.subjectId))
        .sort((a, b) => cmp(a.subjectId, b.subjectId) || cmp(a.purpose, b.purpose))
        .map(out);
    },
    async linksFor(ids) {
      const wanted = new Set(ids);
      return [...t.links.values()]
        .filter((l) => wanted.has(l.subjectId))
        .sort((a, b) =>
          cmp(linkKey(a.connector, a.objectType, a.remoteId), linkKey(b.connector, b.objectType, b.remoteId)),
        )
        .map(out);
    },
    async linksOf(subjectId) {
      return [...t.links.values()]
        .filter((l) => l.subjectId === subjectId)
        .sort((a, b) =>
          cmp(linkKey(a.connector, a.objectType, a.remoteId), linkKey(b.connector, b.objectType, b.remoteId)),
        )
        .map(out);
    },
    async findLink(connector, objectType, remoteId) {
      const l = t.links.get(linkKey(connector, objectType, remoteId));
      return l ? out(l) : null;
    },
    async syncWritesOf(connector, objectType, remoteId) {
      const prefix = `${linkKey(connector, objectType, remoteId)}\u0000`;
      return [...t.syncWrites]
        .filter(([k]) => k.startsWith(prefix))
        .map(([, w]) => out(w))
        .sort((a, b) => cmp(a.property, b.property));
    },
    async queueStats() {
      const stats = new Map<string, QueueStat>();
      for (const j of t.jobs.values()) {
        if (j.status !== 'pending' && j.status !== 'leased' && j.status !== 'dead') continue;
        const key = `${j.kind}\u0000${j.status}`;
        const s = stats.get(key) ?? {
          kind: j.kind,
          status: j.status,
          count: 0,
          oldestCreatedAt: j.createdAt,
        };
        s.count += 1;
        if (j.createdAt < s.oldestCreatedAt) s.oldestCreatedAt = j.createdAt;
        stats.set(key, s);
      }
      return [...stats.values()].sort(byKeys('kind', 'status'));
    },
    async ledgerDaily(since) {
      const days = new Map<string, LedgerDay>();
      for (const e of t.ledger) {
        if (e.occurredAt < since) continue;
        const day = e.occurredAt.slice(0, 10);
        const key = `${day}\u0000${e.source}\u0000${e.action}`;
        const d = days.get(key) ?? { day, source: e.source, action: e.action, count: 0 };
        d.count += 1;
        days.set(key, d);
      }
      return [...days.values()].sort(byKeys('day', 'source', 'action'));
    },
    async stateCounts() {
      const counts = new Map<string, StateCount>();
      for (const s of t.states.values()) {
        const key = `${s.purpose}\u0000${s.status}`;
        const c = counts.get(key) ?? { purpose: s.purpose, status: s.status, count: 0 };
        c.count += 1;
        counts.set(key, c);
      }
      return [...counts.values()].sort(byKeys('purpose', 'status'));
    },
    async findApiKey(digest) {
      const k = [...t.apiKeys.values()].find((x) => x.digest === digest);
      return k ? out(k) : null;
    },
    async getApiKey(id) {
      const k = t.apiKeys.get(id);
      return k ? out(k) : null;
    },
    async listApiKeys() {
      return [...t.apiKeys.values()]
        .sort((a, b) => cmp(a.createdAt, b.createdAt) || cmp(a.id, b.id))
        .map(out);
    },
    async listAudit(limit, filter) {
      return [...t.audit.values()]
        .filter((e) => auditMatches(e, filter))
        .sort((a, b) => cmp(b.at, a.at) || cmp(b.id, a.id))
        .slice(0, Math.max(0, limit))
        .map(out);
    },

    async leaseJobs(kinds, now, leaseUntil, limit) {
      const wanted = new Set(kinds);
      // as on SQLite: a person's job waits while another of the same kind for them is leased and live
      const busy = new Set(
        [...t.jobs.values()]
          .filter((j) => j.status === 'leased' && j.leaseUntil !== null && j.leaseUntil > now)
          .map((j) => `${j.kind}\u0000${j.subjectId}`),
      );
      const due = [...t.jobs.values()]
        .filter(
          (j) =>
            wanted.has(j.kind) &&
            ((j.status === 'pending' &&
              j.nextAttemptAt <= now &&
              (j.subjectId === null || !busy.has(`${j.kind}\u0000${j.subjectId}`))) ||
              (j.status === 'leased' && j.leaseUntil !== null && j.leaseUntil <= now)),
        )
        .sort((a, b) => cmp(a.nextAttemptAt, b.nextAttemptAt) || cmp(a.id, b.id))
        .slice(0, Math.max(0, limit));
      const leased = due.map((j): OutboxJob => ({ ...j, status: 'leased', leaseUntil, updatedAt: now }));
      for (const j of leased) t.jobs.set(j.id, j);
      return leased.map(out);
    },
    async finishJobs(items, now) {
      for (const { id, outcome } of items) await this.finishJob(id, outcome, now);
    },
    async finishJob(id, outcome, now) {
      const j = t.jobs.get(id);
      // Only a leased job can finish: a job cancelled or completed meanwhile keeps its final status.
      if (j?.status !== 'leased') return;
      t.jobs.set(id, {
        ...j,
        status: outcome.status === 'retry' ? 'pending' : outcome.status,
        attempts: j.attempts + 1,
        updatedAt: now,
        leaseUntil: null,
        nextAttemptAt: outcome.status === 'retry' ? outcome.nextAttemptAt : j.nextAttemptAt,
        lastError: outcome.status === 'done' ? j.lastError : outcome.error,
      });
    },
    async getJob(id) {
      const j = t.jobs.get(id);
      return j ? out(j) : null;
    },
    async listJobs(filter) {
      return [...t.jobs.values()]
        .filter(
          (j) =>
            (filter.status === undefined || j.status === filter.status) &&
            (filter.kind === undefined || j.kind === filter.kind) &&
            (filter.subjectId === undefined || j.subjectId === filter.subjectId) &&
            (filter.after === undefined || j.id > filter.after),
        )
        .sort((a, b) => cmp(a.id, b.id))
        .slice(0, Math.max(0, filter.limit ?? DEFAULT_JOB_LIMIT))
        .map(out);
    },
    async requeueJob(id, now) {
      const j = t.jobs.get(id);
      if (!j || (j.status !== 'dead' && j.status !== 'cancelled')) return false;
      t.jobs.set(id, { ...j, status: 'pending', nextAttemptAt: now, leaseUntil: null, updatedAt: now });
      return true;
    },
    async countJobs() {
      const counts = zeroCounts();
      for (const j of t.jobs.values()) counts[j.status] += 1;
      return counts;
    },
  };
}
