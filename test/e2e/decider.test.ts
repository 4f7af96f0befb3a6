/**
 * The batch decider (issue 17): a batch of inbox events is decided from one read for everyone and
 * one write unit per person; a person's events keep their order and a repeated message id in one
 * batch is a duplicate; an API call that changes a person between the batch's read and its commit
 * wins, and the person's events are decided again from what it left. Fictitious numbers only.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Store, WriteUnit } from '../../src/store/port.ts';
import { type Harness, json, startHarness } from '../helpers/harness.ts';
import { nextWamid, textMessage } from '../helpers/whatsapp.ts';

// +49 151 2345 6xxx: fictitious numbers of the test block
const wa = (n: number) => `4915123456${String(700 + n)}`;
const READS = [
  'identifiersByHash',
  'identifiersOf',
  'getStates',
  'getStatesFor',
  'getSubject',
  'getSubjects',
  'findSubjectByHash',
  'tombstonesFor',
] as const;

let h: Harness;
afterEach(async () => {
  await h?.close();
});

/** A store that counts the person reads and the units committed, and can run work inside a read. */
/** A person known to the service: a form's marketing opt-in request for `wa(n)`; their number. */
async function requestOptIn(harness: Harness, n: number): Promise<string> {
  const phone = `+${wa(n)}`;
  await harness.request('/v1/consents', {
    method: 'POST',
    role: 'intake',
    json: { phone, purposes: ['marketing'] },
  });
  return phone;
}

function counting() {
  const reads = new Map<string, number>();
  const units: WriteUnit[] = [];
  const hook: { getStatesFor: null | (() => Promise<void>) } = { getStatesFor: null };
  const wrap = (store: Store) =>
    new Proxy(store, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (typeof v !== 'function') return v;
        if (prop === 'commit')
          return (u: WriteUnit) => {
            units.push(u);
            return target.commit(u);
          };
        if ((READS as readonly string[]).includes(prop as string))
          return async (...args: unknown[]) => {
            reads.set(prop as string, (reads.get(prop as string) ?? 0) + 1);
            const out = await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
            const run = prop === 'getStatesFor' ? hook.getStatesFor : null;
            if (run) {
              hook.getStatesFor = null;
              await run();
            }
            return out;
          };
        return v.bind(target);
      },
    });
  const total = () => [...reads.values()].reduce((a, b) => a + b, 0);
  const reset = () => {
    reads.clear();
    units.splice(0);
  };
  return { reads, units, hook, wrap, total, reset };
}

const ts = (x: Harness) => String(Math.floor(x.now().getTime() / 1000));

const status = async (x: Harness, phone: string) =>
  (
    await json<{ purposes: Record<string, { status: string }> }>(
      await x.request(`/v1/subjects/${encodeURIComponent(phone)}`, { role: 'operator' }),
    )
  ).purposes;

