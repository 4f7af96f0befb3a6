/**
 * Builders for Meta WhatsApp webhook payloads (shapes from API-FACTS 1.3–1.9), and signing.
 * Each builder returns one `changes[]` item; `envelope()` wraps them. Use fictitious numbers only
 * (+1 650 555 01xx, +49 151 2345678x).
 */
import { signMetaBody } from '../../connectors/whatsapp/signature.ts';

export const WABA_ID = '102290129340398';
export const PHONE_NUMBER_ID = '106540352242922';
/** The business's own (fictitious) number. */
export const DISPLAY_PHONE_NUMBER = '16505550100';

export interface WebhookChange {
  field: string;
  value: Record<string, unknown>;
}

export interface WebhookEnvelope {
  object: 'whatsapp_business_account';
  entry: Array<{ id: string; changes: WebhookChange[] }>;
}

export interface MessageOpts {
  /** wamid; default unique. */
  id?: string;
  /** Unix seconds; default now, as a string like Meta sends. */
  timestamp?: string | number;
  /** wamid of the message this replies to. */
  contextId?: string;
  profileName?: string;
}

let counter = 0;

/** A unique, realistic-looking wamid (counter + random, so parallel test files do not collide). */
export function nextWamid(): string {
  counter += 1;
  const raw = `TEST.${counter}.${globalThis.crypto.randomUUID()}`;
  return `wamid.${btoa(raw)}`;
}

const nowSeconds = (): string => String(Math.floor(Date.now() / 1000));
const metadata = () => ({ display_phone_number: DISPLAY_PHONE_NUMBER, phone_number_id: PHONE_NUMBER_ID });

function messageChange(from: string, message: Record<string, unknown>, opts: MessageOpts): WebhookChange {
  return {
    field: 'messages',
    value: {
      messaging_product: 'whatsapp',
      metadata: metadata(),
      contacts: [{ profile: { name: opts.profileName ?? 'Erika Mustermann' }, wa_id: from }],
      messages: [
        {
          ...(opts.contextId ? { context: { from: DISPLAY_PHONE_NUMBER, id: opts.contextId } } : {}),
          from,
          id: opts.id ?? nextWamid(),
          timestamp: opts.timestamp ?? nowSeconds(),
          ...message,
        },
      ],
    },
  };
}

/** @example envelope(textMessage('16505550101', 'STOP')) */
export const textMessage = (from: string, body: string, opts: MessageOpts = {}): WebhookChange =>
  messageChange(from, { type: 'text', text: { body } }, opts);

/** Quick-reply button of a template (type `button`). @example buttonReply('16505550101', 'Unsubscribe') */
export const buttonReply = (
  from: string,
  payload: string,
  text = payload,
  opts: MessageOpts = {},
): WebhookChange =>
  messageChange(from, { type: 'button', button: { payload, text } }, { contextId: nextWamid(), ...opts });

/** Interactive reply button. @example interactiveReply('16505550101', 'CONSENT_CONFIRM', 'Yes') */
export const interactiveReply = (
  from: string,
  id: string,
  title: string,
  opts: MessageOpts = {},
): WebhookChange =>
  messageChange(
    from,
    { type: 'interactive', interactive: { type: 'button_reply', button_reply: { id, title } } },
    { contextId: nextWamid(), ...opts },
  );

/** System message: the user changed number. @example numberChange('16505550101', '16505550102') */
export const numberChange = (oldWaId: string, newWaId: string, opts: MessageOpts = {}): WebhookChange =>
  messageChange(
    oldWaId,
    {
      type: 'system',
      system: {
        body: `User ${opts.profileName ?? 'Erika Mustermann'} changed from ${oldWaId} to ${newWaId}`,
        wa_id: newWaId,
        type: 'user_changed_number',
      },
    },
    opts,
  );

/**
 * A delivery status for a message we sent; error codes become `statuses[].errors[]`.
 * @example statusUpdate('16505550101', sentId, 'failed', [131050])
 */
export function statusUpdate(
  recipientId: string,
  wamid: string,
  status: string,
  errorCodes: number[] = [],
  opts: { timestamp?: string | number } = {},
): WebhookChange {
  const errors = errorCodes.map((code) => ({
    code,
    title: `Error ${code}`,
    message: `Error ${code}`,
    error_data: { details: `Error ${code}` },
    href: 'https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/',
  }));
  return {
    field: 'messages',
    value: {
      messaging_product: 'whatsapp',
      metadata: metadata(),
      statuses: [
        {
          id: wamid,
          status,
          timestamp: opts.timestamp ?? nowSeconds(),
          recipient_id: recipientId,
          pricing: {
            billable: false,
            pricing_model: 'PMP',
            category: 'utility',
            type: 'free_customer_service',
          },
          ...(errors.length ? { errors } : {}),
        },
      ],
    },
  };
}

/** Meta's marketing stop/resume (`user_preferences`; integer timestamp). @example userPreference('16505550101', 'stop') */
export function userPreference(
  waId: string,
  value: 'stop' | 'resume',
  opts: { timestamp?: number | string; category?: string } = {},
): WebhookChange {
  return {
    field: 'user_preferences',
    value: {
      messaging_product: 'whatsapp',
      metadata: metadata(),
      contacts: [{ wa_id: waId }],
      user_preferences: [
        {
          wa_id: waId,
          detail: `User requested to ${value} marketing messages`,
          category: opts.category ?? 'marketing_messages',
          value,
          timestamp: opts.timestamp ?? Math.floor(Date.now() / 1000),
        },
      ],
    },
  };
}

/** Wraps changes in one `entry[]` of the WABA. @example envelope(textMessage(a, 'hi'), userPreference(a, 'stop')) */
export function envelope(...changes: WebhookChange[]): WebhookEnvelope {
  return { object: 'whatsapp_business_account', entry: [{ id: WABA_ID, changes }] };
}

/**
 * Serialises once and signs those exact bytes, as Meta does.
 * @example const req = await signedRequest(envelope(textMessage('16505550101', 'STOP')), secret);
 * await app.request('/webhooks/whatsapp', { method: 'POST', ...req });
 */
export async function signedRequest(
  body: object | string,
  appSecret: string,
): Promise<{ body: string; headers: { 'content-type': string; 'x-hub-signature-256': string } }> {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return {
    body: text,
    headers: {
      'content-type': 'application/json',
      'x-hub-signature-256': await signMetaBody(text, appSecret),
    },
  };
}
