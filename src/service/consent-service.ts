import { decide, isPersonsOwn } from '../core/consent.ts';
import { type Identifier, identifiersOf } from '../core/identity.ts';
import { capOccurredAt } from '../core/occurred-at.ts';
import type {
  ConsentStatus,
  Evidence,
  NewLedgerEvent,
  NewOutboxJob,
  Purpose,
  PurposeState,
  TextRow,
} from '../core/types.ts';
import { newId } from '../crypto/encoding.ts';
import type { WriteUnit } from '../store/port.ts';
import type { ReplyMessage } from './catalog-service.ts';
import { type BatchHost, decideBatch, type GroupOutcome } from './consent-batch.ts';
import type {
  ChangeRequest,
  ChangeResult,
  ConsentServiceDeps,
  DedupeKeys,
  Linking,
  Plan,
  PurposeOutcome,
} from './consent-types.ts';
import { KeyedMutex } from './mutex.ts';
import type { Subject } from './subjects.ts';

// What callers of the service name with it (the rest stays in consent-types.ts).
export type { ChangeRequest, ChangeResult, DedupeKeys } from './consent-types.ts';

/** Less permissive first (sync rule 4): when two records of one person are merged, this order decides. */
const PERMISSIVENESS: Record<ConsentStatus, number> = { opted_out: 0, none: 1, pending: 2, opted_in: 3 };

const NO_LINKING: Linking = { identifiers: [], rehash: [], merged: [], hashes: [], kinds: [] };

/** An attempt lost a race with another process and must read and decide again. */
const RETRY = Symbol('retry');
const MAX_ATTEMPTS = 5;

/**
 * Applies consent intents for one person: reads their state, lets the pure core decide, and
 * commits ledger events, derived state and outbox jobs as one unit, serialised per person.
 */
export class ConsentService implements BatchHost {
  readonly deps: ConsentServiceDeps;
  private readonly locks = new KeyedMutex();

  constructor(deps: ConsentServiceDeps) {
    this.deps = deps;
  }

  /** The lookup hash of an identifier (for dedupe keys that must not hold the value itself). */
  hashOf(value: string): Promise<string> {
    return this.deps.subjects.hash(value);
  }

  /**
   * Inbound ids as stored dedupe keys (`wa:<hash>`): recorded under the current key; the hashes
   * under retired and archived keys recognise an event acknowledged before a key rotation and
   * redelivered after it, for as long as its dedupe row lives.
   */
  async dedupeKeysOf(ids: readonly string[]): Promise<DedupeKeys> {
    const each = await Promise.all(ids.map((k) => this.deps.subjects.hashesOf(k)));
    return {
      dedupeKeys: each.map(([current]) => `wa:${current}`),
      formerDedupeKeys: each.flatMap((hashes) => hashes.slice(1).map((h) => `wa:${h}`)),
    };
  }

  /**
   * Decides many people's changes from one read and commits them in one group commit (the inbox
   * decider, issue 17): one group per person, in order. Per group, its results, or null when that
   * group wrote nothing and must go through `change` one request at a time (see `consent-batch.ts`).
   */
  changeBatch(groups: ChangeRequest[][]): Promise<GroupOutcome[]> {
    return decideBatch(this, groups);
  }

  /** Applies an intent to a person already loaded (expiry sweeps, send failures). */
  changeFor(subject: Subject, req: Omit<ChangeRequest, 'identity' | 'create'>): Promise<ChangeResult> {
    return this.locks.run(subject.row.phoneHash, () =>
      this.retrying(async () => {
        const fresh = await this.deps.subjects.byId(subject.row.id);
        if (!fresh) return { status: 'unknown_subject' };
        const ids = await this.deps.store.identifiersOf([fresh.row.id]);
        const hashes = [...new Set([fresh.row.phoneHash, ...ids.map((i) => i.hash)])];
        if (await this.erased(hashes, req)) return { status: 'erased' };
        const now = this.deps.clock().toISOString();
        return this.decideAndCommit(fresh, this.capped({ ...req, identity: {}, create: false }, now), now, {
          ...NO_LINKING,
          hashes,
        });
      }),
    );
  }

