/**
 * API keys (admin only): the list (`GET /v1/keys`), a new key (`POST /v1/keys`, whose token is shown
 * on the answer page once and never again: only its SHA-256 is kept) and revocation
 * (`DELETE /v1/keys/{id}`; `API_KEYS` keys live in the configuration and cannot be revoked here).
 */
import type { Context, Hono } from 'hono';
import { html } from 'hono/html';
import { ROLES } from '../../config.ts';
import type { ApiKeyListing } from '../../http/routes/keys.ts';
import type { Api, ApiError } from '../api.ts';
import { type AdminEnv, requireCsrf, requirePage, requireSession } from '../guard.ts';
import { csrfField, notice, PAGES, render, when } from '../layout.ts';

type C = Context<AdminEnv>;

type KeyView = ApiKeyListing;
interface Created {
  id: string;
  role: string;
  label: string;
  token: string;
}

const ROLE_HELP: Record<string, string> = {
  admin: 'everything, including keys and admin-only mapping settings',
  editor: 'mappings',
  operator: 'people (masked), opt-outs, erasures, sync health',
  auditor: 'people, ledger history, Art. 15 export, audit log, compliance',
  intake: 'only POST /v1/consents (web forms)',
};

function createForm(c: C, typed: { role?: string; label?: string } = {}, problem?: string) {
  return html`<section class="card"><h2>New key</h2>${notice(problem, 'alert')}
    <form method="post" action="/admin/keys" class="stack">${csrfField(c)}
      <div class="field"><label for="role">Role</label><select id="role" name="role">${ROLES.map(
        (r) =>
          html`<option value="${r}" ${r === (typed.role ?? 'operator') ? 'selected' : ''}>${r}: ${ROLE_HELP[r] ?? ''}</option>`,
      )}</select></div>
      <div class="field"><label for="label">What it is for</label>
        <input type="text" id="label" name="label" maxlength="100" required placeholder="DPO laptop"
          value="${typed.label ?? ''}" /></div>
      <button type="submit">Create the key</button></form></section>`;
}

async function listView(c: C, api: Api) {
  const res = await api<{ keys: KeyView[] } & ApiError>(c, 'GET', '/v1/keys');
  const keys = res.body.keys ?? [];
  const own = c.var.session.actor.keyId;
  return html`<section class="card"><h2>Keys (${keys.length})</h2>
    <table class="keys"><thead><tr><th>key id</th><th>role</th><th>label</th><th>created</th><th>last used</th>
      <th>status</th><th></th></tr></thead><tbody>${keys.map(
        (k) => html`<tr data-key="${k.id}" class="${k.revokedAt ? 'revoked' : ''}"><td><code>${k.id}</code>${
          k.id === own ? html` <span class="muted">(yours)</span>` : ''
        }</td><td>${k.role}</td><td>${k.label}</td><td>${k.source === 'env' ? 'API_KEYS' : when(k.createdAt)}${
          k.createdBy ? html`<div class="muted">by <code>${k.createdBy}</code></div>` : ''
        }</td><td>${when(k.lastUsedAt)}</td><td>${k.revokedAt ? html`revoked ${when(k.revokedAt)}` : 'active'}</td>
        <td>${
          k.source === 'api' && !k.revokedAt
            ? html`<form class="inline" method="post" action="/admin/keys/${k.id}/revoke">${csrfField(c)}
                <button class="danger" type="submit">Revoke</button></form>`
            : k.source === 'env'
              ? html`<span class="muted">remove it from API_KEYS</span>`
              : ''
        }</td></tr>`,
      )}</tbody></table></section>`;
}

/** Registers the API key pages. */
export function keyPages(r: Hono<AdminEnv>, api: Api): void {
  const guard = [requireSession, requirePage(PAGES.keys)] as const;

  r.get('/keys', ...guard, async (c) => {
    const revoked = c.req.query('revoked');
    return render(
      c,
      'API keys',
      html`${revoked ? notice(`Key ${revoked} is revoked: it no longer signs in or calls the API.`) : ''}
        ${createForm(c)}${await listView(c, api)}`,
    );
  });

  r.post('/keys', ...guard, requireCsrf, async (c) => {
    const body = await c.req.parseBody();
    const role = String(body.role ?? '');
    const label = String(body.label ?? '').slice(0, 200);
    const res = await api<Created & ApiError>(c, 'POST', '/v1/keys', { role, label });
    if (res.status !== 201) {
      const problem = `The key was not created: ${res.body.error?.message ?? 'unknown error'}`;
      return render(
        c,
        'API keys',
        html`${createForm(c, { role, label }, problem)}${await listView(c, api)}`,
        400,
      );
    }
    const k = res.body;
    return render(
      c,
      'API keys',
      html`<section class="card created" id="new-key"><h2>Key created: copy the token now</h2>
        <p>This is the only time the token is shown; only its SHA-256 is kept. Key id <code>${k.id}</code>,
          role <strong>${k.role}</strong>, for “${k.label}”.</p>
        <div class="field"><label for="token">Token</label>
          <input type="text" id="token" readonly value="${k.token}" class="token" /></div></section>
        ${createForm(c)}${await listView(c, api)}`,
      201,
    );
  });

  r.post('/keys/:id/revoke', ...guard, requireCsrf, async (c) => {
    const id = c.req.param('id');
    const res = await api<ApiError>(c, 'DELETE', `/v1/keys/${encodeURIComponent(id)}`);
    if (res.status === 204) return c.redirect(`/admin/keys?revoked=${encodeURIComponent(id)}`, 303);
    const message = res.body.error?.message ?? 'the key could not be revoked';
    return render(
      c,
      'API keys',
      html`${notice(message, 'alert')}${createForm(c)}${await listView(c, api)}`,
      res.status === 404 ? 404 : 409,
    );
  });
}
