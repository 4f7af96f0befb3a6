/**
 * The rotation module on its own, over SQLite (`:memory:`) and the memory store: stopped after one
 * page it continues where it stopped, every row ends under the new key exactly once, two runners at
 * once count nothing twice, and a finished rotation has nothing to do. Fictitious values only.
 */
import { describe, expect, it } from 'vitest';
import type { Identifier } from '../core/identity.ts';
import { fromBase64, toBase64 } from '../crypto/encoding.ts';
import { createPiiCrypto, type PiiCrypto } from '../crypto/pii.ts';
import { createMemoryStore } from '../store/memory.ts';
import type { Store } from '../store/port.ts';
import { openSqliteStore } from '../store/sqlite.ts';
import { RotationError, rotateKeys } from './key-rotation.ts';
import { Subjects } from './subjects.ts';

const A = crypto.getRandomValues(new Uint8Array(32));
const B = crypto.getRandomValues(new Uint8Array(32));
const NOW = '2026-03-02T09:00:00.000Z';
const clock = () => new Date(NOW);
const LIVE = 7;

/** People with a number and a BSUID each, one shredded person and a dead event, all under key A. */
async function seed(store: Store): Promise<string[]> {
  const pii = await createPiiCrypto(fromBase64(toBase64(A)));
  const subjects = new Subjects(store, pii);
  const values: string[] = [];
  for (let i = 0; i <= LIVE; i++) {
    const ids: Identifier[] = [
      { kind: 'phone', value: `+4915123458${String(i).padStart(3, '0')}` },
      { kind: 'bsuid', value: `DE.70000000000000009${String(i).padStart(2, '0')}` },
    ];
    const hashes = await Promise.all(ids.map((x) => pii.lookupHash(x.value)));
    const s = await subjects.create(ids[0] as Identifier, hashes[0] as string, null, NOW);
    const rows = await subjects.identifierRows(
      s,
      ids.map((x, n) => ({ ...x, hash: hashes[n] as string })),
      NOW,
    );
    const eventId = `ev-${i}`;
    const evidenceEnc = await subjects.encryptEvidence(s, eventId, { formUrl: 'https://shop.example/form' });
    const event = {
      id: eventId,
      subjectId: s.row.id,
      purpose: 'marketing',
      action: 'requested' as const,
      source: 'form' as const,
      occurredAt: NOW,
      recordedAt: NOW,
      textVersion: null,
      textSha256: null,
      evidenceEnc,
    };
    expect((await store.commit({ newSubject: s.row, identifiers: rows, events: [event] })).status).toBe(
      'committed',
    );
    if (i === LIVE) await store.commit({ shred: [s.row.id] });
    else values.push(...ids.map((x) => x.value));
  }
  await store.commit({
    deadEvents: [
      {
        id: 'dead-1',
        source: 'whatsapp',
        kind: 'message',
        reason: 'fixture',
        payloadEnc: await pii.sealService('{"note":"fixture"}', 'dead-event:dead-1'),
        receivedAt: NOW,
      },
    ],
  });
  return values;
}

/** Every live data key opens under B alone, evidence reads, and each value has one row, under B. */
async function allUnderB(store: Store, values: string[]): Promise<void> {
  const onlyB = await createPiiCrypto(fromBase64(toBase64(B)));
  const subjects = new Subjects(store, onlyB);
  const rows = await store.listSubjects('', 100);
  expect(rows).toHaveLength(LIVE + 1);
  const live = rows.filter((r) => r.dekWrapped !== null);
  expect(live).toHaveLength(LIVE);
  const hashes: string[] = [];
  for (const row of live) {
    expect(await onlyB.rewrap(row.id, row.dekWrapped as string)).toBeNull();
    const s = await subjects.fromRow(row);
    const [event] = await store.listEvents(row.id);
    expect(await subjects.decryptEvidence(s!, event!.id, event!.evidenceEnc!)).toEqual({
      formUrl: 'https://shop.example/form',
    });
    for (const i of await subjects.identifiers(s!)) {
      expect(i.hash).toBe(await onlyB.lookupHash(i.value));
      hashes.push(i.hash);
    }
    expect(row.phoneHash).toBe(await onlyB.lookupHash((await subjects.phone(s!)) as string));
  }
  expect(hashes.sort()).toEqual((await Promise.all(values.map((v) => onlyB.lookupHash(v)))).sort());
  const [dead] = await store.deadEventsAfter('', 10);
  expect(await onlyB.openService(dead!.payloadEnc, 'dead-event:dead-1')).toBe('{"note":"fixture"}');
}

