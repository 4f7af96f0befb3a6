/**
 * Does a CRM hold what a mapping needs? Pure: compares the mapping's fields with the fields a CRM
 * describes, and says what a missing field should be created as. Used by `consent-sync doctor`.
 */
import type { FieldKind, NewField, RemoteField } from '../../connectors/types.ts';
import type { Mapping, MappingField } from '../core/mapping.ts';

/** What is wrong on one object type (names of fields only, never values). */
export interface ObjectReport {
  objectType: string;
  /** the object type itself is missing in the CRM */
  absent: boolean;
  matchFieldMissing: boolean;
  /** the mapping names a `match.bsuidField` and the object type lacks it */
  bsuidFieldMissing: boolean;
  missing: MappingField[];
  /** e.g. `whatsapp_opted_out is string, the mapping writes a checkbox (boolean)` */
  mismatches: string[];
  /** mapped fields that exist with a fitting type */
  fine: number;
}

/** The CRM field kinds a mapping field can be written into (and read from). */
export function acceptedKinds(f: MappingField): FieldKind[] {
  const t = f.transform;
  if (t.type === 'boolean') return ['boolean'];
  if (t.type === 'enum') return ['enum', 'text'];
  if (t.type === 'date') return t.format === 'epoch_ms' ? ['date', 'number', 'text'] : ['date', 'text'];
  return ['text', 'enum'];
}

/** The values a mapping field writes into a dropdown (an enum's targets), in order. */
export function enumValues(f: MappingField): string[] {
  return f.transform.type === 'enum' ? [...new Set(Object.values(f.transform.values))] : [];
}

/** A readable label from a property name: `whatsapp_opted_out` → `WhatsApp opted out`. */
export function labelFor(name: string): string {
  const words = name.replace(/__c$/, '').replaceAll('_', ' ').toLowerCase();
  const text = words.replace(/whatsapp/g, 'WhatsApp');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** How to create a missing field so the mapping's values fit it. */
export function newField(f: MappingField): NewField {
  const t = f.transform;
  const kind: NewField['kind'] =
    t.type === 'boolean' ? 'boolean' : t.type === 'enum' ? 'enum' : t.type === 'date' ? 'date' : 'text';
  return {
    name: f.remote,
    label: labelFor(f.remote),
    kind,
    options: enumValues(f),
    description: f.description ?? `Kept in step by consent-sync (${f.local}).`,
  };
}

const KIND_WORD: Record<FieldKind, string> = {
  boolean: 'a checkbox (boolean)',
  enum: 'a dropdown',
  date: 'a date',
  text: 'text',
  number: 'a number',
  other: 'another type',
};

/** Compares one mapping with what the CRM describes for its object types. */
export function compareFields(
  mapping: Mapping,
  objects: Record<string, RemoteField[] | null>,
): ObjectReport[] {
  return mapping.match.objects.map((objectType) => {
    const fields = objects[objectType] ?? null;
    const report: ObjectReport = {
      objectType,
      absent: fields === null,
      matchFieldMissing: false,
      bsuidFieldMissing: false,
      missing: [],
      mismatches: [],
      fine: 0,
    };
    if (fields === null) return report;
    const byName = new Map(fields.map((f) => [f.name.toLowerCase(), f]));
    report.matchFieldMissing = !byName.has(mapping.match.field.toLowerCase());
    const bsuidField = mapping.match.bsuidField;
    if (bsuidField !== undefined) {
      const remote = byName.get(bsuidField.toLowerCase());
      report.bsuidFieldMissing = remote === undefined;
      // A BSUID is `CC.` and up to 128 letters and digits: only a text field holds it.
      if (remote && remote.kind !== 'text')
        report.mismatches.push(`${bsuidField} is ${remote.type}, the BSUID needs ${KIND_WORD.text}`);
    }
    for (const f of mapping.fields) {
      const remote = byName.get(f.remote.toLowerCase());
      if (!remote) {
        report.missing.push(f);
        continue;
      }
      const accepted = acceptedKinds(f);
      if (!accepted.includes(remote.kind)) {
        report.mismatches.push(
          `${f.remote} is ${remote.type}, the mapping writes ${KIND_WORD[accepted[0] as FieldKind]}`,
        );
        continue;
      }
      const lacking = remote.kind === 'enum' ? enumValues(f).filter((v) => !remote.options.includes(v)) : [];
      if (lacking.length > 0) {
        report.mismatches.push(`${f.remote} lacks the option(s) ${lacking.join(', ')}`);
        continue;
      }
      report.fine++;
    }
    return report;
  });
}
