/**
 * The Worker itself inside workerd (`main` in wrangler.toml, through test/workers/entry.ts): the same
 * app over D1 with wrangler.toml's bindings, fed a signed WhatsApp webhook (acknowledged on the inbox
 * queue, decided by its consumer), then its Cron handler. The Node end-to-end suites cover the same flows on SQLite.
 */
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test';
import { env, exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import worker, { CRONS, createWorker } from '../../src/runtime/worker.ts';
import { envelope, signedRequest, textMessage } from '../helpers/whatsapp.ts';
import { inboxDrained } from './entry.ts';

// Fictitious numbers only.
const WA = '4915123400901';
const WA_INLINE = '4915123400905';
const OPERATOR = 'Bearer workers-operator-token-0123456789';

describe('the Worker', () => {
  it('answers health and refuses unsigned webhooks', async () => {
    const health = await exports.default.fetch(new Request('http://w/healthz'));
    expect(await health.json()).toEqual({ status: 'ok' });
    const unsigned = await exports.default.fetch(
      new Request('http://w/webhooks/whatsapp', { method: 'POST', body: '{}' }),
    );
    expect(unsigned.status).toBe(401);
  });

  it('acknowledges a signed STOP on the inbox queue; its consumer decides it in D1, then the state is served', async () => {
    const req = await signedRequest(envelope(textMessage(WA, 'STOP')), env.WHATSAPP_APP_SECRET);
    const res = await exports.default.fetch(
      new Request('http://w/webhooks/whatsapp', { method: 'POST', headers: req.headers, body: req.body }),
    );
    expect(res.status).toBe(200);
    // the default configuration (wrangler.toml): stored on the queue, not decided before the answer
    expect(await res.json()).toEqual({ received: 1, stored: 1, dropped: 0, skipped: 0 });
    await inboxDrained(); // Miniflare invokes the consumer, as Cloudflare would
    const state = await exports.default.fetch(
      new Request(`http://w/v1/subjects/${WA}`, { headers: { authorization: OPERATOR } }),
    );
    const body = (await state.json()) as { purposes: Record<string, { status: string; source: string }> };
    expect(body.purposes.marketing).toMatchObject({ status: 'opted_out', source: 'whatsapp' });
    const verify = await exports.default.fetch(
      new Request('http://w/v1/ledger/verify', {
        headers: { authorization: 'Bearer workers-admin-token-0123456789' },
      }),
    );
    expect(await verify.json()).toMatchObject({ ok: true });
  });

  it('without the INBOX binding (a deployment that removed it) decides a STOP before answering', async () => {
    const noQueue = { ...env, INBOX: undefined };
    const w = createWorker();
    const req = await signedRequest(envelope(textMessage(WA_INLINE, 'STOP')), env.WHATSAPP_APP_SECRET);
    const res = await w.fetch(
      new Request('http://w/webhooks/whatsapp', { method: 'POST', headers: req.headers, body: req.body }),
      noQueue as never,
      createExecutionContext() as never,
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ received: 1, applied: 1 });
    const state = await w.fetch(
      new Request(`http://w/v1/subjects/${WA_INLINE}`, { headers: { authorization: OPERATOR } }),
      noQueue as never,
      createExecutionContext() as never,
    );
    const body = (await state.json()) as { purposes: Record<string, { status: string }> };
    expect(body.purposes.marketing?.status).toBe('opted_out');
  });

  it('runs its Cron handlers', async () => {
    for (const cron of Object.values(CRONS)) {
      const ctx = createExecutionContext();
      await worker.scheduled(createScheduledController({ cron }) as never, env as never, ctx as never);
      await waitOnExecutionContext(ctx);
    }
    const jobs = await exports.default.fetch(
      new Request('http://w/v1/sync/jobs', { headers: { authorization: OPERATOR } }),
    );
    expect(jobs.status).toBe(200);
  });

  it('answers like the Node app: 405 with Allow, 415 naming application/json, UNKNOWN_LOCALE with the list', async () => {
    const intake = 'Bearer workers-intake-token-0123456789';
    const wrong = await exports.default.fetch(
      new Request('http://w/v1/consents', { headers: { authorization: intake } }),
    );
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
    const body = JSON.stringify({ phone: '+4915123400902', purposes: ['marketing'], locale: 'xx' });
    const untyped = await exports.default.fetch(
      new Request('http://w/v1/consents', { method: 'POST', headers: { authorization: intake }, body }),
    );
    expect(untyped.status).toBe(415);
    expect(((await untyped.json()) as { error: { code: string; message: string } }).error).toMatchObject({
      code: 'UNSUPPORTED_MEDIA_TYPE',
      message: expect.stringContaining('application/json'),
    });
    const locale = await exports.default.fetch(
      new Request('http://w/v1/consents', {
        method: 'POST',
        headers: { authorization: intake, 'content-type': 'application/json' },
        body,
      }),
    );
    expect(locale.status).toBe(422);
    expect(((await locale.json()) as { error: { code: string; message: string } }).error).toEqual({
      code: 'UNKNOWN_LOCALE',
      message: 'locale "xx" has no texts; configured locales: de, en',
      details: { locales: ['de', 'en'] },
    });
  });

  it('serves the /docs page; its script is a static asset, not part of the Worker', async () => {
    const page = await exports.default.fetch(new Request('http://w/docs'));
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<script src="/docs/scalar.js"');
    // The script itself is a static asset (wrangler.toml [assets]): Cloudflare serves it before the
    // Worker runs, so the Worker answers 404 for it and stays small (checked with wrangler dev).
    const script = await exports.default.fetch(new Request('http://w/docs/scalar.js'));
    expect(script.status).toBe(404);
  });
});