const stores: Array<[string, () => Store]> = [
  ['sqlite', () => openSqliteStore({ path: ':memory:' })],
  ['memory', () => createMemoryStore()],
];

describe.each(stores)('key rotation over %s', (_name, open) => {
  const setup = async () => {
    const store = open();
    await store.migrate();
    const values = await seed(store);
    const pii: PiiCrypto = await createPiiCrypto(fromBase64(toBase64(B)), { retired: [A] });
    return { store, values, deps: { store, pii, clock } };
  };

  it('stopped after one page, a second run continues; every row ends under B exactly once', async () => {
    const { store, values, deps } = await setup();
    // Ids are random: the shredded person may or may not be on the first page.
    const live = (await store.listSubjects('', 3)).filter((r) => r.dekWrapped !== null).length;
    const first = await rotateKeys(deps, { pageSize: 3, maxPages: 1 });
    expect(first).toMatchObject({ pages: 1, subjects: 3, rewrapped: live, rehashed: 2 * live, done: false });
    expect(first.state).toMatchObject({ phase: 'subjects', subjects: 3 });
    // Only the first page moved: the next live person's key still needs A.
    const onlyB = await createPiiCrypto(fromBase64(toBase64(B)));
    const next = (await store.listSubjects(first.state.cursor, 10)).find((r) => r.dekWrapped !== null)!;
    await expect(onlyB.rewrap(next.id, next.dekWrapped as string)).rejects.toThrow();

    const pages: number[] = [];
    const rest = await rotateKeys(deps, { pageSize: 3, onPage: (s) => pages.push(s.subjects) });
    expect(rest).toMatchObject({ done: true, alreadyDone: false, subjects: LIVE + 1 - 3 });
    expect(pages.reduce((a, b) => a + b, 0)).toBe(LIVE + 1 - 3);
    expect(rest.state).toMatchObject({
      phase: 'done',
      subjects: LIVE + 1,
      rewrapped: LIVE,
      rehashed: 2 * LIVE,
      resealed: 1,
    });
    await allUnderB(store, values);
    expect((await store.listLookupKeys()).map((k) => k.wrappedBy)).toEqual([deps.pii.keyId]);

    const again = await rotateKeys(deps, { pageSize: 3 });
    expect(again).toMatchObject({ pages: 0, done: true, alreadyDone: true });
    await store.close();
  });

  it('two runners at once move and count every row once', async () => {
    const { store, values, deps } = await setup();
    const [a, b] = await Promise.all([rotateKeys(deps, { pageSize: 2 }), rotateKeys(deps, { pageSize: 2 })]);
    expect(a.done && b.done).toBe(true);
    const state = await store.getKeyRotation(deps.pii.keyId);
    expect(state).toMatchObject({ subjects: LIVE + 1, rewrapped: LIVE, rehashed: 2 * LIVE, resealed: 1 });
    await allUnderB(store, values);
    await store.close();
  });

  it('refuses to run without a retired key, and stops on a data key no configured key opens', async () => {
    const { store } = await setup();
    const onlyB = await createPiiCrypto(fromBase64(toBase64(B)));
    await expect(rotateKeys({ store, pii: onlyB, clock })).rejects.toThrow(RotationError);
    const wrongRetired = await createPiiCrypto(fromBase64(toBase64(B)), {
      retired: [crypto.getRandomValues(new Uint8Array(32))],
    });
    await expect(rotateKeys({ store, pii: wrongRetired, clock })).rejects.toThrow(
      /opens under neither PII_KEY nor PII_KEYS_RETIRED/,
    );
    await store.close();
  });
});
