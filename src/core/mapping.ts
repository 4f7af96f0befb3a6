/**
 * Field mappings: the whitelist of what may travel between the ledger and one CRM (issue 3,
 * deliver 4; GDPR Art. 5(1)(c) and 25). Pure: validation, and evaluation in both directions.
 *
 * - `push`: only `fields` with direction `push`/`both` are ever written, each from one named
 *   local value through its transform. Nothing else leaves.
 * - `pull`: only `fields` with direction `pull`/`both` are ever read, and only consent values
 *   (a purpose's status, the global opted-out flag) may be pulled; a CRM value that the transform
 *   cannot map back is ignored rather than guessed.
 */
import { z } from 'zod';
import { nativePurposes, nativeSchema } from './native-mapping.ts';
import { standardFieldIssues } from './standard-fields.ts';
import type { ConsentStatus, Purpose, PurposeState } from './types.ts';

const STATUS = ['none', 'pending', 'opted_in', 'opted_out'] as const;
const statusSchema = z.enum(STATUS);

/** A local value: `optedOut`, or `<purpose>.<status|changedAt|source|textVersion|doubleOptInAt>`. */
const LOCAL = /^(optedOut|[a-z][a-z0-9_]{0,39}\.(status|changedAt|source|textVersion|doubleOptInAt))$/;

export const transformSchema = z
  .discriminatedUnion('type', [
    z.object({ type: z.literal('text') }).describe('The local value as text (status, source, text version).'),
    z
      .object({
        type: z.literal('boolean'),
        true: statusSchema.optional().describe('For a status: the status written as true (e.g. opted_out).'),
        false: statusSchema
          .optional()
          .describe('For a status: the status a false value pulled from the CRM stands for.'),
      })
      .describe('A checkbox: `optedOut` as is, or a status compared with `true`.'),
    z
      .object({
        type: z.literal('enum'),
        values: z
          .record(z.string(), z.string())
          .describe('Local value → CRM value, e.g. { "opted_in": "granted", "opted_out": "withdrawn" }.'),
      })
      .describe('Renames values; pulled values map back through the same table.'),
    z
      .object({
        type: z.literal('date'),
        format: z
          .enum(['iso', 'date', 'epoch_ms'])
          .describe('iso: 2026-01-31T12:00:00.000Z; date: 2026-01-31; epoch_ms: milliseconds.'),
      })
      .describe('A timestamp (changedAt, doubleOptInAt).'),
  ])
  .describe('How the local value becomes the CRM value.');

export const fieldSchema = z
  .object({
    local: z
      .string()
      .regex(LOCAL, 'must be optedOut or <purpose>.<status|changedAt|source|textVersion|doubleOptInAt>')
      .describe('The local value this field carries.'),
    remote: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9_]{0,79}$/, 'must be a CRM property or field API name')
      .describe('The CRM property (HubSpot) or field API name (Salesforce).'),
    direction: z
      .enum(['push', 'pull', 'both'])
      .describe('push: ledger → CRM; pull: CRM → ledger (consent values only); both.'),
    transform: transformSchema.default({ type: 'text' }),
    description: z.string().max(500).optional(),
  })
  .strict();

const fieldName = z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,79}$/);

/**
 * How people are found. `field` (one property) or `fields` (several, in order of precedence: a
 * number matched by an earlier one wins over a later one); the output always carries both, `field`
 * being the first of `fields`, so a stored mapping reads back the same.
 */
const matchSchema = z
  .object({
    objects: z
      .array(fieldName)
      .min(1)
      .max(5)
      .describe('Object types searched for the person, e.g. ["contact"] or ["Contact", "Lead"].'),
    field: fieldName
      .optional()
      .describe(
        "Holds the person's phone number (in `format`): the property (HubSpot) or field (Salesforce) people are found by. Give this or `fields`.",
      ),
    fields: z
      .array(fieldName)
      .min(1)
      .max(5)
      .optional()
      .describe(
        'HubSpot: several properties holding the number, in order of precedence, e.g. ["hs_whatsapp_phone_number", "mobilephone", "phone"]: one search ORs them, and for each number the contacts matched by the earliest property win. At most 5 (HubSpot allows 5 filter groups).',
      ),
    format: z
      .enum(['e164', 'digits'])
      .default('e164')
      .describe('How numbers are stored in `field`: e164 (+447700900123) or digits (447700900123).'),
    bsuidField: fieldName
      .optional()
      .describe(
        "Holds the person's WhatsApp business-scoped user id (BSUID, e.g. GB.1000000000000000001): the property or field a person known only by a BSUID is found by. Optional; never written or pulled as a consent value.",
      ),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (m.field === undefined && m.fields === undefined)
      ctx.addIssue({ code: 'custom', path: ['field'], message: 'name the match field (or fields)' });
    if (
      m.field !== undefined &&
      m.fields !== undefined &&
      m.fields[0]?.toLowerCase() !== m.field.toLowerCase()
    )
      ctx.addIssue({
        code: 'custom',
        path: ['fields'],
        message: 'fields must start with field when both are given',
      });
    const seen = new Set<string>();
    (m.fields ?? []).forEach((f, i) => {
      if (seen.has(f.toLowerCase()))
        ctx.addIssue({ code: 'custom', path: ['fields', i], message: `${f} is named twice` });
      seen.add(f.toLowerCase());
    });
  })
  .transform((m) => {
    const fields = m.fields ?? [m.field as string];
    return { ...m, field: fields[0] as string, fields };
  });

