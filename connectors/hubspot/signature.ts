/**
 * HubSpot's webhook signature v3 (API-FACTS 2.1): `X-HubSpot-Signature-v3` is the base64
 * HMAC-SHA256, keyed with the app's client secret, of method + full URL + raw body + the
 * `X-HubSpot-Request-Timestamp` value (ms). Web Crypto only, so it runs on Node and Workers.
 */
import { bytesEqual, fromBase64, toBase64, utf8 } from '../../src/crypto/encoding.ts';
import type { WebhookRequest, WebhookVerdict } from '../types.ts';

/** HubSpot: "Reject the request if the timestamp is older than 5 minutes"; we also reject 5 minutes ahead. */
export const MAX_SKEW_MS = 300_000;

const TIMESTAMP = /^\d{1,16}$/;
const BASE64_SHA256 = /^[A-Za-z0-9+/]{43}=$/;
/** Characters HubSpot's docs say to decode in the URI before hashing [U]; tried only after the raw URL fails. */
const DECODE = /%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)/gi;

/**
 * Signs like HubSpot; for tests and tools.
 *
 * @example await signV3({ method: 'POST', url: 'https://hooks.example.com/hubspot', body: '[]', timestamp: 1708986599647, secret: 's' })
 */
export async function signV3(input: {
  method: string;
  url: string;
  body: string;
  timestamp: number | string;
  secret: string;
}): Promise<string> {
  return toBase64(await hmac(input.secret, `${input.method}${input.url}${input.body}${input.timestamp}`));
}

/**
 * Checks a webhook's v3 signature and timestamp. Never throws; the verdict's message names what was
 * wrong, never a header value.
 *
 * @example
 * const verdict = await verifyV3(req, env.HUBSPOT_CLIENT_SECRET);
 * if (!verdict.ok) return c.json({ error: verdict.code }, verdict.status);
 */
export async function verifyV3(req: WebhookRequest, clientSecret: string | null): Promise<WebhookVerdict> {
  if (!clientSecret) return reject('WEBHOOK_NOT_CONFIGURED', 'no HubSpot client secret is configured');
  const signature = req.headers.get('x-hubspot-signature-v3');
  const timestamp = req.headers.get('x-hubspot-request-timestamp');
  if (!signature || !timestamp) {
    return reject('SIGNATURE_MISSING', 'X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp is missing');
  }
  if (!TIMESTAMP.test(timestamp)) return reject('TIMESTAMP_INVALID', 'the request timestamp is not a number');
  const skew = req.now - Number(timestamp);
  if (skew > MAX_SKEW_MS) return reject('TIMESTAMP_EXPIRED', 'the request timestamp is older than 5 minutes');
  if (skew < -MAX_SKEW_MS) {
    return reject('TIMESTAMP_IN_FUTURE', 'the request timestamp is more than 5 minutes ahead');
  }
  const given = signature.trim();
  if (!BASE64_SHA256.test(given)) return reject('SIGNATURE_INVALID', 'the signature does not match');
  const expected = fromBase64(given);
  const method = req.method.toUpperCase();
  const urls = [req.url];
  const decoded = req.url.replace(DECODE, (m) => decodeURIComponent(m));
  if (decoded !== req.url) urls.push(decoded);
  let match = false;
  // Every candidate is computed and compared, so the time taken does not say which one matched.
  for (const url of urls) {
    const actual = await hmac(clientSecret, `${method}${url}${req.rawBody}${timestamp}`);
    match = bytesEqual(actual, expected) || match;
  }
  return match ? { ok: true } : reject('SIGNATURE_INVALID', 'the signature does not match');
}

function reject(code: string, message: string): WebhookVerdict {
  return { ok: false, status: 401, code, message };
}

async function hmac(secret: string, text: string): Promise<Uint8Array> {
  const subtle = globalThis.crypto.subtle;
  const key = await subtle.importKey('raw', utf8(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await subtle.sign('HMAC', key, utf8(text)));
}
