import { decide, type Intent, isPersonsOwn } from '../core/consent.ts';
import { capOccurredAt } from '../core/occurred-at.ts';
import type {
  AuditEntry,
  CrmLink,
  Evidence,
  NewLedgerEvent,
  NewOutboxJob,
  Purpose,
  PurposeState,
  Source,
  TextRow,
} from '../core/types.ts';
import { newId } from '../crypto/encoding.ts';
import type { Store, WriteUnit } from '../store/port.ts';
import type { Catalog, ReplyMessage } from './catalog-service.ts';
import type { Log } from './log.ts';
import { KeyedMutex } from './mutex.ts';
import type { Subject, Subjects } from './subjects.ts';

export interface ChangeRequest {
  e164: string;
  intent: Intent;
  purposes: Purpose[] | 'all';
  source: Source;
  occurredAt: string;
  evidence: Evidence;
  /** inbound ids already handled make the whole change a no-op */
  dedupeKeys?: string[];
  /** the person's language, when known from a form or a keyword */
  locale?: string | null;
  /** a specific consent text version (for requests); else the current one for the locale */
  textVersion?: string | null;
  /** create the person when unknown (a STOP from a new number is still recorded) */
  create: boolean;
  /** WhatsApp reply to queue; default: DOI request for requests, confirmations for WhatsApp sources */
  reply?: ReplyMessage | null;
  audit?: Omit<AuditEntry, 'id' | 'at' | 'target'>;
  /** CRM records to link to the person in the same commit (a change that came from them) */
  links?: Array<Omit<CrmLink, 'subjectId'>>;
}

export interface PurposeOutcome {
  action: string | null;
  reason: string | null;
  state: PurposeState | null;
}

export type ChangeResult =
  | { status: 'duplicate' }
  | { status: 'unknown_subject' }
  /** the person was erased (or an erasure is open): nothing is recorded, nothing is sent */
  | { status: 'erased' }
  | { status: 'applied'; subjectId: string; outcomes: Record<Purpose, PurposeOutcome>; jobIds: string[] };

/** An attempt lost a race with another process and must read and decide again. */
const RETRY = Symbol('retry');
const MAX_ATTEMPTS = 5;

export interface ConsentServiceDeps {
  store: Store;
  subjects: Subjects;
  catalog: Catalog;
  clock: () => Date;
  ttlMs: number;
  /** how far a sender's `occurredAt` may lie ahead of receipt time before it is capped (rule 4) */
  clockSkewMs: number;
  log: Log;
  /** called after a commit that queued jobs, so the dispatcher can run them at once */
  onJobs?: () => void;
  /** the CRM sync jobs a state change needs (transactional outbox: committed with the change) */
  syncJobs?: (subjectId: string, cause: string, now: string) => NewOutboxJob[];
}

/**
 * Applies consent intents for one person: reads their state, lets the pure core decide, and
 * commits ledger events, derived state and outbox jobs as one unit, serialised per person.
 */
export class ConsentService {
  private readonly deps: ConsentServiceDeps;
  private readonly locks = new KeyedMutex();

  constructor(deps: ConsentServiceDeps) {
    this.deps = deps;
  }

  /** The lookup hash of a number (for dedupe keys that must not hold the number itself). */
  hashOf(e164: string): Promise<string> {
    return this.deps.subjects.hash(e164);
  }

  /** Applies an intent to a person already loaded (expiry sweeps, send failures). */
  changeFor(subject: Subject, req: Omit<ChangeRequest, 'e164' | 'create'>): Promise<ChangeResult> {
    return this.locks.run(subject.row.phoneHash, () =>
      this.retrying(async () => {
        const fresh = await this.deps.subjects.byId(subject.row.id);
        if (!fresh) return { status: 'unknown_subject' };
        if (await this.erased(fresh.row.phoneHash, req.dedupeKeys)) return { status: 'erased' };
        const now = this.deps.clock().toISOString();
        return this.decideAndCommit(fresh, this.capped({ ...req, e164: '', create: false }, now), now);
      }),
    );
  }

