/**
 * Issue 19, item 5: D1 failures are reported as what they are. A Worker over a broken D1 binding
 * answers 503 STORE_UNAVAILABLE naming the D1 error (never MISCONFIGURED), `/healthz` says the store
 * is unavailable, a failed boot is retried after a backoff rather than on every request, and a D1
 * error after boot is a 503 STORE_UNAVAILABLE too, not a 500 INTERNAL. The failing binding throws
 * what Cloudflare documents D1 throws: an Error whose message starts with a D1_ constant.
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { createWorker, type Env } from '../../src/runtime/worker.ts';

const OPERATOR = 'Bearer workers-operator-token-0123456789';
const D1_DOWN = 'D1_ERROR: Network connection lost.';

/** env.DB behind a switch: while `broken`, every statement and batch rejects as D1 does. */
function breakableDb() {
  const state = { broken: true, calls: 0 };
  const fail = () => Promise.reject(new Error(D1_DOWN));
  const statement = (s: Record<string, unknown>): unknown =>
    new Proxy(s, {
      get(target, key) {
        const value = Reflect.get(target, key);
        if (typeof value !== 'function') return value;
        if (key === 'bind') return (...args: unknown[]) => statement(value.apply(target, args));
        return (...args: unknown[]) => {
          state.calls++;
          return state.broken ? fail() : value.apply(target, args);
        };
      },
    });
  const db = new Proxy(env.DB as unknown as Record<string, unknown>, {
    get(target, key) {
      const value = Reflect.get(target, key);
      if (typeof value !== 'function') return value;
      if (key === 'prepare') return (sql: string) => statement(value.call(target, sql));
      return (...args: unknown[]) => {
        state.calls++;
        if (state.broken) return fail();
        // batch() takes the proxies: hand D1 its own statements back
        return value.apply(target, args);
      };
    },
  });
  return { db, state };
}

function bindings(db: unknown): Env {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(env)) if (k !== 'OUTBOX' && !k.startsWith('HUBSPOT_')) out[k] = v;
  return { ...out, DB: db } as Env;
}

describe('the Worker over a broken D1', () => {
  it('answers STORE_UNAVAILABLE with the D1 error, /healthz says so, and boot is retried with backoff', async () => {
    const { db, state } = breakableDb();
    const worker = createWorker();
    const e = bindings(db);
    const call = async (path: string, init: RequestInit = {}) => {
      const ctx = createExecutionContext();
      const res = await worker.fetch(new Request(`http://w${path}`, init), e, ctx as never);
      await waitOnExecutionContext(ctx);
      return res;
    };

    const health = await call('/healthz');
    expect(health.status).toBe(503);
    expect(health.headers.get('retry-after')).toBe('1');
    expect(await health.json()).toEqual({
      status: 'unavailable',
      store: 'unavailable',
      error: { code: 'STORE_UNAVAILABLE', message: `the database failed: Error: ${D1_DOWN}` },
    });
    const callsAfterFirstBoot = state.calls;
    expect(callsAfterFirstBoot).toBeGreaterThan(0);

    // Within the backoff, requests do not re-run the boot (no D1 call), and say why.
    const jobs = await call('/v1/sync/jobs', { headers: { authorization: OPERATOR } });
    expect(jobs.status).toBe(503);
    expect(((await jobs.json()) as { error: { code: string } }).error.code).toBe('STORE_UNAVAILABLE');
    expect(state.calls).toBe(callsAfterFirstBoot);

    // D1 comes back; after the backoff (1 s) the next request boots.
    state.broken = false;
    await new Promise((ok) => setTimeout(ok, 1_100));
    expect((await call('/healthz')).status).toBe(200);

    // A D1 error after boot: 503 STORE_UNAVAILABLE naming it, not 500 INTERNAL.
    state.broken = true;
    const after = await call('/v1/sync/jobs', { headers: { authorization: OPERATOR } });
    expect(after.status).toBe(503);
    expect(await after.json()).toEqual({
      error: { code: 'STORE_UNAVAILABLE', message: `the database failed: Error: ${D1_DOWN}` },
    });
  });

  it('a second failure doubles the backoff', async () => {
    const { db } = breakableDb();
    const worker = createWorker();
    const e = bindings(db);
    const health = async () => {
      const ctx = createExecutionContext();
      const res = await worker.fetch(new Request('http://w/healthz'), e, ctx as never);
      await waitOnExecutionContext(ctx);
      return res;
    };
    expect((await health()).headers.get('retry-after')).toBe('1');
    await new Promise((ok) => setTimeout(ok, 1_100));
    expect((await health()).headers.get('retry-after')).toBe('2');
  });
});
