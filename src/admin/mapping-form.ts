/**
 * The mapping editor's form, as data: the rows a person sees (every value a string, exactly as
 * typed, so a page with errors shows what was typed) and the draft mapping they make. The form
 * edits `match` and `fields`; every other key of the draft it started from is kept as it was (a
 * section the form does not know survives a form edit), as are unknown keys of each field.
 */
import type { MappingIssue } from '../core/mapping.ts';

export const DIRECTIONS = ['push', 'pull', 'both'] as const;
export const TRANSFORMS = ['text', 'boolean', 'enum', 'date'] as const;
export const DATE_FORMATS = ['iso', 'date', 'epoch_ms'] as const;
export const STATUSES = ['none', 'pending', 'opted_in', 'opted_out'] as const;
const LOCAL_PARTS = ['status', 'changedAt', 'source', 'textVersion', 'doubleOptInAt'] as const;

/** One field mapping as the form shows it. */
export interface RowInput {
  /** index of the field in the draft the form started from; '' for a new row */
  orig: string;
  local: string;
  remote: string;
  direction: string;
  transform: string;
  /** boolean: the status written as true / read as false */
  whenTrue: string;
  whenFalse: string;
  /** enum: `local=CRM value` pairs, one a line */
  values: string;
  /** date */
  format: string;
  description: string;
}

export interface MatchInput {
  objects: string;
  field: string;
  format: string;
  bsuidField: string;
}

export interface FormInput {
  base: Record<string, unknown>;
  match: MatchInput;
  rows: RowInput[];
}

/** The local values a row may carry: `optedOut` and each purpose's values (the catalog's list). */
export function localOptions(purposes: readonly string[]): string[] {
  return ['optedOut', ...purposes.flatMap((p) => LOCAL_PARTS.map((part) => `${p}.${part}`))];
}

const str = (v: unknown) => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));
const obj = (v: unknown): Record<string, unknown> =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

export const emptyRow = (local = 'optedOut'): RowInput => ({
  orig: '',
  local,
  remote: '',
  direction: 'push',
  transform: 'text',
  whenTrue: '',
  whenFalse: '',
  values: '',
  format: 'iso',
  description: '',
});

/**
 * The form for a draft (valid or not: whatever is there is shown).
 *
 * @example formOf(mapping).rows[0] // { local: 'optedOut', remote: 'whatsapp_opted_out', transform: 'boolean', … }
 */
export function formOf(draft: unknown): FormInput {
  const base = obj(draft);
  const m = obj(base.match);
  const fields = Array.isArray(base.fields) ? base.fields : [];
  return {
    base,
    match: {
      objects: Array.isArray(m.objects) ? m.objects.map(str).join(', ') : str(m.objects),
      field: str(m.field),
      format: str(m.format) || 'e164',
      bsuidField: str(m.bsuidField),
    },
    rows: fields.map((raw, i) => {
      const f = obj(raw);
      const t = obj(f.transform);
      const values = obj(t.values);
      return {
        orig: String(i),
        local: str(f.local),
        remote: str(f.remote),
        direction: str(f.direction),
        transform: str(t.type) || 'text',
        whenTrue: str(t.true),
        whenFalse: str(t.false),
        values: Object.entries(values)
          .map(([k, v]) => `${k}=${str(v)}`)
          .join('\n'),
        format: str(t.format) || 'iso',
        description: str(f.description),
      };
    }),
  };
}

/**
 * The form as posted: `base` (the draft's JSON), `match.*`, and per row `f.<n>.<name>`; rows
 * ticked `f.<n>.remove` are left out. A `base` that is not a JSON object is an issue at `(root)`.
 */
export function formFromBody(body: Record<string, unknown>): { form: FormInput; issues: MappingIssue[] } {
  const issues: MappingIssue[] = [];
  let base: Record<string, unknown> = {};
  try {
    base = obj(JSON.parse(str(body.base)));
  } catch {
    issues.push({ path: '(root)', message: 'the form lost the mapping it edits; open the editor again' });
  }
  const indices = [
    ...new Set(
      Object.keys(body)
        .map((k) => /^f\.(\d{1,3})\.local$/.exec(k)?.[1])
        .filter((n): n is string => n !== undefined)
        .map(Number),
    ),
  ].sort((a, b) => a - b);
  const rows = indices
    .filter((n) => !body[`f.${n}.remove`])
    .map((n) => {
      const v = (name: string) => str(body[`f.${n}.${name}`]);
      return {
        orig: v('orig'),
        local: v('local'),
        remote: v('remote').trim(),
        direction: v('direction'),
        transform: v('transform') || 'text',
        whenTrue: v('whenTrue'),
        whenFalse: v('whenFalse'),
        values: v('values'),
        format: v('format') || 'iso',
        description: v('description'),
      };
    });
  return {
    form: {
      base,
      match: {
        objects: str(body['match.objects']),
        field: str(body['match.field']).trim(),
        format: str(body['match.format']) || 'e164',
        bsuidField: str(body['match.bsuidField']).trim(),
      },
      rows,
    },
    issues,
  };
}

/** `opted_in=granted` pairs, one a line (or comma-separated); what cannot be read is an issue. */
function parseValues(text: string, path: string, issues: MappingIssue[]): Record<string, string> {
  const values: Record<string, string> = {};
  for (const part of text.split(/[\n,]/)) {
    const p = part.trim();
    if (!p) continue;
    const m = /^([^=]+)=(.*)$/.exec(p);
    if (!m) {
      issues.push({
        path,
        message: `write each value as local=CRM value (e.g. opted_in=granted), not "${p}"`,
      });
      continue;
    }
    values[m[1]!.trim()] = m[2]!.trim();
  }
  return values;
}

/**
 * The draft mapping the form makes, and the problems only the form can have (an unreadable enum
 * list); the schema's own checks run on the draft afterwards.
 *
 * @example draftOf(formOf(mapping)).draft // equal to mapping (as JSON)
 */
export function draftOf(form: FormInput): { draft: Record<string, unknown>; issues: MappingIssue[] } {
  const issues: MappingIssue[] = [];
  const baseFields = Array.isArray(form.base.fields) ? form.base.fields : [];
  const match: Record<string, unknown> = {
    ...obj(form.base.match),
    objects: form.match.objects
      .split(/[\s,]+/)
      .map((o) => o.trim())
      .filter(Boolean),
    field: form.match.field,
    format: form.match.format,
  };
  if (form.match.bsuidField) match.bsuidField = form.match.bsuidField;
  else delete match.bsuidField;
  const fields = form.rows.map((r, i) => {
    const before = r.orig === '' ? {} : obj(baseFields[Number(r.orig)]);
    let transform: Record<string, unknown>;
    if (r.transform === 'boolean') {
      transform = { type: 'boolean' };
      if (r.whenTrue) transform.true = r.whenTrue;
      if (r.whenFalse) transform.false = r.whenFalse;
    } else if (r.transform === 'enum') {
      transform = { type: 'enum', values: parseValues(r.values, `fields.${i}.transform.values`, issues) };
    } else if (r.transform === 'date') transform = { type: 'date', format: r.format };
    else transform = { type: r.transform };
    const field: Record<string, unknown> = {
      ...before,
      local: r.local,
      remote: r.remote,
      direction: r.direction,
      transform,
    };
    if (r.description.trim()) field.description = r.description.trim();
    else delete field.description;
    return field;
  });
  return { draft: { ...form.base, match, fields }, issues };
}
