/**
 * The batch decider's half of the consent service (issue 17): many people's changes decided from
 * one read and committed in one group commit. Per batch: every identifier is hashed once, the people
 * are found with four queries (tombstones, identifiers, subjects, states) whatever the batch size,
 * each person's data key is unwrapped once, and each person's changes (in acknowledgement order,
 * each decided from the states the one before left) become one write unit. The SQLite store writes
 * the units queued in one tick in one transaction, each in a savepoint of its own.
 *
 * Consistency: a unit carries the state rows its person was read with (`expectStates`), the
 * identifier hashes it must find untombstoned (`guardTombstones`) and, for a new person, the
 * `subject_exists` check. An API call (`POST /v1/consents`, an opt-out, an erasure) that changed the
 * person between the read and the commit makes that unit write nothing; its person's changes are
 * then decided again one at a time by `ConsentService.change`, which reads afresh and retries. So
 * does anything the batch path does not handle (merging two records, linking a new identifier,
 * retiring one, a comeback after retention, an erased person): the batch only takes the common case.
 */
import { type Identifier, identifiersOf } from '../core/identity.ts';
import type { IdentifierRow, NewOutboxJob, PurposeState, SubjectRow, TextRow } from '../core/types.ts';
import type { ExpectedState, WriteUnit } from '../store/port.ts';
import type { ChangeRequest, ChangeResult, ConsentServiceDeps, Linking, Plan } from './consent-types.ts';
import type { Subject } from './subjects.ts';

/** A person's results in the order of their changes, or null: decide them one at a time (`change`). */
export type GroupOutcome = ChangeResult[] | null;

/** What the batch needs of the consent service. */
export interface BatchHost {
  readonly deps: ConsentServiceDeps;
  plan(
    subject: Subject,
    req: ChangeRequest,
    now: string,
    linking: Linking,
    own: readonly PurposeState[],
  ): Promise<Plan>;
  capped(req: ChangeRequest, now: string): ChangeRequest;
}

/** One person's group, after the batch read: who they are and what the batch needs to decide for them. */
interface Found {
  subject: Subject;
  own: PurposeState[];
  /** identifier rows to write with the first change (a person new to us) */
  identifiers: IdentifierRow[];
  /** every hash (under every key) of every identifier the group names */
  hashes: string[];
}

const idKey = (i: Identifier) => `${i.kind}\u0000${i.value}`;

/** Changes the batch path leaves to `change`: linking, retiring, CRM links, audit entries. */
const plain = (r: ChangeRequest) =>
  !r.link &&
  !r.retire?.length &&
  !r.linkOnly &&
  !r.links?.length &&
  !r.audit &&
  identifiersOf(r.identity).length > 0;

/**
 * Decides groups of changes (one group per person, in order) from one read, and commits one unit
 * per person in one group commit. Returns, per group, its results or null when the group must be
 * decided one change at a time (nothing of it was written). Throws when the batch read fails (the
 * caller then decides every group one change at a time, so a poisoned event stays alone).
 *
 * @example
 * const [alice, bob] = await decideBatch(consent, [[stopFromAlice], [stopFromBob, startFromBob]]);
 */
