/**
 * Two connections, one database (the decider thread beside the main thread, or two processes): each
 * has its own PII crypto and its own cache of unwrapped data keys. When one of them gives a person a
 * new data key (a shredded record that comes back: `Subjects.rekey`), the other must not keep using
 * the key it cached before: it would encrypt the person's new evidence under a key that no longer
 * exists, or fail to open what the first one wrote.
 */
import { describe, expect, it } from 'vitest';
import { createPiiCrypto } from '../src/crypto/pii.ts';
import { nodeCryptoPrimitives } from '../src/crypto/primitives.node.ts';

const KEY = new Uint8Array(32).map((_, i) => i + 1); // a test key, not a secret

describe('the data-key cache across two connections', () => {
  it('opens what the other side wrote under a new key for the same person', async () => {
    const main = await createPiiCrypto(KEY, { prims: nodeCryptoPrimitives });
    const decider = await createPiiCrypto(KEY, { prims: nodeCryptoPrimitives });
    const first = await main.newSubjectKey('subject-1');
    // The decider reads the person once: their key is cached there.
    const cached = await decider.subjectKey('subject-1', first.wrapped);
    expect(await decider.decrypt(cached, await main.encrypt(first.key, 'a', 'ctx'), 'ctx')).toBe('a');
    // The main thread shreds the person and they come back with a new key (same subject id).
    main.forget('subject-1');
    const second = await main.newSubjectKey('subject-1');
    expect(second.wrapped).not.toBe(first.wrapped);
    const sealed = await main.encrypt(second.key, 'evidence', 'ctx');
    // The decider is handed the stored (new) wrapped key: it must not answer with the old one.
    const now = await decider.subjectKey('subject-1', second.wrapped);
    expect(await decider.decrypt(now, sealed, 'ctx')).toBe('evidence');
  });
});
