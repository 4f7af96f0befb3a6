/**
 * Outbound Messages (API-FACTS 3.4; docs/crm-webhook-facts.md): Salesforce POSTs a SOAP
 * `notifications` envelope with up to 100 `Notification`s and retries until it gets the
 * `notificationsResponse` Ack. Nothing signs it, and the `OrganizationId` it carries is no secret,
 * so a message is only ever a signal (sync rule 7): we read which records it names and nothing
 * else; the values are read back through the authenticated API.
 *
 * Cost before trust: the org id is found by a bounded string scan (`findOrganizationId`) and
 * checked before any XML tree is built; then a linear pre-scan (`prescan`) caps elements,
 * attributes per tag, depth and notifications, so a hostile body (80 000 attributes in one tag,
 * deep nesting) is refused in one pass instead of feeding the validator and parser.
 *
 * XML safety: a body with a DOCTYPE or ENTITY declaration is refused before parsing (no XXE, no
 * entity bombs), and fast-xml-parser runs with entity processing off; only the five predefined
 * entities and character references are decoded, by hand, in text values.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { isApiName, isSalesforceId } from './soql.ts';

export const MAX_NOTIFICATIONS = 100;
/** 100 notifications of a few dozen fields stay far below this. */
export const MAX_BODY_CHARS = 1_000_000;
/** Salesforce puts `OrganizationId` in the first few hundred characters. */
export const ORG_SCAN_CHARS = 8_192;
/** Caps of the pre-scan: generous for 100 notifications of 200 fields, tiny for a parser bomb. */
export const XML_LIMITS = { elements: 25_000, attributesPerTag: 32, depth: 16 };

/** The acknowledgement Salesforce expects (API-FACTS 3.4), byte for byte. */
export const ACK_ENVELOPE = `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
  <soapenv:Body>
    <notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack></notificationsResponse>
  </soapenv:Body>
</soapenv:Envelope>`;

/** A SOAP 1.1 Fault carrying one of our own fixed texts (escaped, but never give it request values). */
export function soapFault(faultcode: 'Client' | 'Server', message: string): string {
  return `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
  <soapenv:Body>
    <soapenv:Fault><faultcode>soapenv:${faultcode}</faultcode><faultstring>${escapeText(message)}</faultstring></soapenv:Fault>
  </soapenv:Body>
</soapenv:Envelope>`;
}

/** What a notification says: which record changed. Its field values are never read. */
export interface OutboundNotification {
  /** The notification's own id: the same on every redelivery, so it is the dedupe key. */
  notificationId: string;
  objectType: string;
  recordId: string;
}

/** A notification that could not be read; `raw` is the parsed element, for the dead-event table. */
export interface UnreadableNotification {
  index: number;
  reason: string;
  raw: unknown;
}

type Failure = { ok: false; code: string; message: string };

export type NotificationsResult =
  | {
      ok: true;
      organizationId: string;
      notifications: OutboundNotification[];
      unreadable: UnreadableNotification[];
    }
  | Failure;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  processEntities: false,
  htmlEntities: false,
  trimValues: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  isArray: (name) => name === 'Notification',
});

const ORG_ELEMENT =
  /<(?:[A-Za-z_][\w.-]{0,40}:)?OrganizationId(?:\s[^<>]{0,200})?>\s*([A-Za-z0-9]{15,18})\s*<\//;

/**
 * The envelope's `OrganizationId`, found by a regular expression over the first `ORG_SCAN_CHARS`
 * characters only: cheap whatever the body, and no XML tree. Null when it is not there.
 *
 * @example findOrganizationId(xml) // '00D5e000000KQ2eEAG'
 */
export function findOrganizationId(xml: string): string | null {
  const id = ORG_ELEMENT.exec(xml.slice(0, ORG_SCAN_CHARS))?.[1];
  return id !== undefined && isSalesforceId(id) ? id : null;
}

/**
 * One linear pass over the markup before any parser sees it: refuses DOCTYPE/ENTITY declarations,
 * and bodies past `XML_LIMITS` or with more than `MAX_NOTIFICATIONS` notifications. Comments,
 * CDATA and processing instructions are skipped; quoted attribute values are skipped as a whole.
 *
 * @example prescan('<a x="1"><b/></a>') // { ok: true }
 */