export async function decideBatch(host: BatchHost, groups: ChangeRequest[][]): Promise<GroupOutcome[]> {
  const { store, subjects, catalog, clock } = host.deps;
  const now = clock().toISOString();
  const out: GroupOutcome[] = groups.map(() => null);
  const eligible = groups.flatMap((g, n) => (g.length > 0 && g.every(plain) ? [n] : []));
  if (eligible.length === 0) return out;

  // Keyed hashes: once per identifier value per batch (every PII key, current first).
  const variants = new Map<string, string[]>();
  for (const n of eligible)
    for (const r of groups[n] as ChangeRequest[])
      for (const i of identifiersOf(r.identity)) if (!variants.has(i.value)) variants.set(i.value, []);
  await Promise.all([...variants.keys()].map(async (v) => variants.set(v, await subjects.hashesOf(v))));
  const all = [...new Set([...variants.values()].flat())];

  // The batch read: four queries for everyone.
  const [tombs, found] = await Promise.all([store.tombstonesFor(all), store.identifiersByHash(all)]);
  const tombstoned = new Set(tombs.map((t) => t.subjectHash));
  const byHash = new Map(found.map((f) => [f.hash, f]));
  const ownerIds = [...new Set(found.map((f) => f.subjectId))];
  const [rows, states] =
    ownerIds.length > 0
      ? await Promise.all([store.getSubjects(ownerIds), store.getStatesFor(ownerIds)])
      : [[] as SubjectRow[], [] as PurposeState[]];
  const rowOf = new Map(rows.map((r) => [r.id, r]));
  const statesOf = new Map<string, PurposeState[]>();
  for (const s of states) statesOf.set(s.subjectId, [...(statesOf.get(s.subjectId) ?? []), s]);

  /** The person a group is about, when the batch path can decide for them (else null). */
  const resolve = async (group: ChangeRequest[]): Promise<Found | null> => {
    const ids = group.flatMap((r) => identifiersOf(r.identity));
    const hashes = [...new Set(ids.flatMap((i) => variants.get(i.value) as string[]))];
    if (hashes.some((h) => tombstoned.has(h))) return null;
    const owners = new Set(hashes.flatMap((h) => byHash.get(h)?.subjectId ?? []));
    if (owners.size > 1) return null;
    const [owner] = owners;
    if (owner) {
      const row = rowOf.get(owner);
      if (!row?.dekWrapped) return null;
      // Every identifier known, active and under the current key: nothing to link, move or rehash.
      for (const i of ids) {
        const mine = variants.get(i.value) as string[];
        const stored = byHash.get(mine[0] as string);
        if (!stored || stored.subjectId !== owner || stored.status !== 'active' || !stored.valueEnc)
          return null;
      }
      const subject = await subjects.fromRow(row);
      return subject ? { subject, own: statesOf.get(owner) ?? [], identifiers: [], hashes } : null;
    }
    // A person new to us: created by the first change, which must name every identifier of the group.
    const first = group[0] as ChangeRequest;
    const named = identifiersOf(first.identity);
    const names = new Set(named.map(idKey));
    if (!first.create || ids.some((i) => !names.has(idKey(i)))) return null;
    const head = named[0] as Identifier;
    const locale = first.locale ? catalog.resolveLocale(first.locale) : null;
    const current = (i: Identifier) => (variants.get(i.value) as string[])[0] as string;
    const subject = await subjects.create(head, current(head), locale, now);
    const identifiers = await subjects.identifierRows(
      subject,
      named.map((i) => ({ ...i, hash: current(i), status: 'active' as const })),
      now,
    );
    return { subject, own: [], identifiers, hashes };
  };

  /** One unit for a person's whole group, with each change's result (null: not for the batch). */
  const decideGroup = async (
    group: ChangeRequest[],
  ): Promise<{ unit: WriteUnit; results: ChangeResult[] } | null> => {
    const f = await resolve(group);
    if (!f) return null;
    const seen = new Set<string>();
    const plans: Plan[] = [];
    const results: ChangeResult[] = [];
    let subject = f.subject;
    let own = f.own;
    for (const req of group) {
      // The same inbound id twice in one batch: the second is a duplicate (one unit records a key once).
      if ((req.dedupeKeys ?? []).some((k) => seen.has(k))) {
        results.push({ status: 'duplicate' });
        continue;
      }
      for (const k of req.dedupeKeys ?? []) seen.add(k);
      const linking: Linking = {
        identifiers: plans.length === 0 ? f.identifiers : [],
        rehash: [],
        merged: [],
        hashes: f.hashes,
        kinds: [...new Set(identifiersOf(req.identity).map((i) => i.kind))],
      };
      const p = await host.plan(subject, host.capped(req, now), now, linking, own);
      plans.push(p);
      results.push({
        status: 'applied',
        subjectId: subject.row.id,
        outcomes: p.outcomes,
        jobIds: (p.unit.jobs ?? []).map((j) => j.id),
      });
      own = after(own, p.unit.states ?? []);
      subject = { ...subject, isNew: false };
    }
    const purposes = group.flatMap((r) => (r.purposes === 'all' ? catalog.purposes : r.purposes));
    const expect: ExpectedState[] = f.subject.isNew
      ? []
      : [...new Set([...f.own.map((s) => s.purpose), ...purposes])].map((purpose) => ({
          subjectId: f.subject.row.id,
          purpose,
          state: f.own.find((s) => s.purpose === purpose) ?? null,
        }));
    const unit = mergeUnits(plans, expect, f.hashes);
    return { unit, results };
  };

  const decided = await Promise.all(
    eligible.map(async (n) => {
      try {
        return await decideGroup(groups[n] as ChangeRequest[]);
      } catch {
        return null; // decided again one change at a time, where a failure stays with its event
      }
    }),
  );
  // Every unit queued in the same tick: one group commit (one transaction) for the batch.
  const commits = decided.map((d) => (d ? store.commit(d.unit).catch(() => null) : Promise.resolve(null)));
  const results = await Promise.all(commits);
  let jobs = 0;
  let events = 0;
  let people = 0;
  eligible.forEach((n, k) => {
    const d = decided[k];
    if (!d || results[k]?.status !== 'committed') return;
    out[n] = d.results;
    people++;
    jobs += d.unit.jobs?.length ?? 0;
    events += d.unit.events?.length ?? 0;
  });
  if (jobs > 0) host.deps.onJobs?.();
  if (people > 0) host.deps.log.info({ people, events, jobs }, 'consent changes recorded (batch)');
  return out;
}

