/**
 * Two kinds of Salesforce webhooks share one route:
 * - SOAP Outbound Messages (a `text/xml` content type, or a body starting with `<`). They carry no
 *   signature (API-FACTS 3.4), so the check is the envelope's `OrganizationId` against ours, on the
 *   first 15 characters (15- and 18-character ids name the same org), case-sensitively. That id is
 *   not a secret: deployments should also restrict the route (Salesforce's IP ranges, or mTLS).
 * - JSON Flow HTTP callouts (flow.ts) with our shared secret in `X-Consent-Sync-Secret`, compared
 *   in constant time over SHA-256 digests (Web Crypto, so this runs on Workers as well).
 */
import { bytesEqual, utf8 } from '../../src/crypto/encoding.ts';
import type {
  InboundChange,
  LookupSpec,
  ParsedWebhook,
  RemoteValue,
  WebhookReply,
  WebhookRequest,
  WebhookVerdict,
} from '../types.ts';
import { matchValue, readFlowCallout, whitelisted } from './flow.ts';
import {
  ACK_ENVELOPE,
  type OutboundNotification,
  readEnvelope,
  readNotifications,
  soapFault,
} from './outbound.ts';

export const SECRET_HEADER = 'x-consent-sync-secret';
const XML_TYPE = 'text/xml; charset=utf-8';
const JSON_TYPE = 'application/json';

export interface WebhookOptions {
  orgId: string | null;
  webhookSecret: string | null;
}

/** SOAP when the content type says XML or the body starts with `<`; JSON otherwise. */
export function isSoapRequest(req: WebhookRequest): boolean {
  const type = (req.headers.get('content-type') ?? '').toLowerCase();
  return (
    type.includes('xml') ||
    req.rawBody
      .replace(/^\uFEFF/, '')
      .trimStart()
      .startsWith('<')
  );
}

/**
 * @example
 * const verdict = await verifySalesforceWebhook(req, { orgId: '00D5e000000KQ2eEAG', webhookSecret: null });
 * if (!verdict.ok) return c.json({ error: verdict.code }, verdict.status);
 */
export async function verifySalesforceWebhook(
  req: WebhookRequest,
  opts: WebhookOptions,
): Promise<WebhookVerdict> {
  if (isSoapRequest(req)) {
    if (!opts.orgId) return refuse(403, 'WEBHOOK_NOT_CONFIGURED', 'no Salesforce org id is configured');
    const envelope = readEnvelope(req.rawBody);
    // No readable OrganizationId (malformed, DOCTYPE, too large): the sender cannot be checked.
    if (!envelope.ok) return refuse(403, envelope.code, envelope.message);
    if (!sameOrg(envelope.organizationId, opts.orgId)) {
      return refuse(403, 'ORG_MISMATCH', 'Outbound Message is not from the configured org');
    }
    return { ok: true };
  }
  if (!opts.webhookSecret)
    return refuse(403, 'WEBHOOK_NOT_CONFIGURED', 'no Flow callout secret is configured');
  const given = req.headers.get(SECRET_HEADER);
  if (!given) return refuse(401, 'MISSING_SECRET', `${SECRET_HEADER} header is missing`);
  if (!(await secretsEqual(given, opts.webhookSecret))) {
    return refuse(401, 'BAD_SECRET', `${SECRET_HEADER} header does not match`);
  }
  return { ok: true };
}

/**
 * Parses a verified webhook into changes of whitelisted fields, with the reply Salesforce expects.
 *
 * @example
 * const parsed = parseSalesforceWebhook(req, spec, opts);
 * return new Response(parsed.ok ? parsed.ack.body : parsed.reply.body, { status: parsed.ok ? 200 : parsed.status });
 */
export function parseSalesforceWebhook(
  req: WebhookRequest,
  spec: LookupSpec,
  opts: WebhookOptions,
): ParsedWebhook {
  if (!isSoapRequest(req)) {
    const flow = readFlowCallout(req.rawBody, spec);
    if (!flow.ok) {
      return {
        ok: false,
        status: 400,
        code: flow.code,
        message: flow.message,
        reply: reply(
          400,
          JSON_TYPE,
          JSON.stringify({ ok: false, error: { code: flow.code, message: flow.message } }),
        ),
      };
    }
    return {
      ok: true,
      changes: flow.changes,
      ack: reply(200, JSON_TYPE, JSON.stringify({ ok: true, received: flow.changes.length })),
      skipped: [],
    };
  }
  const message = readNotifications(req.rawBody);
  if (!message.ok) {
    const { code, message: text } = message;
    return {
      ok: false,
      status: 400,
      code,
      message: text,
      reply: reply(400, XML_TYPE, soapFault('Client', text)),
    };
  }
  // Checked again here: parsing must never trust a body whose org was not ours.
  if (!opts.orgId || !sameOrg(message.organizationId, opts.orgId)) {
    const code = opts.orgId ? 'ORG_MISMATCH' : 'WEBHOOK_NOT_CONFIGURED';
    const text = opts.orgId
      ? 'Outbound Message is not from the configured org'
      : 'no Salesforce org id is configured';
    return {
      ok: false,
      status: 403,
      code,
      message: text,
      reply: reply(403, XML_TYPE, soapFault('Client', text)),
    };
  }
  const changes = message.notifications.map((n) => toChange(n, spec, req.now));
  return { ok: true, changes, ack: reply(200, XML_TYPE, ACK_ENVELOPE), skipped: [] };
}

function toChange(n: OutboundNotification, spec: LookupSpec, now: number): InboundChange {
  const fields: Record<string, RemoteValue> = {};
  for (const [name, value] of Object.entries(n.fields)) {
    fields[name] = value === 'true' ? true : value === 'false' ? false : value;
  }
  const modified = Object.entries(n.fields).find(([k]) => k.toLowerCase() === 'lastmodifieddate')?.[1];
  const at = typeof modified === 'string' ? Date.parse(modified) : Number.NaN;
  return {
    eventId: n.notificationId,
    type: 'property_change',
    ref: { objectType: n.objectType, id: n.recordId },
    occurredAt: new Date(Number.isNaN(at) ? now : at).toISOString(),
    properties: whitelisted(fields, spec),
    // The match field as the CRM holds it: text, never turned into a boolean.
    matchValue: matchValue(n.fields, spec),
    changeSource: null,
  };
}

/** Same org when the first 15 characters agree (the 18-character form only adds a case-safe suffix). */
export function sameOrg(a: string, b: string): boolean {
  return a.length >= 15 && b.length >= 15 && a.slice(0, 15) === b.slice(0, 15);
}

async function secretsEqual(given: string, expected: string): Promise<boolean> {
  const digest = async (s: string) =>
    new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', utf8(s)));
  // Digests have equal length, so the comparison time says nothing about the secret's length.
  return bytesEqual(await digest(given), await digest(expected));
}

function refuse(status: 401 | 403, code: string, message: string): WebhookVerdict {
  return { ok: false, status, code, message };
}

function reply(status: number, contentType: string, body: string): WebhookReply {
  return { status, contentType, body };
}
