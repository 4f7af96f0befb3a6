/**
 * The Node inbox in a file of its own (`DATA_DIR/inbox.db`, issue 17): there is no commit across the
 * inbox file and the main database, so a batch's rows leave the inbox only after the main commit
 * that applied them. These tests crash the decider in that window (a hook that throws after the
 * main commit), decide again, and find every event kind decided once (no second ledger event, job
 * or reply); they move rows an older version left in the main database's `inbox` table (also twice,
 * as after a crash in mid-move); and they check that an erasure empties the inbox file's WAL.
 * Fictitious numbers (+49 151 2345 6xxx) and BSUIDs only.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { DurableInbox } from '../../src/service/inbox/durable-inbox.ts';
import { INBOX_FILE } from '../../src/store/inbox-store.ts';
import { type Harness, json, startHarness } from '../helpers/harness.ts';
import {
  buttonReply,
  interactiveReply,
  nextWamid,
  numberChange,
  statusUpdate,
  textMessage,
  userIdChange,
  userPreference,
} from '../helpers/whatsapp.ts';

let h: Harness;
afterEach(async () => {
  await h?.close();
});

const wa = (n: number) => `49151234566${String(n).padStart(2, '0')}`;
const ts = (x: Harness) => String(Math.floor(x.now().getTime() / 1000));

type Table = 'ledger' | 'outbox' | 'inbound_dedupe' | 'subjects' | 'subject_identifiers' | 'erasures';

/** Row counts of the main database's tables that a decision writes. */
function counts(x: Harness): Record<Table, number> {
  const db = new DatabaseSync(x.dbPath, { readOnly: true });
  try {
    const tables: Table[] = [
      'ledger',
      'outbox',
      'inbound_dedupe',
      'subjects',
      'subject_identifiers',
      'erasures',
    ];
    return Object.fromEntries(
      tables.map((t) => [t, Number(db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get()?.n ?? 0)]),
    ) as Record<Table, number>;
  } finally {
    db.close();
  }
}

/** A decider that dies right after its batch's main commit, before the rows leave the inbox file. */
function crashingDecider(x: Harness): DurableInbox {
  const s = x.services;
  if (!s.inboxStore) throw new Error('no inbox file');
  return new DurableInbox({
    inbox: s.inboxStore,
    pii: s.pii,
    inbound: s.inbound,
    deadEvents: s.deadEvents,
    clock: s.clock,
    log: s.log,
    afterDecided: () => {
      throw new Error('crash between the main commit and the inbox delete');
    },
  });
}

async function optIn(x: Harness, n: number) {
  await x.request('/v1/consents', {
    method: 'POST',
    role: 'intake',
    json: { phone: `+${wa(n)}`, purposes: ['marketing'] },
  });
  await x.webhook(textMessage(wa(n), 'JA', { timestamp: ts(x) }));
}

/** Decides what the inbox holds with a crash in the window, then again as after a restart. */
async function decideTwice(x: Harness, rows: number) {
  const inbox = x.services.inboxStore;
  if (!inbox) throw new Error('no inbox file');
  expect(await inbox.depth()).toBe(rows);
  // Jobs wait in the outbox meanwhile (an erasure's own job writes to the ledger when it runs).
  x.services.dispatcher.pause();
  await expect(crashingDecider(x).drainOnce()).rejects.toThrow(/crash between/);
  // Every decision is committed, and every row is still in the inbox file.
  expect(await inbox.depth()).toBe(rows);
  const once = counts(x);
  x.services.inbox?.start();
  const again = await x.drained();
  expect(await inbox.depth()).toBe(0);
  // Decided again: nothing written twice.
  expect(counts(x)).toEqual(once);
  await x.services.dispatcher.resume();
  return { once, again };
}

