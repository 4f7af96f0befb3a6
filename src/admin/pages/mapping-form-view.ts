/**
 * The mapping editor's form: one row per field mapping with dropdowns (local value from the
 * catalog, direction, transform and its options), a CRM property picker (a datalist of what the
 * CRM defines, with each property's type) and whether the property fits the transform; the
 * problems of a row beside it. Server-rendered; the small script (under the page's CSP nonce) only
 * hides the options of other transforms and updates the fit as a person types.
 */
import type { Context } from 'hono';
import { html } from 'hono/html';
import type { RemoteField } from '../../../connectors/types.ts';
import type { MappingIssue } from '../../core/mapping.ts';
import type { Described } from '../../sync/crm-fields.ts';
import { fieldFit } from '../../sync/crm-fields.ts';
import type { AdminEnv } from '../guard.ts';
import { csrfField } from '../layout.ts';
import {
  DATE_FORMATS,
  DIRECTIONS,
  type FormInput,
  localOptions,
  type RowInput,
  STATUSES,
  TRANSFORMS,
} from '../mapping-form.ts';

type C = Context<AdminEnv>;

/** What the CRM defines for the mapping's object types, merged for the picker. */
export interface Picker {
  /** `described`: the CRM answered; else why the picker is empty */
  state: 'described' | 'unreachable' | 'unavailable';
  reason?: string;
  objectTypes: string[];
  /** by lower-case name: the field and the object types that lack it */
  fields: Map<string, { field: RemoteField; missingOn: string[] }>;
}

export function pickerOf(described: Described | null, objectTypes: string[]): Picker {
  if (described === null) return { state: 'unavailable', objectTypes, fields: new Map() };
  if (!described.ok)
    return { state: 'unreachable', reason: described.reason, objectTypes, fields: new Map() };
  const fields = new Map<string, { field: RemoteField; missingOn: string[] }>();
  const present = objectTypes.filter((t) => described.objects[t]);
  for (const t of present)
    for (const f of described.objects[t] ?? [])
      if (!fields.has(f.name.toLowerCase())) fields.set(f.name.toLowerCase(), { field: f, missingOn: [] });
  for (const [key, entry] of fields)
    entry.missingOn = present.filter(
      (t) => !(described.objects[t] ?? []).some((f) => f.name.toLowerCase() === key),
    );
  return { state: 'described', objectTypes, fields };
}

const CRM_NAME = { hubspot: 'HubSpot', salesforce: 'Salesforce' } as const;
export const crmName = (connector: string) => CRM_NAME[connector as keyof typeof CRM_NAME] ?? connector;

/** The picker's status line. */
export function pickerNote(connector: string, p: Picker) {
  const crm = crmName(connector);
  if (p.state === 'described')
    return html`<p class="muted" id="crm-status">The property picker lists what ${crm} defines on
      ${p.objectTypes.join(' and ')} (${p.fields.size} properties); saving checks every property against ${crm} again.</p>`;
  if (p.state === 'unreachable')
    return html`<p class="alert" role="alert" id="crm-status">${crm} could not be asked for its properties
      (${p.reason}). The picker is empty; a save is checked against ${crm} and, while it cannot be reached, needs an
      admin's confirmation.</p>`;
  return html`<p class="muted" id="crm-status">This deployment does not read ${crm}'s properties: type the API names;
    saves are not checked against ${crm} (run <code>consent-sync doctor</code> where the CRM can be reached).</p>`;
}

/** Whether a row's property exists and fits, in words. */
function fitOf(r: RowInput, p: Picker) {
  if (p.state !== 'described' || !r.remote) return html`<span class="fit"></span>`;
  const entry = p.fields.get(r.remote.toLowerCase());
  if (!entry) return html`<span class="fit bad">not in ${p.objectTypes.join(', ')}</span>`;
  const missing = entry.missingOn.length ? `; missing on ${entry.missingOn.join(', ')}` : '';
  let misfit: string | null = null;
  if ((TRANSFORMS as readonly string[]).includes(r.transform)) {
    const transform =
      r.transform === 'date'
        ? { type: 'date' as const, format: r.format as 'iso' }
        : r.transform === 'enum'
          ? { type: 'enum' as const, values: {} }
          : r.transform === 'boolean'
            ? { type: 'boolean' as const }
            : { type: 'text' as const };
    misfit = fieldFit({ remote: entry.field.name, transform }, entry.field);
  }
  return html`<span class="fit ${misfit || missing ? 'bad' : 'good'}">${entry.field.type}${
    misfit ? `: does not fit ${r.transform}` : missing ? missing : ': fits'
  }</span>`;
}