/** The start of a processing instruction: its target name, then a space or the `?>` that ends it. */
const PI_TARGET = /^[A-Za-z_:][A-Za-z0-9._:-]*(\s|\?)/;

export function prescan(xml: string, limits = XML_LIMITS): { ok: true } | Failure {
  const n = xml.length;
  let depth = 0;
  let elements = 0;
  let notifications = 0;
  let i = 0;
  for (;;) {
    const lt = xml.indexOf('<', i);
    if (lt < 0) return depth === 0 ? { ok: true } : malformed();
    const c = xml[lt + 1];
    if (c === '!') {
      if (xml.startsWith('<!--', lt)) {
        const end = xml.indexOf('-->', lt + 4);
        if (end < 0) return malformed();
        i = end + 3;
      } else if (xml.startsWith('<![CDATA[', lt)) {
        const end = xml.indexOf(']]>', lt + 9);
        if (end < 0) return malformed();
        i = end + 3;
      } else return fail('XML_DOCTYPE_FORBIDDEN', 'DOCTYPE and ENTITY declarations are not accepted');
      continue;
    }
    if (c === '?') {
      const end = xml.indexOf('?>', lt + 2);
      // A processing instruction's target is an XML name (`<?xml …?>`); `<?<!ENTITY…` is not one,
      // and whatever the validator makes of it, such a body is refused, not read.
      if (end < 0 || !PI_TARGET.test(xml.slice(lt + 2, Math.min(end + 1, lt + 66)))) return malformed();
      // Nor is markup inside one (`<?xml <!ENTITY…?>`): no Outbound Message carries it, so refused too.
      if (xml.slice(lt + 2, end).includes('<')) return malformed();
      i = end + 2;
      continue;
    }
    if (c === '/') {
      const end = xml.indexOf('>', lt + 2);
      if (end < 0 || --depth < 0) return malformed();
      i = end + 1;
      continue;
    }
    if (++elements > limits.elements) return fail('XML_TOO_LARGE', `more than ${limits.elements} elements`);
    let j = lt + 1;
    while (j < n && !isNameEnd(xml.charCodeAt(j))) j++;
    const name = xml.slice(lt + 1, j);
    if (name === '') return malformed();
    if (name === 'Notification' || name.endsWith(':Notification')) {
      if (++notifications > MAX_NOTIFICATIONS)
        return fail('TOO_MANY_NOTIFICATIONS', `more than ${MAX_NOTIFICATIONS} notifications in one message`);
    }
    let attributes = 0;
    for (;;) {
      while (j < n && isSpace(xml.charCodeAt(j))) j++;
      if (j >= n) return malformed();
      if (xml[j] === '>') {
        if (++depth > limits.depth)
          return fail('XML_TOO_DEEP', `elements nested deeper than ${limits.depth}`);
        i = j + 1;
        break;
      }
      if (xml[j] === '/' && xml[j + 1] === '>') {
        i = j + 2;
        break;
      }
      if (++attributes > limits.attributesPerTag)
        return fail(
          'XML_TOO_MANY_ATTRIBUTES',
          `more than ${limits.attributesPerTag} attributes on one element`,
        );
      const start = j;
      while (j < n && !isNameEnd(xml.charCodeAt(j)) && xml[j] !== '=') j++;
      if (j === start) return malformed();
      while (j < n && isSpace(xml.charCodeAt(j))) j++;
      if (xml[j] !== '=') return malformed();
      j++;
      while (j < n && isSpace(xml.charCodeAt(j))) j++;
      const quote = xml[j];
      if (quote !== '"' && quote !== "'") return malformed();
      const close = xml.indexOf(quote, j + 1);
      // XML forbids `<` in an attribute value (AttValue): `x="<!ENTITY…"` is not well formed.
      if (close < 0 || xml.slice(j + 1, close).includes('<')) return malformed();
      j = close + 1;
    }
  }
}