  async change(req: ChangeRequest): Promise<ChangeResult> {
    const { subjects } = this.deps;
    const phoneHash = await subjects.hash(req.e164);
    return this.locks.run(phoneHash, () =>
      this.retrying(async () => {
        // A suppression tombstone: an erased person is never re-created by a message or a webhook.
        if (await this.erased(phoneHash, req.dedupeKeys)) return { status: 'erased' };
        let subject = await subjects.find(phoneHash);
        const now = this.deps.clock().toISOString();
        if (!subject && req.create) {
          const shredded = await this.deps.store.findSubjectByHash(phoneHash);
          if (shredded) subject = await subjects.rekey(shredded, req.e164);
        }
        if (!subject) {
          if (!req.create) {
            if (req.dedupeKeys?.length) await this.deps.store.commit({ dedupeKeys: req.dedupeKeys });
            return { status: 'unknown_subject' };
          }
          const locale = req.locale ? this.deps.catalog.resolveLocale(req.locale) : null;
          subject = await subjects.create(req.e164, phoneHash, locale, now);
        }
        return this.decideAndCommit(subject, this.capped(req, now), now);
      }),
    );
  }

  /**
   * Runs a read-decide-commit attempt again when another process or isolate changed the same
   * person in between (the per-person lock only covers this process): the commit then reports
   * `stale_state` or `subject_exists` and wrote nothing.
   */
  private async retrying(attempt: () => Promise<ChangeResult | typeof RETRY>): Promise<ChangeResult> {
    for (let i = 1; ; i++) {
      const out = await attempt();
      if (out !== RETRY) return out;
      if (i >= MAX_ATTEMPTS) {
        throw new Error(`consent change lost ${MAX_ATTEMPTS} races for the same person in a row`);
      }
      this.deps.log.info({ attempt: i }, 'consent changed concurrently elsewhere: deciding again');
    }
  }

  /**
   * Sync rule 4: a sender's `occurredAt` later than receipt time plus the clock-skew allowance (or
   * unreadable) becomes the receipt time; the claim goes into the evidence. Every change passes here.
   */
  private capped(req: ChangeRequest, now: string): ChangeRequest {
    const { occurredAt, claimed } = capOccurredAt(req.occurredAt, now, this.deps.clockSkewMs);
    return claimed ? { ...req, occurredAt, evidence: { ...req.evidence, claimedOccurredAt: claimed } } : req;
  }

  /** True when the person has a tombstone; the inbound keys are still recorded (redeliveries stay no-ops). */
  private async erased(phoneHash: string, dedupeKeys: string[] | undefined): Promise<boolean> {
    const [tomb] = await this.deps.store.tombstonesFor([phoneHash]);
    if (!tomb) return false;
    if (dedupeKeys?.length) await this.deps.store.commit({ dedupeKeys });
    return true;
  }

