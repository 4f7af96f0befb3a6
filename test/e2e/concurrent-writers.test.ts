/**
 * Two service graphs on one SQLite file, as two processes on the same DATA_DIR (or two Workers
 * isolates on one D1) would be: each has its own per-person lock, so only the store can keep a
 * decision from landing on a state that changed after it was read. The interleavings are forced:
 * the other graph's change runs exactly between this graph's read and its commit.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Services } from '../../src/app/services.ts';
import { decide, isPersonsOwn } from '../../src/core/consent.ts';
import type { PurposeState } from '../../src/core/types.ts';
import type { ChangeRequest, ChangeResult } from '../../src/service/consent-service.ts';
import type { Store, WriteUnit } from '../../src/store/port.ts';
import { startHarness } from '../helpers/harness.ts';

const NUMBER = '+4915123450001'; // fictitious
const T0 = Date.parse('2026-03-02T09:00:00.000Z');
/** Distinct seconds: ties would let the core's same-second rule decide instead of the order. */
const second = (n: number) => new Date(T0 + n * 1000).toISOString();

const request = (over: Partial<ChangeRequest>): ChangeRequest => ({
  identity: { phone: NUMBER },
  intent: 'request',
  purposes: ['marketing'],
  source: 'api',
  occurredAt: second(0),
  evidence: { reason: 'test' },
  create: true,
  reply: null,
  ...over,
});

/**
 * Starts a harness whose store runs `between()` (once armed) just before the next commit that
 * carries ledger events, and a twin graph on the same file to do the interfering change.
 */
