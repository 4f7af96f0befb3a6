/**
 * The durable inbox in the Store contract (issue 17): appended rows are read oldest first, an
 * undecided opt-out is found by any of its identifier hashes, and a unit that decides a row deletes
 * it atomically with its other writes (and keeps it when the unit fails). Called by `storeContract`.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { InboxRow } from '../src/store/inbox-sql.ts';
import type { Store } from '../src/store/port.ts';
import { at, event, ok, subject } from './store-fixtures.ts';

const row = (id: string, over: Partial<InboxRow> = {}): InboxRow => ({
  id,
  receivedAt: at(0),
  optOut: null,
  hashes: [],
  payloadEnc: `sealed-${id}`,
  ...over,
});

export function inboxContract(get: () => Store): void {
  describe('inbox', () => {
    let store: Store;
    beforeEach(() => {
      store = get();
    });

    it('reads rows oldest first, counts them, and keeps the first row of an id', async () => {
      await ok(store, { inbox: [row('in-z'), row('in-a')] });
      await ok(store, { inbox: [row('in-m'), row('in-a', { payloadEnc: 'other' })] });
      const rows = await store.readInbox(10);
      expect(rows.map((r) => r.id)).toEqual(['in-z', 'in-a', 'in-m']);
      expect(rows[1]).toEqual(row('in-a'));
      expect(await store.readInbox(2)).toHaveLength(2);
      expect(await store.inboxDepth()).toBe(3);
    });

    it('finds undecided opt-outs by any identifier hash, never other rows', async () => {
      await ok(store, {
        inbox: [
          row('in-1', { optOut: '*', hashes: ['h-phone-1', 'h-bsuid-1'] }),
          row('in-2', { optOut: 'marketing', hashes: ['h-phone-2'] }),
          row('in-3', { optOut: null, hashes: ['h-phone-3'] }),
        ],
      });
      expect(await store.inboxOptOuts(['h-bsuid-1'])).toEqual(['*']);
      expect((await store.inboxOptOuts(['h-phone-2', 'h-phone-1'])).sort()).toEqual(['*', 'marketing']);
      expect(await store.inboxOptOuts(['h-phone-3'])).toEqual([]);
      expect(await store.inboxOptOuts([])).toEqual([]);
      expect((await store.readInbox(5)).find((r) => r.id === 'in-1')?.hashes).toEqual([
        'h-phone-1',
        'h-bsuid-1',
      ]);
    });

    it('a unit that decides a row deletes it with its writes; a failing unit keeps it', async () => {
      const s = subject(1);
      await ok(store, { inbox: [row('in-1'), row('in-2')] });
      await ok(store, { newSubject: s, events: [event('ev-1', s.id)], inboxDone: ['in-1'] });
      expect((await store.readInbox(5)).map((r) => r.id)).toEqual(['in-2']);
      // a second subject with the same phone hash: conflict, nothing of the unit is written
      const again = await store.commit({ newSubject: { ...s, id: 'sub-other' }, inboxDone: ['in-2'] });
      expect(again.status).toBe('conflict');
      expect(await store.inboxDepth()).toBe(1);
      // a duplicate dedupe key: nothing written either
      await ok(store, { dedupeKeys: ['wa:k'] });
      expect((await store.commit({ dedupeKeys: ['wa:k'], inboxDone: ['in-2'] })).status).toBe('duplicate');
      expect(await store.inboxDepth()).toBe(1);
      await ok(store, { inboxDone: ['in-2', 'in-missing'] });
      expect(await store.inboxDepth()).toBe(0);
    });
  });
}
