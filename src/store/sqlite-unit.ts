/**
 * Writes one WriteUnit with node:sqlite, inside a savepoint the caller opened. Returning a
 * non-`committed` result (or throwing) tells the caller to roll the savepoint back, so nothing here
 * needs to undo its own writes.
 */
import type { StatementSync } from 'node:sqlite';
import type { LedgerRecord } from '../core/types.ts';
import { chainEvents, type LedgerHead } from './chain.node.ts';
import type { CommitResult, WriteUnit } from './port.ts';
import { UNIT_SQL } from './sql.ts';

/** What `applyUnit` needs from the store: cached statements and the clock. */
export interface UnitContext {
  stmt(sql: string): StatementSync;
  now(): string;
}

const SQL = {
  ...UNIT_SQL,
  dedupe: 'INSERT INTO inbound_dedupe (key, received_at) VALUES (?, ?) ON CONFLICT(key) DO NOTHING',
  subjectByHash: 'SELECT 1 FROM subjects WHERE phone_hash = ?',
  textSha: 'SELECT sha256 FROM consent_texts WHERE version = ?',
} as const;

/** Result of one unit plus the ledger head after it (unchanged unless committed with events). */
export interface UnitOutcome {
  result: CommitResult;
  head: LedgerHead | null;
}

/**
 * Applies `unit` in the order the port documents: dedupe, new subject, subject updates, texts,
 * events, states, jobs, sent messages, audit. Checks that can fail come before the ledger so a
 * conflicting unit never hashes events it will throw away.
 *
 * @example
 * db.exec('SAVEPOINT u');
 * const { result, head: next } = applyUnit(ctx, unit, head);
 */