async function racing() {
  let between: (() => Promise<void>) | null = null;
  const commits: WriteUnit[] = [];
  const h = await startHarness({
    wrapStore: (store: Store) =>
      new Proxy(store, {
        get(target, prop) {
          if (prop === 'commit') {
            return async (unit: WriteUnit) => {
              commits.push(unit);
              const run = between;
              if (run && (unit.events?.length ?? 0) > 0) {
                between = null;
                await run();
              }
              return target.commit(unit);
            };
          }
          const value: unknown = Reflect.get(target, prop);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      }),
  });
  const twin = await h.twin();
  return {
    h,
    twin: twin.services,
    commits,
    arm(fn: () => Promise<void>) {
      between = fn;
    },
    async close() {
      await twin.close();
      await h.close();
    },
  };
}

async function statesOf(services: Services) {
  const hash = await services.consent.hashOf(NUMBER);
  const row = await services.store.findSubjectByHash(hash);
  if (!row) throw new Error('person not found');
  return { id: row.id, states: await services.store.getStates(row.id) };
}

const applied = (r: ChangeResult) => expect(r.status).toBe('applied');

/** The random test's source per intent: the STOP comes through the API (the person's own, rule 4a). */
const SOURCE_OF = { request: 'form', confirm: 'whatsapp', opt_out: 'api' } as const;

describe('two writers on one database', () => {
  let race: Awaited<ReturnType<typeof racing>> | null = null;
  afterEach(async () => {
    await race?.close();
    race = null;
  });

  it('a YES decided from "pending" while a STOP lands elsewhere is decided again: the person stays opted out', async () => {
    race = await racing();
    const { h, twin } = race;
    applied(await h.services.consent.change(request({})));
    expect((await statesOf(h.services)).states[0]?.status).toBe('pending');

    // This graph decides the confirming YES from "pending"; the twin records a STOP in between.
    race.arm(async () => {
      applied(
        await twin.consent.change(request({ intent: 'opt_out', source: 'whatsapp', occurredAt: second(2) })),
      );
    });
    const yes = request({ intent: 'confirm', source: 'whatsapp', create: false, occurredAt: second(3) });
    applied(await h.services.consent.change(yes));

    // Without the store's check the YES, decided from "pending", would have opted the person in
    // after their STOP. Decided again from "opted out", it only leaves evidence.
    const { id, states } = await statesOf(h.services);
    expect(states).toEqual([expect.objectContaining({ status: 'opted_out', source: 'whatsapp' })]);
    const events = await h.services.store.listEvents(id);
    expect(events.map((e) => e.action)).toEqual(['requested', 'opted_out', 'evidence']);
    // The refused attempt carried the confirmation; it is nowhere in the ledger.
    const refused = race.commits.filter((u) => u.events?.some((e) => e.action === 'confirmed'));
    expect(refused).toHaveLength(1);
    expect(events.some((e) => e.id === refused[0]?.events?.[0]?.id)).toBe(false);
    expect(h.logs.join('')).toContain('consent changed concurrently elsewhere');
  });

  it('an erasure committed between a consent change read and its commit: the change writes nothing, nothing is sent', async () => {
    race = await racing();
    const { h, twin } = race;
    applied(await h.services.consent.change(request({})));
    const { id } = await statesOf(h.services);
    const eventsBefore = (await h.services.store.listEvents(id)).length;
    // This graph decides a START (a new double opt-in, which would send a message); the twin erases
    // the person in between (a second process, with its own locks).
    race.arm(async () => {
      await twin.erasure.request({ e164: NUMBER, source: 'api' });
    });
    const r = await h.services.consent.change(
      request({ intent: 'opt_out', source: 'whatsapp', occurredAt: second(5), reply: 'optOutConfirmed' }),
    );
    // Without the tombstone check inside the commit the opt-out and its reply would be stored.
    expect(r.status).toBe('erased');
    // The erasure's own event may be there already (the twin runs its local task); the opt-out is not.
    const after = (await h.services.store.listEvents(id)).filter((e) => e.action !== 'erased');
    expect(after.map((e) => e.action)).toHaveLength(eventsBefore);
    expect(after.map((e) => e.action)).not.toContain('opted_out');
    const jobs = await h.services.store.listJobs({ subjectId: id, kind: 'whatsapp.send', limit: 50 });
    expect(jobs.filter((j) => j.status === 'pending')).toEqual([]);
  });

  it('two graphs creating the same new person: the loser reads the winner and adds its decision', async () => {
    race = await racing();
    const { h, twin } = race;
    race.arm(async () => {
      applied(
        await twin.consent.change(request({ intent: 'opt_out', source: 'whatsapp', occurredAt: second(1) })),
      );
    });
    // This graph saw no person and decided to create one; the twin created them in between.
    applied(await h.services.consent.change(request({ occurredAt: second(2) })));
    const { id, states } = await statesOf(h.services);
    expect(states[0]).toMatchObject({ status: 'pending', statusBeforePending: 'opted_out' });
    expect((await h.services.store.listEvents(id)).map((e) => e.action)).toEqual(['opted_out', 'requested']);
    const subjects = await h.services.store.listSubjects('', 10);
    expect(subjects).toHaveLength(1);
  });

  it('random concurrent STOPs, STARTs and YESes through both graphs: every state is the replay of its ledger', async () => {
    race = await racing();
    const { h, twin } = race;
    const graphs = [h.services, twin];
    const numbers = Array.from({ length: 5 }, (_, i) => `+491512345${String(1000 + i)}`); // fictitious
    let seed = 7;
    const rnd = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const intents = ['opt_out', 'request', 'confirm'] as const;
    let n = 0;
    for (let round = 0; round < 40; round++) {
      await Promise.all(
        Array.from({ length: 6 }, () => {
          const g = graphs[Math.floor(rnd() * 2)]!;
          const e164 = numbers[Math.floor(rnd() * numbers.length)]!;
          const intent = intents[Math.floor(rnd() * intents.length)]!;
          const source = SOURCE_OF[intent];
          return g.consent.change(
            request({
              identity: { phone: e164 },
              intent,
              source,
              create: intent !== 'confirm',
              occurredAt: second(++n),
            }),
          );
        }),
      );
    }
    // Each decision must have been made from the state the ledger says the person was in: folding
    // the core's rules over the recorded events in ledger order gives back the stored state, field
    // for field. A decision made from an older state (a lost update) breaks this. Evidence events
    // are folded too (a repeated STOP still moves the withdrawal's time); each intent has its own
    // source here, so the source names the intent of an evidence event.
    const ttlMs = h.services.config.DOI_TTL_HOURS * 3_600_000;
    const intentOf = Object.fromEntries(Object.entries(SOURCE_OF).map(([i, s]) => [s, i])) as Record<
      string,
      (typeof intents)[number]
    >;
    let people = 0;
    for (const e164 of numbers) {
      const row = await h.services.store.findSubjectByHash(await h.services.consent.hashOf(e164));
      if (!row) continue;
      people++;
      let replayed: PurposeState | undefined;
      for (const e of await h.services.store.listEvents(row.id)) {
        const intent = intentOf[e.source];
        if (!intent) continue;
        const d = decide(replayed, {
          intent,
          purpose: e.purpose,
          subjectId: e.subjectId,
          source: e.source,
          byPerson: isPersonsOwn(e.source),
          occurredAt: e.occurredAt,
          ttlMs,
          textVersion: e.textVersion,
        });
        expect(d.action).toBe(e.action);
        replayed = d.next ?? replayed;
      }
      expect(await h.services.store.getStates(row.id)).toEqual(replayed ? [replayed] : []);
    }
    expect(people).toBe(numbers.length);
    // The schedule really raced: some decisions were refused by the store and made again.
    expect(h.logs.join('').split('consent changed concurrently elsewhere').length - 1).toBeGreaterThan(0);
  });
});