describe('batch decider', () => {
  it('decides a batch of 30 STOPs from a handful of reads, not several per event', async () => {
    const c = counting();
    h = await startHarness({ wrapStore: c.wrap });
    // Replies wait in the outbox: the dispatcher's reads would be counted with the decider's (its pass
    // can run before the inbox rows leave the inbox file, after the decisions' commit).
    h.services.dispatcher.pause();
    for (const round of [1, 2]) {
      await h.services.inbox?.stop();
      const stops = Array.from({ length: 30 }, (_, n) => textMessage(wa(n), 'STOP', { timestamp: ts(h) }));
      expect((await h.acknowledge(...stops)).status).toBe(200);
      c.reset();
      h.services.inbox?.start();
      // round 1: 30 people new to us; round 2: the same 30 again (a repeated STOP is evidence)
      expect(await h.drained()).toEqual({ applied: 30, duplicates: 0, ignored: 0 });
      // tombstones, identifiers, subjects, states: once each for the batch (round 1 finds nobody)
      expect(c.total(), `${round}: ${JSON.stringify([...c.reads])}`).toBeLessThanOrEqual(4);
      // one unit per person; the inbox rows are in the inbox file (deleted there after these commits)
      const decided = c.units.filter((u) => (u.events?.length ?? 0) > 0);
      expect(decided).toHaveLength(30);
      expect(c.units.filter((u) => u.inboxDone?.length)).toHaveLength(0);
      expect(await h.services.inboxStore!.depth()).toBe(0);
      h.advance(60_000);
    }
    for (const n of [0, 29]) {
      const purposes = await status(h, `+${wa(n)}`);
      expect(Object.values(purposes).map((p) => p.status)).toEqual(['opted_out', 'opted_out']);
    }
    expect(await json(await h.request('/v1/ledger/verify', { role: 'auditor' }))).toMatchObject({ ok: true });
    expect(await h.services.inboxStore!.depth()).toBe(0);
  });

  it("writes one person's batch as one unit in their order; the same message id twice is a duplicate", async () => {
    const c = counting();
    h = await startHarness({ wrapStore: c.wrap });
    const phone = await requestOptIn(h, 40);
    await h.services.inbox?.stop();
    const t = Number(ts(h));
    const stop = nextWamid();
    await h.acknowledge(
      textMessage(wa(40), 'JA', { timestamp: t }),
      textMessage(wa(41), 'STOP', { timestamp: t }),
      textMessage(wa(40), 'STOP', { timestamp: t + 1, id: stop }),
      textMessage(wa(40), 'STOP', { timestamp: t + 1, id: stop }),
    );
    c.reset();
    h.services.inbox?.start();
    expect(await h.drained()).toEqual({ applied: 3, duplicates: 1, ignored: 0 });
    const units = c.units.filter((u) => (u.events?.length ?? 0) > 0);
    expect(units).toHaveLength(2);
    const mine = units.find((u) => u.events?.some((e) => e.action === 'confirmed'));
    // JA, then STOP (both purposes): confirmed before opted_out, one dedupe key per message
    expect(mine?.events?.map((e) => e.action)).toEqual(['confirmed', 'opted_out', 'opted_out']);
    expect(mine?.dedupeKeys).toHaveLength(2);
    expect(mine?.inboxDone).toBeUndefined();
    expect((await status(h, phone)).marketing?.status).toBe('opted_out');
    // the duplicate answers nothing: one confirmation of the opt-in, one of the opt-out
    const sent = await h.services.store.listJobs({ kind: 'whatsapp.send' });
    expect(sent.filter((j) => j.payload.message === 'optOutConfirmed')).toHaveLength(2);
    expect(await json(await h.request('/v1/ledger/verify', { role: 'auditor' }))).toMatchObject({ ok: true });
  });

  it("keeps one person's order across the slices of a batch read (JA first, STOP 70 events later)", async () => {
    h = await startHarness();
    const phone = await requestOptIn(h, 60);
    await h.services.inbox?.stop();
    const t = Number(ts(h));
    const others = Array.from({ length: 68 }, (_, n) => textMessage(wa(100 + n), 'STOP', { timestamp: t }));
    await h.acknowledge(
      textMessage(wa(60), 'JA', { timestamp: t }),
      ...others,
      textMessage(wa(60), 'STOP', { timestamp: t + 1 }),
    );
    h.services.inbox?.start();
    expect(await h.drained()).toEqual({ applied: 70, duplicates: 0, ignored: 0 });
    expect((await status(h, phone)).marketing?.status).toBe('opted_out');
    const history = await json<{ events: Array<{ action: string }> }>(
      await h.request(`/v1/subjects/${encodeURIComponent(phone)}/history`, { role: 'auditor' }),
    );
    const actions = history.events.map((e) => e.action);
    expect(actions.indexOf('confirmed')).toBeGreaterThan(-1);
    expect(actions.indexOf('confirmed')).toBeLessThan(actions.indexOf('opted_out'));
  });

  it('an API change between the batch read and its commit wins; the STOP is decided again from it', async () => {
    const c = counting();
    h = await startHarness({ wrapStore: c.wrap });
    // The person is known (a form's opt-in request), so the batch reads their state.
    const phone = await requestOptIn(h, 50);
    h.advance(1_000);
    await h.services.inbox?.stop();
    await h.acknowledge(textMessage(wa(50), 'STOP', { timestamp: ts(h) }));
    h.advance(5_000);
    const apiAt = h.now().toISOString();
    let api = 0;
    // Runs while the decider holds its read of the person: an operator's opt-out of one purpose.
    c.hook.getStatesFor = async () => {
      const res = await h.request(`/v1/subjects/${encodeURIComponent(phone)}/opt-out`, {
        method: 'POST',
        role: 'operator',
        json: { purposes: ['transactional'] },
      });
      api = res.status;
    };
    h.services.inbox?.start();
    expect(await h.drained()).toMatchObject({ applied: 1 });
    expect(api).toBe(200);
    const row = (await h.services.store.getStatesFor([await subjectId(h, phone)])).find(
      (s) => s.purpose === 'transactional',
    );
    // decided from the API's row (its time kept), not from the stale read that had none
    expect(row?.status).toBe('opted_out');
    expect([row?.withdrawnAt, row?.crmOptedOutAt]).toContain(apiAt);
    expect((await status(h, phone)).marketing?.status).toBe('opted_out');
    const history = await json<{ events: Array<{ action: string; source: string; purpose: string }> }>(
      await h.request(`/v1/subjects/${encodeURIComponent(phone)}/history`, { role: 'auditor' }),
    );
    expect(history.events.filter((e) => e.source === 'api')).toHaveLength(1);
    expect(
      history.events
        .filter((e) => e.source === 'whatsapp')
        .map((e) => e.purpose)
        .sort(),
    ).toEqual(['marketing', 'transactional']);
  });
});

async function subjectId(x: Harness, phone: string): Promise<string> {
  const s = await x.services.subjects.findValue(phone);
  if (!s) throw new Error('no such person');
  return s.row.id;
}
