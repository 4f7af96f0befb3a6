import type { ConsentStatus, LedgerAction, Purpose, PurposeState, Source } from './types.ts';

/** What someone asked for, for one purpose. */
export type Intent = 'request' | 'confirm' | 'grant' | 'opt_out' | 'expire' | 'evidence';

export interface IntentInput {
  intent: Intent;
  purpose: Purpose;
  subjectId: string;
  source: Source;
  /** when it happened at the source (message timestamp, webhook occurredAt, request time) */
  occurredAt: string;
  /** how long a new pending request lasts */
  ttlMs?: number;
  textVersion?: string | null;
}

/** The core's verdict for one purpose: the ledger action to record and the next state (null = unchanged). */
export interface Decision {
  action: LedgerAction | null;
  next: PurposeState | null;
  /** why an intent became evidence only or nothing */
  reason: string | null;
}

/** Less permissive first: the order used to break ties (sync rule 4). */
const PERMISSIVENESS: Record<ConsentStatus, number> = { opted_out: 0, none: 1, pending: 2, opted_in: 3 };

const NOTHING: Decision = { action: null, next: null, reason: null };
const evidence = (reason: string): Decision => ({ action: 'evidence', next: null, reason });

function state(input: IntentInput, status: ConsentStatus, prev: PurposeState | undefined): PurposeState {
  return {
    subjectId: input.subjectId,
    purpose: input.purpose,
    status,
    changedAt: input.occurredAt,
    source: input.source,
    statusBeforePending: null,
    pendingExpiresAt: null,
    doubleOptInAt: prev?.doubleOptInAt ?? null,
    textVersion: input.textVersion ?? prev?.textVersion ?? null,
    occurredAt: input.occurredAt,
  };
}

/**
 * Sync rule 4 for status changes: a change that happened before the current state's change is
 * superseded; at the same instant, only a change to a less (or equally) permissive state applies.
 */
function superseded(prev: PurposeState | undefined, input: IntentInput, target: ConsentStatus): boolean {
  if (!prev) return false;
  // WhatsApp timestamps have whole seconds: compare at that precision so a STOP sent in the same
  // second as a form submission counts as a tie (and the less permissive state wins).
  const a = Math.floor(Date.parse(input.occurredAt) / 1000);
  const b = Math.floor(Date.parse(prev.occurredAt) / 1000);
  if (a < b) return true;
  return a === b && PERMISSIVENESS[target] > PERMISSIVENESS[prev.status];
}

/**
 * Decides what one intent does to one purpose's state. Pure: same input, same answer.
 *
 * @example
 * decide(undefined, { intent: 'request', purpose: 'marketing', subjectId, source: 'form', occurredAt, ttlMs })
 * // → { action: 'requested', next: { status: 'pending', pendingExpiresAt: … } }
 */
export function decide(prev: PurposeState | undefined, input: IntentInput): Decision {
  switch (input.intent) {
    case 'request': {
      if (prev?.status === 'opted_in') return evidence('already_opted_in');
      if (superseded(prev, input, 'pending')) return evidence('superseded');
      const next = state(input, 'pending', prev);
      next.statusBeforePending =
        prev?.status === 'pending' ? prev.statusBeforePending : (prev?.status ?? 'none');
      next.pendingExpiresAt = new Date(Date.parse(input.occurredAt) + (input.ttlMs ?? 0)).toISOString();
      return { action: 'requested', next, reason: null };
    }
    case 'confirm': {
      if (!prev || prev.status === 'opted_in') return NOTHING;
      if (prev.status !== 'pending') return evidence('no_pending_request');
      if (prev.pendingExpiresAt !== null && input.occurredAt > prev.pendingExpiresAt) {
        return evidence('expired_before_confirmation');
      }
      // No rule-4 check: a confirmation answers the pending request, which it cannot predate.
      const next = state({ ...input, textVersion: prev.textVersion }, 'opted_in', prev);
      next.doubleOptInAt = input.occurredAt;
      return { action: 'confirmed', next, reason: null };
    }
    case 'grant': {
      // A trusted CRM's opt-in: consent given elsewhere, taken over as it is (sync rule 3, trustOptIn).
      if (prev?.status === 'opted_in') return evidence('already_opted_in');
      if (superseded(prev, input, 'opted_in')) return evidence('superseded');
      return { action: 'granted', next: state(input, 'opted_in', prev), reason: null };
    }
    case 'opt_out': {
      if (prev?.status === 'opted_out') return evidence('already_opted_out');
      if (superseded(prev, input, 'opted_out')) return evidence('superseded');
      return { action: 'opted_out', next: state(input, 'opted_out', prev), reason: null };
    }
    case 'expire': {
      if (prev?.status !== 'pending' || prev.pendingExpiresAt === null) return NOTHING;
      if (input.occurredAt < prev.pendingExpiresAt) return NOTHING;
      const next = state(
        { ...input, occurredAt: prev.pendingExpiresAt },
        prev.statusBeforePending ?? 'none',
        prev,
      );
      next.changedAt = input.occurredAt;
      return { action: 'expired', next, reason: null };
    }
    case 'evidence':
      return evidence('recorded');
  }
}

/** Whether a person may receive a message for a purpose. */
export const mayMessage = (s: PurposeState | undefined): boolean => s?.status === 'opted_in';