/** HubSpot's legal bases for a subscription status (communication preferences v4). */
const LEGAL_BASIS = [
  'CONSENT_WITH_NOTICE',
  'LEGITIMATE_INTEREST_CLIENT',
  'LEGITIMATE_INTEREST_OTHER',
  'LEGITIMATE_INTEREST_PQL',
  'NON_GDPR',
  'PERFORMANCE_OF_CONTRACT',
  'PROCESS_AND_STORE',
] as const;

/**
 * HubSpot only: where the WhatsApp subscription state goes. `properties` (default): only the mapped
 * properties, and a HubSpot workflow sets the native WhatsApp subscription types from them.
 * `communication-preferences`: the statuses are also written through the communication-preferences
 * API v4 (channel WHATSAPP), for when HubSpot accepts that channel (`consent-sync doctor` says whether it does).
 */
export const subscriptionsSchema = z
  .object({
    mode: z
      .enum(['properties', 'communication-preferences'])
      .default('properties')
      .describe(
        'properties (default): a workflow sets the native types; communication-preferences: the API does.',
      ),
    channel: z
      .string()
      .regex(/^[A-Z_]{1,40}$/)
      .default('WHATSAPP')
      .describe('The v4 channel value for WhatsApp (default WHATSAPP).'),
    types: z
      .record(z.string().regex(/^[a-z][a-z0-9_]{0,39}$/), z.number().int().positive())
      .default({})
      .describe(
        'Purpose → HubSpot subscription type id, e.g. { "marketing": 1234567, "transactional": 1234568 }.',
      ),
    legalBasis: z
      .enum(LEGAL_BASIS)
      .default('CONSENT_WITH_NOTICE')
      .describe('The legal basis sent with an opt-in.'),
  })
  .strict();

