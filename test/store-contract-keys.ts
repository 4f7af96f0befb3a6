/**
 * The API-key part of the Store contract: keys stored by digest, found by it, revoked once,
 * `lastUsedAt` only forwards, atomic with the audit entry. Called by `storeContract`.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { ApiKeyRow } from '../src/store/api-keys-sql.ts';
import type { Store } from '../src/store/port.ts';
import { at, ok } from './store-fixtures.ts';

const key = (n: number, over: Partial<ApiKeyRow> = {}): ApiKeyRow => ({
  id: `00000000000${n}`,
  digest: String(n).repeat(64).slice(0, 64),
  role: 'auditor',
  label: `key ${n}`,
  createdAt: at(n),
  createdBy: 'aaaaaaaaaaaa',
  lastUsedAt: null,
  revokedAt: null,
  revokedBy: null,
  ...over,
});

const auditEntry = (id: string) => ({
  id,
  at: at(0),
  actor: 'aaaaaaaaaaaa',
  role: 'admin',
  action: 'apikey.create',
  target: null,
  details: {},
});

export function apiKeysContract(get: () => Store): void {
  describe('api keys', () => {
    let store: Store;
    beforeEach(() => {
      store = get();
    });

    it('stores a key and finds it by digest and id; lists oldest first', async () => {
      await ok(store, { apiKeys: [key(2)] });
      await ok(store, { apiKeys: [key(1)] });
      expect(await store.findApiKey(key(1).digest)).toEqual(key(1));
      expect(await store.getApiKey(key(2).id)).toEqual(key(2));
      expect(await store.findApiKey('f'.repeat(64))).toBeNull();
      expect(await store.getApiKey('ffffffffffff')).toBeNull();
      expect((await store.listApiKeys()).map((k) => k.id)).toEqual([key(1).id, key(2).id]);
    });

    it('refuses a second key with the same digest, and the unit writes nothing (audit included)', async () => {
      await ok(store, { apiKeys: [key(1)] });
      const clash = { ...key(2), digest: key(1).digest };
      await expect(store.commit({ apiKeys: [clash], audit: [auditEntry('au-clash')] })).rejects.toThrow();
      expect(await store.getApiKey(clash.id)).toBeNull();
      expect((await store.listAudit(10)).map((a) => a.id)).not.toContain('au-clash');
    });

    it('revokes once: a second revocation keeps the first time and author', async () => {
      await ok(store, { apiKeys: [key(1)] });
      await ok(store, { revokeApiKeys: [{ id: key(1).id, at: at(5), by: 'admin-a00001' }] });
      await ok(store, { revokeApiKeys: [{ id: key(1).id, at: at(9), by: 'admin-b00002' }] });
      expect(await store.findApiKey(key(1).digest)).toMatchObject({
        revokedAt: at(5),
        revokedBy: 'admin-a00001',
      });
      // Revoking an unknown id changes nothing and is not an error.
      await ok(store, { revokeApiKeys: [{ id: 'ffffffffffff', at: at(5), by: 'x' }] });
      expect(await store.listApiKeys()).toHaveLength(1);
    });

    it('moves lastUsedAt only forwards', async () => {
      await ok(store, { apiKeys: [key(1)] });
      await ok(store, { touchApiKeys: [{ id: key(1).id, at: at(10) }] });
      await ok(store, { touchApiKeys: [{ id: key(1).id, at: at(3) }] });
      expect((await store.getApiKey(key(1).id))?.lastUsedAt).toBe(at(10));
      await ok(store, { touchApiKeys: [{ id: key(1).id, at: at(20) }] });
      expect((await store.getApiKey(key(1).id))?.lastUsedAt).toBe(at(20));
    });

    it('commits a key with its audit entry in one unit', async () => {
      await ok(store, { apiKeys: [key(3)], audit: [auditEntry('au-key')] });
      expect(await store.getApiKey(key(3).id)).toEqual(key(3));
      expect((await store.listAudit(10)).map((a) => a.id)).toContain('au-key');
    });
  });
}
