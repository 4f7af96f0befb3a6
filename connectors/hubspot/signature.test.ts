import { Signature } from '@hubspot/api-client';
import { describe, expect, it } from 'vitest';
import { hubspotWebhookRequest, signHubSpotV3 } from '../../test/sim/hubspot.ts';
import type { WebhookRequest } from '../types.ts';
import { MAX_SKEW_MS, signV3, verifyV3 } from './signature.ts';

const SECRET = 'sim-client-secret';
const URL_WITH_QUERY = 'https://consent.example.com/webhooks/hubspot?portal=12345678&x=a%20b';
const NOW = 1_708_986_599_647;
const BODY =
  '[{"eventId":1,"subscriptionId":2,"portalId":3,"occurredAt":1708986598741,"subscriptionType":"contact.deletion","attemptNumber":0,"objectId":512}]';

const signed = (
  over: { url?: string; timestamp?: number; now?: number; secret?: string; body?: string } = {},
) =>
  hubspotWebhookRequest({
    url: over.url ?? URL_WITH_QUERY,
    secret: over.secret ?? SECRET,
    body: over.body ?? BODY,
    timestamp: over.timestamp ?? NOW,
    now: over.now ?? NOW,
  });

const withHeader = (req: WebhookRequest, name: string, value: string | null): WebhookRequest => {
  const headers = new Headers(req.headers);
  if (value === null) headers.delete(name);
  else headers.set(name, value);
  return { ...req, headers };
};

const code = async (req: WebhookRequest, secret: string | null = SECRET) => {
  const verdict = await verifyV3(req, secret);
  return verdict.ok ? 'ok' : `${verdict.status} ${verdict.code}`;
};

describe('HubSpot signature v3', () => {
  it('signs exactly like the SDK and the simulator (node:crypto)', async () => {
    const input = { method: 'POST', url: URL_WITH_QUERY, body: BODY, timestamp: NOW, secret: SECRET };
    const ours = await signV3(input);
    expect(ours).toBe(signHubSpotV3(input));
    expect(ours).toBe(
      Signature.getSignature('POST', 'v3', {
        signature: '',
        clientSecret: SECRET,
        requestBody: BODY,
        url: URL_WITH_QUERY,
        timestamp: NOW,
      }),
    );
  });

  it('accepts a correctly signed request, query string included', async () => {
    expect(await code(signed())).toBe('ok');
    expect(await code({ ...signed(), method: 'post' })).toBe('ok');
  });

  it('rejects a wrong secret, a tampered body, URL or method', async () => {
    expect(await code(signed({ secret: 'other-secret' }))).toBe('401 SIGNATURE_INVALID');
    expect(await code({ ...signed(), rawBody: BODY.replace('512', '513') })).toBe('401 SIGNATURE_INVALID');
    expect(await code({ ...signed(), url: URL_WITH_QUERY.split('?')[0] as string })).toBe(
      '401 SIGNATURE_INVALID',
    );
    expect(await code({ ...signed(), url: URL_WITH_QUERY.replace('portal=12345678', 'portal=1') })).toBe(
      '401 SIGNATURE_INVALID',
    );
    expect(await code({ ...signed(), method: 'PUT' })).toBe('401 SIGNATURE_INVALID');
  });

  it('rejects timestamps more than 5 minutes old or ahead, and accepts the edges', async () => {
    expect(await code(signed({ now: NOW + MAX_SKEW_MS }))).toBe('ok');
    expect(await code(signed({ now: NOW - MAX_SKEW_MS }))).toBe('ok');
    expect(await code(signed({ now: NOW + MAX_SKEW_MS + 1 }))).toBe('401 TIMESTAMP_EXPIRED');
    expect(await code(signed({ now: NOW - MAX_SKEW_MS - 1 }))).toBe('401 TIMESTAMP_IN_FUTURE');
  });

  it('rejects a timestamp that is not a number, even when signed with it', async () => {
    const req = signed();
    expect(await code(withHeader(req, 'x-hubspot-request-timestamp', '1708986599.647'))).toBe(
      '401 TIMESTAMP_INVALID',
    );
    expect(await code(withHeader(req, 'x-hubspot-request-timestamp', 'abc'))).toBe('401 TIMESTAMP_INVALID');
    // A timestamp in seconds is 50 years old in milliseconds.
    expect(await code(withHeader(req, 'x-hubspot-request-timestamp', String(Math.floor(NOW / 1000))))).toBe(
      '401 TIMESTAMP_EXPIRED',
    );
  });

  it('rejects missing headers and malformed signatures', async () => {
    const req = signed();
    expect(await code(withHeader(req, 'x-hubspot-signature-v3', null))).toBe('401 SIGNATURE_MISSING');
    expect(await code(withHeader(req, 'x-hubspot-request-timestamp', null))).toBe('401 SIGNATURE_MISSING');
    expect(await code(withHeader(req, 'x-hubspot-signature-v3', 'not base64!'))).toBe(
      '401 SIGNATURE_INVALID',
    );
    // The v1 signature alone is not enough.
    const v1Only = withHeader(req, 'x-hubspot-signature-v3', req.headers.get('x-hubspot-signature'));
    expect(await code(v1Only)).toBe('401 SIGNATURE_INVALID');
  });

  it('says WEBHOOK_NOT_CONFIGURED without a client secret, whatever the request', async () => {
    expect(await code(signed(), null)).toBe('401 WEBHOOK_NOT_CONFIGURED');
    expect(await code(signed({ secret: '' }), '')).toBe('401 WEBHOOK_NOT_CONFIGURED');
  });

  it('also accepts the URL with the characters HubSpot decodes before hashing', async () => {
    const encoded = 'https://consent.example.com/webhooks/hubspot?next=%2Fdone%3Fa%3Ab';
    const decoded = 'https://consent.example.com/webhooks/hubspot?next=/done?a:b';
    const req = { ...signed({ url: decoded }), url: encoded };
    expect(await code(req)).toBe('ok');
    expect(await code(signed({ url: encoded }))).toBe('ok');
  });
});