  private async decideAndCommit(
    subject: Subject,
    req: ChangeRequest,
    now: string,
  ): Promise<ChangeResult | typeof RETRY> {
    const { catalog, store } = this.deps;
    const sid = subject.row.id;
    const current = new Map((await store.getStates(sid)).map((s) => [s.purpose, s]));
    const purposes = req.purposes === 'all' ? catalog.purposes : req.purposes;
    const locale = catalog.resolveLocale(req.locale ?? subject.row.locale);
    // The decision holds only if these rows are still the stored ones at commit (another process).
    const expectStates = subject.isNew
      ? []
      : purposes.map((purpose) => ({ subjectId: sid, purpose, state: current.get(purpose) ?? null }));
    const unit: WriteUnit = { events: [], states: [], jobs: [], texts: [], audit: [], expectStates };
    if (req.dedupeKeys?.length) unit.dedupeKeys = req.dedupeKeys;
    if (subject.isNew) unit.newSubject = subject.row;
    else if (subject.rekeyed && subject.row.phoneEnc && subject.row.dekWrapped) {
      unit.subjectUpdates = [
        { id: sid, rekey: { phoneEnc: subject.row.phoneEnc, dekWrapped: subject.row.dekWrapped } },
      ];
    } else if (req.locale && subject.row.locale !== locale && req.source !== 'whatsapp') {
      unit.subjectUpdates = [{ id: sid, locale }];
    }

    const outcomes: Record<Purpose, PurposeOutcome> = {};
    const changed: Purpose[] = [];
    const textVersions: Record<Purpose, string> = {};
    for (const purpose of purposes) {
      const prev = current.get(purpose);
      const text =
        req.intent === 'request'
          ? await catalog.consentText(purpose, locale, req.textVersion ?? null)
          : prev?.textVersion
            ? await catalog.textById(prev.textVersion)
            : null;
      const d = decide(prev, {
        intent: req.intent,
        purpose,
        subjectId: sid,
        source: req.source,
        byPerson: isPersonsOwn(req.source),
        occurredAt: req.occurredAt,
        ttlMs: this.deps.ttlMs,
        textVersion: text?.version ?? null,
      });
      outcomes[purpose] = { action: d.action, reason: d.reason, state: d.next ?? prev ?? null };
      if (!d.action) continue;
      const eventId = newId();
      const evidence = { ...req.evidence, locale, ...(d.reason ? { reason: d.reason } : {}) };
      const event: NewLedgerEvent = {
        id: eventId,
        subjectId: sid,
        purpose,
        action: d.action,
        source: req.source,
        occurredAt: req.occurredAt,
        recordedAt: now,
        textVersion: text?.version ?? null,
        textSha256: text?.sha256 ?? null,
        evidenceEnc: await this.deps.subjects.encryptEvidence(subject, eventId, evidence),
      };
      unit.events!.push(event);
      if (text) {
        unit.texts!.push({ ...text, firstUsedAt: now } satisfies TextRow);
        textVersions[purpose] = text.version;
      }
      if (d.next) {
        unit.states!.push(d.next);
        if (d.action !== 'evidence') changed.push(purpose);
      }
    }

    const reply = req.reply === undefined ? defaultReply(req, outcomes) : req.reply;
    if (reply) {
      // The (hashed) inbound key, so a redelivered message cannot queue the reply twice.
      const cause = req.dedupeKeys?.[0] ?? unit.events![0]?.id ?? newId();
      unit.jobs!.push(
        whatsappJob(sid, reply, cause, now, {
          locale,
          purposes: reply === 'doiRequest' ? changed : purposes,
          textVersions,
        }),
      );
    }
    if (changed.length > 0 && this.deps.syncJobs) {
      unit.jobs!.push(...this.deps.syncJobs(sid, unit.events![0]?.id ?? newId(), now));
    }
    if (req.links?.length) unit.links = req.links.map((l) => ({ ...l, subjectId: sid }));
    if (req.audit) unit.audit!.push({ ...req.audit, id: newId(), at: now, target: sid });

    const result = await store.commit(unit);
    if (result.status === 'duplicate') return { status: 'duplicate' };
    if (
      result.status === 'conflict' &&
      (result.reason === 'stale_state' || (result.reason === 'subject_exists' && subject.isNew))
    ) {
      return RETRY;
    }
    if (result.status === 'conflict') {
      throw new Error(`commit conflict: ${result.reason}`);
    }
    if (unit.jobs!.length > 0) this.deps.onJobs?.();
    this.deps.log.info(
      {
        subjectId: sid,
        intent: req.intent,
        source: req.source,
        events: unit.events!.length,
        jobs: unit.jobs!.length,
      },
      'consent change recorded',
    );
    return { status: 'applied', subjectId: sid, outcomes, jobIds: unit.jobs!.map((j) => j.id) };
  }
}

function defaultReply(req: ChangeRequest, outcomes: Record<Purpose, PurposeOutcome>): ReplyMessage | null {
  const actions = Object.values(outcomes).map((o) => o.action);
  if (req.intent === 'request') return actions.includes('requested') ? 'doiRequest' : null;
  if (req.source !== 'whatsapp') return null;
  if (req.intent === 'confirm') return actions.includes('confirmed') ? 'optInConfirmed' : null;
  if (req.intent === 'opt_out') return 'optOutConfirmed';
  return null;
}

/** A WhatsApp message job; the key is fixed from its cause so a redelivery cannot queue it twice. */
export function whatsappJob(
  subjectId: string,
  message: ReplyMessage,
  cause: string,
  now: string,
  extra: Record<string, unknown>,
): NewOutboxJob {
  return {
    id: newId(),
    kind: 'whatsapp.send',
    subjectId,
    idempotencyKey: `whatsapp.send:${message}:${cause}`,
    payload: { message, ...extra },
    nextAttemptAt: now,
  };
}