describe('inbox file', () => {
  it('every kind of inbox event decided again after a crash between its commit and the inbox delete is a no-op', async () => {
    h = await startHarness();
    for (const n of [1, 3, 5, 6, 7, 8]) await optIn(h, n);
    // person 7 and 8 are also known by a BSUID (linked by a status naming both)
    await h.webhook(
      statusUpdate({ waId: wa(7), userId: 'DE.7000000000000000707' }, nextWamid(), 'delivered'),
    );
    await h.drain();
    h.graph.reset();
    await h.services.inbox?.stop();
    const res = await h.acknowledge(
      textMessage(wa(1), 'STOP', { timestamp: ts(h) }), // keyword, with a reply
      buttonReply(wa(2), 'Unsubscribe', 'Unsubscribe', { timestamp: ts(h) }), // button
      statusUpdate(wa(3), nextWamid(), 'failed', [131050]), // Meta's marketing stop
      userPreference(wa(4), 'stop'), // user_preferences
      textMessage(wa(5), 'Löschen', { timestamp: ts(h) }), // erasure question, with a reply
      numberChange(wa(6), wa(16), { timestamp: ts(h) }), // identity change: number
      userIdChange('DE.7000000000000000707', 'DE.7000000000000000717', { timestamp: ts(h) }), // BSUID
      statusUpdate({ waId: wa(8), userId: 'DE.7000000000000000808' }, nextWamid(), 'read'), // link
    );
    expect(await json(res)).toMatchObject({ received: 8, stored: 8 });
    const { once, again } = await decideTwice(h, 8);
    // the first pass recorded them (opt-outs, evidence, replies, the new person by button and preference)
    expect(once.ledger).toBeGreaterThan(0);
    expect(again.applied).toBe(0);
    // one reply per STOP and per erasure question, whatever the decider did twice
    await h.drain();
    const sent = h.graph.sent().map((m) => m.to.replace(/\D/g, ''));
    expect(sent.filter((to) => to === wa(1))).toHaveLength(1);
    expect(sent.filter((to) => to === wa(5))).toHaveLength(1);
    expect(await json(await h.request('/v1/ledger/verify', { role: 'auditor' }))).toMatchObject({ ok: true });

    // The erasure confirmation (answers the question just sent): decided twice, one erasure.
    const question = h.graph.sent().find((m) => m.to.replace(/\D/g, '') === wa(5));
    expect(question?.type).toBe('interactive');
    await h.services.inbox?.stop();
    await h.acknowledge(
      interactiveReply(wa(5), 'ERASURE_CONFIRM', 'Ja, löschen', {
        timestamp: ts(h),
        contextId: question?.id as string,
      }),
    );
    const confirmed = await decideTwice(h, 1);
    expect(confirmed.once.erasures).toBe(1);
    // The decided rows' sealed identifiers left the inbox file's WAL with the erasure.
    await h.drain();
    expect(statSync(join(h.dir, `${INBOX_FILE}-wal`)).size).toBe(0);
  });

  it('rows an older version left in the main database are moved at boot and decided once, also when moved twice', async () => {
    h = await startHarness();
    for (const n of [20, 21, 22, 23, 24]) await optIn(h, n);
    await h.drain();
    h.graph.reset();
    await h.services.inbox?.stop();
    for (const n of [20, 21, 22, 23, 24])
      await h.acknowledge(textMessage(wa(n), 'STOP', { timestamp: ts(h) }));
    const inbox = h.services.inboxStore;
    if (!inbox) throw new Error('no inbox file');
    const rows = await inbox.read(10);
    expect(rows).toHaveLength(5);
    // As an older version left them: every row in the main database's `inbox` table; the first two
    // also still in the inbox file (a crash after the move's append, before its delete) and decided.
    expect((await h.services.store.commit({ inbox: rows })).status).toBe('committed');
    await inbox.delete(rows.slice(2).map((r) => r.id));
    h.services.inbox?.start();
    expect(await h.drained()).toMatchObject({ applied: 2 });
    const before = counts(h);
    await h.restart();
    // moved at boot: the main table is empty, the inbox file decides what it got
    expect(await h.services.store.inboxDepth()).toBe(0);
    const summary = await h.drained();
    expect(summary).toMatchObject({ applied: 3, duplicates: 2 });
    const after = counts(h);
    // three STOPs decided now (two purposes each), the two moved twice added nothing
    expect(after.ledger - before.ledger).toBe(3 * 2);
    expect(after.inbound_dedupe - before.inbound_dedupe).toBe(3);
    await h.drain();
    const sent = h.graph.sent().map((m) => m.to.replace(/\D/g, ''));
    for (const n of [20, 21, 22, 23, 24]) expect(sent.filter((to) => to === wa(n))).toHaveLength(1);
    expect(await json(await h.request('/v1/ledger/verify', { role: 'auditor' }))).toMatchObject({ ok: true });
  });

  it("an erasure through the API empties the inbox file's WAL (sealed identifiers of decided events)", async () => {
    h = await startHarness();
    await optIn(h, 30);
    await h.webhook(textMessage(wa(30), 'STOP', { timestamp: ts(h) }));
    const wal = join(h.dir, `${INBOX_FILE}-wal`);
    expect(statSync(wal).size).toBeGreaterThan(0);
    const res = await h.request('/v1/erasures', {
      method: 'POST',
      role: 'operator',
      json: { phone: `+${wa(30)}` },
    });
    expect(res.status).toBeLessThan(300);
    await h.drain();
    const { erasures } = await json<{ erasures: Array<{ status: string }> }>(
      await h.request('/v1/erasures', { role: 'operator' }),
    );
    expect(erasures.map((e) => e.status)).toEqual(['completed']);
    expect(statSync(wal).size).toBe(0);
  });
});