export const mappingSchema = z
  .object({
    $schema: z.string().optional(),
    connector: z.enum(['hubspot', 'salesforce']),
    trustOptIn: z
      .boolean()
      .default(false)
      .describe(
        'false (default): an opt-in made in this CRM starts a WhatsApp double opt-in. true: it counts as consent.',
      ),
    match: matchSchema,
    fields: z.array(fieldSchema).max(50),
    native: nativeSchema
      .optional()
      .describe(
        'Salesforce only: MessagingEndUser and ContactPointTypeConsent (docs/salesforce-consent-objects.md).',
      ),
    allowStandardFields: z
      .array(z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,79}$/))
      .max(50)
      .default([])
      .describe(
        'Admin only: the CRM\'s own fields (not custom: Salesforce names without __c, HubSpot-defined properties) that fields may name, e.g. ["HasOptedOutOfEmail"].',
      ),
    subscriptions: subscriptionsSchema.optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (m.fields.length === 0 && !m.native)
      ctx.addIssue({
        code: 'custom',
        path: ['fields'],
        message: 'map at least one field (or a native section)',
      });
    if (m.native && m.connector !== 'salesforce')
      ctx.addIssue({ code: 'custom', path: ['native'], message: 'native objects are Salesforce only' });
    // (when match itself failed, its transform has not run: fields may be missing)
    const named: Array<string | undefined> = Array.isArray(m.match.fields) ? m.match.fields : [m.match.field];
    const matchFields = new Set(named.flatMap((f) => (typeof f === 'string' ? [f.toLowerCase()] : [])));
    if (m.match.bsuidField !== undefined && matchFields.has(m.match.bsuidField.toLowerCase()))
      ctx.addIssue({
        code: 'custom',
        path: ['match', 'bsuidField'],
        message: 'the BSUID field cannot be the phone number field',
      });
    const remotes = new Set<string>();
    m.fields.forEach((f, i) => {
      const path = ['fields', i];
      if (remotes.has(f.remote.toLowerCase()))
        ctx.addIssue({ code: 'custom', path: [...path, 'remote'], message: `${f.remote} is mapped twice` });
      remotes.add(f.remote.toLowerCase());
      if (matchFields.has(f.remote.toLowerCase()))
        ctx.addIssue({
          code: 'custom',
          path: [...path, 'remote'],
          message: 'the match field is never written or pulled as a value',
        });
      if (f.remote.toLowerCase() === m.match.bsuidField?.toLowerCase())
        ctx.addIssue({
          code: 'custom',
          path: [...path, 'remote'],
          message: 'the BSUID field is never written or pulled as a consent value',
        });
      const kind = localKind(f.local);
      const t = f.transform;
      if (f.direction !== 'push' && kind !== 'status' && kind !== 'optedOut')
        ctx.addIssue({
          code: 'custom',
          path: [...path, 'direction'],
          message: `only consent values (a status or optedOut) can be pulled; ${f.local} is push only`,
        });
      if (t.type === 'date' && kind !== 'changedAt' && kind !== 'doubleOptInAt')
        ctx.addIssue({
          code: 'custom',
          path: [...path, 'transform'],
          message: 'date fits changedAt or doubleOptInAt',
        });
      if (t.type !== 'date' && (kind === 'changedAt' || kind === 'doubleOptInAt'))
        ctx.addIssue({
          code: 'custom',
          path: [...path, 'transform'],
          message: `${f.local} needs a date transform`,
        });
      if (t.type === 'boolean' && kind !== 'optedOut' && kind !== 'status')
        ctx.addIssue({
          code: 'custom',
          path: [...path, 'transform'],
          message: 'boolean fits optedOut or a status',
        });
      if (t.type === 'boolean' && kind === 'status' && !t.true)
        ctx.addIssue({
          code: 'custom',
          path: [...path, 'transform', 'true'],
          message: 'a status as a checkbox needs the status written as true',
        });
      if (t.type === 'boolean' && kind === 'optedOut' && (t.true || t.false))
        ctx.addIssue({
          code: 'custom',
          path: [...path, 'transform'],
          message: 'optedOut is already a boolean',
        });
      if (t.type === 'enum' && f.direction !== 'push') {
        const seen = new Map<string, string>();
        for (const [local, remote] of Object.entries(t.values)) {
          const prev = seen.get(remote);
          if (prev)
            ctx.addIssue({
              code: 'custom',
              path: [...path, 'transform', 'values'],
              message: `"${remote}" stands for both ${prev} and ${local}: a pulled value must map back to one`,
            });
          seen.set(remote, local);
        }
      }
      if (t.type === 'enum' && kind === 'status')
        for (const local of Object.keys(t.values))
          if (!(STATUS as readonly string[]).includes(local))
            ctx.addIssue({
              code: 'custom',
              path: [...path, 'transform', 'values', local],
              message: `${local} is not a status (${STATUS.join(', ')})`,
            });
    });
  });

export type Mapping = z.output<typeof mappingSchema>;
export type MappingInput = z.input<typeof mappingSchema>;
export type MappingField = Mapping['fields'][number];

type LocalKind = 'optedOut' | 'status' | 'changedAt' | 'source' | 'textVersion' | 'doubleOptInAt';

export function localKind(local: string): LocalKind {
  if (local === 'optedOut') return 'optedOut';
  return local.slice(local.indexOf('.') + 1) as LocalKind;
}

const purposeOf = (local: string): Purpose | null =>
  local === 'optedOut' ? null : local.slice(0, local.indexOf('.'));

export interface MappingIssue {
  path: string;
  message: string;
}

/**
 * Validates a mapping, and that every purpose it names exists.
 *
 * @example
 * const r = validateMapping(json, ['marketing', 'transactional']);
 * if (!r.ok) console.log(r.issues); // [{ path: 'fields.2.transform', message: '…' }]
 */
