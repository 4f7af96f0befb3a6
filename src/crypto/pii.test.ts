import { describe, expect, it } from 'vitest';
import { createPiiCrypto } from './pii.ts';

const key = () => crypto.getRandomValues(new Uint8Array(32));
const NUMBER = '+4915123456789'; // fictitious

describe('PII crypto with several keys', () => {
  it('stores under the current key and matches under every key, current first', async () => {
    const [a, b] = [key(), key()];
    const onlyA = await createPiiCrypto(a);
    const both = await createPiiCrypto(b, { retired: [a] });
    const underA = await onlyA.lookupHash(NUMBER);
    expect(await both.lookupHashes(NUMBER)).toEqual([await both.lookupHash(NUMBER), underA]);
    expect(await both.lookupHash(NUMBER)).not.toBe(underA);
    expect(both.retiredKeyIds).toEqual([onlyA.keyId]);
    // The current key listed as retired too is just the current key.
    const again = await createPiiCrypto(a, { retired: [a] });
    expect(again.retiredKeyIds).toEqual([]);
    expect(await again.lookupHashes(NUMBER)).toEqual([underA]);
  });

  it('opens data keys and sealed data of a retired key, and re-wraps and re-seals them under the current one', async () => {
    const [a, b] = [key(), key()];
    const onlyA = await createPiiCrypto(a);
    const onlyB = await createPiiCrypto(b);
    const both = await createPiiCrypto(b, { retired: [a] });
    const { key: dek, wrapped } = await onlyA.newSubjectKey('sub-1');
    const enc = await onlyA.encrypt(dek, NUMBER, 'phone:sub-1');
    expect(await both.decrypt(await both.subjectKey('sub-1', wrapped), enc, 'phone:sub-1')).toBe(NUMBER);
    const rewrapped = (await both.rewrap('sub-1', wrapped)) as string;
    expect(await both.rewrap('sub-1', rewrapped)).toBeNull();
    expect(await onlyB.decrypt(await onlyB.subjectKey('sub-1', rewrapped), enc, 'phone:sub-1')).toBe(NUMBER);
    await expect(onlyB.subjectKey('sub-2', wrapped)).rejects.toThrow();
    const sealed = await onlyA.sealService('{"raw":1}', 'dead-event:d1');
    expect(await both.openService(sealed, 'dead-event:d1')).toBe('{"raw":1}');
    const resealed = (await both.reseal(sealed, 'dead-event:d1')) as string;
    expect(await onlyB.openService(resealed, 'dead-event:d1')).toBe('{"raw":1}');
    expect(await both.reseal(resealed, 'dead-event:d1')).toBeNull();
  });

  it("keeps matching a retired key's hashes from its wrapped lookup key alone, bound to its id", async () => {
    const [a, b] = [key(), key()];
    const underA = await (await createPiiCrypto(a)).lookupHash(NUMBER);
    const both = await createPiiCrypto(b, { retired: [a] });
    const rows = await both.wrapLookupKeys();
    expect(rows).toHaveLength(1);
    const later = await createPiiCrypto(b);
    expect(await later.loadLookupKeys(rows)).toEqual([]);
    expect(await later.lookupHashes(NUMBER)).toEqual([await later.lookupHash(NUMBER), underA]);
    // A row relabelled as another key, or wrapped under a key not configured, does not load.
    const relabelled = await createPiiCrypto(b);
    expect(await relabelled.loadLookupKeys([{ id: 'ffffffffffffffff', wrapped: rows[0]!.wrapped }])).toEqual([
      'ffffffffffffffff',
    ]);
    const stranger = await createPiiCrypto(key());
    expect(await stranger.loadLookupKeys(rows)).toEqual([rows[0]!.id]);
    expect(await stranger.lookupHashes(NUMBER)).toHaveLength(1);
  });
});
