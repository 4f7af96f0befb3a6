/**
 * Issue 19, item 5 at the HTTP edge: a D1 error thrown by a route (or wrapped as the cause of one)
 * is a 503 STORE_UNAVAILABLE naming it; any other error stays a 500 INTERNAL that says nothing.
 */
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { renderError } from '../src/http/errors.ts';
import { storeFailure } from '../src/store/unavailable.ts';

const app = new Hono();
app.get('/d1', () => {
  throw new Error('D1_ERROR: Network connection lost.');
});
app.get('/wrapped', () => {
  throw new Error('D1 commit lost 5 races with other writers in a row', {
    cause: new Error('D1_ERROR: D1 DB is overloaded. Too many requests queued.'),
  });
});
app.get('/bug', () => {
  throw new TypeError('x is undefined');
});
app.onError(renderError);

describe('D1 errors at the HTTP edge', () => {
  it('answers 503 STORE_UNAVAILABLE with the error name and message', async () => {
    const res = await app.request('/d1');
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({
      error: {
        code: 'STORE_UNAVAILABLE',
        message: 'the database failed: Error: D1_ERROR: Network connection lost.',
      },
    });
    const wrapped = await app.request('/wrapped');
    expect(wrapped.status).toBe(503);
    expect(((await wrapped.json()) as { error: { message: string } }).error.message).toContain('overloaded');
  });

  it('other errors stay 500 INTERNAL; only D1_ messages count', async () => {
    const res = await app.request('/bug');
    expect(res.status).toBe(500);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('INTERNAL');
    expect(storeFailure(new Error('not a D1_ERROR at the start'))).toBeNull();
    expect(storeFailure('D1_ERROR: a string')).toBeNull();
  });
});
