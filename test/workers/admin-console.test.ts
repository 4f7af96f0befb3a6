/**
 * The web console inside workerd over D1 (the same `createApp` as on Node): sign in, the pages
 * that read the console's store summaries, and a CSRF-protected form. The Node suites
 * (test/e2e/admin-console.test.ts, test/browser/) cover the console in depth.
 */
import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { csrfOf, form, signIn } from '../helpers/console.ts';

// Redirects are the console's answers here, not something to follow.
const fetchWorker = (path: string, init?: RequestInit) =>
  exports.default.fetch(
    new Request(`http://w${path}`, { ...init, redirect: 'manual' }),
  ) as unknown as Promise<Response>;

describe('the console on Workers', () => {
  // The first request boots the Worker (slow on a busy machine).
  it('signs in, shows D1-backed pages and checks forms', { timeout: 90_000 }, async () => {
    const bad = await fetchWorker('/admin/login', form({ key: 'not-a-key-0123456789' }));
    expect(bad.status).toBe(401);
    const s = await signIn(fetchWorker, 'workers-operator-token-0123456789');
    expect(s.setCookie).toMatch(/HttpOnly/);
    const sync = await s.get('/admin/sync');
    expect(sync.status).toBe(200);
    expect(await sync.text()).toContain('<h2>Queues</h2>');
    const activity = await s.get('/admin/activity');
    expect(activity.status).toBe(200);
    expect((await activity.text()).match(/<g class="bar"/g)).toHaveLength(60);
    // Fictitious number.
    const lookup = await s.post('/admin/people', { phone: '+4915123400950' });
    expect(lookup.status).toBe(200);
    expect(csrfOf(await lookup.text())).toBe(s.csrf);
    expect((await s.post('/admin/people', { phone: '+4915123400950' }, null)).status).toBe(403);
    expect((await s.get('/admin/audit')).status).toBe(403);
    // The overview's tiles read D1's grouped summaries (people per state, queues, erasures).
    const overview = await (await s.get('/admin')).text();
    for (const tile of ['people', 'opt-outs', 'queues', 'dead-letters', 'erasures']) {
      expect(overview, tile).toContain(`data-tile="${tile}"`);
    }
  });

  it('an admin verifies the ledger from the overview; the audit log filters on D1', {
    timeout: 90_000,
  }, async () => {
    const s = await signIn(fetchWorker, 'workers-admin-token-0123456789');
    const verified = await s.post('/admin/ledger/verify');
    expect(verified.status).toBe(303);
    expect(verified.headers.get('location')).toBe('/admin?verified=ok');
    const overview = await (await s.get('/admin?verified=ok')).text();
    expect(overview).toMatch(/<a class="tile good" href="\/admin\/compliance" data-tile="ledger">/);
    expect(overview).toContain('data-tile="checklist"');
    const audit = await (await s.get('/admin/audit?action=ledger.verify')).text();
    expect(audit.match(/<tr data-action="ledger.verify"/g)).toHaveLength(1);
    expect(audit).not.toContain('<tr data-action="console.sign_in"');
    const keys = await s.get('/admin/keys');
    expect(keys.status).toBe(200);
  });
});
