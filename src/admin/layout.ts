/**
 * Page frame and small view helpers for the console. Views are `hono/html` templates: every
 * interpolated value is escaped; only other templates are inserted as HTML.
 */
import type { Context } from 'hono';
import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Role } from '../config.ts';
import type { AdminEnv, ConsoleSession } from './types.ts';

export type View = HtmlEscapedString | Promise<HtmlEscapedString>;

/** A console page: where it lives, its title, and the roles that may open it (`admin` may open all). */
export interface PageDef {
  path: string;
  title: string;
  roles: readonly Role[];
}

export const PAGES = {
  overview: { path: '/admin', title: 'Overview', roles: ['editor', 'operator', 'auditor', 'intake'] },
  mappings: { path: '/admin/mappings', title: 'Mappings', roles: ['editor'] },
  people: { path: '/admin/people', title: 'People', roles: ['operator', 'auditor'] },
  sync: { path: '/admin/sync', title: 'Sync health', roles: ['operator'] },
  erasures: { path: '/admin/erasures', title: 'Erasures', roles: ['operator'] },
  activity: { path: '/admin/activity', title: 'Activity', roles: ['operator', 'auditor'] },
  audit: { path: '/admin/audit', title: 'Audit log', roles: ['auditor'] },
  compliance: { path: '/admin/compliance', title: 'Compliance', roles: ['auditor'] },
  keys: { path: '/admin/keys', title: 'API keys', roles: [] },
} as const satisfies Record<string, PageDef>;

export const allowed = (role: Role, page: PageDef): boolean => role === 'admin' || page.roles.includes(role);

/** The sign-out form, carrying the session's CSRF token (tests read the token from here too). */
const signOut = (s: ConsoleSession) => html`<form class="inline" method="post" action="/admin/logout">
  <input type="hidden" name="csrf" value="${s.csrf}" /><button class="secondary" type="submit">Sign out</button>
</form>`;

function frame(title: string, body: View, session: ConsoleSession | null, current: string): View {
  const nav = session
    ? Object.values(PAGES)
        .filter((p) => allowed(session.actor.role, p))
        .map(
          (p) =>
            html`<a href="${p.path}" ${p.path === current ? html`aria-current="page"` : ''}>${p.title}</a>`,
        )
    : [];
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8" />
<meta name="viewport" content="width=device-width, initial-scale=1" />
<title>${title} · consent-sync console</title>
<link rel="stylesheet" href="/admin/console.css" />
</head>
<body>
<header class="top">
  <span class="brand">consent-sync</span>
  <nav>${nav}</nav>
  ${
    session
      ? html`<span class="who">signed in as <strong>${session.actor.role}</strong>
          <code title="key id">${session.actor.keyId}</code>${signOut(session)}</span>`
      : ''
  }
</header>
<main>
<h1>${title}</h1>
${body}
</main>
</body>
</html>`;
}

/** Renders a page inside the frame (navigation shows only the pages the role may open). */
export function render(c: Context<AdminEnv>, title: string, body: View, status: ContentfulStatusCode = 200) {
  const session = c.get('session') ?? null;
  return c.html(frame(title, body, session, new URL(c.req.url).pathname), status);
}

/** The hidden CSRF field every console form carries. */
export const csrfField = (c: Context<AdminEnv>) =>
  html`<input type="hidden" name="csrf" value="${c.var.session.csrf}" />`;

/** `2026-03-02 09:00 UTC` (or a dash). */
export function when(iso: string | null | undefined): string {
  if (!iso) return '–';
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/** A rough age: `3 min`, `5 h`, `2 d`. */
export function age(ms: number): string {
  const m = Math.max(0, Math.round(ms / 60_000));
  if (m < 120) return `${m} min`;
  const h = Math.round(m / 60);
  return h < 48 ? `${h} h` : `${Math.round(h / 24)} d`;
}

/**
 * Masks a phone number for roles that may not see it: the country and network prefix and the
 * last three digits stay (example: `+49151•••••780`).
 */
export function maskPhone(e164: string): string {
  if (e164.length <= 9) return '•'.repeat(e164.length);
  return `${e164.slice(0, 6)}${'•'.repeat(e164.length - 9)}${e164.slice(-3)}`;
}

/** The placeholder of phone fields: a fictitious example number. */
export const EXAMPLE_PHONE = '+4915123456789'; // example number

export const badge = (value: string) =>
  html`<span class="badge ${value}">${value.replaceAll('_', ' ')}</span>`;

/** A notice (ok) or alert (problem) box. */
export const notice = (text: string | null | undefined, kind: 'notice' | 'alert' = 'notice') =>
  text ? html`<p class="${kind}" role="${kind === 'alert' ? 'alert' : 'status'}">${text}</p>` : html``;
