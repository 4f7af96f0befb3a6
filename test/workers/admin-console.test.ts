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
  });
});
