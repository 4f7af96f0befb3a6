/**
 * Shared pieces of the hostile-input properties: how many cases to run, counting the cases that
 * really ran, and mutations of valid payloads (JSON trees, raw text and bytes).
 *
 * `npm test` runs each property `moderate` times; `npm run fuzz` (scripts/fuzz.ts) sets FUZZ_RUNS
 * (and FUZZ_REPORT, a file each test file appends its counts to, one JSON line per property).
 */
import { appendFileSync } from 'node:fs';
import fc from 'fast-check';

const positive = (name: string): number | null => {
  const raw = process.env[name];
  if (!raw) return null;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer`);
  return n;
};
const fuzzRuns = positive('FUZZ_RUNS');
/** Cases per property that goes through the HTTP app and SQLite: a tenth of FUZZ_RUNS unless set. */
const fuzzHttpRuns = positive('FUZZ_HTTP_RUNS') ?? (fuzzRuns === null ? null : Math.ceil(fuzzRuns / 10));

/** True under `npm run fuzz`. */
export const fuzzing = fuzzRuns !== null;

/**
 * Cases per property: `moderate` in `npm test`; FUZZ_RUNS under `npm run fuzz`, or FUZZ_HTTP_RUNS
 * for properties sent through the HTTP app (each case there is a request and a store fingerprint).
 */
export const runs = (moderate: number, kind: 'direct' | 'http' = 'direct'): number =>
  (kind === 'http' ? fuzzHttpRuns : fuzzRuns) ?? moderate;

/** A vitest timeout that grows with the number of cases (`msPerCase` is a generous upper bound). */
export const timeoutFor = (moderate: number, msPerCase: number, kind: 'direct' | 'http' = 'direct'): number =>
  Math.max(30_000, Math.ceil(runs(moderate, kind) * msPerCase) + 10_000);

/** Counts executions of each property's predicate (shrinking runs included). */
export class CaseCounter {
  private readonly counts = new Map<string, number>();
  private readonly file: string;

  constructor(file: string) {
    this.file = file;
  }

  /** Call once at the top of a predicate. */
  hit(property: string): void {
    this.counts.set(property, (this.counts.get(property) ?? 0) + 1);
  }

  get(property: string): number {
    return this.counts.get(property) ?? 0;
  }

  /** Prints the counts and, under `npm run fuzz`, appends them to FUZZ_REPORT. */
  report(): void {
    const rows = [...this.counts].map(([property, cases]) => ({ file: this.file, property, cases }));
    const total = rows.reduce((n, r) => n + r.cases, 0);
    console.log(
      [
        `${this.file}: ${total} cases`,
        ...rows.map((r) => `  ${String(r.cases).padStart(8)}  ${r.property}`),
      ].join('\n'),
    );
    const out = process.env.FUZZ_REPORT;
    if (out) appendFileSync(out, rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
  }
}

// ---- mutations of JSON trees ------------------------------------------------------------------

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Path = Array<string | number>;

/** Every path in a tree, the root (`[]`) first (iterative: mutated trees can be deep and wide). */
export function pathsOf(root: Json): Path[] {
  const out: Path[] = [];
  const todo: Array<[Json, Path]> = [[root, []]];
  for (let i = 0; i < todo.length && out.length < 50_000; i++) {
    const [v, prefix] = todo[i] as [Json, Path];
    out.push(prefix);
    if (Array.isArray(v)) for (const [j, x] of v.entries()) todo.push([x, [...prefix, j]]);
    else if (v !== null && typeof v === 'object')
      for (const [k, x] of Object.entries(v)) todo.push([x, [...prefix, k]]);
  }
  return out;
}

const clone = (v: Json): Json => JSON.parse(JSON.stringify(v)) as Json;

function getAt(v: Json, path: Path): Json {
  let cur: Json = v;
  for (const k of path) cur = (cur as Record<string | number, Json>)[k] as Json;
  return cur;
}

/** Replaces (or, with `undefined`, removes) the node at `path`; the root is replaced by the result. */
function setAt(v: Json, path: Path, value: Json | undefined): Json {
  if (path.length === 0) return value === undefined ? null : value;
  const parent = getAt(v, path.slice(0, -1));
  const key = path[path.length - 1] as string | number;
  if (Array.isArray(parent)) {
    if (value === undefined) parent.splice(key as number, 1);
    else parent[key as number] = value;
  } else if (parent !== null && typeof parent === 'object') {
    if (value === undefined) delete parent[key as string];
    else parent[key as string] = value;
  }
  return v;
}

/** Values of the wrong type or shape, and edge cases of the right one. */
export const oddValue: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(
    null,
    true,
    false,
    0,
    -1,
    1.5,
    -0,
    1e308,
    -1e308,
    2 ** 53 + 1,
    '',
    ' ',
    '0',
    'true',
    'null',
    '١٢٣',
    '\u0000',
    '\uFEFF',
    '\u202Eevil',
    '💥'.repeat(10),
    '%00',
    '../../etc/passwd',
    '<script>',
    "'; DROP TABLE ledger; --",
    '__proto__',
    [],
    {},
    [null],
    { __proto__: null },
  ),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.integer(),
  fc.double(),
  fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
);

/** One change to a valid tree; `at` picks the node (modulo the number of nodes). */
export type JsonMutation =
  | { op: 'drop'; at: number }
  | { op: 'replace'; at: number; value: Json }
  | { op: 'huge'; at: number; size: number }
  | { op: 'nest'; at: number; depth: number; kind: 'array' | 'object' }
  | { op: 'duplicateItem'; at: number; times: number }
  | { op: 'extraKey'; at: number; key: string; value: Json }
  | { op: 'protoKey'; at: number };

export const jsonMutation: fc.Arbitrary<JsonMutation> = fc.oneof(
  fc.record({ op: fc.constant('drop' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('replace' as const), at: fc.nat(), value: oddValue }),
  fc.record({
    op: fc.constant('huge' as const),
    at: fc.nat(),
    size: fc.constantFrom(257, 4_097, 70_000, 600_000),
  }),
  fc.record({
    op: fc.constant('nest' as const),
    at: fc.nat(),
    depth: fc.constantFrom(2, 64, 5_000),
    kind: fc.constantFrom('array' as const, 'object' as const),
  }),
  fc.record({ op: fc.constant('duplicateItem' as const), at: fc.nat(), times: fc.constantFrom(1, 2, 1_500) }),
  fc.record({
    op: fc.constant('extraKey' as const),
    at: fc.nat(),
    key: fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('constructor', 'prototype', 'toString')),
    value: oddValue,
  }),
  fc.record({ op: fc.constant('protoKey' as const), at: fc.nat() }),
);

/** What one mutation may add to a payload's size (more would only test the string limit of V8). */
const MAX_ADDED_CHARS = 2_000_000;

/** Applies mutations to a copy of `valid`; returns the JSON text (some mutations only exist as text). */
export function mutateJson(valid: Json, mutations: JsonMutation[]): string {
  let tree = clone(valid);
  let text: string | null = null;
  for (const m of mutations) {
    const paths = pathsOf(tree);
    const path = paths[m.at % paths.length] as Path;
    const node = getAt(tree, path);
    switch (m.op) {
      case 'drop':
        tree = setAt(tree, path, undefined);
        break;
      case 'replace':
        tree = setAt(tree, path, clone(m.value));
        break;
      case 'huge': {
        // A huge string in place of the node, or (for a small object) a long array of copies of it.
        const small = node !== null && typeof node === 'object' && JSON.stringify(node).length < 300;
        const copies = Math.min(m.size, 1_100);
        tree = setAt(
          tree,
          path,
          small ? Array.from({ length: copies }, () => clone(node)) : 'x'.repeat(m.size),
        );
        break;
      }
      case 'nest': {
        let wrapped: Json = clone(node);
        for (let i = 0; i < Math.min(m.depth, 200); i++)
          wrapped = m.kind === 'array' ? [wrapped] : { v: wrapped };
        tree = setAt(tree, path, wrapped);
        // Deeper than JSON.stringify likes: spliced in as text at the end.
        if (m.depth > 200) text = `${'['.repeat(m.depth)}${JSON.stringify(tree)}${']'.repeat(m.depth)}`;
        break;
      }
      case 'duplicateItem': {
        if (Array.isArray(node) && node.length > 0) {
          const times = Math.min(
            m.times,
            Math.floor(MAX_ADDED_CHARS / Math.max(1, JSON.stringify(node).length)),
          );
          for (let i = 0; i < times; i++) node.push(clone(node[i % node.length] as Json));
        } else if (path.length > 0) {
          const parent = getAt(tree, path.slice(0, -1));
          if (Array.isArray(parent)) parent.push(clone(node));
        }
        break;
      }
      case 'extraKey':
        if (node !== null && typeof node === 'object' && !Array.isArray(node)) node[m.key] = clone(m.value);
        break;
      case 'protoKey':
        if (node !== null && typeof node === 'object' && !Array.isArray(node))
          text = JSON.stringify(tree).replace(/^\{/, '{"__proto__":{"polluted":true},');
        break;
    }
  }
  return text ?? JSON.stringify(tree);
}

/** Changes to the serialised bytes: flips, cuts, insertions, duplicated keys. */
export type TextMutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'truncate'; at: number }
  | { op: 'insert'; at: number; text: string }
  | { op: 'duplicateKey'; at: number; value: Json };

export const textMutation: fc.Arbitrary<TextMutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    op: fc.constant('insert' as const),
    at: fc.nat(),
    text: fc.oneof(
      fc.string({ unit: 'binary', maxLength: 8 }),
      fc.constantFrom('"', '\\', '{', '}', ',', ':', '\u0000', '\uD800', ']]]]', '<', '&amp;', '<!ENTITY'),
    ),
  }),
  fc.record({ op: fc.constant('duplicateKey' as const), at: fc.nat(), value: oddValue }),
);

/** Applies text mutations to UTF-8 bytes (flips can make invalid UTF-8 on purpose). */
export function mutateText(text: string, mutations: TextMutation[]): Uint8Array {
  let bytes = new TextEncoder().encode(text);
  for (const m of mutations) {
    const at = bytes.length === 0 ? 0 : m.at % bytes.length;
    switch (m.op) {
      case 'flip':
        if (bytes.length > 0) bytes[at] = (bytes[at] as number) ^ (1 << m.bit);
        break;
      case 'truncate':
        bytes = bytes.slice(0, at);
        break;
      case 'insert': {
        const ins = new TextEncoder().encode(m.text);
        const grown = new Uint8Array(bytes.length + ins.length);
        grown.set(bytes.subarray(0, at));
        grown.set(ins, at);
        grown.set(bytes.subarray(at), at + ins.length);
        bytes = grown;
        break;
      }
      case 'duplicateKey': {
        // `"key":` found after `at` is repeated with another value: JSON.parse keeps the last one.
        const s = new TextDecoder().decode(bytes);
        const keys = [...s.matchAll(/"([A-Za-z_]+)":/g)];
        const k = keys.length ? keys[m.at % keys.length] : undefined;
        if (k?.index !== undefined) {
          const dup = `"${k[1]}":${JSON.stringify(m.value)},`;
          bytes = new TextEncoder().encode(s.slice(0, k.index) + dup + s.slice(k.index));
        }
        break;
      }
    }
  }
  return bytes;
}

/** A string no schema or message contains; its presence in an error would mean an echo of input. */
export const MARKER = 'ZQXMARKER';

// ---- Salesforce Outbound Message XML ----------------------------------------------------------

const xmlText = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** An Outbound Message envelope (API-FACTS 3.4) with the given notifications. */
export function outboundXml(
  org: string,
  items: Array<{ id: string; record: string; fields: Record<string, string> }>,
) {
  const notes = items.map(
    (n) =>
      `<Notification><Id>${n.id}</Id><sObject xsi:type="sf:Contact" xmlns:sf="urn:sobject.enterprise.soap.sforce.com"><sf:Id>${n.record}</sf:Id>${Object.entries(
        n.fields,
      )
        .map(([k, v]) => `<sf:${k}>${xmlText(v)}</sf:${k}>`)
        .join('')}</sObject></Notification>`,
  );
  return `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>${org}</OrganizationId><ActionId>04k5e000000CaRkAAK</ActionId>${notes.join('')}</notifications></soapenv:Body></soapenv:Envelope>`;
}

/** XML with entity and DOCTYPE tricks: XXE, billion laughs, parameter entities, external DTDs. */
export const xmlAttacks = (ORG: string) =>
  fc.constantFrom(
    `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><notifications><OrganizationId>${ORG}</OrganizationId>&x;</notifications></soapenv:Body></soapenv:Envelope>`,
    `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><lolz>&lol3;</lolz>`,
    `<!DOCTYPE r SYSTEM "http://127.0.0.1:1/evil.dtd"><r/>`,
    `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:1/p.dtd"> %p;]><r/>`,
    `<!doctype r><r/>`,
    `<! DOCTYPE r><r/>`,
    `<?xml version="1.0"?><r>&unknown;&#0;&#x110000;&#xD800;&#99999999;</r>`,
    `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><notifications><OrganizationId>${ORG}</OrganizationId><Notification><Id>04l5e000000AbCdAAA</Id><sObject xsi:type="sf:Contact"><sf:Id>0035e00000AbCdEAAA</sf:Id><sf:F>a</sf:F><sf:F>b</sf:F></sObject></Notification></notifications></soapenv:Body></soapenv:Envelope>`,
    `${'<a>'.repeat(5_000)}${'</a>'.repeat(5_000)}`,
    `<![CDATA[<!ENTITY x "y">]]><r/>`,
    `<?xml-stylesheet href="http://127.0.0.1:1/x.xsl"?><r/>`,
  );

