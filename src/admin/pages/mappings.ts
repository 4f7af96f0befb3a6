/**
 * Mappings per connector: the whitelist as a table, an editor that checks a draft with the same
 * schema as `PUT /v1/mappings/{connector}` (errors next to the field), the change as a diff to
 * confirm, the save through that route, and a preview of exactly what would be sent for a number.
 */
import type { Context, Hono } from 'hono';
import { html } from 'hono/html';
import type { ConnectorName } from '../../../connectors/types.ts';
import type { Mapping, MappingIssue } from '../../core/mapping.ts';
import { normalizePhone } from '../../core/phone.ts';
import type { Api, ApiError } from '../api.ts';
import { lineDiff, pretty } from '../diff.ts';
import { type AdminEnv, requireCsrf, requirePage, requireSession } from '../guard.ts';
import { csrfField, EXAMPLE_PHONE, notice, PAGES, render, type View } from '../layout.ts';

type C = Context<AdminEnv>;
interface MappingView {
  connector: ConnectorName;
  storedIn: string;
  mapping: Mapping;
}
interface Preview {
  draft: boolean;
  example: boolean;
  /** phone previews (admin) only */
  known?: boolean;
  match: { objects: string[]; field: string };
  records?: Array<{ objectType: string; id: string }>;
  properties: Record<string, string | number | boolean | null>;
}

const STATUSES = ['none', 'pending', 'opted_in', 'opted_out'] as const;

/**
 * What a preview is computed for. Editors pick example states per purpose and never type a number
 * (issue 14, finding 4: a preview must not tell them whether a number is known or its state);
 * admins may instead give a number and see that person's values.
 */
function previewFields(c: C, id: string, chosen: Record<string, { status: string }> = {}) {
  const admin = c.var.session.actor.role === 'admin';
  const purposes = c.var.services.catalog.purposes;
  return html`<fieldset class="example"><legend>Example states</legend>
    ${purposes.map(
      (p) => html`<div class="field"><label for="${id}-status-${p}">${p}</label>
        <select id="${id}-status-${p}" name="status.${p}">${STATUSES.map(
          (s) =>
            html`<option value="${s}" ${chosen[p]?.status === s ? 'selected' : ''}>${s.replace('_', ' ')}</option>`,
        )}</select></div>`,
    )}</fieldset>
    ${
      admin
        ? html`<div class="field"><label for="${id}-phone">Or a person's number (admin only)</label>
        <input type="tel" id="${id}-phone" name="phone" autocomplete="off" placeholder="${EXAMPLE_PHONE}" /></div>`
        : ''
    }`;
}

/** The preview request from the form: the admin's number if one was typed, else the example states. */
function previewRequest(c: C, form: Record<string, unknown>): { phone: string } | { example: object } {
  const phone = String(form.phone ?? '').trim();
  if (c.var.session.actor.role === 'admin' && phone) return { phone };
  const example: Record<string, { status: string }> = {};
  for (const p of c.var.services.catalog.purposes) {
    const s = String(form[`status.${p}`] ?? 'none');
    example[p] = { status: (STATUSES as readonly string[]).includes(s) ? s : 'none' };
  }
  return { example };
}

const transformText = (t: Mapping['fields'][number]['transform']) => {
  if (t.type === 'boolean') return `checkbox${t.true ? ` (true = ${t.true})` : ''}`;
  if (t.type === 'enum')
    return `enum ${Object.entries(t.values)
      .map(([k, v]) => `${k}→${v}`)
      .join(', ')}`;
  if (t.type === 'date') return `date (${t.format})`;
  return 'text';
};

