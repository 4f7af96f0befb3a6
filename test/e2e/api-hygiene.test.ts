/**
 * How the API answers requests it cannot serve: a wrong method (405 with Allow), a body that is not
 * declared as JSON (415), an unknown purpose or locale (422 listing the valid ones), and validation
 * failures in plain words with the field's path, never the value sent.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../helpers/harness.ts';

// Fictitious number only.
const PHONE = '+4915123456771';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

type ErrorBody = { error: { code: string; message: string; details?: Record<string, unknown> } };

describe('API hygiene', () => {
  it('a wrong method on a known path answers 405 with Allow; an unknown path stays 404', async () => {
    const get = await h.request('/v1/consents', { role: 'intake' });
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect(((await get.json()) as ErrorBody).error).toEqual({
      code: 'METHOD_NOT_ALLOWED',
      message: 'GET is not allowed here; allowed: POST',
    });
    // a path with a parameter, several methods
    const del = await h.request('/v1/mappings/hubspot', { method: 'DELETE', role: 'admin' });
    expect(del.status).toBe(405);
    expect(del.headers.get('allow')).toBe('GET, HEAD, PUT');
    const put = await h.request('/healthz', { method: 'PUT' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, HEAD');
    const none = await h.request('/v1/nothing-here', { role: 'admin' });
    expect(none.status).toBe(404);
    expect(none.headers.get('allow')).toBeNull();
  });

  it('a body without Content-Type: application/json answers 415 UNSUPPORTED_MEDIA_TYPE and changes nothing', async () => {
    const body = JSON.stringify({ phone: PHONE, purposes: ['marketing'] });
    for (const headers of [{}, { 'content-type': 'text/plain' }]) {
      const res = await h.request('/v1/consents', { method: 'POST', role: 'intake', headers, body });
      expect(res.status).toBe(415);
      const e = ((await res.json()) as ErrorBody).error;
      expect(e.code).toBe('UNSUPPORTED_MEDIA_TYPE');
      expect(e.message).toContain('application/json');
    }
    const state = await h.request(`/v1/subjects/${encodeURIComponent(PHONE)}`, { role: 'operator' });
    expect(((await state.json()) as { known: boolean }).known).toBe(false);
  });

  it('UNKNOWN_PURPOSE lists the valid purposes, on every route that takes purposes', async () => {
    const consent = await h.request('/v1/consents', {
      method: 'POST',
      role: 'intake',
      json: { phone: PHONE, purposes: ['marketing', 'newsletter'] },
    });
    expect(consent.status).toBe(422);
    const e = ((await consent.json()) as ErrorBody).error;
    expect(e.code).toBe('UNKNOWN_PURPOSE');
    expect(e.message).toBe('unknown purpose "newsletter"; valid purposes: marketing, transactional');
    expect(e.details).toEqual({ validPurposes: ['marketing', 'transactional'] });
    const optOut = await h.request(`/v1/subjects/${encodeURIComponent(PHONE)}/opt-out`, {
      method: 'POST',
      role: 'operator',
      json: { purposes: ['newsletter'] },
    });
    expect(optOut.status).toBe(422);
    expect(((await optOut.json()) as ErrorBody).error.message).toContain(
      'valid purposes: marketing, transactional',
    );
    const send = await h.request('/v1/messages', {
      method: 'POST',
      role: 'operator',
      json: { phone: PHONE, purpose: 'newsletter', text: 'Hallo' },
    });
    expect(send.status).toBe(422);
    expect(((await send.json()) as ErrorBody).error.message).toContain(
      'valid purposes: marketing, transactional',
    );
  });

  it('an unknown locale is refused with the configured ones; a regional tag of a known language is fine', async () => {
    const xx = await h.request('/v1/consents', {
      method: 'POST',
      role: 'intake',
      json: { phone: PHONE, purposes: ['marketing'], locale: 'xx' },
    });
    expect(xx.status).toBe(422);
    expect(((await xx.json()) as ErrorBody).error).toEqual({
      code: 'UNKNOWN_LOCALE',
      message: 'locale "xx" has no texts; configured locales: de, en',
      details: { locales: ['de', 'en'] },
    });
    const state = await h.request(`/v1/subjects/${encodeURIComponent(PHONE)}`, { role: 'operator' });
    expect(((await state.json()) as { known: boolean }).known).toBe(false);
    const deAt = await h.request('/v1/consents', {
      method: 'POST',
      role: 'intake',
      json: { phone: PHONE, purposes: ['marketing'], locale: 'de-AT' },
    });
    expect(deAt.status).toBe(202);
  });

  it('validation messages are plain words with the field path, never the value sent', async () => {
    const res = await h.request('/v1/consents', {
      method: 'POST',
      role: 'intake',
      json: { purposes: [], extra: 'secret-ish-value', evidence: { formUrl: 'not a url at all' } },
    });
    expect(res.status).toBe(400);
    const e = ((await res.json()) as ErrorBody).error;
    expect(e.code).toBe('VALIDATION_FAILED');
    expect(e.message).toBe(
      'phone is required; purposes must have at least 1 item; evidence.formUrl must be a URL (http or https); the body has unknown field "extra"',
    );
    expect(e.message).not.toMatch(/secret-ish-value|not a url at all|Too small|expected/);
    const item = await h.request('/v1/consents', {
      method: 'POST',
      role: 'intake',
      json: { phone: 42, purposes: [''] },
    });
    expect(((await item.json()) as ErrorBody).error.message).toBe(
      'phone must be text; purposes[0] must not be empty',
    );
  });
});
