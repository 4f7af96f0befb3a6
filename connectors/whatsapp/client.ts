/**
 * Sends WhatsApp messages through the Cloud API (API-FACTS 1.11) and folds Graph errors into
 * `ConnectorError`s (API-FACTS 1.12). Runs on Node and Workers: the caller injects `fetch`.
 *
 * A recipient is a number (`to`) or a business-scoped user id (`recipient`, for people whose
 * number Meta withholds): docs/whatsapp-identity-facts.md, "Sending to a BSUID".
 */
import { metaUserId } from '../../src/core/identity.ts';
import type { ConnectorError } from '../errors.ts';
import { classifyHttp, networkError, parseRetryAfter } from '../errors.ts';

export interface WhatsAppClientConfig {
  /** e.g. `https://graph.facebook.com/v23.0` (no trailing slash needed). */
  graphUrl: string;
  phoneNumberId: string;
  accessToken: string;
  fetch: typeof fetch;
  /** Per request, default 10 000 ms. */
  timeoutMs?: number;
}

/**
 * Who a message goes to: an E.164 number or WhatsApp id (as a string or `{ phone }`), or a BSUID
 * or parent BSUID (`{ bsuid }`), example values `'+16505550101'`, `{ bsuid: 'US.13491208655302741918' }`.
 */
export type Recipient = string | { phone: string } | { bsuid: string };

/** `waId` answers a send to a number, `userId` a send to a BSUID (Meta echoes the one it used). */
export type SendResult =
  | { ok: true; messageId: string; waId: string | null; userId: string | null }
  | { ok: false; error: ConnectorError };

/** A template component as Meta defines it (`header`, `body`, `button`…), passed through unchanged. */
export type TemplateComponent = { type: string } & Record<string, unknown>;

export interface WhatsAppClient {
  sendText(input: { to: Recipient; body: string; previewUrl?: boolean }): Promise<SendResult>;
  sendTemplate(input: {
    to: Recipient;
    name: string;
    languageCode: string;
    components?: TemplateComponent[];
  }): Promise<SendResult>;
  sendButtons(input: {
    to: Recipient;
    body: string;
    buttons: Array<{ id: string; title: string }>;
  }): Promise<SendResult>;
}

/** Meta codes worth their own handling; everything else is classified by HTTP status. */
const VENDOR_ERRORS: Record<number, { code: string; retryable: boolean; title: string }> = {
  4: { code: 'RATE_LIMITED', retryable: true, title: 'API too many calls' },
  80007: { code: 'RATE_LIMITED', retryable: true, title: 'WABA rate limit hit' },
  130429: { code: 'RATE_LIMITED', retryable: true, title: 'Rate limit hit' },
  131056: { code: 'PAIR_RATE_LIMITED', retryable: true, title: 'Pair rate limit hit' },
  131057: { code: 'ACCOUNT_UPGRADING', retryable: true, title: 'Throughput upgrade in progress' },
  131000: { code: 'VENDOR_ERROR', retryable: true, title: 'Something went wrong' },
  // Meta asks not to retry: the person opted out of marketing; the caller records an opt-out.
  131050: {
    code: 'RECIPIENT_STOPPED_MARKETING',
    retryable: false,
    title: 'Recipient stopped marketing messages',
  },
  131047: { code: 'OUTSIDE_CUSTOMER_SERVICE_WINDOW', retryable: false, title: '24-hour window expired' },
  131026: { code: 'UNDELIVERABLE', retryable: false, title: 'Message undeliverable' },
  131048: { code: 'SPAM_RATE_LIMITED', retryable: false, title: 'Spam rate limit hit' },
  131049: { code: 'MARKETING_NOT_DELIVERED', retryable: false, title: 'Marketing message not delivered' },
  // Recipients by business-scoped user id (docs/whatsapp-identity-facts.md): a parent BSUID from a
  // portfolio not enrolled, and message kinds that need a number (e.g. one-tap authentication).
  131009: { code: 'INVALID_PARAMETER', retryable: false, title: 'Parameter value is not valid' },
  131062: {
    code: 'BSUID_RECIPIENT_UNSUPPORTED',
    retryable: false,
    title: 'Business-scoped user id recipients are not supported for this message',
  },
};

const PHONE = /^\+?\d{6,20}$/;

/**
 * The request fields that address `to`: `{ to }` for a number, `{ recipient }` for a BSUID or
 * parent BSUID (Meta: `to` wins when both are set, so a BSUID send carries no `to`). Null when the
 * recipient is neither.
 */
function addressOf(to: Recipient): { to: string } | { recipient: string } | null {
  if (typeof to === 'string' || 'phone' in to) {
    const phone = typeof to === 'string' ? to : to.phone;
    return typeof phone === 'string' && PHONE.test(phone) ? { to: phone } : null;
  }
  return typeof to.bsuid === 'string' && metaUserId(to.bsuid) ? { recipient: to.bsuid } : null;
}