  /**
   * Applies an intent to the person an identity names. Every identifier of the identity finds the
   * person (a BSUID-only event finds someone first seen by number); identifiers not yet known are
   * linked to them; two records found to be one person are merged (the less permissive state wins
   * per purpose; the merge is a ledger event).
   */
  async change(req: ChangeRequest): Promise<ChangeResult> {
    const { subjects } = this.deps;
    const lookup = identifiersOf(req.identity);
    const extra = identifiersOf(req.link ?? {}).filter(
      (x) => !lookup.some((l) => l.kind === x.kind && l.value === x.value),
    );
    if (lookup.length === 0) throw new Error('a consent change needs at least one identifier');
    const all = [...lookup, ...extra];
    // Each identifier under every PII key (current first): finding matches them all, storing uses the first.
    const variants = await Promise.all(all.map((i) => subjects.hashesOf(i.value)));
    const hashes = variants.map(([current]) => current as string);
    const every = variants.flat();
    const lookupHashes = variants.slice(0, lookup.length).flat();
    return this.locks.runAll(every, () =>
      this.retrying(async () => {
        // A suppression tombstone on any identifier: an erased person is never re-created.
        if (await this.erased(every, req)) return { status: 'erased' };
        const now = this.deps.clock().toISOString();
        const found = await this.deps.store.identifiersByHash(every);
        const owner = new Map(found.map((f) => [f.hash, f.subjectId]));
        // Only the identity finds people; identifiers to link may bring another record to merge.
        const ownerIds = [...new Set(every.flatMap((h) => (owner.has(h) ? [owner.get(h) as string] : [])))];
        const knownByLookup = lookupHashes.some((h) => owner.has(h));
        const rows = ownerIds.length > 0 ? await this.deps.store.getSubjects(ownerIds) : [];
        // The record that stays: the oldest live one (else a shredded one, which comes back).
        const live = rows.filter((r) => r.dekWrapped).sort((a, b) => cmp(a.createdAt, b.createdAt));
        let subject: Subject | null = null;
        if (!knownByLookup && !req.create) {
          await this.recordKeys(req);
          return { status: 'unknown_subject' };
        }
        if (live[0]) subject = await subjects.fromRow(live[0]);
        else if (rows[0] && req.create) subject = await subjects.rekey(rows[0], all[0] as Identifier);
        if (!subject) {
          if (!req.create) {
            await this.recordKeys(req);
            return { status: 'unknown_subject' };
          }
          const locale = req.locale ? this.deps.catalog.resolveLocale(req.locale) : null;
          subject = await subjects.create(all[0] as Identifier, hashes[0] as string, locale, now);
        }
        const sid = subject.row.id;
        const others = rows.filter((r) => r.id !== sid);
        const merged: Linking['merged'] = [];
        const rowsToWrite: Array<
          Identifier & { hash: string; status?: 'active' | 'former'; createdAt?: string }
        > = [];
        for (const other of others) {
          merged.push({ row: other, states: await this.deps.store.getStates(other.id) });
          // Their identifiers move to this person, re-encrypted under this person's key.
          const theirs = await subjects.fromRow(other);
          if (theirs) {
            for (const i of await subjects.identifiers(theirs))
              rowsToWrite.push({ kind: i.kind, value: i.value, hash: i.hash, status: i.status });
          }
        }
        const retired = new Set((req.retire ?? []).map((r) => `${r.kind}\u0000${r.value}`));
        const rehash: Linking['rehash'] = [];
        all.forEach((id, n) => {
          const hash = hashes[n] as string;
          const mine = variants[n] as string[];
          const status = retired.has(`${id.kind}\u0000${id.value}`) ? 'former' : 'active';
          const stored = found.find((f) => mine.includes(f.hash));
          // Known under a retired key: the commit moves it to the current hash (key rotation, lazily).
          if (stored && stored.hash !== hash) rehash.push({ from: stored.hash, to: hash });
          // New identifiers, identifiers of merged records, a comeback's re-encryption, a status change.
          if (stored?.subjectId === sid && stored.status === status && !subject?.rekeyed && stored.valueEnc)
            return;
          const i = rowsToWrite.findIndex((r) => mine.includes(r.hash));
          if (i >= 0) rowsToWrite.splice(i, 1);
          rowsToWrite.push({ ...id, hash, status, ...(stored ? { createdAt: stored.createdAt } : {}) });
        });
        // Retiring an identifier this event does not carry (e.g. the previous BSUID).
        for (const r of req.retire ?? []) {
          if (all.some((a) => a.kind === r.kind && a.value === r.value)) continue;
          const mine = await subjects.hashesOf(r.value);
          const hash = mine[0] as string;
          const stored = (await this.deps.store.identifiersByHash(mine))[0];
          if (stored && stored.subjectId === sid && stored.status !== 'former') {
            if (stored.hash !== hash) rehash.push({ from: stored.hash, to: hash });
            rowsToWrite.push({ ...r, hash, status: 'former', createdAt: stored.createdAt });
          }
        }
        if (req.linkOnly && rowsToWrite.length === 0 && merged.length === 0) {
          return { status: 'applied', subjectId: sid, outcomes: {}, jobIds: [] };
        }
        const linking: Linking = {
          identifiers: await subjects.identifierRows(subject, rowsToWrite, now),
          rehash,
          merged,
          hashes: every,
          kinds: [...new Set(lookup.map((i) => i.kind))],
        };
        return this.decideAndCommit(subject, this.capped(req, now), now, linking);
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
  capped(req: ChangeRequest, now: string): ChangeRequest {
    const { occurredAt, claimed } = capOccurredAt(req.occurredAt, now, this.deps.clockSkewMs);
    return claimed ? { ...req, occurredAt, evidence: { ...req.evidence, claimedOccurredAt: claimed } } : req;
  }

  /** True when the person has a tombstone; the inbound keys are still recorded (redeliveries stay no-ops). */
  private async erased(hashes: string[], req: Pick<ChangeRequest, 'dedupeKeys' | 'formerDedupeKeys'>) {
    const [tomb] = await this.deps.store.tombstonesFor([...new Set(hashes)]);
    if (!tomb) return false;
    await this.recordKeys(req);
    return true;
  }

  /** Records a change's inbound keys alone (nothing else to write), so a redelivery stays a no-op. */
  private async recordKeys(req: Pick<ChangeRequest, 'dedupeKeys' | 'formerDedupeKeys'>): Promise<void> {
    if (!req.dedupeKeys?.length) return;
    await this.deps.store.commit({
      dedupeKeys: req.dedupeKeys,
      ...(req.formerDedupeKeys?.length ? { formerDedupeKeys: req.formerDedupeKeys } : {}),
    });
  }

  private async decideAndCommit(
    subject: Subject,
    req: ChangeRequest,
    now: string,
    linking: Linking,
  ): Promise<ChangeResult | typeof RETRY> {
    const own = subject.isNew ? [] : await this.deps.store.getStates(subject.row.id);
    const { unit, outcomes } = await this.plan(subject, req, now, linking, own);
    const result = await this.deps.store.commit(unit);
    if (result.status === 'duplicate') return { status: 'duplicate' };
    if (
      result.status === 'conflict' &&
      (result.reason === 'stale_state' ||
        result.reason === 'identifier_taken' ||
        (result.reason === 'subject_exists' && subject.isNew))
    ) {
      return RETRY;
    }
    if (result.status === 'conflict' && result.reason === 'erased') return { status: 'erased' };
    if (result.status === 'conflict') {
      throw new Error(`commit conflict: ${result.reason}`);
    }
    if (unit.jobs!.length > 0) this.deps.onJobs?.();
    this.deps.log.info(
      {
        subjectId: subject.row.id,
        intent: req.intent,
        source: req.source,
        events: unit.events!.length,
        jobs: unit.jobs!.length,
      },
      'consent change recorded',
    );
    return { status: 'applied', subjectId: subject.row.id, outcomes, jobIds: unit.jobs!.map((j) => j.id) };
  }

  /**
   * The decision of one change as a write unit, from the person's state rows `own` as read (no
   * writes; reads only consent texts). The batch decider (`consent-batch.ts`) chains a person's
   * changes through it, each from the states the one before left.
   */
  async plan(
    subject: Subject,
    req: ChangeRequest,
    now: string,
    linking: Linking,
    own: readonly PurposeState[],
  ): Promise<Plan> {
    const { catalog } = this.deps;
    const sid = subject.row.id;
    const current = new Map(own.map((s) => [s.purpose, s]));
    const purposes = req.purposes === 'all' ? catalog.purposes : req.purposes;
    const locale = catalog.resolveLocale(req.locale ?? subject.row.locale);
    // The decision holds only if these rows are still the stored ones at commit (another process).
    const expectStates = subject.isNew
      ? []
      : [...new Set([...purposes, ...own.map((s) => s.purpose)])].map((purpose) => ({
          subjectId: sid,
          purpose,
          state: current.get(purpose) ?? null,
        }));
    const unit: WriteUnit = { events: [], states: [], jobs: [], texts: [], audit: [], expectStates };
    if (req.dedupeKeys?.length) unit.dedupeKeys = req.dedupeKeys;
    if (req.formerDedupeKeys?.length) unit.formerDedupeKeys = req.formerDedupeKeys;
    if (linking.rehash.length > 0) unit.rehash = linking.rehash;
    if (linking.hashes.length > 0) unit.guardTombstones = linking.hashes;
    if (linking.identifiers.length > 0) unit.identifiers = linking.identifiers;
    if (subject.isNew) unit.newSubject = subject.row;
    else if (subject.rekeyed && subject.row.dekWrapped) {
      unit.subjectUpdates = [
        { id: sid, rekey: { phoneEnc: subject.row.phoneEnc, dekWrapped: subject.row.dekWrapped } },
      ];
    } else if (req.locale && subject.row.locale !== locale && req.source !== 'whatsapp') {
      unit.subjectUpdates = [{ id: sid, locale }];
    }
    const evidenceBase: Evidence = {
      ...req.evidence,
      ...(linking.kinds.length > 0 ? { identifiers: linking.kinds } : {}),
    };

    // Two records of one person: per purpose the less permissive state wins (sync rule 4), and the
    // merge is recorded on the record that stays, one event per purpose it touched.
    const mergedStates = new Map<Purpose, PurposeState>();
    if (linking.merged.length > 0) {
      unit.merges = linking.merged.map((m) => ({ from: m.row.id, into: sid }));
      for (const m of linking.merged) {
        for (const purpose of catalog.purposes)
          expectStates.push({
            subjectId: m.row.id,
            purpose,
            state: m.states.find((x) => x.purpose === purpose) ?? null,
          });
        for (const st of m.states) {
          const mine = current.get(st.purpose);
          const take =
            !mine ||
            PERMISSIVENESS[st.status] < PERMISSIVENESS[mine.status] ||
            (PERMISSIVENESS[st.status] === PERMISSIVENESS[mine.status] && st.occurredAt > mine.occurredAt);
          if (take) {
            const next = { ...st, subjectId: sid };
            current.set(st.purpose, next);
            mergedStates.set(st.purpose, next);
          }
        }
      }
      const touched = [...new Set([...linking.merged.flatMap((m) => m.states.map((x) => x.purpose))])];
      for (const purpose of touched.length > 0 ? touched : catalog.purposes.slice(0, 1)) {
        const st = current.get(purpose);
        const eventId = newId();
        unit.events!.push({
          id: eventId,
          subjectId: sid,
          purpose,
          action: 'merged',
          source: req.source,
          occurredAt: now,
          recordedAt: now,
          textVersion: st?.textVersion ?? null,
          textSha256: null,
          evidenceEnc: await this.deps.subjects.encryptEvidence(subject, eventId, {
            ...evidenceBase,
            reason: 'same_person',
            mergedSubject: linking.merged.map((m) => m.row.id).join(','),
          }),
        });
      }
    }

    const outcomes: Record<Purpose, PurposeOutcome> = {};
    const changed: Purpose[] = [...mergedStates.keys()];
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
      // 'recorded' says only that an evidence intent was recorded: the caller's own reason says why.
      const reason = d.reason === 'recorded' ? (evidenceBase.reason ?? d.reason) : d.reason;
      const evidence = { ...evidenceBase, locale, ...(reason ? { reason } : {}) };
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
        // Only a request brings a text that may be new; any other intent names the text of the state
        // before it, recorded by the request that put it there (checking it again is a wasted read).
        if (req.intent === 'request') unit.texts!.push({ ...text, firstUsedAt: now } satisfies TextRow);
        textVersions[purpose] = text.version;
      }
      if (d.next) {
        mergedStates.delete(purpose);
        unit.states!.push(d.next);
        if (d.action !== 'evidence') changed.push(purpose);
      }
    }
    unit.states!.push(...mergedStates.values());

    let reply = req.reply === undefined ? defaultReply(req, outcomes) : req.reply;
    // The (hashed) inbound key, so a redelivered message cannot queue the reply twice.
    let cause = req.dedupeKeys?.[0] ?? unit.events![0]?.id ?? newId();
    const throttleMs = this.deps.replyThrottleMs ?? 0;
    if (reply === 'optOutConfirmed' && throttleMs > 0 && changed.length === 0) {
      // Already opted out of every purpose asked: a repeated STOP is evidence, not news. No second
      // confirmation while the person's own WhatsApp opt-out is younger than the window; past it, at
      // most one per window (the key, unique in the outbox, holds across requests and isolates).
      const since = Date.parse(now) - throttleMs;
      const recent = purposes.every((p) => {
        const prev = current.get(p);
        return (
          prev?.status === 'opted_out' && prev.source === 'whatsapp' && Date.parse(prev.changedAt) > since
        );
      });
      if (recent) reply = null;
      else
        cause = `throttle:${sid}:${[...purposes].sort().join(',')}:${Math.floor(Date.parse(now) / throttleMs)}`;
    }
    if (reply) {
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
    return { unit, outcomes };
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

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
