/**
 * Readers skip, never drop (sync rule 8), end to end: random signed deliveries mix valid opt-outs
 * (STOP texts, 131050 statuses of messages we sent, Meta `user_preferences` stops; by number, by
 * BSUID, by both) with random unreadable items. Every delivery is answered 200 with the unreadable
 * items counted in `skipped`; every readable opt-out is stored (the person is `opted_out`, found
 * by each of their identifiers); each unreadable item is kept in the dead-event table; and nothing
 * else changes (no other person appears, a bystander's consent stays as it was).
 * Fictitious identifiers only; the parser-level property is connectors/whatsapp/parse.property.test.ts.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaseCounter, runs, timeoutFor } from '../helpers/fuzz.ts';
import { type Harness, json, startHarness } from '../helpers/harness.ts';
import {
  type Sender,
  statusUpdate,
  textMessage,
  userPreference,
  type WebhookChange,
} from '../helpers/whatsapp.ts';

const counter = new CaseCounter('test/e2e/skip-never-drop.property.test.ts');
const N = 25;
let h: Harness;
let person = 0;
const BYSTANDER = '+4915112340999';

beforeAll(async () => {
  h = await startHarness();
  // A bystander opted in to marketing: no delivery below may change them.
  await h.services.consent.change({
    identity: { phone: BYSTANDER },
    intent: 'grant',
    purposes: ['marketing'],
    source: 'api',
    occurredAt: h.now().toISOString(),
    evidence: {},
    create: true,
    reply: null,
  });
});
afterAll(async () => {
  counter.report();
  await h?.close();
});

type Kind = 'number' | 'bsuid' | 'both';
interface Stop {
  kind: Kind;
  how: 'text' | 'status' | 'preference';
}
const stop: fc.Arbitrary<Stop> = fc.record({
  kind: fc.constantFrom<Kind>('number', 'bsuid', 'both'),
  how: fc.constantFrom<'text' | 'status' | 'preference'>('text', 'status', 'preference'),
});

/** Items Meta's schema would never produce, in the array of a change where events belong. */
const junkItem: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant({ type: 'text', id: 42 }),
  fc.constant({ from: 16505550000, id: 'wamid.x', timestamp: '1', type: 'text', text: { body: 'STOP' } }),
  fc.constant({ id: 'wamid.nobody', timestamp: '1700000000', type: 'text', text: { body: 'STOP' } }),
  fc.constant({ status: 'failed', errors: 'none' }),
  fc.constant({ wa_id: '16505550000', value: 42, category: 'marketing_messages', timestamp: 1 }),
  fc.anything({ maxDepth: 2 }),
);
const junkChange = fc
  .tuple(
    fc.constantFrom('messages', 'statuses', 'user_preferences'),
    fc.array(junkItem, { minLength: 1, maxLength: 3 }),
  )
  .map(
    ([array, items]): WebhookChange => ({
      field: array === 'user_preferences' ? 'user_preferences' : 'messages',
      value: { messaging_product: 'whatsapp', [array]: items },
    }),
  );

function identifiers(kind: Kind): { sender: Sender; refs: string[]; phone?: string } {
  person += 1;
  const digits = `4915112${String(person).padStart(6, '0')}`;
  const b = `DE.8${String(person).padStart(6, '0')}0000000000`;
  if (kind === 'number') return { sender: digits, refs: [`+${digits}`], phone: `+${digits}` };
  if (kind === 'bsuid') return { sender: { userId: b }, refs: [b] };
  return { sender: { waId: digits, userId: b }, refs: [`+${digits}`, b], phone: `+${digits}` };
}

/** A status with 131050 needs a person we know: a BSUID-less person is first created by a START. */
async function stopChange(
  s: Stop,
): Promise<{ change: WebhookChange; refs: string[]; marketingOnly: boolean }> {
  const id = identifiers(s.kind);
  const ts = Math.floor(h.now().getTime() / 1000);
  if (s.how === 'text')
    return {
      change: textMessage(id.sender, 'STOP', { timestamp: String(ts) }),
      refs: id.refs,
      marketingOnly: false,
    };
  if (s.how === 'preference')
    return {
      change: userPreference(id.sender, 'stop', { timestamp: ts }),
      refs: id.refs,
      marketingOnly: true,
    };
  // 131050 is only acted on for someone we know: make them known first (a START, pending).
  await h.webhook(textMessage(id.sender, 'START', { timestamp: String(ts - 5) }));
  return {
    change: statusUpdate(id.sender, `wamid.SKIP${person}`, 'failed', [131050], { timestamp: ts }),
    refs: id.refs,
    marketingOnly: true,
  };
}

const states = async (ref: string) =>
  json<{ known: boolean; purposes: Record<string, { status: string }> }>(
    await h.request(`/v1/subjects/${encodeURIComponent(ref)}`, { role: 'operator' }),
  );

describe('signed deliveries with unreadable events', () => {
  it(
    'store every readable opt-out, keep every unreadable event, and change nothing else',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(stop, { minLength: 1, maxLength: 4 }),
          fc.array(junkChange, { minLength: 1, maxLength: 3 }),
          fc.integer({ min: 0, max: 1000 }),
          async (stops, junk, seed) => {
            counter.hit('mixed delivery');
            const prepared = [];
            for (const s of stops) prepared.push(await stopChange(s));
            // Interleave the readable and unreadable changes.
            const changes: WebhookChange[] = [];
            const pool = [...prepared.map((p) => p.change), ...junk];
            let k = seed;
            while (pool.length) {
              k = (k * 31 + 7) % 997;
              changes.push(...pool.splice(k % pool.length, 1));
            }
            const junkItems = junk.reduce(
              (n, c) => n + (Object.values(c.value).find(Array.isArray)?.length ?? 0),
              0,
            );
            const subjectsBefore = (await h.services.store.listSubjects('', 100_000)).length;
            const deadBefore = await h.services.store.countDeadEvents();

            const res = await h.webhook(...changes);
            expect(res.status).toBe(200);
            const body = await json<{ skipped: number }>(res);
            expect(body.skipped).toBe(junkItems);
            expect(await h.services.store.countDeadEvents()).toBe(Math.min(deadBefore + junkItems, 10_000));
            for (const p of prepared) {
              for (const ref of p.refs) {
                const st = await states(ref);
                expect(st.purposes.marketing?.status, `${ref}`).toBe('opted_out');
                if (!p.marketingOnly) expect(st.purposes.transactional?.status).toBe('opted_out');
              }
            }
            // Only the people the opt-outs name exist now (status opt-outs made theirs known before).
            const created = prepared.filter((_, i) => stops[i]?.how !== 'status').length;
            expect((await h.services.store.listSubjects('', 100_000)).length).toBe(subjectsBefore + created);
            expect((await states(BYSTANDER)).purposes.marketing?.status).toBe('opted_in');
          },
        ),
        { numRuns: runs(N, 'http') },
      );
    },
    timeoutFor(N, 2_000, 'http'),
  );
});
