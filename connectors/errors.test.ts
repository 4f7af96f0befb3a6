import { describe, expect, it } from 'vitest';
import { classifyHttp, networkError, parseRetryAfter } from './errors.ts';

describe('parseRetryAfter', () => {
  const now = Date.parse('Wed, 21 Oct 2015 07:27:00 GMT');
  it('reads delay-seconds', () => {
    expect(parseRetryAfter('120')).toBe(120_000);
    expect(parseRetryAfter(' 0 ')).toBe(0);
  });
  it('reads an HTTP-date relative to now, never negative', () => {
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:26:00 GMT', now)).toBe(0);
  });
  it.each([null, undefined, '', '-1', '1.5', 'soon', '2015-10-21'])('gives null for %s', (v) => {
    expect(parseRetryAfter(v, now)).toBeNull();
  });
});

describe('classifyHttp', () => {
  it.each([
    [429, 'RATE_LIMITED', true],
    [408, 'TIMEOUT', true],
    [500, 'SERVER_ERROR', true],
    [503, 'SERVER_ERROR', true],
    [400, 'BAD_REQUEST', false],
    [401, 'UNAUTHORIZED', false],
    [403, 'FORBIDDEN', false],
    [404, 'NOT_FOUND', false],
    [418, 'HTTP_ERROR', false],
  ])('%i → %s (retryable %s)', (status, code, retryable) => {
    expect(classifyHttp(status)).toMatchObject({ code, retryable, status, vendorCode: null });
  });
  it('keeps Retry-After only for retryable statuses', () => {
    expect(classifyHttp(503, '5').retryAfterMs).toBe(5000);
    expect(classifyHttp(400, '5').retryAfterMs).toBeNull();
  });
});

describe('networkError', () => {
  it('names timeouts and keeps nothing from the cause', () => {
    const timeout = networkError(new DOMException('The operation timed out', 'TimeoutError'), 50);
    expect(timeout).toMatchObject({
      code: 'NETWORK',
      retryable: true,
      message: 'request timed out after 50 ms',
    });
    const other = networkError(new TypeError('fetch failed: connect ECONNREFUSED 10.0.0.1:443'));
    expect(other.message).toBe('network error (TypeError)');
  });
});