/** The whitelist; with `issues`, each field's problems are shown in its own row. */
function whitelist(m: Partial<Mapping>, issues: MappingIssue[] = []) {
  const fields = Array.isArray(m.fields) ? m.fields : [];
  const rowIssues = (i: number) =>
    issues.filter((x) => x.path === `fields.${i}` || x.path.startsWith(`fields.${i}.`));
  return html`<table class="whitelist">
    <thead><tr><th>#</th><th>local value</th><th>CRM property</th><th>direction</th><th>transform</th><th>note</th>${
      issues.length ? html`<th>problems</th>` : ''
    }</tr></thead>
    <tbody>${fields.map((f, i) => {
      const mine = rowIssues(i);
      const t =
        f && typeof f === 'object' && f.transform && typeof f.transform === 'object' ? f.transform : null;
      return html`<tr class="${mine.length ? 'has-issue' : ''}" data-field="${i}">
        <td>${i}</td><td><code>${String(f?.local ?? '')}</code></td><td><code>${String(f?.remote ?? '')}</code></td>
        <td>${String(f?.direction ?? '')}</td><td>${t ? transformText(t) : 'text'}</td><td>${f?.description ?? ''}</td>
        ${
          issues.length
            ? html`<td class="issue">${mine.map((x) => html`<div><code>${x.path}</code>: ${x.message}</div>`)}</td>`
            : ''
        }</tr>`;
    })}</tbody></table>`;
}

function summary(v: MappingView) {
  const m = v.mapping;
  return html`<dl class="kv">
    <dt>kept in</dt><dd><code>${v.storedIn}</code></dd>
    <dt>person found by</dt><dd><code>${m.match.field}</code> (${m.match.format}) on ${m.match.objects.join(', ')}</dd>
    <dt>opt-ins made in the CRM</dt><dd>${m.trustOptIn ? 'count as consent (trustOptIn)' : 'start a WhatsApp double opt-in'}</dd>
  </dl>`;
}

interface EditorState {
  draft: string;
  /** the example states last previewed, kept selected in the form */
  chosen?: Record<string, { status: string }>;
  issues?: MappingIssue[];
  parseError?: string;
  diff?: View;
  preview?: View;
  message?: View;
}

function editor(c: C, v: MappingView, s: EditorState) {
  const name = v.connector;
  const general = (s.issues ?? []).filter((i) => !i.path.startsWith('fields.'));
  let draftTable: View | string = '';
  if (s.issues?.length) {
    try {
      draftTable = html`<h2>Your draft, field by field</h2>${whitelist(JSON.parse(s.draft) as Partial<Mapping>, s.issues)}`;
    } catch {
      draftTable = '';
    }
  }
  return html`
  ${s.message ?? ''}
  <section class="card"><h2>In force</h2>${summary(v)}${whitelist(v.mapping)}</section>
  ${s.diff ?? ''}
  <section class="card" id="editor">
    <h2>Edit</h2>
    <p class="muted">The whole mapping as JSON (schema: <code>mappings/mapping.schema.json</code>). It is checked
      with the same rules as the API before anything is saved; you see the change before you confirm it.</p>
    <form method="post" action="/admin/mappings/${name}/check">
      ${csrfField(c)}
      <div class="field">
        <label for="mapping">Mapping</label>
        <textarea id="mapping" name="mapping" spellcheck="false" aria-describedby="mapping-errors">${s.draft}</textarea>
        <div id="mapping-errors" class="issue" role="alert">
          ${s.parseError ? html`<p>Not valid JSON: ${s.parseError}</p>` : ''}
          ${s.issues?.length ? html`<p><strong>${s.issues.length} problem(s); nothing was saved.</strong></p>` : ''}
          ${general.map((i) => html`<p><code>${i.path}</code>: ${i.message}</p>`)}
        </div>
      </div>
      <button type="submit">Check and show the change</button>
    </form>
    ${draftTable}
  </section>
  <section class="card" id="preview">
    <h2>Preview</h2>
    <p class="muted">Exactly what would be written to ${name}, under the mapping in force, for a person in these states.</p>
    <form method="post" action="/admin/mappings/${name}/preview">
      ${csrfField(c)}
      ${previewFields(c, 'preview', s.chosen)}
      <button type="submit">Preview</button>
    </form>
    ${s.preview ?? ''}
  </section>`;
}