/** The person's state rows after a change wrote `next` (upserts by purpose). */
function after(own: readonly PurposeState[], next: readonly PurposeState[]): PurposeState[] {
  const m = new Map(own.map((s) => [s.purpose, s]));
  for (const s of next) m.set(s.purpose, s);
  return [...m.values()];
}

/**
 * A person's plans as one unit: events in order (the store chains them), the last state per
 * purpose, each job once (by idempotency key, and by coalesce key: a second job with a key already
 * waiting would be skipped by the store anyway), each text once, and the states the first change
 * was decided from.
 */
export function mergeUnits(
  plans: readonly Plan[],
  expectStates: ExpectedState[],
  hashes: string[],
): WriteUnit {
  const first = plans[0]?.unit;
  const unit: WriteUnit = { events: [], states: [], jobs: [], texts: [], audit: [], expectStates };
  if (first?.newSubject) unit.newSubject = first.newSubject;
  if (first?.identifiers?.length) unit.identifiers = first.identifiers;
  if (hashes.length > 0) unit.guardTombstones = hashes;
  const states = new Map<string, PurposeState>();
  const jobKeys = new Set<string>();
  const texts = new Map<string, TextRow>();
  const list = <K extends 'dedupeKeys' | 'formerDedupeKeys'>(k: K, v: string[] | undefined) => {
    if (v?.length) unit[k] = [...(unit[k] ?? []), ...v];
  };
  for (const { unit: u } of plans) {
    list('dedupeKeys', u.dedupeKeys);
    list('formerDedupeKeys', u.formerDedupeKeys);
    if (u.subjectUpdates?.length) unit.subjectUpdates = [...(unit.subjectUpdates ?? []), ...u.subjectUpdates];
    unit.events!.push(...(u.events ?? []));
    for (const s of u.states ?? []) states.set(`${s.subjectId}\u0000${s.purpose}`, s);
    for (const j of u.jobs ?? []) if (keep(j, jobKeys)) unit.jobs!.push(j);
    for (const t of u.texts ?? []) if (!texts.has(t.version)) texts.set(t.version, t);
    unit.audit!.push(...(u.audit ?? []));
  }
  unit.states = [...states.values()];
  unit.texts = [...texts.values()];
  return unit;
}

function keep(j: NewOutboxJob, keys: Set<string>): boolean {
  const names = [`i:${j.idempotencyKey}`, ...(j.coalesceKey ? [`c:${j.coalesceKey}`] : [])];
  if (names.some((k) => keys.has(k))) return false;
  for (const k of names) keys.add(k);
  return true;
}
