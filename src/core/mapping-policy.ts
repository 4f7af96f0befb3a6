/**
 * What in a mapping only an admin may change (issue 14, finding 4). An editor keeps the whitelist
 * of custom fields; consent policy stays with admins:
 *
 * - `trustOptIn` decides whether a CRM opt-in counts as WhatsApp consent (sync rule 3);
 * - `match` (every key, including ones added later) decides whose record is written and read;
 * - `allowStandardFields`, and every field entry that names a standard CRM field, reach beyond the
 *   fields made for consent-sync (a contact's last name, the CRM's own opt-out flags).
 */
import type { Mapping } from './mapping.ts';
import { isStandardField } from './standard-fields.ts';

/** JSON with sorted keys, so equal values compare equal whatever their key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v) ?? 'undefined';
}

/** Field entries on standard fields, by lower-cased remote name, descriptions left out. */
function standardEntries(m: Mapping): Map<string, string> {
  const out = new Map<string, string>();
  for (const { description: _, ...f } of m.fields)
    if (isStandardField(m.connector, f.remote)) out.set(f.remote.toLowerCase(), canonical(f));
  return out;
}

/**
 * The admin-only settings that differ between the mapping in force and a new one, as paths an
 * error message can name (`trustOptIn`, `match.field`, `allowStandardFields`, `fields[LastName]`).
 * Both mappings are parsed ones (defaults applied), so an omitted default is no change.
 *
 * @example
 * adminOnlyChanges(inForce, { ...inForce, trustOptIn: true }); // ['trustOptIn']
 */
export function adminOnlyChanges(before: Mapping, after: Mapping): string[] {
  const out: string[] = [];
  if (before.trustOptIn !== after.trustOptIn) out.push('trustOptIn');
  const matchKeys = new Set([...Object.keys(before.match), ...Object.keys(after.match)]);
  for (const k of [...matchKeys].sort()) {
    const was = (before.match as Record<string, unknown>)[k];
    const is = (after.match as Record<string, unknown>)[k];
    if (canonical(was) !== canonical(is)) out.push(`match.${k}`);
  }
  const allowList = (m: Mapping) => [...new Set(m.allowStandardFields.map((n) => n.toLowerCase()))].sort();
  if (canonical(allowList(before)) !== canonical(allowList(after))) out.push('allowStandardFields');
  const was = standardEntries(before);
  const is = standardEntries(after);
  const names = new Map(
    [...before.fields, ...after.fields].map((f) => [f.remote.toLowerCase(), f.remote] as const),
  );
  for (const key of [...new Set([...was.keys(), ...is.keys()])].sort())
    if (was.get(key) !== is.get(key)) out.push(`fields[${names.get(key) ?? key}]`);
  return out;
}