export function validateMapping(
  input: unknown,
  purposes: readonly Purpose[],
  connector?: string,
): { ok: true; mapping: Mapping } | { ok: false; issues: MappingIssue[] } {
  const parsed = mappingSchema.safeParse(input);
  if (!parsed.success) {
    return {
      ok: false,
      issues: parsed.error.issues.map((i) => ({ path: i.path.join('.') || '(root)', message: i.message })),
    };
  }
  const issues: MappingIssue[] = [];
  if (connector && parsed.data.connector !== connector)
    issues.push({ path: 'connector', message: `this is the ${connector} mapping` });
  issues.push(...standardFieldIssues(parsed.data));
  issues.push(...connectorIssues(parsed.data, purposes));
  if (parsed.data.native)
    for (const p of nativePurposes(parsed.data.native))
      if (!purposes.includes(p))
        issues.push({ path: 'native', message: `unknown purpose ${p} (known: ${purposes.join(', ')})` });
  parsed.data.fields.forEach((f, i) => {
    const p = purposeOf(f.local);
    if (p !== null && !purposes.includes(p))
      issues.push({
        path: `fields.${i}.local`,
        message: `unknown purpose ${p} (known: ${purposes.join(', ')})`,
      });
  });
  return issues.length ? { ok: false, issues } : { ok: true, mapping: parsed.data };
}

/** What only one connector supports: several match fields and `subscriptions` are HubSpot's. */
function connectorIssues(m: Mapping, purposes: readonly Purpose[]): MappingIssue[] {
  const issues: MappingIssue[] = [];
  if (m.connector !== 'hubspot') {
    if (m.match.fields.length > 1)
      issues.push({ path: 'match.fields', message: 'several match fields are supported for HubSpot only' });
    if (m.subscriptions)
      issues.push({ path: 'subscriptions', message: 'subscriptions are HubSpot communication preferences' });
    return issues;
  }
  for (const p of Object.keys(m.subscriptions?.types ?? {}))
    if (!purposes.includes(p))
      issues.push({
        path: `subscriptions.types.${p}`,
        message: `unknown purpose ${p} (known: ${purposes.join(', ')})`,
      });
  if (
    m.subscriptions?.mode === 'communication-preferences' &&
    Object.keys(m.subscriptions.types).length === 0
  )
    issues.push({
      path: 'subscriptions.types',
      message: 'communication-preferences needs the subscription type id of at least one purpose',
    });
  return issues;
}

/** A subscription status for HubSpot's communication-preferences API (v4 `statusState`). */
export interface SubscriptionStatus {
  channel: string;
  /** The properties holding the number the status is for (the match fields, in order). */
  subscriberFrom: string[];
  subscriptionId: number;
  state: 'SUBSCRIBED' | 'UNSUBSCRIBED' | 'NOT_SPECIFIED';
  legalBasis: string;
}

/**
 * The subscription statuses to write for a person when the mapping's subscriptions mode is
 * `communication-preferences` (none otherwise): opted in → SUBSCRIBED, opted out → UNSUBSCRIBED,
 * anything else (none, pending) → NOT_SPECIFIED.
 *
 * @example subscriptionStatuses(mapping, view) // [{ channel: 'WHATSAPP', subscriptionId: 1234567, state: 'UNSUBSCRIBED', legalBasis: 'CONSENT_WITH_NOTICE' }]
 */
export function subscriptionStatuses(mapping: Mapping, view: LocalView): SubscriptionStatus[] {
  const s = mapping.subscriptions;
  if (s?.mode !== 'communication-preferences') return [];
  return Object.entries(s.types).map(([purpose, subscriptionId]) => {
    const status = view.purposes[purpose]?.status ?? 'none';
    const state =
      status === 'opted_in' ? 'SUBSCRIBED' : status === 'opted_out' ? 'UNSUBSCRIBED' : 'NOT_SPECIFIED';
    return {
      channel: s.channel,
      subscriberFrom: mapping.match.fields,
      subscriptionId,
      state,
      legalBasis: s.legalBasis,
    };
  });
}

/** What the ledger knows about one person, as the mapping reads it. */
export interface LocalView {
  optedOut: boolean;
  purposes: Record<
    Purpose,
    Pick<PurposeState, 'status' | 'changedAt' | 'source' | 'textVersion' | 'doubleOptInAt'>
  >;
}

/**
 * The person's view from their purpose states. `optedOut` is true when they hold no consent
 * (nothing opted in or pending) and have opted out of at least one purpose.
 */
export function localView(states: PurposeState[]): LocalView {
  const purposes: LocalView['purposes'] = {};
  for (const s of states) {
    purposes[s.purpose] = {
      status: s.status,
      changedAt: s.changedAt,
      source: s.source,
      textVersion: s.textVersion,
      doubleOptInAt: s.doubleOptInAt,
    };
  }
  const all = Object.values(purposes);
  const optedOut =
    all.some((p) => p.status === 'opted_out') &&
    !all.some((p) => p.status === 'opted_in' || p.status === 'pending');
  return { optedOut, purposes };
}