// ---- shared payload generators ------------------------------------------------------------------

/** A string with the marker in it, so an echo of input in an error message is seen. */
export const marked = fc.string({ maxLength: 12 }).map((s) => `${MARKER}${s}`);

/** A Salesforce-shaped 18-character id with the given 6-character prefix. */
export const sfId = (prefix: string) => fc.stringMatching(/^[A-Za-z0-9]{12}$/).map((s) => `${prefix}${s}`);

/** Outbound Message notifications about Contacts (a marker in a field no mapping names). */
export const sfNotifications = (maxLength: number) =>
  fc.array(
    fc.record({
      id: sfId('04l5e0'),
      record: sfId('0035e0'),
      fields: fc.record({
        WhatsApp_Opted_Out__c: fc.constantFrom('true', 'false'),
        MobilePhone: fc.constant('+4915123456789'), // example number
        Description: marked,
      }),
    }),
    { minLength: 1, maxLength },
  );

/** A Flow callout body (connectors/salesforce/flow.ts) with events at the given times. */
export const flowCallout = (occurredAt: fc.Arbitrary<string>, maxLength: number): fc.Arbitrary<Json> =>
  fc
    .array(
      fc.record({
        id: marked,
        objectType: fc.constantFrom('Contact', 'Lead'),
        recordId: sfId('0035e0'),
        occurredAt,
        fields: fc.record({ WhatsApp_Opted_Out__c: fc.boolean(), Description: marked }),
      }),
      { minLength: 1, maxLength },
    )
    .map((events) => ({ events }) as Json);
