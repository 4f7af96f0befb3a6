/**
 * Mappings per connector: the whitelist as a table; an editor (a form with a row per field and a
 * CRM property picker, and the whole mapping as JSON under "Advanced") that checks a draft with the
 * same schema as `PUT /v1/mappings/{connector}` and against the CRM (problems at the top and beside
 * their row, what was typed kept); the changed lines as a diff to confirm; the save through that
 * route; and a preview of exactly what would be sent.
 */
import type { Context, Hono } from 'hono';
import { html, raw } from 'hono/html';
import type { ConnectorName } from '../../../connectors/types.ts';
import type { Mapping, MappingIssue } from '../../core/mapping.ts';
import { normalizePhone } from '../../core/phone.ts';
import type { Api, ApiError } from '../api.ts';
import { changedOnly, lineDiff, pretty } from '../diff.ts';
import { type AdminEnv, requireCsrf, requirePage, requireSession } from '../guard.ts';
import { csrfField, EXAMPLE_PHONE, notice, PAGES, render, type View } from '../layout.ts';
import { draftOf, emptyRow, type FormInput, formFromBody, formOf } from '../mapping-form.ts';
import {
  crmName,
  EDITOR_CSS,
  EDITOR_SCRIPT,
  mappingForm,
  type Picker,
  pickerNote,
  pickerOf,
} from './mapping-form-view.ts';

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
  /** the JSON in the Advanced tab: what was typed there, or the form's draft */
  draft: string;
  /** the form's rows: as typed, or made from the draft */
  form: FormInput;
  /** the example states last previewed, kept selected in the form */
  chosen?: Record<string, { status: string }>;
  issues?: MappingIssue[];
  parseError?: string;
  /** a problem that is not the draft's (the CRM could not be reached, a role may not) */
  alert?: string;
  diff?: View;
  preview?: View;
  message?: View;
}

/** Problems at the top of the page, each linked to its row. */
function problems(s: EditorState) {
  const issues = s.issues ?? [];
  if (!s.parseError && issues.length === 0 && !s.alert) return '';
  const link = (path: string) => {
    const row = /^fields\.(\d+)/.exec(path)?.[1];
    return row === undefined
      ? html`<code>${path}</code>`
      : html`<a href="#row-${row}"><code>${path}</code></a>`;
  };
  return html`<section class="card" id="problems">
    <div id="mapping-errors" class="issue" role="alert">
      ${s.alert ? html`<p>${s.alert}</p>` : ''}
      ${s.parseError ? html`<p>Not valid JSON: ${s.parseError}; nothing was saved.</p>` : ''}
      ${
        issues.length
          ? html`<p><strong>${issues.length} problem(s); nothing was saved.</strong> Each is also shown beside its row.</p>
        <ul>${issues.map((i) => html`<li>${link(i.path)}: ${i.message}</li>`)}</ul>`
          : ''
      }
    </div></section>`;
}

function editor(c: C, v: MappingView, s: EditorState, picker: Picker) {
  const name = v.connector;
  return html`<link rel="stylesheet" href="/admin/mappings.css" />
  ${s.message ?? ''}
  <nav class="tabs" aria-label="editor"><a href="#form">Form</a><a href="#advanced">Advanced: JSON</a><a href="#preview">Preview</a></nav>
  ${problems(s)}
  ${s.diff ?? ''}
  <section class="card"><h2>In force</h2>${summary(v)}</section>
  <section class="card" id="form">
    <h2>Edit</h2>
    <p class="muted">One row per field that may travel between the ledger and ${crmName(name)}. Checked with the same rules as
      the API and against ${crmName(name)} before anything is saved; you see the changed lines before you confirm.</p>
    ${pickerNote(name, picker)}
    ${mappingForm(c, name, s.form, s.issues ?? [], picker)}
  </section>
  <section class="card" id="advanced">
    <h2>Advanced: the whole mapping as JSON</h2>
    <p class="muted">For what the form does not show (schema: <code>mappings/mapping.schema.json</code>). The form edits
      <code>match</code> and <code>fields</code> and keeps every other key as it is.</p>
    <form method="post" action="/admin/mappings/${name}/check">
      ${csrfField(c)}
      <div class="field">
        <label for="mapping">Mapping</label>
        <textarea id="mapping" name="mapping" spellcheck="false" aria-describedby="mapping-errors">${s.draft}</textarea>
      </div>
      <button type="submit">Check and show the change</button>
    </form>
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
  </section>
  <script nonce="${c.var.scriptNonce ?? ''}">${raw(EDITOR_SCRIPT)}</script>`;
}