export type PushValue = string | number | boolean | null;

function formatDate(iso: string | null, format: 'iso' | 'date' | 'epoch_ms'): PushValue {
  if (!iso) return null;
  if (format === 'iso') return new Date(iso).toISOString();
  if (format === 'date') return iso.slice(0, 10);
  return Date.parse(iso);
}

/**
 * The properties to write for a person: push/both fields only, each from its local value.
 *
 * @example push(mapping, view) // { whatsapp_opted_out: true, whatsapp_marketing_consent: 'granted' }
 */
export function push(mapping: Mapping, view: LocalView): Record<string, PushValue> {
  const out: Record<string, PushValue> = {};
  for (const f of mapping.fields) {
    if (f.direction === 'pull') continue;
    out[f.remote] = pushValue(f, view);
  }
  return out;
}

function pushValue(f: MappingField, view: LocalView): PushValue {
  const kind = localKind(f.local);
  const t = f.transform;
  if (kind === 'optedOut') {
    if (t.type === 'enum') return t.values[String(view.optedOut)] ?? null;
    if (t.type === 'text') return String(view.optedOut);
    return view.optedOut;
  }
  const p = view.purposes[purposeOf(f.local) as Purpose];
  const status: ConsentStatus = p?.status ?? 'none';
  switch (kind) {
    case 'status':
      if (t.type === 'boolean') return status === t.true;
      if (t.type === 'enum') return t.values[status] ?? null;
      return status;
    case 'changedAt':
    case 'doubleOptInAt':
      return t.type === 'date' ? formatDate(p?.[kind] ?? null, t.format) : (p?.[kind] ?? null);
    default: {
      const v = p?.[kind] ?? null;
      return t.type === 'enum' && v !== null ? (t.values[v] ?? v) : v;
    }
  }
}

/** The remote properties that may be read: pull/both fields (the match field is read to find people). */
export function readableProperties(mapping: Mapping): string[] {
  return mapping.fields.filter((f) => f.direction !== 'push').map((f) => f.remote);
}

/** A consent change a CRM value stands for. */
export type PulledChange =
  | { kind: 'status'; purpose: Purpose; status: ConsentStatus; remote: string }
  | { kind: 'optedOut'; value: boolean; remote: string };

function truthy(v: unknown): boolean | null {
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === '1' || v === 1) return true;
  if (v === 'false' || v === '0' || v === 0 || v === '') return false;
  return null;
}

/**
 * What the CRM's values mean for the ledger: pull/both fields only; unmappable values are left
 * out (listed in `ignored` by property name, never by value).
 */
export function pull(
  mapping: Mapping,
  properties: Record<string, unknown>,
): { changes: PulledChange[]; ignored: string[] } {
  const changes: PulledChange[] = [];
  const ignored: string[] = [];
  for (const f of mapping.fields) {
    if (f.direction === 'push' || !(f.remote in properties)) continue;
    const raw = properties[f.remote];
    const kind = localKind(f.local);
    const t = f.transform;
    if (kind === 'optedOut') {
      const value =
        t.type === 'enum' ? truthy(Object.entries(t.values).find(([, r]) => r === raw)?.[0]) : truthy(raw);
      if (value === null) ignored.push(f.remote);
      else changes.push({ kind: 'optedOut', value, remote: f.remote });
      continue;
    }
    let status: ConsentStatus | null = null;
    if (t.type === 'boolean') {
      const b = truthy(raw);
      status = b === null ? null : b ? (t.true ?? null) : (t.false ?? null);
    } else if (t.type === 'enum') {
      status =
        (Object.entries(t.values).find(([, r]) => r === raw)?.[0] as ConsentStatus | undefined) ?? null;
    } else if (typeof raw === 'string' && (STATUS as readonly string[]).includes(raw)) {
      status = raw as ConsentStatus;
    }
    if (status === null) ignored.push(f.remote);
    else changes.push({ kind: 'status', purpose: purposeOf(f.local) as Purpose, status, remote: f.remote });
  }
  return { changes, ignored };
}

/**
 * Formats an E.164 number the way the mapping says the CRM stores it.
 *
 * @example matchValue(mapping, '+447700900123') // '447700900123' with format digits (example number)
 */
export function matchValue(mapping: Mapping, e164: string): string {
  return mapping.match.format === 'digits' ? e164.replace(/^\+/, '') : e164;
}

/** The JSON Schema editors use to autocomplete mapping files. */
export function mappingJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(mappingSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}
