/**
 * Fictitious rows (and one assertion helper) for the store tests. Phone hashes are made-up hex strings (no number is ever
 * hashed here); ids are readable labels so failures are easy to read.
 */
import { expect } from 'vitest';
import type {
  LedgerRecord,
  NewLedgerEvent,
  NewOutboxJob,
  PurposeState,
  SubjectRow,
  TextRow,
} from '../src/core/types.ts';
import type { Store, WriteUnit } from '../src/store/port.ts';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');

/** An ISO timestamp `minutes` after a fixed epoch, so tests never depend on the wall clock. */
export function at(minutes: number): string {
  return new Date(T0 + minutes * 60_000).toISOString();
}

/** Subject `sub-<n>` with a fake 64-hex-digit phone hash. */
export function subject(n: number): SubjectRow {
  return {
    id: `sub-${n}`,
    phoneHash: n.toString(16).padStart(64, 'a'),
    phoneEnc: `enc-${n}`,
    dekWrapped: `dek-${n}`,
    locale: 'en',
    privacyNoticeAt: null,
    createdAt: at(0),
  };
}

export function event(id: string, subjectId: string, over: Partial<NewLedgerEvent> = {}): NewLedgerEvent {
  return {
    id,
    subjectId,
    purpose: 'marketing',
    action: 'requested',
    source: 'form',
    occurredAt: at(1),
    recordedAt: at(1),
    textVersion: 'v1',
    textSha256: 'e'.repeat(64),
    evidenceEnc: null,
    ...over,
  };
}

export function state(subjectId: string, purpose: string, over: Partial<PurposeState> = {}): PurposeState {
  return {
    subjectId,
    purpose,
    status: 'pending',
    changedAt: at(1),
    source: 'form',
    statusBeforePending: 'none',
    pendingExpiresAt: at(60),
    doubleOptInAt: null,
    textVersion: 'v1',
    occurredAt: at(1),
    withdrawnAt: null,
    crmOptedOutAt: null,
    crmGrantedAt: null,
    requestedAt: at(1),
    ...over,
  };
}

/** The state after a confirmed double opt-in at minute 3. */
export function optedIn(subjectId: string, purpose: string): PurposeState {
  return state(subjectId, purpose, {
    status: 'opted_in',
    pendingExpiresAt: null,
    statusBeforePending: null,
    doubleOptInAt: at(3),
    changedAt: at(3),
    occurredAt: at(3),
    withdrawnAt: at(0),
  });
}

/** A `whatsapp.send` job due at minute 0, keyed `key-<id>`. */
export function job(id: string, over: Partial<NewOutboxJob> = {}): NewOutboxJob {
  return {
    id,
    kind: 'whatsapp.send',
    subjectId: 'sub-1',
    idempotencyKey: `key-${id}`,
    payload: { template: 'confirm' },
    nextAttemptAt: at(0),
    ...over,
  };
}

export function text(version: string): TextRow {
  return {
    version,
    purpose: 'marketing',
    locale: 'en',
    text: `Example consent wording ${version}`,
    sha256: version.padEnd(64, '0').replace(/[^0-9a-f]/g, '0'),
    firstUsedAt: at(0),
  };
}

/** Commits and asserts the unit committed; returns its chained events. */
export async function ok(store: Store, unit: WriteUnit): Promise<LedgerRecord[]> {
  const r = await store.commit(unit);
  expect(r.status).toBe('committed');
  return r.status === 'committed' ? r.events : [];
}
