import { describe, expect, it } from 'vitest';
import { signMetaBody, timingSafeEqual, verifyMetaSignature } from './signature.ts';

// Cross-check vector from API-FACTS 1.2 (hexdocs whatsapp_sdk compute_signature("test", "secret")).
const VECTOR = 'sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914';
const bytes = (s: string) => new TextEncoder().encode(s);

describe('signMetaBody', () => {
  it('matches the published vector', async () => {
    expect(await signMetaBody('test', 'secret')).toBe(VECTOR);
    expect(await signMetaBody(bytes('test'), 'secret')).toBe(VECTOR);
    expect(await signMetaBody(bytes('test').buffer, 'secret')).toBe(VECTOR);
  });
});

describe('verifyMetaSignature', () => {
  it('accepts the vector for Uint8Array and ArrayBuffer bodies', async () => {
    expect(await verifyMetaSignature(bytes('test'), VECTOR, 'secret')).toBe(true);
    expect(await verifyMetaSignature(bytes('test').buffer, VECTOR, 'secret')).toBe(true);
  });

  it('accepts a view into a larger buffer (only the view is signed)', async () => {
    const whole = bytes('xxtestyy');
    expect(await verifyMetaSignature(whole.subarray(2, 6), VECTOR, 'secret')).toBe(true);
  });

  it('rejects a tampered body, a wrong secret and a flipped digit', async () => {
    expect(await verifyMetaSignature(bytes('test '), VECTOR, 'secret')).toBe(false);
    expect(await verifyMetaSignature(bytes('test'), VECTOR, 'secret2')).toBe(false);
    const flipped = `${VECTOR.slice(0, -1)}5`;
    expect(await verifyMetaSignature(bytes('test'), flipped, 'secret')).toBe(false);
  });

  it.each([
    ['wrong prefix', VECTOR.replace('sha256=', 'sha1=')],
    ['no prefix', VECTOR.slice('sha256='.length)],
    ['upper-case prefix', VECTOR.replace('sha256=', 'SHA256=')],
    ['too short', VECTOR.slice(0, -2)],
    ['too long', `${VECTOR}00`],
    ['not hex', `${VECTOR.slice(0, -1)}g`],
    ['upper-case hex', `sha256=${VECTOR.slice(7).toUpperCase()}`],
    ['empty', ''],
    ['surrounding spaces', ` ${VECTOR} `],
  ])('rejects a malformed header (%s) without throwing', async (_name, header) => {
    expect(await verifyMetaSignature(bytes('test'), header, 'secret')).toBe(false);
  });

  it('rejects a missing header and an empty secret', async () => {
    expect(await verifyMetaSignature(bytes('test'), null, 'secret')).toBe(false);
    expect(await verifyMetaSignature(bytes('test'), undefined, 'secret')).toBe(false);
    expect(await verifyMetaSignature(bytes('test'), VECTOR, '')).toBe(false);
  });

  it('verifies a UTF-8 JSON body signed as text', async () => {
    const body = JSON.stringify({ text: 'Grüße, STOPP' });
    const header = await signMetaBody(body, 'app-secret');
    expect(await verifyMetaSignature(bytes(body), header, 'app-secret')).toBe(true);
  });
});

describe('timingSafeEqual', () => {
  it('compares contents and lengths', () => {
    expect(timingSafeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 3]))).toBe(true);
    expect(timingSafeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 4]))).toBe(false);
    expect(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 3]))).toBe(false);
    expect(timingSafeEqual(new Uint8Array(), new Uint8Array())).toBe(true);
  });
});
