import { parseWebhook } from '../../../connectors/whatsapp/parse.ts';
import { verifyMetaSignature } from '../../../connectors/whatsapp/signature.ts';
import type { Services } from '../../app/services.ts';
import { bytesEqual, utf8 } from '../../crypto/encoding.ts';
import type { InboundSummary } from '../../service/inbound-whatsapp.ts';
import type { Accepted } from '../../service/inbox/durable-inbox.ts';
import type { Log } from '../../service/log.ts';
import { AppError, errorBody } from '../errors.ts';
import type { Router } from '../router.ts';

/** One decoder for every request (a non-streaming decode keeps no state between calls). */
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The 200 answer to a stored delivery. */
export type WhatsAppReceipt = { received: number; skipped: number } & (Accepted | InboundSummary);

/**
 * One signed WhatsApp delivery, from its raw bytes to the 200 body; throws `AppError` (401, 400,
 * 422) for a delivery refused as a whole. Runtime-free: the Hono route below and, on Node, the
 * server's fast path (src/runtime/node-webhook.ts) both call it.
 */
export async function receiveWhatsApp(
  services: Services,
  raw: Uint8Array,
  signature: string | undefined,
  log: Log,
): Promise<WhatsAppReceipt> {
  const { config, crypto } = services;
  if (!(await verifyMetaSignature(raw, signature, config.WHATSAPP_APP_SECRET, crypto))) {
    throw new AppError(401, 'INVALID_SIGNATURE', 'X-Hub-Signature-256 is missing or does not match the body');
  }
  let json: unknown;
  try {
    json = JSON.parse(STRICT_UTF8.decode(raw));
  } catch {
    throw new AppError(400, 'MALFORMED_JSON', 'the body is not valid UTF-8 JSON');
  }
  // Only a wrong envelope refuses the delivery; an event that cannot be read is skipped and kept
  // for inspection, never the reason a STOP in the same delivery is lost (sync rule 8).
  const parsed = parseWebhook(json);
  if (!parsed.ok) throw new AppError(422, parsed.code, parsed.message);
  const { inbox, queueInbox, inbound, deadEvents, clock } = services;
  // Durable inbox (Node) or inbox queue (Workers): 200 once the minimised events are stored;
  // decided right after, in batches. Inline: decided before the answer.
  const sink = inbox ?? queueInbox;
  const [summary, skipped] = await Promise.all([
    sink ? sink.accept(parsed.events) : inbound.handle(parsed.events, clock().toISOString()),
    deadEvents.record(parsed.skipped),
  ]);
  log.info({ ...summary, skipped, ignoredByParser: parsed.ignored }, 'whatsapp webhook stored');
  return { received: parsed.events.length, ...summary, skipped };
}

/**
 * Meta's webhook: the GET handshake, and signed POST notifications that are answered 200 only
 * after every event they carry is stored (Meta redelivers anything else).
 */
export function whatsappWebhookRoutes(app: Router) {
  app.get('/webhooks/whatsapp', (c) => {
    const token = c.req.query('hub.verify_token') ?? '';
    const expected = c.var.services.config.WHATSAPP_VERIFY_TOKEN;
    const ok = c.req.query('hub.mode') === 'subscribe' && bytesEqual(utf8(token), utf8(expected));
    const challenge = c.req.query('hub.challenge');
    if (!ok || !challenge) return c.json(errorBody('FORBIDDEN', 'verification token does not match'), 403);
    return c.text(challenge, 200);
  });

  app.post('/webhooks/whatsapp', async (c) => {
    const raw = new Uint8Array(await c.req.arrayBuffer());
    // c.get, not c.var: Hono builds a new object on every `c.var` read (this is the hot path).
    const body = await receiveWhatsApp(
      c.get('services'),
      raw,
      c.req.header('x-hub-signature-256'),
      c.get('log'),
    );
    return c.json(body, 200);
  });

  app.openAPIRegistry.registerPath({
    method: 'post',
    path: '/webhooks/whatsapp',
    operationId: 'receiveWhatsAppWebhook',
    tags: ['webhooks'],
    // Signed by the sender (or a shared secret), not a bearer token.
    security: [],
    summary: "Meta's WhatsApp Business webhook (signed with X-Hub-Signature-256)",
    responses: {
      200: {
        description:
          'Every readable event that matters stored (`stored`; `dropped` counts events that change nothing) or, without the inbox, decided (`applied`, `duplicates`, `ignored`); unreadable events counted in `skipped` and kept for inspection (GET /v1/dead-events)',
      },
      400: { description: 'The body is not UTF-8 JSON; nothing changed' },
      401: { description: 'Signature missing or wrong; nothing changed' },
      413: { description: 'Body too large' },
      422: { description: 'Not a WhatsApp Business Account webhook envelope (object, entry[], changes[])' },
    },
  });
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/webhooks/whatsapp',
    operationId: 'verifyWhatsAppWebhook',
    tags: ['webhooks'],
    // Signed by the sender (or a shared secret), not a bearer token.
    security: [],
    summary: 'Verification handshake: echoes hub.challenge when hub.verify_token matches',
    responses: { 200: { description: 'The challenge' }, 403: { description: 'Token mismatch' } },
  });
}
