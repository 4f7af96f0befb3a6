/**
 * PII key rotation (docs/key-rotation.md): moves everything a retired key (`PII_KEYS_RETIRED`) still
 * protects to the current `PII_KEY`, page by page, over the Store port only, so Node
 * (`consent-sync keys rotate`) and Workers (a bounded step per cron run) run the same code.
 *
 * 1. subjects, in id order: each data key is re-wrapped under the current KEK (compare-and-set: a
 *    person shredded meanwhile stays shredded), each live identifier's lookup hash is recomputed
 *    under the current lookup key (`rehash`: identifiers, `subjects.phone_hash`, erasures' subject
 *    hash; a tombstone is copied to the new hash).
 * 2. dead events, in id order: sealed again under the current service key.
 * 3. done: the retired keys' lookup keys, wrapped under the current KEK, are in `pii_lookup_keys`
 *    (stored at the start too), so erased people's hashes, which nothing can recompute, keep
 *    matching after `PII_KEYS_RETIRED` is removed.
 *
 * Each page is one commit that also moves the progress row (`key_rotations`), so a stopped run
 * continues after its last page, a second runner on the same page changes and counts nothing twice,
 * and a finished rotation finds nothing to do.
 */
import type { PiiCrypto } from '../crypto/pii.ts';
import type { KeyRotationRow } from '../store/key-rotation-sql.ts';
import type { Store, WriteUnit } from '../store/port.ts';
import { Subjects } from './subjects.ts';

export interface RotationDeps {
  store: Store;
  pii: PiiCrypto;
  clock: () => Date;
}

/** The rotation cannot run or go on (no retired key; data no configured key opens). */
export class RotationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RotationError';
  }
}

/** What a step or a run moved. */
export interface RotationCounts {
  subjects: number;
  rewrapped: number;
  rehashed: number;
  resealed: number;
  /** dead events no configured key opens (left as they are; retention deletes them) */
  unreadable: number;
}

/** What one step did, and where the rotation stands after it. */
export interface RotationStep extends RotationCounts {
  state: KeyRotationRow;
  done: boolean;
}

export interface RotationOptions {
  /** subjects (or dead events) per page, one commit each */
  pageSize?: number;
  /** stop after this many pages (Workers: a bounded batch per cron run); default: until done */
  maxPages?: number;
  /** called after every page (a progress bar) */
  onPage?: (step: RotationStep) => void;
}

export interface RotationResult extends RotationCounts {
  /** pages committed by this run */
  pages: number;
  /** the progress row after this run (totals over every run of this rotation) */
  state: KeyRotationRow;
  done: boolean;
  /** true when the rotation had finished before this run started */
  alreadyDone: boolean;
}

export const DEFAULT_PAGE_SIZE = 200;

/** The sorted ids of the retired keys a rotation moves data from, as stored. */
const fromKeysOf = (pii: PiiCrypto) => [...pii.retiredKeyIds].sort().join(',');

/** True when the stored rotation covers every configured retired key. */
function covers(state: KeyRotationRow, pii: PiiCrypto): boolean {
  const done = new Set(state.fromKeys.split(',').filter(Boolean));
  return pii.retiredKeyIds.every((id) => done.has(id));
}

/**
 * Where the rotation towards the current key stands: null when none started (or a retired key was
 * added since), else its progress row.
 *
 * @example
 * const state = await rotationState(services);
 * if (state?.phase === 'done') console.log('PII_KEYS_RETIRED can be removed');
 */
export async function rotationState(
  deps: Pick<RotationDeps, 'store' | 'pii'>,
): Promise<KeyRotationRow | null> {
  const state = await deps.store.getKeyRotation(deps.pii.keyId);
  return state && covers(state, deps.pii) ? state : null;
}

/**
 * Runs the rotation page by page until it is done (or `maxPages`). Refuses to run without retired keys.
 *
 * @example
 * const r = await rotateKeys(services, { pageSize: 200, onPage: (s) => bar.update(s.state.subjects) });
 * if (r.done) console.log('PII_KEYS_RETIRED can now be removed');
 */
export async function rotateKeys(deps: RotationDeps, options: RotationOptions = {}): Promise<RotationResult> {
  const { pii } = deps;
  if (pii.retiredKeyIds.length === 0) {
    throw new RotationError('PII_KEYS_RETIRED is not set: there is no retired key to move data from');
  }
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  const total = { pages: 0, subjects: 0, rewrapped: 0, rehashed: 0, resealed: 0, unreadable: 0 };
  const before = await rotationState(deps);
  if (before?.phase === 'done') return { ...total, state: before, done: true, alreadyDone: true };
  for (;;) {
    const step = await rotateStep(deps, pageSize);
    total.pages++;
    total.subjects += step.subjects;
    total.rewrapped += step.rewrapped;
    total.rehashed += step.rehashed;
    total.resealed += step.resealed;
    total.unreadable += step.unreadable;
    options.onPage?.(step);
    if (step.done || (options.maxPages !== undefined && total.pages >= options.maxPages)) {
      return { ...total, state: step.state, done: step.done, alreadyDone: false };
    }
  }
}