export function applyUnit(ctx: UnitContext, unit: WriteUnit, head: LedgerHead | null): UnitOutcome {
  const now = ctx.now();
  // A key repeated inside one unit is one key, not a duplicate of itself.
  for (const key of new Set(unit.dedupeKeys ?? [])) {
    if (ctx.stmt(SQL.dedupe).run(key, now).changes === 0) return { result: { status: 'duplicate' }, head };
  }

  const s = unit.newSubject;
  if (s) {
    if (ctx.stmt(SQL.subjectByHash).get(s.phoneHash)) {
      return {
        result: {
          status: 'conflict',
          reason: 'subject_exists',
          detail: 'a subject with this phone hash exists',
        },
        head,
      };
    }
    ctx
      .stmt(SQL.insertSubject)
      .run(
        s.id,
        s.phoneHash,
        s.phoneEnc ?? null,
        s.dekWrapped ?? null,
        s.locale ?? null,
        s.privacyNoticeAt ?? null,
        s.createdAt,
      );
  }

  for (const u of unit.subjectUpdates ?? []) {
    if (u.rekey) ctx.stmt(SQL.rekeySubject).run(u.rekey.phoneEnc, u.rekey.dekWrapped, u.id);
    const hasLocale = u.locale !== undefined;
    const hasNotice = u.privacyNoticeAt !== undefined;
    ctx
      .stmt(SQL.updateSubject)
      .run(hasLocale ? 1 : 0, u.locale ?? null, hasNotice ? 1 : 0, u.privacyNoticeAt ?? null, u.id);
  }

  for (const t of unit.texts ?? []) {
    const existing = ctx.stmt(SQL.textSha).get(t.version);
    if (!existing) {
      ctx.stmt(SQL.insertText).run(t.version, t.purpose, t.locale, t.text, t.sha256, t.firstUsedAt);
    } else if (existing.sha256 !== t.sha256) {
      return {
        result: {
          status: 'conflict',
          reason: 'text_version_changed',
          detail: `text version ${t.version} is already recorded with another sha256`,
        },
        head,
      };
    }
  }

  const records: LedgerRecord[] = chainEvents(head, unit.events ?? []);
  for (const r of records) {
    ctx
      .stmt(SQL.insertEvent)
      .run(
        r.seq,
        r.id,
        r.subjectId,
        r.purpose,
        r.action,
        r.source,
        r.occurredAt,
        r.recordedAt,
        r.textVersion ?? null,
        r.textSha256 ?? null,
        r.evidenceEnc ?? null,
        r.prevHash,
        r.hash,
      );
  }
  const last = records.at(-1);
  const nextHead = last ? { seq: last.seq, hash: last.hash } : head;
  if (last) ctx.stmt(SQL.upsertHead).run(last.seq, last.hash);

  for (const st of unit.states ?? []) {
    ctx
      .stmt(SQL.upsertState)
      .run(
        st.subjectId,
        st.purpose,
        st.status,
        st.changedAt,
        st.source,
        st.statusBeforePending ?? null,
        st.pendingExpiresAt ?? null,
        st.doubleOptInAt ?? null,
        st.textVersion ?? null,
        st.occurredAt,
      );
  }

  for (const j of unit.jobs ?? []) {
    ctx
      .stmt(SQL.insertJob)
      .run(
        j.id,
        j.kind,
        j.subjectId ?? null,
        j.idempotencyKey,
        JSON.stringify(j.payload),
        j.nextAttemptAt,
        now,
        j.coalesceKey ?? null,
      );
  }

  for (const m of unit.sentMessages ?? []) {
    ctx.stmt(SQL.insertSent).run(m.waMessageId, m.subjectId, m.purpose ?? null, m.kind, m.sentAt);
  }

  for (const l of unit.links ?? []) {
    ctx.stmt(SQL.upsertLink).run(l.connector, l.objectType, l.remoteId, l.subjectId, l.linkedAt);
  }
  for (const l of unit.unlinks ?? []) ctx.stmt(SQL.deleteLink).run(l.connector, l.objectType, l.remoteId);
  for (const w of unit.syncWrites ?? []) {
    ctx
      .stmt(SQL.upsertSyncWrite)
      .run(w.connector, w.objectType, w.remoteId, w.property, w.value, w.writtenAt);
  }

  for (const id of unit.cancelJobsOf ?? []) ctx.stmt(SQL.cancelJobsOf).run(now, id);
  for (const id of unit.shred ?? []) {
    ctx.stmt(SQL.cancelJobsOf).run(now, id);
    for (const q of [SQL.shredSubject, SQL.shredStates, SQL.shredLinks, SQL.shredSent]) ctx.stmt(q).run(id);
  }
  for (const e of unit.erasures ?? []) {
    try {
      ctx
        .stmt(SQL.upsertErasure)
        .run(
          e.id,
          e.subjectHash,
          e.subjectId,
          e.status,
          e.source,
          e.receivedAt,
          e.dueAt,
          e.completedAt,
          e.receipt ? JSON.stringify(e.receipt) : null,
        );
    } catch (err) {
      if (!/UNIQUE/.test((err as Error).message)) throw err;
      return {
        result: {
          status: 'conflict',
          reason: 'erasure_open',
          detail: 'an erasure is already open for this person',
        },
        head,
      };
    }
  }
  for (const t of unit.erasureTasks ?? []) {
    ctx
      .stmt(SQL.upsertTask)
      .run(t.erasureId, t.system, t.status, t.attempts, t.records, t.lastError, t.updatedAt, t.finishedAt);
  }
  for (const t of unit.tombstones ?? [])
    ctx.stmt(SQL.insertTombstone).run(t.subjectHash, t.erasureId, t.createdAt);
  for (const r of unit.erasedRecords ?? []) {
    ctx.stmt(SQL.insertErased).run(r.connector, r.objectType, r.remoteId, r.erasureId, r.erasedAt);
  }

  for (const a of unit.audit ?? []) {
    ctx
      .stmt(SQL.insertAudit)
      .run(a.id, a.at, a.actor, a.role, a.action, a.target ?? null, JSON.stringify(a.details));
  }

  return { result: { status: 'committed', events: records }, head: nextHead };
}