const select = (name: string, id: string, options: readonly string[], value: string, label: string) => {
  const all = options.includes(value) || value === '' ? options : [value, ...options];
  return html`<select name="${name}" id="${id}" aria-label="${label}">${all.map(
    (o) => html`<option value="${o}" ${o === value ? 'selected' : ''}>${o === '' ? '–' : o}</option>`,
  )}</select>`;
};

function row(c: C, r: RowInput, i: number, issues: MappingIssue[], p: Picker, withProblems: boolean) {
  const locals = localOptions(c.var.services.catalog.purposes);
  const mine = issues.filter((x) => x.path === `fields.${i}` || x.path.startsWith(`fields.${i}.`));
  const n = `f.${i}`;
  const statusOptions = ['', ...STATUSES];
  return html`<tr class="${mine.length ? 'has-issue' : ''}" data-field="${i}">
    <td id="row-${i}">${i}<input type="hidden" name="${n}.orig" value="${r.orig}" /></td>
    <td>${select(`${n}.local`, `${n}.local`, locals, r.local, `row ${i}: local value`)}</td>
    <td><input type="text" name="${n}.remote" id="${n}.remote" value="${r.remote}" list="crm-props"
        autocomplete="off" spellcheck="false" aria-label="row ${i}: CRM property" />${fitOf(r, p)}</td>
    <td>${select(`${n}.direction`, `${n}.direction`, DIRECTIONS, r.direction, `row ${i}: direction`)}</td>
    <td>${select(`${n}.transform`, `${n}.transform`, TRANSFORMS, r.transform, `row ${i}: transform`)}
      <div class="opt" data-opt="boolean"><label>true when ${select(`${n}.whenTrue`, `${n}.whenTrue`, statusOptions, r.whenTrue, `row ${i}: status written as true`)}</label>
        <label>false pulled as ${select(`${n}.whenFalse`, `${n}.whenFalse`, statusOptions, r.whenFalse, `row ${i}: status a pulled false stands for`)}</label></div>
      <div class="opt" data-opt="enum"><label>values (local=CRM, one a line)
        <textarea name="${n}.values" rows="4" spellcheck="false" aria-label="row ${i}: enum values">${r.values}</textarea></label></div>
      <div class="opt" data-opt="date"><label>format ${select(`${n}.format`, `${n}.format`, DATE_FORMATS, r.format, `row ${i}: date format`)}</label></div>
    </td>
    <td><input type="text" name="${n}.description" value="${r.description}" aria-label="row ${i}: note" /></td>
    <td><label class="remove"><input type="checkbox" name="${n}.remove" value="1" /> remove</label></td>
    ${withProblems ? html`<td class="issue">${mine.map((x) => html`<div><code>${x.path}</code>: ${x.message}</div>`)}</td>` : ''}
  </tr>`;
}

/** The form (posts to `check`; the "add a field" button re-renders it with one more row). */
export function mappingForm(c: C, connector: string, form: FormInput, issues: MappingIssue[], p: Picker) {
  const matchIssues = issues.filter((x) => x.path.startsWith('match'));
  const rowIssues = issues.some((x) => x.path.startsWith('fields'));
  return html`<form method="post" action="/admin/mappings/${connector}/check" id="mapping-form">
    ${csrfField(c)}<input type="hidden" name="base" value="${JSON.stringify(form.base)}" />
    <datalist id="crm-props">${[...p.fields.values()].map(
      ({ field }) =>
        html`<option value="${field.name}" data-type="${field.type}" data-kind="${field.kind}">${field.name} (${field.type})</option>`,
    )}</datalist>
    <fieldset class="match ${matchIssues.length ? 'has-issue' : ''}"><legend>How a person is found</legend>
      <label>object types <input type="text" name="match.objects" value="${form.match.objects}" /></label>
      <label>phone number field <input type="text" name="match.field" value="${form.match.field}" list="crm-props" autocomplete="off" /></label>
      <label>stored as ${select('match.format', 'match.format', ['e164', 'digits'], form.match.format, 'number format')}</label>
      <label>BSUID field (optional) <input type="text" name="match.bsuidField" value="${form.match.bsuidField}" list="crm-props" autocomplete="off" /></label>
      ${matchIssues.map((x) => html`<div class="issue"><code>${x.path}</code>: ${x.message}</div>`)}
    </fieldset>
    <div class="table-wrap"><table class="rows" data-crm="${p.state}">
      <thead><tr><th>#</th><th>local value</th><th>CRM property</th><th>direction</th><th>transform</th><th>note</th><th></th>${
        rowIssues ? html`<th>problems</th>` : ''
      }</tr></thead>
      <tbody>${form.rows.map((r, i) => row(c, r, i, issues, p, rowIssues))}</tbody>
    </table></div>
    <p><button type="submit" name="action" value="add" class="secondary">Add a field</button>
      <button type="submit" name="action" value="check">Check these rows</button></p>
  </form>`;
}