/** One page: read from the stored position, move what the page holds, commit with the next position. */
async function rotateStep(deps: RotationDeps, pageSize: number): Promise<RotationStep> {
  const { store, pii, clock } = deps;
  const now = clock().toISOString();
  const stored = await store.getKeyRotation(pii.keyId);
  const fresh = !stored || !covers(stored, pii);
  const state: KeyRotationRow = fresh
    ? {
        keyId: pii.keyId,
        fromKeys: fromKeysOf(pii),
        phase: 'subjects',
        cursor: '',
        subjects: 0,
        rewrapped: 0,
        rehashed: 0,
        resealed: 0,
        startedAt: now,
        updatedAt: now,
        finishedAt: null,
      }
    : { ...stored };
  const step: RotationStep = {
    subjects: 0,
    rewrapped: 0,
    rehashed: 0,
    resealed: 0,
    unreadable: 0,
    state,
    done: state.phase === 'done',
  };
  if (step.done) return step;
  const unit: WriteUnit = {};
  // The lookup keys first of all: tombstones stay matched even if the rotation stops half way.
  if (fresh) unit.lookupKeys = await lookupKeyRows(pii, now);

  if (state.phase === 'subjects') {
    const page = await store.listSubjects(state.cursor, pageSize);
    if (page.length === 0) Object.assign(state, { phase: 'dead_events', cursor: '' });
    else {
      await moveSubjects(deps, page, unit, step);
      state.cursor = page.at(-1)?.id ?? state.cursor;
    }
  } else if (state.phase === 'dead_events') {
    const page = await store.deadEventsAfter(state.cursor, pageSize);
    if (page.length === 0) {
      Object.assign(state, { phase: 'done', cursor: '', finishedAt: now });
      unit.lookupKeys = await lookupKeyRows(pii, now);
      step.done = true;
    } else {
      const reseal: NonNullable<WriteUnit['reseal']> = [];
      for (const d of page) {
        try {
          const to = await pii.reseal(d.payloadEnc, `dead-event:${d.id}`);
          if (to) reseal.push({ id: d.id, from: d.payloadEnc, to });
        } catch {
          step.unreadable++; // sealed under a key no longer configured: nothing to move
        }
      }
      if (reseal.length > 0) unit.reseal = reseal;
      step.resealed = reseal.length;
      state.cursor = page.at(-1)?.id ?? state.cursor;
    }
  }
  state.subjects += step.subjects;
  state.rewrapped += step.rewrapped;
  state.rehashed += step.rehashed;
  state.resealed += step.resealed;
  state.updatedAt = now;
  unit.keyRotation = {
    row: state,
    expect: stored ? { phase: stored.phase, cursor: stored.cursor, fromKeys: stored.fromKeys } : null,
  };
  const r = await store.commit(unit);
  if (r.status !== 'committed') throw new Error(`key rotation page not stored: ${r.status}`);
  // Another runner may have moved the progress first: report where it really stands.
  step.state = (await store.getKeyRotation(pii.keyId)) ?? state;
  step.done = step.state.phase === 'done';
  return step;
}

/** Re-wraps the page's data keys and recomputes the lookup hashes of their live identifiers. */
async function moveSubjects(
  deps: RotationDeps,
  page: Awaited<ReturnType<Store['listSubjects']>>,
  unit: WriteUnit,
  step: RotationStep,
): Promise<void> {
  const { store, pii } = deps;
  const subjects = new Subjects(store, pii);
  const rewrap: NonNullable<WriteUnit['rewrap']> = [];
  const rehash: NonNullable<WriteUnit['rehash']> = [];
  const identifiers = await store.identifiersOf(page.map((s) => s.id));
  for (const row of page) {
    step.subjects++;
    if (!row.dekWrapped) continue; // crypto-shredded: nothing readable is left to move
    let to: string | null;
    try {
      to = await pii.rewrap(row.id, row.dekWrapped);
    } catch {
      throw new RotationError(
        `the data key of subject ${row.id} opens under neither PII_KEY nor PII_KEYS_RETIRED: ` +
          'add the key that wrote it to PII_KEYS_RETIRED and run again',
      );
    }
    if (to) rewrap.push({ id: row.id, from: row.dekWrapped, to });
    const s = await subjects.fromRow(row);
    if (!s) continue;
    for (const i of await subjects.decryptRows(s, identifiers)) {
      const current = await pii.lookupHash(i.value);
      if (current !== i.hash) rehash.push({ from: i.hash, to: current });
    }
  }
  if (rewrap.length > 0) unit.rewrap = rewrap;
  if (rehash.length > 0) unit.rehash = rehash;
  step.rewrapped = rewrap.length;
  step.rehashed = rehash.length;
}

async function lookupKeyRows(pii: PiiCrypto, now: string) {
  return (await pii.wrapLookupKeys()).map((k) => ({
    ...k,
    wrappedBy: pii.keyId,
    createdAt: now,
    updatedAt: now,
  }));
}

/**
 * What one Workers cron run moves while `PII_KEYS_RETIRED` is set: one page of `KEY_ROTATION_BATCH`
 * people (default 50). A page is about a dozen D1 queries whatever its size (the progress row, the
 * page, its identifiers, one write batch of a handful of statements with one bound parameter each),
 * well under D1's 50 (Free) / 1,000 (Paid) queries per invocation; its CPU grows with its size
 * (docs/key-rotation.md). Every minute, 50 people a run is 72,000 a day.
 */
export const cronBatch = (people: number): RotationOptions => ({ pageSize: people, maxPages: 1 });
