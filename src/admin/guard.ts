/**
 * Who is using the console and what they may do: the cookie session (re-identified on every
 * request), the page guard (roles as in the JSON API) and the CSRF check of every form POST.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { html } from 'hono/html';
import type { Services } from '../app/services.ts';
import { fromBase64 } from '../crypto/encoding.ts';
import { allowed, type PageDef, render } from './layout.ts';
import {
  COOKIE,
  csrfToken,
  csrfValid,
  deriveSessionKeys,
  openSession,
  SESSION_SECONDS,
  type SessionKeys,
  sealSession,
} from './session.ts';
import type { AdminEnv } from './types.ts';

export type { AdminEnv, ConsoleSession } from './types.ts';

const keyCache = new WeakMap<Services, Promise<SessionKeys>>();

/** The session keys of this deployment (derived once per services instance). */
export function sessionKeys(services: Services): Promise<SessionKeys> {
  let k = keyCache.get(services);
  if (!k) {
    k = deriveSessionKeys(fromBase64(services.config.PII_KEY), services.crypto);
    keyCache.set(services, k);
  }
  return k;
}

const COOKIE_OPTIONS = { path: '/admin', secure: true, httpOnly: true, sameSite: 'Strict' } as const;

/** Signs in: seals the key into the cookie (Secure, HttpOnly, SameSite=Strict, Path=/admin, 8 h). */
export async function startSession(c: Context<AdminEnv>, key: string): Promise<void> {
  const now = c.var.services.clock().getTime();
  const value = await sealSession(await sessionKeys(c.var.services), {
    key,
    issuedAt: now,
    expiresAt: now + SESSION_SECONDS * 1000,
  });
  setCookie(c, COOKIE, value, { ...COOKIE_OPTIONS, maxAge: SESSION_SECONDS });
}

export function endSession(c: Context<AdminEnv>): void {
  deleteCookie(c, COOKIE, COOKIE_OPTIONS);
}

/**
 * Requires a live session whose key still identifies: otherwise the browser is sent to the
 * sign-in page (and a stale cookie is cleared).
 */
export const requireSession: MiddlewareHandler<AdminEnv> = async (c, next) => {
  const cookie = getCookie(c, COOKIE);
  const keys = await sessionKeys(c.var.services);
  const data = cookie ? await openSession(keys, cookie, c.var.services.clock().getTime()) : null;
  const actor = data ? await c.var.services.auth.identify(`Bearer ${data.key}`) : null;
  if (!cookie || !data || !actor) {
    if (cookie) endSession(c);
    return c.redirect('/admin/login', 303);
  }
  c.set('actor', actor);
  c.set('session', {
    actor,
    key: data.key,
    cookie,
    csrf: await csrfToken(keys, cookie),
    expiresAt: data.expiresAt,
  });
  await next();
};

/** 403 (and nothing else happens) unless the signed-in role may open the page. */
export function requirePage(page: PageDef): MiddlewareHandler<AdminEnv> {
  return async (c, next) => {
    const role = c.var.session.actor.role;
    if (!allowed(role, page)) {
      return render(
        c,
        'Not for your role',
        html`<p class="alert" role="alert">The ${role} role may not open ${page.title}.</p>`,
        403,
      );
    }
    await next();
  };
}

/**
 * The browser's own word on where a form came from: `Sec-Fetch-Site` must be same-origin and
 * `Origin`, when sent, must name this host. Requests without either header (curl, tests) pass on
 * to the token check.
 */
export function sameOrigin(c: Context): boolean {
  const site = c.req.header('sec-fetch-site');
  if (site && site !== 'same-origin' && site !== 'none') return false;
  const origin = c.req.header('origin');
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === (c.req.header('host') ?? new URL(c.req.url).host);
  } catch {
    return false;
  }
}

/** Every console form POST: same origin and the session's CSRF token, or 403 and nothing changes. */
export const requireCsrf: MiddlewareHandler<AdminEnv> = async (c, next) => {
  const body = await c.req.parseBody();
  const ok =
    sameOrigin(c) && (await csrfValid(await sessionKeys(c.var.services), c.var.session.cookie, body.csrf));
  if (!ok) {
    return render(
      c,
      'Form expired',
      html`<p class="alert" role="alert">This form was not sent from this console session, so nothing was
        changed. Reload the page and try again.</p>`,
      403,
    );
  }
  await next();
};