function diffView(c: C, v: MappingView, after: Mapping, draft: string) {
  const lines = lineDiff(pretty(v.mapping), pretty(after));
  const changed = lines.filter((l) => l.op !== 'same').length;
  return html`<section class="card" id="change">
    <h2>The change</h2>
    ${
      changed === 0
        ? html`<p class="notice" role="status">The draft is valid and the same as the mapping in force.</p>`
        : html`<p>${changed} line(s) differ. <span class="muted">Red: removed, green: added.</span></p>
      <pre class="diff">${lines.map(
        (l) =>
          html`<span class="${l.op}">${l.op === 'add' ? '+ ' : l.op === 'del' ? '- ' : '  '}${l.line}</span>`,
      )}</pre>
      <form method="post" action="/admin/mappings/${v.connector}/save">
        ${csrfField(c)}<input type="hidden" name="mapping" value="${draft}" />
        <button type="submit">Save and put in force</button>
      </form>
      <form method="post" action="/admin/mappings/${v.connector}/preview" class="draft-preview">
        ${csrfField(c)}<input type="hidden" name="mapping" value="${draft}" />
        <p>Or first see what this draft would send:</p>
        ${previewFields(c, 'draft')}
        <button type="submit" class="secondary">Preview under this draft</button>
      </form>`
    }
  </section>`;
}

function previewView(asked: { phone: string } | { example: object }, p: Preview) {
  const records = p.records ?? [];
  const who =
    'phone' in asked
      ? html`<p>For <strong>${asked.phone}</strong>: ${p.known ? 'known here' : 'not known here (no consent recorded)'};
      ${records.length ? html`linked to ${records.map((r) => html`<code>${r.objectType} ${r.id}</code> `)}` : 'no linked CRM record yet (found by phone on the next sync)'}.</p>`
      : html`<p>For a person in these example states: ${Object.entries(
          asked.example as Record<string, { status: string }>,
        ).map(([purpose, e]) => html`<code>${purpose}</code> ${e.status.replace('_', ' ')}; `)}</p>`;
  return html`<div class="preview-result">
    ${p.draft ? html`<p class="notice" role="status">Under your draft (not saved).</p>` : ''}
    ${who}
    <table><thead><tr><th>CRM property</th><th>value that would be written</th></tr></thead>
    <tbody>${Object.entries(p.properties).map(
      ([k, val]) => html`<tr><td><code>${k}</code></td><td><code>${JSON.stringify(val)}</code></td></tr>`,
    )}</tbody></table>
    <p class="muted">Nothing else is sent: fields outside this list never leave.</p></div>`;
}