/**
 * The whole message, checked and parsed: the envelope must be well formed, within the caps, with a
 * valid `OrganizationId` and 1 to 100 notifications. Each notification is then read on its own: one
 * without a valid notification Id, sObject type or record Id goes to `unreadable` and the others
 * still count (sync rule 8).
 *
 * @example readNotifications(xml).notifications[0] // { notificationId: '04l…', objectType: 'Contact', recordId: '003…' }
 */
export function readNotifications(xml: string): NotificationsResult {
  if (xml.length > MAX_BODY_CHARS) return fail('BODY_TOO_LARGE', 'Outbound Message body is too large');
  const scanned = prescan(xml);
  if (!scanned.ok) return scanned;
  if (XMLValidator.validate(xml) !== true) return malformed();
  let doc: unknown;
  try {
    doc = parser.parse(xml);
  } catch {
    return malformed();
  }
  const envelope = child(child(child(doc, 'Envelope'), 'Body'), 'notifications');
  const organizationId = text(child(envelope, 'OrganizationId'));
  if (organizationId === null || !isSalesforceId(organizationId)) {
    return fail('MALFORMED_ENVELOPE', 'not an Outbound Message envelope with an OrganizationId');
  }
  const list = child(envelope, 'Notification');
  if (!Array.isArray(list) || list.length === 0)
    return fail('MALFORMED_ENVELOPE', 'no Notification elements');
  const notifications: OutboundNotification[] = [];
  const unreadable: UnreadableNotification[] = [];
  list.forEach((raw: unknown, index) => {
    const read = readNotification(raw);
    if ('reason' in read) unreadable.push({ index, reason: `Notification[${index}].${read.reason}`, raw });
    else notifications.push(read);
  });
  return { ok: true, organizationId, notifications, unreadable };
}

function readNotification(raw: unknown): OutboundNotification | { reason: string } {
  const notificationId = text(child(raw, 'Id'));
  if (notificationId === null || !isSalesforceId(notificationId))
    return { reason: 'Id: expected a 15 or 18 character notification id' };
  const sObject = child(raw, 'sObject');
  const xsiType = child(sObject, '@_type');
  const type = typeof xsiType === 'string' ? xsiType : '';
  const objectType = type.includes(':') ? type.slice(type.indexOf(':') + 1) : type;
  if (!isApiName(objectType)) return { reason: 'sObject: expected an xsi:type naming the sObject' };
  const recordId = text(child(sObject, 'Id'));
  if (recordId === null || !isSalesforceId(recordId))
    return { reason: 'sObject.Id: expected a 15 or 18 character record id' };
  return { notificationId, objectType, recordId };
}

function fail(code: string, message: string): Failure {
  return { ok: false, code, message };
}

const malformed = () => fail('MALFORMED_XML', 'body is not well-formed XML');

/** Space, tab, CR, LF. */
const isSpace = (c: number) => c === 32 || c === 9 || c === 10 || c === 13;
/** Where a tag or attribute name ends: space, `/`, `>`, or the end of input (NaN). */
const isNameEnd = (c: number) => isSpace(c) || c === 47 || c === 62 || Number.isNaN(c);

function child(node: unknown, name: string): unknown {
  return typeof node === 'object' && node !== null && !Array.isArray(node)
    ? (node as Record<string, unknown>)[name]
    : undefined;
}

/** Text content of a leaf element (attributes allowed), decoded; null for anything else. */
function text(node: unknown): string | null {
  if (typeof node === 'string') return decodeEntities(node);
  if (typeof node !== 'object' || node === null || Array.isArray(node)) return null;
  const keys = Object.keys(node);
  if (keys.some((k) => k !== '#text' && !k.startsWith('@_'))) return null; // has child elements
  const t = (node as Record<string, unknown>)['#text'];
  return typeof t === 'string' ? decodeEntities(t) : typeof t === 'undefined' ? '' : null;
}

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** The XML predefined entities and character references; anything else is left as written. */
function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-z]{2,4});/g, (whole, ref: string) => {
    if (ref.startsWith('#')) {
      const code = ref[1] === 'x' ? Number.parseInt(ref.slice(2), 16) : Number(ref.slice(1));
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return PREDEFINED[ref] ?? whole;
  });
}

function escapeText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
