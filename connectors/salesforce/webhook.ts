/**
 * Two kinds of Salesforce webhooks share one route:
 * - JSON Flow HTTP callouts (flow.ts, the recommended way) with our shared secret in
 *   `X-Consent-Sync-Secret`, compared in constant time over SHA-256 digests (Web Crypto, so this
 *   runs on Workers as well). Their values are trusted: the secret authenticates them.
 * - SOAP Outbound Messages (a `text/xml` content type, or a body starting with `<`), accepted only
 *   when `SALESFORCE_OUTBOUND_MESSAGES=on`. They carry no signature (API-FACTS 3.4), and the
 *   `OrganizationId` they carry is not a secret, so they are signals (sync rule 7): each
 *   notification becomes a change with `signal: true` naming only the record, and the service
 *   reads the record back through the authenticated API. The org id is compared on the first 15
 *   characters (15- and 18-character ids name the same org), case-sensitively, after a bounded
 *   string scan and before any XML tree is built. Every refusal of a SOAP request is a SOAP Fault.
 */
import { bytesEqual, utf8 } from '../../src/crypto/encoding.ts';
import type {
  InboundChange,
  LookupSpec,
  ParsedWebhook,
  SkippedEvent,
  WebhookReply,
  WebhookRequest,
  WebhookVerdict,
} from '../types.ts';
import { readFlowCallout } from './flow.ts';
import {
  ACK_ENVELOPE,
  findOrganizationId,
  type OutboundNotification,
  readNotifications,
  soapFault,
} from './outbound.ts';

export const SECRET_HEADER = 'x-consent-sync-secret';
const XML_TYPE = 'text/xml; charset=utf-8';
const JSON_TYPE = 'application/json';

export interface WebhookOptions {
  orgId: string | null;
  webhookSecret: string | null;
  /** `SALESFORCE_OUTBOUND_MESSAGES=on`: accept Outbound Messages (as signals). Off: 403 before any parsing. */
  outboundMessages: boolean;
}

const DISABLED = {
  code: 'OUTBOUND_MESSAGES_DISABLED',
  message:
    'Outbound Messages are turned off (SALESFORCE_OUTBOUND_MESSAGES); send a Flow HTTP callout instead',
};
const NOT_CONFIGURED = { code: 'WEBHOOK_NOT_CONFIGURED', message: 'no Salesforce org id is configured' };
const MISMATCH = { code: 'ORG_MISMATCH', message: 'Outbound Message is not from the configured org' };

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
 * const verdict = await verifySalesforceWebhook(req, { orgId: '00D5e000000KQ2eEAG', webhookSecret: null, outboundMessages: true });
 * if (!verdict.ok) return new Response(verdict.reply?.body ?? verdict.message, { status: verdict.status });
 */
export async function verifySalesforceWebhook(
  req: WebhookRequest,
  opts: WebhookOptions,
): Promise<WebhookVerdict> {
  if (isSoapRequest(req)) {
    // Cheap checks only: a setting, then a bounded string scan. No XML is parsed here.
    if (!opts.outboundMessages) return refuseSoap(DISABLED);
    if (!opts.orgId) return refuseSoap(NOT_CONFIGURED);
    const organizationId = findOrganizationId(req.rawBody);
    if (organizationId === null) {
      return refuseSoap({
        code: 'MALFORMED_ENVELOPE',
        message: 'no OrganizationId at the start of the Outbound Message',
      });
    }
    if (!sameOrg(organizationId, opts.orgId)) return refuseSoap(MISMATCH);
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
 * Parses a verified webhook into changes with the reply Salesforce expects: Flow callouts into
 * changes of whitelisted fields, Outbound Messages into value-free signals. Unreadable items and
 * notifications are returned in `skipped`; the others still count.
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
    const skipped = flow.unreadable.map(
      (u): SkippedEvent => ({ source: 'salesforce', kind: 'event', reason: u.reason, raw: u.raw }),
    );
    return {
      ok: true,
      changes: flow.changes,
      ack: reply(
        200,
        JSON_TYPE,
        JSON.stringify({ ok: true, received: flow.changes.length, skipped: skipped.length }),
      ),
      skipped,
      ignored: 0,
    };
  }
  // Checked again here, before any parsing: parsing must never trust a body verify did not pass.
  if (!opts.outboundMessages) return soapRefusal(403, DISABLED);
  if (!opts.orgId) return soapRefusal(403, NOT_CONFIGURED);
  const early = findOrganizationId(req.rawBody);
  if (early === null || !sameOrg(early, opts.orgId)) return soapRefusal(403, MISMATCH);
  const message = readNotifications(req.rawBody);
  if (!message.ok) return soapRefusal(400, message);
  if (!sameOrg(message.organizationId, opts.orgId)) return soapRefusal(403, MISMATCH);
  const at = new Date(req.now).toISOString();
  const skipped = message.unreadable.map(
    (u): SkippedEvent => ({ source: 'salesforce', kind: 'notification', reason: u.reason, raw: u.raw }),
  );
  return {
    ok: true,
    changes: message.notifications.map((n) => toSignal(n, at)),
    ack: reply(200, XML_TYPE, ACK_ENVELOPE),
    skipped,
    ignored: 0,
  };
}

/**
 * Only which record changed, when we heard of it, and the notification id to drop redeliveries:
 * no field value of the message (not even its LastModifiedDate) goes any further.
 */
function toSignal(n: OutboundNotification, receivedAt: string): InboundChange {
  return {
    eventId: n.notificationId,
    type: 'property_change',
    ref: { objectType: n.objectType, id: n.recordId },
    occurredAt: receivedAt,
    properties: {},
    matchValue: null,
    changeSource: null,
    signal: true,
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

/** The faultstring carries our code and fixed text (never a request value): Salesforce's delivery log shows it. */
function refuseSoap(e: { code: string; message: string }): WebhookVerdict {
  return {
    ok: false,
    status: 403,
    ...e,
    reply: reply(403, XML_TYPE, soapFault('Client', `${e.code}: ${e.message}`)),
  };
}

function soapRefusal(status: 400 | 403, e: { code: string; message: string }): ParsedWebhook {
  return {
    ok: false,
    status,
    code: e.code,
    message: e.message,
    reply: reply(status, XML_TYPE, soapFault('Client', `${e.code}: ${e.message}`)),
  };
}

function reply(status: number, contentType: string, body: string): WebhookReply {
  return { status, contentType, body };
}