/**
 * `after` with its object keys in `before`'s order (new keys last), so the diff shows changed values,
 * not keys a parse put elsewhere (a draft's `match.fields` where the file had none).
 */
function alignKeys(before: unknown, after: unknown): unknown {
  if (Array.isArray(before) && Array.isArray(after)) return after.map((a, i) => alignKeys(before[i], a));
  const plain = (x: unknown): x is Record<string, unknown> =>
    typeof x === 'object' && x !== null && !Array.isArray(x);
  if (!plain(before) || !plain(after)) return after;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(before)) if (k in after) out[k] = alignKeys(before[k], after[k]);
  for (const k of Object.keys(after)) if (!(k in out)) out[k] = after[k];
  return out;
}

function diffView(c: C, v: MappingView, after: Mapping, draft: string, unreachable?: string) {
  const rows = changedOnly(lineDiff(pretty(v.mapping), pretty(alignKeys(v.mapping, after))));
  const changed = rows.filter((l) => l.op === 'add' || l.op === 'del').length;
  const admin = c.var.session.actor.role === 'admin';
  const crm = crmName(v.connector);
  return html`<section class="card" id="change">
    <h2>The change</h2>
    ${
      changed === 0
        ? html`<p class="notice" role="status">The draft is valid and the same as the mapping in force.</p>`
        : html`<p>${changed} line(s) differ; only they are shown, with two lines around each. <span class="muted">Red: removed, green: added.</span></p>
      <pre class="diff">${rows.map((l) =>
        l.op === 'skip'
          ? html`<span class="skip">  … ${l.count} unchanged line(s)</span>`
          : html`<span class="${l.op}">${l.op === 'add' ? '+ ' : l.op === 'del' ? '- ' : '  '}${l.line}</span>`,
      )}</pre>
      ${
        unreachable
          ? html`<p class="alert" role="alert">${crm} could not be reached (${unreachable}): the properties were not checked.
            ${admin ? 'You may save anyway; the audit log records that you confirmed it.' : 'Try again later or ask an admin.'}</p>`
          : ''
      }
      ${
        unreachable && !admin
          ? ''
          : html`<form method="post" action="/admin/mappings/${v.connector}/save">
        ${csrfField(c)}<input type="hidden" name="mapping" value="${draft}" />
        ${
          unreachable
            ? html`<label class="confirm"><input type="checkbox" name="unchecked" value="1" required />
                Save without checking the properties against ${crm}</label>`
            : ''
        }
        <button type="submit">Save and put in force</button>
      </form>`
      }
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

  r.get('/mappings.css', (c) => {
    c.header('cache-control', 'public, max-age=3600');
    return c.body(EDITOR_CSS, 200, { 'content-type': 'text/css; charset=utf-8' });
  });

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

  /** What the CRM defines for the draft's object types (cached briefly), for the picker. */
  async function picker(c: C, v: MappingView, form: FormInput): Promise<Picker> {
    const objects = form.match.objects
      .split(/[\s,]+/)
      .map((o) => o.trim())
      .filter((o) => /^[A-Za-z][A-Za-z0-9_]{0,79}$/.test(o))
      .slice(0, 5);
    const types = objects.length ? objects : v.mapping.match.objects;
    return pickerOf(await c.var.services.crmFields.describe(v.connector, types), types);
  }

  /** Renders the editor page: a fresh nonce lets its one script run under the console's CSP. */
  async function page(c: C, v: MappingView, s: EditorState, status: 200 | 400 | 403 | 422 | 502 = 200) {
    c.set('scriptNonce', crypto.randomUUID().replaceAll('-', ''));
    return render(c, `Mapping: ${v.connector}`, editor(c, v, s, await picker(c, v, s.form)), status);
  }

  /** The mapping in force and the posted JSON draft, parsed; or the page that says why not (404, 422). */
  async function loadDraft(c: C): Promise<{ v: MappingView; draft: string; value: unknown } | Response> {
    const v = await load(c);
    if (v instanceof Response) return v;
    const draft = String((await c.req.parseBody()).mapping ?? '');
    try {
      return { v, draft, value: JSON.parse(draft) as unknown };
    } catch (e) {
      const parseError = (e as Error).message;
      return page(c, v, { draft, form: formOf(v.mapping), parseError }, 422);
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
    return page(c, v, { draft: pretty(v.mapping), form: formOf(v.mapping), message: saved });
  });

  r.post('/mappings/:connector/check', ...guard, requireCsrf, async (c) => {
    const body = await c.req.parseBody();
    let v: MappingView;
    let form: FormInput;
    let draftText: string;
    let value: unknown;
    const early: MappingIssue[] = [];
    if (body.mapping !== undefined) {
      // The Advanced tab: the whole mapping as JSON.
      const d = await loadDraft(c);
      if (d instanceof Response) return d;
      ({ v, draft: draftText, value } = d);
      form = formOf(value);
    } else {
      const loaded = await load(c);
      if (loaded instanceof Response) return loaded;
      v = loaded;
      const posted = formFromBody(body);
      form = posted.form;
      if (body.action === 'add') {
        form.rows.push(emptyRow());
        return page(c, v, { draft: pretty(draftOf(form).draft), form });
      }
      const made = draftOf(form);
      early.push(...posted.issues, ...made.issues);
      value = made.draft;
      draftText = pretty(made.draft);
    }
    const checked = c.var.services.mappings.validate(v.connector, value);
    if (!checked.ok || early.length)
      return page(
        c,
        v,
        { draft: draftText, form, issues: [...early, ...(checked.ok ? [] : checked.issues)] },
        422,
      );
    const crm = await c.var.services.crmFields.check(v.connector, checked.mapping);
    if (crm.status === 'mismatch') return page(c, v, { draft: draftText, form, issues: crm.issues }, 422);
    const unreachable = crm.status === 'unreachable' ? crm.reason : undefined;
    return page(c, v, {
      draft: draftText,
      form,
      diff: diffView(c, v, checked.mapping, draftText, unreachable),
    });
  });

  r.post('/mappings/:connector/save', ...guard, requireCsrf, async (c) => {
    const d = await loadDraft(c);
    if (d instanceof Response) return d;
    const { v, draft, value } = d;
    const unchecked = (await c.req.parseBody()).unchecked === '1';
    const res = await api<ApiError>(
      c,
      'PUT',
      `/v1/mappings/${v.connector}${unchecked ? '?unchecked=true' : ''}`,
      value,
    );
    if (res.status === 200) return c.redirect(`/admin/mappings/${v.connector}?saved=1`, 303);
    const state: EditorState = { draft, form: formOf(value) };
    if (res.status === 502) {
      // The CRM could not be asked: the draft is valid; an admin may confirm saving it unchecked.
      const checked = c.var.services.mappings.validate(v.connector, value);
      state.alert = res.body.error?.message ?? 'the CRM could not be reached';
      if (checked.ok)
        state.diff = diffView(c, v, checked.mapping, draft, res.body.error?.message ?? 'no answer');
      return page(c, v, state, 502);
    }
    state.issues = (res.body.error?.details?.issues as MappingIssue[] | undefined) ?? [
      { path: '(root)', message: res.body.error?.message ?? 'not saved' },
    ];
    // 403: an editor changed an admin-only setting (the message names it); else the draft is invalid.
    return page(c, v, state, res.status === 403 ? 403 : 422);
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
    const state: EditorState = {
      draft: 'v' in d ? d.draft : pretty(v.mapping),
      form: formOf('v' in d ? d.value : v.mapping),
    };
    if ('v' in d && res.status === 422)
      state.issues = (res.body.error?.details?.issues as MappingIssue[]) ?? [];
    else if ('v' in d && res.status === 200) {
      const checked = c.var.services.mappings.validate(v.connector, d.value);
      if (checked.ok) state.diff = diffView(c, v, checked.mapping, d.draft);
    }
    if (res.status !== 200) {
      state.preview = notice(res.body.error?.message ?? 'no preview', 'alert');
      return page(c, v, state, res.status === 400 ? 400 : 422);
    }
    // Only an admin previews by number (the API refuses it to editors), and admins see numbers in full.
    const n = 'phone' in asked ? normalizePhone(asked.phone) : null;
    state.preview = previewView(n?.ok ? { phone: n.e164 } : asked, res.body);
    if ('example' in asked && !('v' in d)) state.chosen = asked.example as Record<string, { status: string }>;
    return page(c, v, state);
  });
}
