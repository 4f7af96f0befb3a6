/**
 * The web console at `/admin`: server-rendered `hono/html` pages over the same services and the
 * same JSON API as everything else, signed in with an API key kept in a sealed cookie session.
 * Runtime-free (Web Crypto, no Node APIs), so it serves on Node and on Workers alike.
 */
import { type Context, Hono } from 'hono';
import { html } from 'hono/html';
import { audit } from '../http/audit.ts';
import { authFailed, retryAfterSeconds } from '../http/auth-failures.ts';
import type { Router } from '../http/router.ts';
import type { AppEnv } from '../http/types.ts';
import { apiOver, rawApiOver } from './api.ts';
import { type AdminEnv, endSession, requireCsrf, requireSession, sameOrigin, startSession } from './guard.ts';
import { notice, render } from './layout.ts';
import { activityPages } from './pages/activity.ts';
import { auditPages } from './pages/audit.ts';
import { compliancePages } from './pages/compliance.ts';
import { erasurePages } from './pages/erasures.ts';
import { keyPages } from './pages/keys.ts';
import { mappingPages } from './pages/mappings.ts';
import { overviewPages } from './pages/overview.ts';
import { peoplePages } from './pages/people.ts';
import { syncPages } from './pages/sync.ts';
import { STYLESHEET } from './style.ts';

const CSP =
  "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

function loginForm(problem?: string, info?: string) {
  return html`${notice(problem, 'alert')}${notice(info)}<section class="card">
    <form method="post" action="/admin/login">
      <div class="field"><label for="key">API key</label>
        <input type="password" id="key" name="key" autocomplete="off" required /></div>
      <button type="submit">Sign in</button>
    </form>
    <p class="muted">Use a key from <code>API_KEYS</code> (or one created through <code>/v1/keys</code>). The console
      shows only what the key's role may see. You stay signed in for 8 hours or until you sign out.</p></section>`;
}

/** Mounts the console under `/admin` on the app (one call in `createApp`). */
export function adminRoutes(app: Router): void {
  const r = new Hono<AdminEnv>();
  const raw = rawApiOver(app);
  const api = apiOver(raw);

  r.use('*', async (c, next) => {
    await next();
    const nonce = c.get('scriptNonce');
    c.header('content-security-policy', nonce ? `${CSP}; script-src 'nonce-${nonce}'` : CSP);
    c.header('x-content-type-options', 'nosniff');
    // same-origin, not no-referrer: with no-referrer Chromium sends `Origin: null` on form posts.
    c.header('referrer-policy', 'same-origin');
    if (!c.res.headers.has('cache-control')) c.header('cache-control', 'no-store');
  });

  r.get('/console.css', (c) => {
    c.header('cache-control', 'public, max-age=3600');
    return c.body(STYLESHEET, 200, { 'content-type': 'text/css; charset=utf-8' });
  });

  r.get('/login', (c) => {
    const url = new URL(c.req.url);
    const local = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
    const https = url.protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';
    const warning =
      https || local
        ? undefined
        : 'This page came over plain HTTP: browsers keep the sign-in cookie only over HTTPS (or on localhost).';
    const info = c.req.query('signed_out') === '1' ? 'You are signed out.' : undefined;
    return render(c, 'Sign in', loginForm(warning, info));
  });
  r.post('/login', async (c) => {
    const { services } = c.var;
    if (!sameOrigin(c)) return render(c, 'Sign in', loginForm('This form came from another site.'), 403);
    const key = String((await c.req.parseBody()).key ?? '').trim();
    const api = c as unknown as Context<AppEnv>;
    const wait = retryAfterSeconds(api, key);
    if (wait > 0) {
      c.header('retry-after', String(wait));
      const problem = `Too many failed sign-ins from here. Try again in ${wait} seconds.`;
      return render(c, 'Sign in', loginForm(problem), 429);
    }
    const actor = /^\S{1,512}$/.test(key) ? await services.auth.identify(`Bearer ${key}`) : null;
    if (!actor) {
      // Counted (throttle, and this client's audit row for the hour) without the key, not even a part of it.
      await authFailed(api, 'console.sign_in_failed', key);
      c.var.log.warn({}, 'console sign-in failed');
      return render(c, 'Sign in', loginForm('That key was not accepted.'), 401);
    }
    c.set('actor', actor);
    await startSession(c, key);
    await audit(c as unknown as Context<AppEnv>, 'console.sign_in', null, {});
    return c.redirect('/admin', 303);
  });

  r.post('/logout', requireSession, requireCsrf, async (c) => {
    await audit(c as unknown as Context<AppEnv>, 'console.sign_out', null, {});
    endSession(c);
    return c.redirect('/admin/login?signed_out=1', 303);
  });

  overviewPages(r, api);
  mappingPages(r, api);
  peoplePages(r, api);
  syncPages(r, api);
  erasurePages(r, api);
  keyPages(r, api);
  activityPages(r);
  auditPages(r);
  compliancePages(r, api, raw);

  app.route('/admin', r as unknown as Router);
}
