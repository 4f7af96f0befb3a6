/**
 * The durable inbox (issue 17): what is stored on the acknowledgement path (minimised, only events
 * that matter), the send guard's view of undecided opt-outs, per-person order in a batch, and
 * poisoned events. Fictitious numbers and BSUIDs only.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/port.ts';
import { type Harness, json, startHarness } from '../helpers/harness.ts';
import { nextWamid, statusUpdate, textMessage } from '../helpers/whatsapp.ts';

const PHONE = '+4915123456791';
const WA = '4915123456791';
const BSUID = 'DE.7000000000000000791';
const OTHER = '4915123456792';
const ts = (h: Harness) => String(Math.floor(h.now().getTime() / 1000));

let h: Harness;
afterEach(async () => {
  await h?.close();
});

async function optIn(x: Harness, phone: string, wa: string) {
  await x.request('/v1/consents', {
    method: 'POST',
    role: 'intake',
    json: { phone, purposes: ['marketing'] },
  });
  await x.webhook(textMessage(wa, 'JA', { timestamp: ts(x) }));
  await x.drain();
  x.graph.reset();
}

const status = async (x: Harness, phone: string) =>
  (
    await json<{ purposes: Record<string, { status: string }> }>(
      await x.request(`/v1/subjects/${encodeURIComponent(phone)}`, { role: 'operator' }),
    )
  ).purposes.marketing?.status;

describe('durable inbox', () => {
  it('stores keywords minimised, drops ordinary text and plain statuses, stores a number/BSUID pair once', async () => {
    h = await startHarness();
    await optIn(h, PHONE, WA);
    await h.services.inbox?.stop();
    const pair = { waId: WA, userId: BSUID };
    const res = await h.acknowledge(
      textMessage(WA, 'Does it come in another colour?', { timestamp: ts(h) }),
      statusUpdate(WA, nextWamid(), 'delivered'),
      statusUpdate(pair, nextWamid(), 'delivered'),
      statusUpdate(pair, nextWamid(), 'read'),
      textMessage(OTHER, 'STOP', { timestamp: ts(h) }),
    );
    expect(await json(res)).toMatchObject({ received: 5, stored: 2, dropped: 3 });
    const rows = await h.services.inboxStore!.read(10);
    expect(rows).toHaveLength(2);
    const opened = await Promise.all(
      rows.map(async (r) => JSON.parse(await h.services.pii.openService(r.payloadEnc, `inbox:${r.id}`))),
    );
    expect(opened.map((e) => e.t)).toEqual(['link', 'keyword']);
    expect(opened[1]).toMatchObject({ action: 'opt_out', matched: 'stop', who: { phone: `+${OTHER}` } });
    // never the message text, and the payload is not readable in the row
    for (const r of rows) expect(r.payloadEnc).not.toContain(OTHER);
    expect(JSON.stringify(opened)).not.toContain('colour');
    // only the opt-out carries lookup hashes (the send guard's question)
    expect(rows.map((r) => [r.optOut, r.hashes.length])).toEqual([
      [null, 0],
      ['*', 1],
    ]);
    // the same pair again in a later delivery: remembered, not stored again
    const again = await h.acknowledge(statusUpdate(pair, nextWamid(), 'delivered'));
    expect(await json(again)).toMatchObject({ stored: 0, dropped: 1 });
    h.services.inbox?.start();
    await h.drained();
    // the link was decided: a STOP under the BSUID alone finds the person known by number
    await h.webhook(textMessage({ userId: BSUID }, 'STOP', { timestamp: ts(h) }));
    expect(await status(h, PHONE)).toBe('opted_out');
    expect(await status(h, `+${OTHER}`)).toBe('opted_out');
  });

  it('the send guard refuses while an acknowledged STOP waits in the inbox', async () => {
    h = await startHarness();
    await optIn(h, PHONE, WA);
    await h.services.inbox?.stop();
    expect((await h.acknowledge(textMessage(WA, 'STOP', { timestamp: ts(h) }))).status).toBe(200);
    expect(await status(h, PHONE)).toBe('opted_in');
    const res = await h.request('/v1/messages', {
      method: 'POST',
      role: 'operator',
      json: { phone: PHONE, purpose: 'marketing', text: 'Winter sale' },
    });
    expect(res.status).toBe(409);
    expect(await json(res)).toMatchObject({ error: { code: 'NO_CONSENT' } });
    expect(h.graph.requests).toHaveLength(0);
    h.services.inbox?.start();
    expect(await h.drained()).toMatchObject({ applied: 1 });
    expect(await status(h, PHONE)).toBe('opted_out');
    expect(await h.services.inboxStore!.depth()).toBe(0);
  });

  it("keeps one person's order within a batch: JA then STOP (with another person between) ends opted_out", async () => {
    h = await startHarness();
    await h.request('/v1/consents', {
      method: 'POST',
      role: 'intake',
      json: { phone: PHONE, purposes: ['marketing'] },
    });
    await h.services.inbox?.stop();
    const t = Number(ts(h));
    await h.acknowledge(
      textMessage(WA, 'JA', { timestamp: t }),
      textMessage(OTHER, 'STOP', { timestamp: t }),
      textMessage(WA, 'STOP', { timestamp: t + 1 }),
    );
    h.services.inbox?.start();
    expect(await h.drained()).toMatchObject({ applied: 3 });
    expect(await status(h, PHONE)).toBe('opted_out');
    const history = await json<{ events: Array<{ action: string }> }>(
      await h.request(`/v1/subjects/${encodeURIComponent(PHONE)}/history`, { role: 'auditor' }),
    );
    const actions = history.events.map((e) => e.action);
    expect(actions.indexOf('confirmed')).toBeGreaterThan(-1);
    expect(actions.indexOf('confirmed')).toBeLessThan(actions.indexOf('opted_out'));
  });

  it('a poisoned event goes to the dead events after its attempts; the others are decided', async () => {
    let poison: string | null = null;
    h = await startHarness({
      wrapStore: (store: Store) =>
        new Proxy(store, {
          get(target, prop, receiver) {
            if (prop === 'tombstonesFor')
              return async (hashes: string[]) => {
                if (poison && hashes.includes(poison)) throw new TypeError('fixture: poisoned');
                return target.tombstonesFor(hashes);
              };
            const v = Reflect.get(target, prop, receiver);
            return typeof v === 'function' ? v.bind(target) : v;
          },
        }),
    });
    poison = await h.services.subjects.hash(`+${OTHER}`);
    await h.services.inbox?.stop();
    await h.acknowledge(
      textMessage(OTHER, 'STOP', { timestamp: ts(h) }),
      textMessage(WA, 'STOP', { timestamp: ts(h) }),
    );
    h.services.inbox?.start();
    await h.drained();
    expect(await status(h, PHONE)).toBe('opted_out');
    expect(await h.services.inboxStore!.depth()).toBe(0);
    const dead = await h.services.store.listDeadEvents(10);
    expect(dead.map((d) => [d.kind, d.reason])).toEqual([
      ['inbox:keyword', 'decision failed 3 times: TypeError'],
    ]);
    expect(h.logs.join('')).not.toContain(OTHER);
  });
});
