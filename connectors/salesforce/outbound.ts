/**
 * Outbound Messages (API-FACTS 3.4): Salesforce POSTs a SOAP `notifications` envelope with up to
 * 100 `Notification`s and retries until it gets the `notificationsResponse` Ack.
 *
 * XML safety: a body with a DOCTYPE or ENTITY declaration is refused before parsing (no XXE, no
 * entity bombs), and fast-xml-parser runs with entity processing off; only the five predefined
 * entities and character references are decoded, by hand, in text values.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { isApiName, isSalesforceId } from './soql.ts';

export const MAX_NOTIFICATIONS = 100;
/** 100 notifications of a few dozen fields stay far below this. */
const MAX_BODY_CHARS = 1_000_000;

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

export interface OutboundNotification {
  /** The notification's own id: the same on every redelivery, so it is the dedupe key. */
  notificationId: string;
  objectType: string;
  recordId: string;
  /** Field values as sent: text, or null for `xsi:nil`. Nested (relationship) elements are left out. */
  fields: Record<string, string | null>;
}

export type EnvelopeResult =
  | { ok: true; organizationId: string; notifications: unknown[] }
  | { ok: false; code: string; message: string };

export type NotificationsResult =
  | { ok: true; organizationId: string; notifications: OutboundNotification[] }
  | { ok: false; code: string; message: string };

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

/**
 * Reads the envelope down to `OrganizationId` and the raw `Notification` list; what `verifyWebhook`
 * needs, without judging the notifications yet.
 *
 * @example readEnvelope(xml) // { ok: true, organizationId: '00D5e000000KQ2eEAG', notifications: [ … ] }
 */
export function readEnvelope(xml: string): EnvelopeResult {
  if (xml.length > MAX_BODY_CHARS) return fail('BODY_TOO_LARGE', 'Outbound Message body is too large');
  if (/<!\s*(?:DOCTYPE|ENTITY)/i.test(xml)) {
    return fail('XML_DOCTYPE_FORBIDDEN', 'DOCTYPE and ENTITY declarations are not accepted');
  }
  if (XMLValidator.validate(xml) !== true) return fail('MALFORMED_XML', 'body is not well-formed XML');
  let doc: unknown;
  try {
    doc = parser.parse(xml);
  } catch {
    return fail('MALFORMED_XML', 'body is not well-formed XML');
  }
  const notifications = child(child(child(doc, 'Envelope'), 'Body'), 'notifications');
  const organizationId = text(child(notifications, 'OrganizationId'));
  if (organizationId === null || !isSalesforceId(organizationId)) {
    return fail('MALFORMED_ENVELOPE', 'not an Outbound Message envelope with an OrganizationId');
  }
  const list = child(notifications, 'Notification');
  return { ok: true, organizationId, notifications: Array.isArray(list) ? list : [] };
}

/**
 * The whole message: 1 to 100 notifications, each with an id, an sObject type and a record id.
 *
 * @example readNotifications(xml).notifications[0] // { notificationId: '04l…', objectType: 'Contact', recordId: '003…', fields: { … } }
 */
export function readNotifications(xml: string): NotificationsResult {
  const envelope = readEnvelope(xml);
  if (!envelope.ok) return envelope;
  if (envelope.notifications.length === 0) return fail('MALFORMED_ENVELOPE', 'no Notification elements');
  if (envelope.notifications.length > MAX_NOTIFICATIONS) {
    return fail('TOO_MANY_NOTIFICATIONS', `more than ${MAX_NOTIFICATIONS} notifications in one message`);
  }
  const out: OutboundNotification[] = [];
  for (const [index, raw] of envelope.notifications.entries()) {
    const notificationId = text(child(raw, 'Id'));
    const sObject = child(raw, 'sObject');
    const xsiType = typeof child(sObject, '@_type') === 'string' ? (child(sObject, '@_type') as string) : '';
    const objectType = xsiType.includes(':') ? xsiType.slice(xsiType.indexOf(':') + 1) : xsiType;
    const recordId = text(child(sObject, 'Id'));
    if (
      notificationId === null ||
      !isSalesforceId(notificationId) ||
      !isApiName(objectType) ||
      recordId === null ||
      !isSalesforceId(recordId)
    ) {
      return fail(
        'MALFORMED_NOTIFICATION',
        `Notification ${index} lacks a valid Id, sObject type or record Id`,
      );
    }
    const fields: Record<string, string | null> = {};
    for (const [name, value] of Object.entries(sObject as Record<string, unknown>)) {
      if (name.startsWith('@_') || name === 'Id' || name === '#text') continue;
      if (Array.isArray(value))
        return fail('MALFORMED_NOTIFICATION', `Notification ${index} repeats a field`);
      if (isNil(value)) fields[name] = null;
      else {
        const v = text(value);
        if (v !== null) fields[name] = v;
      }
    }
    out.push({ notificationId, objectType, recordId, fields });
  }
  return { ok: true, organizationId: envelope.organizationId, notifications: out };
}

function fail(code: string, message: string): { ok: false; code: string; message: string } {
  return { ok: false, code, message };
}

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

function isNil(node: unknown): boolean {
  return child(node, '@_nil') === 'true';
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
