/**
 * Node's primitives (node:crypto, what `npm start` uses) and Web Crypto's (what Workers use) must be
 * interchangeable: the same lookup hashes, and data sealed by one opened by the other, or a database
 * written on one runtime could not be read on the other.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { signMetaBody, verifyMetaSignature } from '../connectors/whatsapp/signature.ts';
import { randomBytes, toHex, utf8 } from '../src/crypto/encoding.ts';
import { createPiiCrypto } from '../src/crypto/pii.ts';
import { nodeCryptoPrimitives as node } from '../src/crypto/primitives.node.ts';
import { webCryptoPrimitives as web } from '../src/crypto/primitives.ts';

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });

describe('crypto primitives: node:crypto and Web Crypto agree', () => {
  it('HMAC-SHA256 gives the same bytes, and the RFC 4231 test vector', async () => {
    const key = utf8('Jefe');
    const data = utf8('what do ya want for nothing?');
    const expected = '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843';
    for (const p of [node, web]) {
      const mac = await p.hmac(await p.hmacKey(key), data);
      expect(Buffer.from(mac).toString('hex')).toBe(expected);
    }
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 1, maxLength: 100 }),
        fc.uint8Array({ maxLength: 300 }),
        async (k, d) => {
          const a = await node.hmac(await node.hmacKey(k), d);
          const b = await web.hmac(await web.hmacKey(k), d);
          expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
    await expect(node.hmacKey(new Uint8Array())).rejects.toThrow();
    await expect(web.hmacKey(new Uint8Array())).rejects.toThrow();
  });

  it('AES-256-GCM: sealed by one, opened by the other; tampering is refused by both', async () => {
    await fc.assert(
      fc.asyncProperty(
        bytes(32),
        bytes(12),
        fc.uint8Array({ maxLength: 200 }),
        fc.uint8Array({ maxLength: 40 }),
        async (raw, iv, data, aad) => {
          const [kn, kw] = [await node.aesKey(raw), await web.aesKey(raw)];
          const sn = await node.seal(kn, iv, data, aad);
          const sw = await web.seal(kw, iv, data, aad);
          expect(Buffer.from(sn).equals(Buffer.from(sw))).toBe(true);
          expect(Buffer.from(await web.open(kw, iv, sn, aad)).equals(Buffer.from(data))).toBe(true);
          expect(Buffer.from(await node.open(kn, iv, sw, aad)).equals(Buffer.from(data))).toBe(true);
          const bad = new Uint8Array(sn);
          bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 1;
          await expect(node.open(kn, iv, bad, aad)).rejects.toThrow();
          await expect(web.open(kw, iv, bad, aad)).rejects.toThrow();
        },
      ),
      { numRuns: 100 },
    );
    await expect(
      node.open(
        await node.aesKey(new Uint8Array(32)),
        new Uint8Array(12),
        new Uint8Array(5),
        new Uint8Array(),
      ),
    ).rejects.toThrow();
    await expect(node.aesKey(new Uint8Array(16))).rejects.toThrow(/32-byte/);
  });

  it('PII crypto on either runtime reads what the other wrote (hashes, wrapped keys, numbers)', async () => {
    const master = crypto.getRandomValues(new Uint8Array(32));
    const onNode = await createPiiCrypto(master, { cacheSize: 10, prims: node });
    const onWeb = await createPiiCrypto(master, { cacheSize: 10, prims: web });
    const phone = '+4915123456701'; // fictitious
    expect(await onNode.lookupHash(phone)).toBe(await onWeb.lookupHash(phone));
    const made = await onNode.newSubjectKey('s1');
    const ct = await onNode.encrypt(made.key, phone, 'phone:s1');
    const key = await onWeb.subjectKey('s1', made.wrapped);
    expect(await onWeb.decrypt(key, ct, 'phone:s1')).toBe(phone);
    await expect(onWeb.decrypt(key, ct, 'phone:s2')).rejects.toThrow();
  });

  it('webhook signatures verify the same with both, and a cached key follows a rotated secret', async () => {
    const body = utf8('{"object":"whatsapp_business_account","entry":[]}');
    const header = await signMetaBody(body, 'secret-one');
    for (const p of [node, web]) {
      expect(await verifyMetaSignature(body, header, 'secret-one', p)).toBe(true);
      expect(await verifyMetaSignature(body, header, 'secret-two', p)).toBe(false);
      expect(await verifyMetaSignature(body, await signMetaBody(body, 'secret-two'), 'secret-two', p)).toBe(
        true,
      );
      expect(await verifyMetaSignature(body, header, 'secret-one', p)).toBe(true);
    }
  });
});

describe('encoding helpers', () => {
  it('toHex is lowercase hex of every byte', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        expect(toHex(b)).toBe(Buffer.from(b).toString('hex'));
      }),
    );
  });

  it('randomBytes hands out each pooled byte once, in fresh copies, across pool refills', () => {
    const seen = new Set<string>();
    const draws: Uint8Array[] = [];
    // 2,000 × 12 bytes: several 4 KiB refills; 96-bit values never repeat by chance.
    for (let i = 0; i < 2_000; i++) {
      const iv = randomBytes(12);
      expect(iv).toHaveLength(12);
      seen.add(toHex(iv));
      draws.push(iv);
    }
    expect(seen.size).toBe(2_000);
    // Copies, not views of the pool: changing one leaves the next draws alone.
    draws[0]?.fill(0);
    expect(toHex(randomBytes(12))).not.toBe('0'.repeat(24));
    expect(draws[0]?.buffer.byteLength).toBe(12);
    // Large requests come straight from the CSPRNG.
    expect(randomBytes(1_000)).toHaveLength(1_000);
    // Roughly uniform bytes (a pool handed out wrong would repeat or leave zeros).
    const counts = new Array(256).fill(0);
    for (const d of draws) for (const b of d) counts[b]++;
    expect(Math.min(...counts)).toBeGreaterThan(40);
  });
});