/** Registers the mapping pages. */
export function mappingPages(r: Hono<AdminEnv>, api: Api): void {
  const guard = [requireSession, requirePage(PAGES.mappings)] as const;

  /** The connector's mapping in force, or a 404 page when it is not enabled. */
  async function load(c: C): Promise<MappingView | Response> {
    const name = c.req.param('connector') ?? '';
    const res = await api<MappingView & ApiError>(c, 'GET', `/v1/mappings/${encodeURIComponent(name)}`);
    if (res.status === 200) return res.body;
    const msg =
      res.status === 404 || res.status === 400
        ? 'No such connector is enabled here.'
        : res.body.error?.message;
    return render(c, 'Mapping', notice(msg, 'alert'), res.status === 400 ? 404 : (res.status as 404));
  }

  /** The mapping in force and the posted draft, parsed; or the page that says why not (404, 422). */
  async function loadDraft(c: C): Promise<{ v: MappingView; draft: string; value: unknown } | Response> {
    const v = await load(c);
    if (v instanceof Response) return v;
    const draft = String((await c.req.parseBody()).mapping ?? '');
    try {
      return { v, draft, value: JSON.parse(draft) as unknown };
    } catch (e) {
      const parseError = (e as Error).message;
      return render(c, `Mapping: ${v.connector}`, editor(c, v, { draft, parseError }), 422);
    }
  }

  r.get('/mappings', ...guard, async (c) => {
    const views: MappingView[] = [];
    for (const name of c.var.services.mappings.connectors()) {
      const res = await api<MappingView>(c, 'GET', `/v1/mappings/${name}`);
      if (res.status === 200) views.push(res.body);
    }
    const body = views.length
      ? views.map(
          (v) => html`<section class="card"><h2>${v.connector}</h2>${summary(v)}${whitelist(v.mapping)}
            <p><a href="/admin/mappings/${v.connector}">Edit, preview</a></p></section>`,
        )
      : html`<p>No CRM connector is enabled: set HubSpot or Salesforce credentials to sync.</p>`;
    return render(
      c,
      'Mappings',
      html`<p class="muted">Only the fields listed travel between the ledger and a CRM.</p>${body}`,
    );
  });

  r.get('/mappings/:connector', ...guard, async (c) => {
    const v = await load(c);
    if (v instanceof Response) return v;
    const saved = notice(c.req.query('saved') === '1' ? 'Saved. The new mapping is in force.' : null);
    return render(c, `Mapping: ${v.connector}`, editor(c, v, { draft: pretty(v.mapping), message: saved }));
  });

  r.post('/mappings/:connector/check', ...guard, requireCsrf, async (c) => {
    const d = await loadDraft(c);
    if (d instanceof Response) return d;
    const { v, draft, value } = d;
    const checked = c.var.services.mappings.validate(v.connector, value);
    if (!checked.ok) {
      return render(c, `Mapping: ${v.connector}`, editor(c, v, { draft, issues: checked.issues }), 422);
    }
    return render(
      c,
      `Mapping: ${v.connector}`,
      editor(c, v, { draft, diff: diffView(c, v, checked.mapping, draft) }),
    );
  });

  r.post('/mappings/:connector/save', ...guard, requireCsrf, async (c) => {
    const d = await loadDraft(c);
    if (d instanceof Response) return d;
    const { v, draft, value } = d;
    const res = await api<ApiError>(c, 'PUT', `/v1/mappings/${v.connector}`, value);
    if (res.status === 200) return c.redirect(`/admin/mappings/${v.connector}?saved=1`, 303);
    const issues = (res.body.error?.details?.issues as MappingIssue[] | undefined) ?? [
      { path: '(root)', message: res.body.error?.message ?? 'not saved' },
    ];
    // 403: an editor changed an admin-only setting (the message names it); else the draft is invalid.
    const status = res.status === 403 ? 403 : 422;
    return render(c, `Mapping: ${v.connector}`, editor(c, v, { draft, issues }), status);
  });

  r.post('/mappings/:connector/preview', ...guard, requireCsrf, async (c) => {
    const form = await c.req.parseBody();
    const asked = previewRequest(c, form);
    // With a draft: the same preview route, given the draft (checked there with the same schema).
    const d = form.mapping === undefined ? await load(c) : await loadDraft(c);
    if (d instanceof Response) return d;
    const v = 'v' in d ? d.v : d;
    const withDraft = 'v' in d ? { mapping: d.value } : {};
    const res = await api<Preview & ApiError>(c, 'POST', `/v1/mappings/${v.connector}/preview`, {
      ...asked,
      ...withDraft,
    });
    const state: EditorState = { draft: 'v' in d ? d.draft : pretty(v.mapping) };
    if ('v' in d && res.status === 422)
      state.issues = (res.body.error?.details?.issues as MappingIssue[]) ?? [];
    else if ('v' in d && res.status === 200) {
      const checked = c.var.services.mappings.validate(v.connector, d.value);
      if (checked.ok) state.diff = diffView(c, v, checked.mapping, d.draft);
    }
    if (res.status !== 200) {
      state.preview = notice(res.body.error?.message ?? 'no preview', 'alert');
      return render(c, `Mapping: ${v.connector}`, editor(c, v, state), res.status === 400 ? 400 : 422);
    }
    // Only an admin previews by number (the API refuses it to editors), and admins see numbers in full.
    const n = 'phone' in asked ? normalizePhone(asked.phone) : null;
    state.preview = previewView(n?.ok ? { phone: n.e164 } : asked, res.body);
    if ('example' in asked && !('v' in d)) state.chosen = asked.example as Record<string, { status: string }>;
    return render(c, `Mapping: ${v.connector}`, editor(c, v, state));
  });
}
