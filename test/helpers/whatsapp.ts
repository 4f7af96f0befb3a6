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

/**
 * Who sent or receives: a WhatsApp id (digits), or the business-scoped ids Meta adds since April
 * 2026 (`user_id`, `parent_user_id`); a user with a username may come with no number at all.
 * @example { userId: 'US.13491208655302741918' } (BSUID only) or { waId: '16505550101', userId: 'US.1…' }
 */
export type Sender = string | { waId?: string; userId?: string; parentUserId?: string };

const who = (s: Sender) => (typeof s === 'string' ? { waId: s } : s);

/** The `contacts[]` entry Meta sends with a message or preference. */
function contact(s: Sender, profileName?: string): Record<string, unknown> {
  const w = who(s);
  return {
    ...(profileName ? { profile: { name: profileName } } : {}),
    ...(w.waId ? { wa_id: w.waId } : {}),
    ...(w.userId ? { user_id: w.userId } : {}),
    ...(w.parentUserId ? { parent_user_id: w.parentUserId } : {}),
  };
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

function messageChange(from: Sender, message: Record<string, unknown>, opts: MessageOpts): WebhookChange {
  const w = who(from);
  return {
    field: 'messages',
    value: {
      messaging_product: 'whatsapp',
      metadata: metadata(),
      contacts: [contact(from, opts.profileName ?? 'Erika Mustermann')],
      messages: [
        {
          ...(opts.contextId ? { context: { from: DISPLAY_PHONE_NUMBER, id: opts.contextId } } : {}),
          ...(w.waId ? { from: w.waId } : {}),
          ...(w.userId ? { from_user_id: w.userId } : {}),
          ...(w.parentUserId ? { from_parent_user_id: w.parentUserId } : {}),
          id: opts.id ?? nextWamid(),
          timestamp: opts.timestamp ?? nowSeconds(),
          ...message,
        },
      ],
    },
  };
}

/** @example envelope(textMessage('16505550101', 'STOP')) */
export const textMessage = (from: Sender, body: string, opts: MessageOpts = {}): WebhookChange =>
  messageChange(from, { type: 'text', text: { body } }, opts);

/** Quick-reply button of a template (type `button`). @example buttonReply('16505550101', 'Unsubscribe') */
export const buttonReply = (
  from: Sender,
  payload: string,
  text = payload,
  opts: MessageOpts = {},
): WebhookChange =>
  messageChange(from, { type: 'button', button: { payload, text } }, { contextId: nextWamid(), ...opts });

/** Interactive reply button. @example interactiveReply('16505550101', 'CONSENT_CONFIRM', 'Yes') */
export const interactiveReply = (
  from: Sender,
  id: string,
  title: string,
  opts: MessageOpts = {},
): WebhookChange =>
  messageChange(
    from,
    { type: 'interactive', interactive: { type: 'button_reply', button_reply: { id, title } } },
    { contextId: nextWamid(), ...opts },
  );

/**
 * System message: the user changed number (a new number comes with a new BSUID).
 * @example numberChange('16505550101', '16505550102')
 */
export const numberChange = (
  old: Sender,
  newWaId: string,
  opts: MessageOpts & { newUserId?: string } = {},
): WebhookChange => {
  const w = who(old);
  return messageChange(
    old,
    {
      type: 'system',
      system: {
        body: `User ${opts.profileName ?? 'Erika Mustermann'} changed from ${w.waId ?? 'a number'} to ${newWaId}`,
        wa_id: newWaId,
        ...(w.userId && opts.newUserId ? { previous_user_id: w.userId } : {}),
        ...(opts.newUserId ? { user_id: opts.newUserId } : {}),
        type: 'user_changed_number',
      },
    },
    opts,
  );
};

/**
 * System message: the user's business-scoped user id changed (no number, no `from`).
 * @example userIdChange('US.2284610937745120385', 'US.9917203384455120776')
 */
export function userIdChange(previousUserId: string, userId: string, opts: MessageOpts = {}): WebhookChange {
  return {
    field: 'messages',
    value: {
      messaging_product: 'whatsapp',
      metadata: metadata(),
      messages: [
        {
          id: opts.id ?? nextWamid(),
          timestamp: opts.timestamp ?? nowSeconds(),
          type: 'system',
          system: {
            body: 'User changed their business-scoped user ID',
            previous_user_id: previousUserId,
            user_id: userId,
            type: 'user_changed_user_id',
          },
        },
      ],
    },
  };
}

/**
 * A delivery status for a message we sent; error codes become `statuses[].errors[]`.
 * @example statusUpdate('16505550101', sentId, 'failed', [131050])
 */
export function statusUpdate(
  recipient: Sender,
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
          ...(who(recipient).waId ? { recipient_id: who(recipient).waId } : {}),
          ...(who(recipient).userId ? { recipient_user_id: who(recipient).userId } : {}),
          ...(who(recipient).parentUserId ? { recipient_parent_user_id: who(recipient).parentUserId } : {}),
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
  sender: Sender,
  value: 'stop' | 'resume' | 'signup',
  opts: { timestamp?: number | string; category?: string } = {},
): WebhookChange {
  return {
    field: 'user_preferences',
    value: {
      messaging_product: 'whatsapp',
      metadata: metadata(),
      contacts: [contact(sender)],
      user_preferences: [
        {
          ...(who(sender).waId ? { wa_id: who(sender).waId } : {}),
          ...(who(sender).userId ? { user_id: who(sender).userId } : {}),
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
