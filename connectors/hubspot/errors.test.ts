import { describe, expect, it } from 'vitest';
import { recordError, toConnectorError } from './errors.ts';

const PHONE = '+447700900001'; // example number (UK drama range)
const NOW = Date.parse('2024-02-26T22:29:58.741Z');
const apiError = (code: number, body: unknown, headers: Record<string, string> = {}) =>
  Object.assign(new Error(`HTTP-Code: ${code}\nBody: ${JSON.stringify(body)}`), { code, body, headers });

describe('toConnectorError', () => {
  it('waits Retry-After on a 429, else 10 s for TEN_SECONDLY_ROLLING and 1 s for the search limit', () => {
    const rolling = { status: 'error', policyName: 'TEN_SECONDLY_ROLLING', correlationId: 'c-1' };
    expect(toConnectorError(apiError(429, rolling, { 'Retry-After': '3' }), NOW)).toMatchObject({
      code: 'RATE_LIMITED',
      retryable: true,
      retryAfterMs: 3_000,
      status: 429,
      vendorCode: 'TEN_SECONDLY_ROLLING',
    });
    expect(toConnectorError(apiError(429, rolling), NOW).retryAfterMs).toBe(10_000);
    expect(
      toConnectorError(apiError(429, { message: 'You have reached your secondly limit.' }), NOW).retryAfterMs,
    ).toBe(1_000);
    expect(toConnectorError(apiError(429, {}), NOW).retryAfterMs).toBeNull();
  });

  it('puts a DAILY limit off to the next full UTC hour plus a minute', () => {
    const daily = toConnectorError(apiError(429, { policyName: 'DAILY' }), NOW);
    expect(daily).toMatchObject({ code: 'RATE_LIMITED', retryable: true, vendorCode: 'DAILY' });
    expect(new Date(NOW + (daily.retryAfterMs ?? 0)).toISOString()).toBe('2024-02-26T23:01:00.000Z');
  });

  it('classifies by status and category', () => {
    const cases: Array<[number, unknown, string, boolean]> = [
      [400, { category: 'VALIDATION_ERROR' }, 'INVALID_REQUEST', false],
      [401, { category: 'INVALID_AUTHENTICATION' }, 'UNAUTHORIZED', false],
      [403, { category: 'MISSING_SCOPES' }, 'FORBIDDEN', false],
      [404, { category: 'OBJECT_NOT_FOUND' }, 'NOT_FOUND', false],
      [409, { category: 'CONFLICT' }, 'CONFLICT', false],
      [500, { message: 'internal error' }, 'SERVER_ERROR', true],
      [502, '<html>502 Bad Gateway</html>', 'SERVER_ERROR', true],
      [503, '', 'SERVER_ERROR', true],
    ];
    for (const [status, body, code, retryable] of cases) {
      expect(toConnectorError(apiError(status, body), NOW)).toMatchObject({ code, retryable, status });
    }
  });

  it('keeps category, error codes, property names and correlationId, never the message or values', () => {
    const body = {
      status: 'error',
      category: 'VALIDATION_ERROR',
      correlationId: '0b9c2a5e-aaaa-4bbb-8ccc-123456789abc',
      message: `Property values were not valid: ${PHONE} was not one of the allowed options`,
      errors: [
        {
          code: 'INVALID_OPTION',
          message: `${PHONE} was not valid`,
          context: { propertyName: ['whatsapp_opted_out'] },
        }, // example number
        { code: PHONE.slice(1), context: { propertyName: [PHONE.slice(1)] } },
      ],
    };
    const error = toConnectorError(apiError(400, body), NOW);
    expect(error.message).toBe(
      'HubSpot answered (HTTP 400 VALIDATION_ERROR [INVALID_OPTION whatsapp_opted_out], correlationId 0b9c2a5e-aaaa-4bbb-8ccc-123456789abc)',
    );
    expect(JSON.stringify(error)).not.toContain(PHONE.slice(3, 9));
  });

  it('turns node-fetch failures and timeouts into retryable NETWORK errors, and anything else into UNEXPECTED', () => {
    const fetchError = Object.assign(
      new Error('request to http://127.0.0.1:1/x failed, reason: socket hang up'),
      {
        name: 'FetchError',
        code: 'ECONNRESET',
      },
    );
    expect(toConnectorError(fetchError, NOW)).toMatchObject({
      code: 'NETWORK',
      retryable: true,
      status: null,
    });
    expect(toConnectorError(fetchError, NOW).message).not.toContain('127.0.0.1');
    const timeout = new DOMException('timed out', 'TimeoutError');
    expect(toConnectorError(timeout, NOW, 500).message).toBe('request timed out after 500 ms');
    expect(toConnectorError(new SyntaxError('Unexpected token < in JSON'), NOW)).toMatchObject({
      code: 'UNEXPECTED',
      retryable: true,
      message: 'unreadable HubSpot response (SyntaxError)',
    });
  });
});

describe('recordError', () => {
  it('maps OBJECT_NOT_FOUND to NOT_FOUND and anything else to RECORD_REJECTED, neither retryable', () => {
    expect(
      recordError({ status: 'error', category: 'OBJECT_NOT_FOUND', context: { ids: ['1'] } }),
    ).toMatchObject({
      code: 'NOT_FOUND',
      retryable: false,
      status: 207,
    });
    const rejected = recordError({
      category: 'VALIDATION_ERROR',
      message: 'Property values were not valid: Example Person',
      errors: [{ code: 'INVALID_OPTION' }],
    });
    expect(rejected).toMatchObject({
      code: 'RECORD_REJECTED',
      retryable: false,
      vendorCode: 'VALIDATION_ERROR',
    });
    expect(rejected.message).toBe('HubSpot rejected the record (VALIDATION_ERROR, INVALID_OPTION)');
    expect(recordError(null).message).toBe('HubSpot rejected the record (no category)');
  });
});
