import type { ConsentStatus, LedgerAction, Purpose, PurposeState, Source } from './types.ts';

/** What someone asked for, for one purpose. */
export type Intent = 'request' | 'confirm' | 'grant' | 'opt_out' | 'expire' | 'evidence';

export interface IntentInput {
  intent: Intent;
  purpose: Purpose;
  subjectId: string;
  source: Source;
  /** when it happened at the source, capped at receipt time (`capOccurredAt`, sync rule 4) */
  occurredAt: string;
  /**
   * The change comes from the person themselves (sync rule 4a): their STOP keyword or opt-out button,
   * Meta's marketing stop or error 131050, an operator acting on their request (`isPersonsOwn`).
   */
  byPerson: boolean;
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

/** The times a purpose's status is decided from (see `statusOf`). */
export type Registers = Pick<
  PurposeState,
  'withdrawnAt' | 'crmOptedOutAt' | 'crmGrantedAt' | 'requestedAt' | 'pendingExpiresAt' | 'doubleOptInAt'
>;
const KEYS = [
  'withdrawnAt',
  'crmOptedOutAt',
  'crmGrantedAt',
  'requestedAt',
  'pendingExpiresAt',
  'doubleOptInAt',
] as const satisfies ReadonlyArray<keyof Registers>;

const PERSONS_OWN: ReadonlySet<Source> = new Set<Source>([
  'whatsapp',
  'meta_preferences',
  'meta_status',
  'api',
]);

/**
 * Whether an opt-out from this source is the person's own withdrawal (sync rule 4a): WhatsApp
 * keywords and buttons, Meta's `user_preferences` stop, error 131050, and the API (an operator acting
 * on the person's request). A CRM's opt-out is not: it keeps rule 4.
 *
 * @example
 * isPersonsOwn('whatsapp'); // true
 * isPersonsOwn('hubspot'); // false
 */
export const isPersonsOwn = (source: Source): boolean => PERSONS_OWN.has(source);

/** An opt-out recorded before these times were kept, by someone unknown: earlier than anything now. */
const LONG_AGO = '1970-01-01T00:00:00.000Z';

const ms = (iso: string) => Date.parse(iso);
// WhatsApp timestamps have whole seconds: times compare at that precision, so a STOP sent in the same
// second as a form submission is a tie, and a tie goes to the less permissive side (rule 4).
const sec = (iso: string) => Math.floor(Date.parse(iso) / 1000);
const after = (a: string, b: string | null) => b === null || sec(a) > sec(b);
const latest = (a: string | null, b: string | null) =>
  a === null ? b : b === null || ms(a) >= ms(b) ? a : b;

const optedOutAt = (t: Registers) => latest(t.withdrawnAt, t.crmOptedOutAt);
/** The latest request was confirmed in its window (in or after its second, before it ran out). */
const confirmed = (t: Registers) =>
  t.requestedAt !== null &&
  t.doubleOptInAt !== null &&
  sec(t.doubleOptInAt) >= sec(t.requestedAt) &&
  (t.pendingExpiresAt === null || ms(t.doubleOptInAt) <= ms(t.pendingExpiresAt));
/** The latest request waits for the person: not confirmed, and no opt-out in or after its second. */
const open = (t: Registers) => t.requestedAt !== null && !confirmed(t) && after(t.requestedAt, optedOutAt(t));
/** A double opt-in requested after every opt-out, the person's own included (rule 4a), and confirmed. */
const doubleOptedIn = (t: Registers) => confirmed(t) && after(t.requestedAt as string, optedOutAt(t));
/** A trusted CRM's opt-in later than every CRM opt-out (rule 4), never over a person's withdrawal (4a). */
const granted = (t: Registers) =>
  t.withdrawnAt === null && t.crmGrantedAt !== null && after(t.crmGrantedAt, t.crmOptedOutAt);

/**
 * The status the times give. Each change only moves its own time forward, so the same changes give
 * the same status whatever order they arrive in (Meta and the CRMs do not keep order):
 * - opted in by a double opt-in requested after every opt-out and confirmed in time, or by a trusted
 *   CRM's opt-in later than every CRM opt-out when the person never withdrew themselves (rule 4a);
 * - else pending while the latest request, made after every opt-out, waits for the person;
 * - else opted out if anyone ever opted out, else none.
 *
 * @example
 * statusOf({ ...times, withdrawnAt: '2026-01-01T10:00:00Z', crmGrantedAt: '2099-01-01T00:00:00Z' }); // 'opted_out'
 */
export function statusOf(t: Registers): ConsentStatus {
  if (granted(t) || doubleOptedIn(t)) return 'opted_in';
  if (open(t)) return 'pending';
  return optedOutAt(t) === null ? 'none' : 'opted_out';
}

/**
 * The times of a state. A row stored before they were kept (all four null) is read from its status
 * and source: an opt-out is the person's own when its source is (and an opt-out of unknown origin
 * before a pending request counts as theirs, the safe side); an opt-in from WhatsApp is a confirmed
 * double opt-in, any other a CRM's.
 */
export function registersOf(s: PurposeState | undefined): Registers {
  const t: Registers = {
    withdrawnAt: s?.withdrawnAt ?? null,
    crmOptedOutAt: s?.crmOptedOutAt ?? null,
    crmGrantedAt: s?.crmGrantedAt ?? null,
    requestedAt: s?.requestedAt ?? null,
    pendingExpiresAt: s?.pendingExpiresAt ?? null,
    doubleOptInAt: s?.doubleOptInAt ?? null,
  };
  const stored = t.withdrawnAt ?? t.crmOptedOutAt ?? t.crmGrantedAt ?? t.requestedAt;
  if (!s || stored !== null) return t;
  switch (s.status) {
    case 'opted_out':
      return isPersonsOwn(s.source)
        ? { ...t, withdrawnAt: s.occurredAt }
        : { ...t, crmOptedOutAt: s.occurredAt };
    case 'opted_in':
      if (s.source !== 'whatsapp') return { ...t, crmGrantedAt: s.occurredAt };
      return {
        ...t,
        requestedAt: s.doubleOptInAt ?? s.occurredAt,
        doubleOptInAt: s.doubleOptInAt ?? s.occurredAt,
      };
    case 'pending':
      return {
        ...t,
        requestedAt: s.occurredAt,
        withdrawnAt: s.statusBeforePending === 'opted_out' ? LONG_AGO : null,
      };
    default:
      return t;
  }
}

const NOTHING: Decision = { action: null, next: null, reason: null };
const evidence = (reason: string): Decision => ({ action: 'evidence', next: null, reason });
const ACTION: Record<Intent, LedgerAction> = {
  request: 'requested',
  confirm: 'confirmed',
  grant: 'granted',
  opt_out: 'opted_out',
  expire: 'expired',
  evidence: 'evidence',
};

/** Moves one time forward for the intent; returns the reason to give if the status does not change. */
function advance(t: Registers, was: ConsentStatus, input: IntentInput): string | Decision {
  const at = input.occurredAt;
  switch (input.intent) {
    case 'opt_out':
      if (input.byPerson) t.withdrawnAt = latest(t.withdrawnAt, at);
      else t.crmOptedOutAt = latest(t.crmOptedOutAt, at);
      return was === 'opted_out' ? 'already_opted_out' : 'superseded';
    case 'grant':
      t.crmGrantedAt = latest(t.crmGrantedAt, at);
      if (was === 'opted_in') return 'already_opted_in';
      return t.withdrawnAt === null ? 'superseded' : 'withdrawn_by_person';
    case 'request': {
      if (doubleOptedIn(t)) return evidence('already_opted_in');
      // One confirmation message per request: a request while one waits (and has not run out) is
      // evidence; the message already sent stays answerable for the TTL from the latest request.
      if (open(t) && ms(at) <= ms(t.pendingExpiresAt ?? at)) {
        const reason = was === 'opted_in' ? 'already_opted_in' : 'already_pending';
        const until = ms(at) + (input.ttlMs ?? 0);
        if (t.pendingExpiresAt === null || until <= ms(t.pendingExpiresAt)) return evidence(reason);
        t.pendingExpiresAt = new Date(until).toISOString();
        return reason;
      }
      if (!after(at, optedOutAt(t))) return evidence(was === 'opted_in' ? 'already_opted_in' : 'superseded');
      t.requestedAt = at;
      t.pendingExpiresAt = new Date(ms(at) + (input.ttlMs ?? 0)).toISOString();
      return 'already_opted_in';
    }
    case 'confirm': {
      const r = t.requestedAt;
      if (open(t) && r !== null && sec(at) >= sec(r) && ms(at) <= ms(t.pendingExpiresAt ?? at)) {
        t.doubleOptInAt = at;
        return 'already_opted_in';
      }
      if (was === 'opted_in') return NOTHING;
      return evidence(
        open(t) && ms(at) > ms(t.pendingExpiresAt ?? at)
          ? 'expired_before_confirmation'
          : 'no_pending_request',
      );
    }
    case 'expire':
      if (was !== 'pending' || t.pendingExpiresAt === null || ms(at) < ms(t.pendingExpiresAt)) return NOTHING;
      t.requestedAt = null;
      t.pendingExpiresAt = null;
      return 'expired';
    case 'evidence':
      return evidence('recorded');
  }
}

/**
 * Decides what one intent does to one purpose's state. Pure: same input, same answer. The intent
 * moves one of the state's times forward and the status follows from the times (`statusOf`):
 * - sync rule 4, later wins: a CRM's opt-out applies unless the opt-in in force is later; a tie goes
 *   to the less permissive state;
 * - rule 4a, the person's own withdrawal is final: it applies whatever the time of the state before
 *   it, except against a double opt-in requested after it (`superseded`); no CRM opt-in lifts it
 *   (`withdrawn_by_person`), only a double opt-in requested after it and confirmed by the person;
 * - one confirmation per request: a request while another waits is evidence (`already_pending`).
 *
 * @example
 * decide(undefined, { intent: 'request', purpose: 'marketing', subjectId, source: 'form', occurredAt, ttlMs, byPerson: false })
 * // → { action: 'requested', next: { status: 'pending', pendingExpiresAt: … } }
 */
export function decide(prev: PurposeState | undefined, input: IntentInput): Decision {
  if (input.intent === 'confirm' && !prev) return NOTHING;
  const was = prev?.status ?? 'none';
  const t = registersOf(prev);
  const { requestedAt: before, pendingExpiresAt: expiry } = t;
  const outcome = advance(t, was, input);
  if (typeof outcome !== 'string') return outcome;
  const status = statusOf(t);
  const started = input.intent === 'request' && t.requestedAt !== before && status === 'pending';
  // A confirmation is recorded as one even when a trusted CRM's opt-in already holds (proof, Art. 7(1)).
  const confirmsNow = input.intent === 'confirm' && t.doubleOptInAt !== (prev?.doubleOptInAt ?? null);
  const changed = status !== was || started || confirmsNow;
  if (!changed && prev && KEYS.every((k) => prev[k] === t[k])) return evidence(outcome);

  const at = input.occurredAt;
  const next: PurposeState = {
    subjectId: input.subjectId,
    purpose: input.purpose,
    status,
    changedAt: changed || !prev ? at : prev.changedAt,
    source: changed || !prev ? input.source : prev.source,
    statusBeforePending: status === 'pending' ? statusOf({ ...t, requestedAt: null }) : null,
    pendingExpiresAt: t.pendingExpiresAt,
    doubleOptInAt: t.doubleOptInAt,
    // Evidence changes only the times: what CRMs are sent (status, dates, source, text) stays.
    textVersion:
      input.intent === 'confirm' || (!changed && prev)
        ? (prev?.textVersion ?? null)
        : (input.textVersion ?? prev?.textVersion ?? null),
    occurredAt: !changed && prev ? prev.occurredAt : input.intent === 'expire' ? (expiry ?? at) : at,
    withdrawnAt: t.withdrawnAt,
    crmOptedOutAt: t.crmOptedOutAt,
    crmGrantedAt: t.crmGrantedAt,
    requestedAt: t.requestedAt,
  };
  if (!changed) return { action: 'evidence', next, reason: outcome };
  const action = input.intent === 'request' && status === 'opted_in' ? 'confirmed' : ACTION[input.intent];
  return { action, next, reason: null };
}

/** Whether a person may receive a message for a purpose. */
export const mayMessage = (s: PurposeState | undefined): boolean => s?.status === 'opted_in';