/** Hides the options of other transforms; updates a row's fit while a person types. */
export const EDITOR_SCRIPT = `
const table = document.querySelector('table.rows');
const props = new Map([...document.querySelectorAll('#crm-props option')].map((o) => [o.value.toLowerCase(), o.dataset]));
const kinds = (t, format) => t === 'boolean' ? ['boolean'] : t === 'enum' ? ['enum', 'text']
  : t === 'date' ? (format === 'epoch_ms' ? ['date', 'number', 'text'] : ['date', 'text']) : ['text', 'enum'];
function options(row) {
  const t = row.querySelector('[name$=".transform"]').value;
  for (const el of row.querySelectorAll('[data-opt]')) el.hidden = el.dataset.opt !== t;
  return t;
}
function fit(row) {
  const t = options(row);
  const out = row.querySelector('.fit');
  if (!out || table.dataset.crm !== 'described') return;
  const name = row.querySelector('[name$=".remote"]').value.trim();
  const p = props.get(name.toLowerCase());
  if (!name) { out.textContent = ''; out.className = 'fit'; return; }
  if (!p) { out.textContent = 'not in the CRM'; out.className = 'fit bad'; return; }
  const ok = kinds(t, row.querySelector('[name$=".format"]').value).includes(p.kind);
  out.textContent = p.type + (ok ? ': fits' : ': does not fit ' + t);
  out.className = ok ? 'fit good' : 'fit bad';
}
for (const row of document.querySelectorAll('table.rows tr[data-field]')) {
  options(row);
  row.addEventListener('input', () => fit(row));
  row.addEventListener('change', () => fit(row));
}
`;

/** The editor's own styles (served as a file: the CSP allows only 'self' styles). */
export const EDITOR_CSS = `
main { max-width:1360px; }
nav.tabs { display:flex; gap:1rem; margin:0 0 1rem; flex-wrap:wrap; }
nav.tabs a { color:var(--accent); }
.table-wrap { overflow-x:auto; }
table.rows { min-width:980px; table-layout:fixed; }
table.rows th:nth-child(1) { width:2rem; }
table.rows th:nth-child(2) { width:15%; }
table.rows th:nth-child(3) { width:22%; }
table.rows th:nth-child(4) { width:5.5rem; }
table.rows th:nth-child(5) { width:16%; }
table.rows th:nth-child(7) { width:5.5rem; }
table.rows th:nth-child(8) { width:18%; }
table.rows select { width:100%; }
table.rows td { padding:.3rem; }
table.rows input[type=text] { min-width:0; width:100%; font:inherit; padding:.25rem .35rem; }
table.rows textarea { min-height:4.6rem; width:100%; font:12px/1.35 ui-monospace, Menlo, Consolas, monospace; }
table.rows .opt { margin-top:.3rem; font-size:.85em; }
table.rows .opt label { display:block; }
table.rows td.issue { max-width:16rem; }
fieldset.match { border:1px solid var(--line); display:flex; flex-wrap:wrap; gap:.4rem 1.2rem; margin:.6rem 0; }
fieldset.match.has-issue { background:#fff4e5; }
fieldset.match input[type=text] { min-width:0; width:14rem; }
.fit { display:block; font-size:.82em; color:var(--muted); }
.fit.good { color:var(--ok); }
.fit.bad { color:var(--bad); font-weight:600; }
pre.diff .skip { display:block; color:var(--muted); font-style:italic; }
#problems ul { margin:.3rem 0; padding-left:1.2rem; }
label.confirm { display:block; margin:.5rem 0; }
`;