/**
 * Builds a client for one business phone number. Never throws: every failure is a `SendResult`.
 *
 * @example
 * const wa = createWhatsAppClient({ graphUrl: env.WHATSAPP_GRAPH_URL, phoneNumberId: env.WHATSAPP_PHONE_NUMBER_ID,
 *   accessToken: env.WHATSAPP_ACCESS_TOKEN, fetch });
 * const sent = await wa.sendButtons({ to: '+16505550101', body: 'Confirm?', buttons: [{ id: 'CONSENT_CONFIRM', title: 'Yes' }] }); // example number
 * await wa.sendText({ to: { bsuid: 'US.13491208655302741918' }, body: 'Hi!' }); // Meta's example BSUID
 * if (!sent.ok && sent.error.retryable) retryLater(sent.error.retryAfterMs);
 */
export function createWhatsAppClient(config: WhatsAppClientConfig): WhatsAppClient {
  const url = `${config.graphUrl.replace(/\/+$/, '')}/${encodeURIComponent(config.phoneNumberId)}/messages`;
  const timeoutMs = config.timeoutMs ?? 10_000;

  async function send(to: Recipient, type: string, payload: Record<string, unknown>): Promise<SendResult> {
    const address = addressOf(to);
    if (!address)
      return invalid(
        'INVALID_RECIPIENT',
        'recipient is not an E.164 number, a WhatsApp id or a business-scoped user id',
      );
    const body = {
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      ...address,
      type,
      [type]: payload,
    };
    let res: Response;
    try {
      res = await config.fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${config.accessToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      return { ok: false, error: networkError(err, timeoutMs) };
    }
    const json = await readJson(res);
    if (res.ok) return success(res.status, json);
    return { ok: false, error: graphError(res.status, res.headers.get('retry-after'), json) };
  }

  return {
    sendText: ({ to, body, previewUrl }) =>
      body.length === 0 || body.length > 4096
        ? Promise.resolve(invalid('INVALID_REQUEST', 'text body must be 1–4096 characters'))
        : send(to, 'text', { preview_url: previewUrl ?? false, body }),
    sendTemplate: ({ to, name, languageCode, components }) =>
      !name || !languageCode
        ? Promise.resolve(invalid('INVALID_REQUEST', 'template name and language code are required'))
        : send(to, 'template', {
            name,
            language: { code: languageCode },
            ...(components ? { components } : {}),
          }),
    sendButtons: ({ to, body, buttons }) => {
      const problem = checkButtons(body, buttons);
      if (problem) return Promise.resolve(invalid('INVALID_REQUEST', problem));
      return send(to, 'interactive', {
        type: 'button',
        body: { text: body },
        action: { buttons: buttons.map(({ id, title }) => ({ type: 'reply', reply: { id, title } })) },
      });
    },
  };
}

function checkButtons(body: string, buttons: Array<{ id: string; title: string }>): string | null {
  if (!body) return 'button message body is required';
  if (buttons.length < 1 || buttons.length > 3) return 'reply buttons must number 1 to 3';
  if (new Set(buttons.map((b) => b.id)).size !== buttons.length) return 'reply button ids must be unique';
  // Titles are counted in characters (code points), as a person sees them.
  const bad = buttons.some((b) => !b.id || b.id.length > 256 || !b.title || [...b.title].length > 20);
  return bad ? 'reply button ids must be 1–256 characters and titles 1–20 characters' : null;
}

async function readJson(res: Response): Promise<unknown> {
  try {
    return JSON.parse(await res.text());
  } catch {
    return null;
  }
}

function success(status: number, json: unknown): SendResult {
  const messageId = field(first(field(json, 'messages')), 'id');
  const contact = first(field(json, 'contacts'));
  const waId = field(contact, 'wa_id');
  const userId = field(contact, 'user_id');
  if (typeof messageId === 'string' && messageId) {
    return {
      ok: true,
      messageId,
      waId: typeof waId === 'string' ? waId : null,
      userId: typeof userId === 'string' ? userId : null,
    };
  }
  // Meta accepted the request, so the message may be on its way: a retry could send it twice.
  return invalid('UNEXPECTED_RESPONSE', 'success response without a message id', status);
}

/** Uses only Meta's code and our own title: Graph messages and details can quote numbers or text. */
function graphError(status: number, retryAfter: string | null, json: unknown): ConnectorError {
  const err = field(json, 'error');
  const vendorCode = field(err, 'code');
  const code = typeof vendorCode === 'number' ? vendorCode : null;
  const known = code === null ? undefined : VENDOR_ERRORS[code];
  const byStatus = classifyHttp(status, retryAfter);
  if (!known) {
    return code === null
      ? byStatus
      : { ...byStatus, message: `WhatsApp error ${code} (HTTP ${status})`, vendorCode: code };
  }
  return {
    code: known.code,
    message: `WhatsApp error ${code}: ${known.title}`,
    retryable: known.retryable,
    retryAfterMs: known.retryable ? parseRetryAfter(retryAfter) : null,
    status,
    vendorCode: code,
  };
}

function invalid(code: string, message: string, status: number | null = null): SendResult {
  return {
    ok: false,
    error: { code, message, retryable: false, retryAfterMs: null, status, vendorCode: null },
  };
}

const field = (v: unknown, key: string): unknown =>
  typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[key] : undefined;
const first = (v: unknown): unknown => (Array.isArray(v) ? v[0] : undefined);
