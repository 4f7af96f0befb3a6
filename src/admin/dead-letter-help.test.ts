import { describe, expect, it } from 'vitest';
import type { AuditEntry } from '../core/types.ts';
import { explain } from './dead-letter-help.ts';
import { collapse } from './pages/audit.ts';
import { recordUrl } from './pages/people.ts';

describe('dead letters in words', () => {
  it.each([
    [
      'INVALID_REQUEST: HubSpot answered (HTTP 400 VALIDATION_ERROR [PROPERTY_DOESNT_EXIST property no_such])',
      'missing-property',
    ],
    ['RECORD_REJECTED: Salesforce rejected the record (INVALID_FIELD)', 'missing-field'],
    ['UNAUTHORIZED: HubSpot answered (HTTP 401)', 'credentials'],
    ['FORBIDDEN: HubSpot answered (HTTP 403 MISSING_SCOPES)', 'permission'],
    ['RATE_LIMITED: HubSpot daily API limit reached (HTTP 429 DAILY)', 'rate-limit'],
    ['FORBIDDEN: Salesforce answered (HTTP 403 REQUEST_LIMIT_EXCEEDED)', 'rate-limit'],
    ['RECORD_REJECTED: HubSpot rejected the record (VALIDATION_ERROR, INVALID_OPTION)', 'invalid-value'],
    ['RECORD_REJECTED: HubSpot rejected the record (no category)', 'record-rejected'],
    ['NOT_FOUND: HubSpot has no such contact', 'record-gone'],
    ['NETWORK: no answer (timeout after 10000 ms)', 'network'],
    ['SERVER_ERROR: HTTP 503', 'vendor-outage'],
    ['cancelled: connector salesforce not enabled', 'connector-off'],
    ['something nobody has seen', 'unknown'],
    [null, 'unknown'],
  ])('%s → %s', (error, cause) => {
    const e = explain(error);
    expect(e.cause).toBe(cause);
    expect(e.what.length).toBeGreaterThan(10);
    expect(e.fix.length).toBeGreaterThan(10);
  });
});

describe('audit rows', () => {
  const entry = (id: string, actor: string, action: string): AuditEntry => ({
    id,
    at: `2026-03-02T09:0${id}:00.000Z`,
    actor,
    role: 'operator',
    action,
    target: null,
    details: {},
  });
  it("collapses consecutive sign-ins of one key, never another key's or other actions", () => {
    const rows = collapse([
      entry('5', 'k1', 'console.sign_in'),
      entry('4', 'k1', 'console.sign_in'),
      entry('3', 'k2', 'console.sign_in'),
      entry('2', 'k1', 'job.retry'),
      entry('1', 'k1', 'job.retry'),
    ]);
    expect(rows.map((r) => [r.entry.id, r.count, r.firstAt.slice(14, 16)])).toEqual([
      ['5', 2, '04'],
      ['3', 1, '03'],
      ['2', 1, '02'],
      ['1', 1, '01'],
    ]);
  });
});

describe('CRM record links', () => {
  const config = (url = 'https://login.salesforce.com') => ({ SALESFORCE_LOGIN_URL: url });
  it('Salesforce records open on the My Domain; HubSpot and the generic login host get no link', () => {
    const link = { connector: 'salesforce', objectType: 'Contact', remoteId: '003000000000001AAA' };
    expect(recordUrl(config('https://example.my.salesforce.com'), link)).toBe(
      'https://example.my.salesforce.com/lightning/r/Contact/003000000000001AAA/view',
    );
    expect(recordUrl(config(), link)).toBeNull();
    expect(
      recordUrl(config('https://example.my.salesforce.com'), { ...link, connector: 'hubspot' }),
    ).toBeNull();
  });
});
