/**
 * Who may call what: every registered route × every role, no token and a wrong token, against the
 * contract in ARCHITECTURE.md. The table must cover exactly the routes the app registers.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConnectorName } from '../../connectors/types.ts';
import { ROLES, type Role } from '../../src/config.ts';
import type { Mapping } from '../../src/core/mapping.ts';
import { createApp } from '../../src/http/app.ts';
import { form, signIn } from '../helpers/console.ts';
import { startCrmHarness } from '../helpers/crm.ts';
import { APP_SECRET, type Harness, json, startHarness, TOKENS, VERIFY_TOKEN } from '../helpers/harness.ts';
import { envelope, signedRequest, textMessage } from '../helpers/whatsapp.ts';

// Fictitious numbers only.
const PHONE = '+4915123456780';
const WA = '4915123456780';
const P = encodeURIComponent(PHONE);

/**
 * `public`: anyone; `signed`: Meta's HMAC, bearer tokens play no part; `vendor`: a CRM's own
 * signature or secret (checked in crm-sync.test.ts), bearer tokens play no part, and with no CRM
 * configured here the route answers 404 to everyone; `{ console }`: the web console, where the
 * caller signs in with its key and uses the cookie session (forms carry its CSRF token), bearer
 * tokens play no part, no session (or a forged cookie) is sent to the sign-in page, and only the
 * roles listed may use it (403 otherwise); else the roles allowed.
 */
type Access = 'public' | 'signed' | 'vendor' | { console: readonly Role[] } | readonly Role[];
type Caller = Role | 'none' | 'wrong';
const CALLERS: readonly Caller[] = [...ROLES, 'none', 'wrong'];

interface Row {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** the pattern as Hono registers it */
  pattern: string;
  url: string;
  access: Access;
  /** a minimal valid JSON body */
  body?: unknown;
  /** a form body (console routes) */
  form?: Record<string, string>;
}

const ALL_ROLES = { console: ROLES };

const TABLE: Row[] = [
  { method: 'GET', pattern: '/healthz', url: '/healthz', access: 'public' },
  { method: 'GET', pattern: '/openapi.json', url: '/openapi.json', access: 'public' },
  { method: 'GET', pattern: '/docs', url: '/docs', access: 'public' },
  // The web console (cookie session; CSRF and roles checked in depth in admin-console.test.ts).
  { method: 'GET', pattern: '/admin/console.css', url: '/admin/console.css', access: 'public' },
  { method: 'GET', pattern: '/admin/mappings.css', url: '/admin/mappings.css', access: 'public' },
  { method: 'GET', pattern: '/admin/login', url: '/admin/login', access: 'public' },
  {
    method: 'POST',
    pattern: '/admin/login',
    url: '/admin/login',
    access: 'public',
    form: { key: TOKENS.auditor },
  },
  { method: 'POST', pattern: '/admin/logout', url: '/admin/logout', access: ALL_ROLES },
  { method: 'GET', pattern: '/admin', url: '/admin', access: ALL_ROLES },
  { method: 'GET', pattern: '/admin/mappings', url: '/admin/mappings', access: { console: ['editor'] } },
  {
    method: 'GET',
    pattern: '/admin/mappings/:connector',
    url: '/admin/mappings/hubspot',
    access: { console: ['editor'] },
  },
  ...(['check', 'save', 'preview'] as const).map(
    (action): Row => ({
      method: 'POST',
      pattern: `/admin/mappings/:connector/${action}`,
      url: `/admin/mappings/hubspot/${action}`,
      access: { console: ['editor'] },
      form: { mapping: '{}', phone: PHONE },
    }),
  ),
  {
    method: 'GET',
    pattern: '/admin/people',
    url: '/admin/people',
    access: { console: ['operator', 'auditor'] },
  },
  {
    method: 'POST',
    pattern: '/admin/people',
    url: '/admin/people',
    access: { console: ['operator', 'auditor'] },
    form: { phone: PHONE },
  },
  {
    method: 'POST',
    pattern: '/admin/ledger/verify',
    url: '/admin/ledger/verify',
    access: { console: ['auditor'] },
  },
  ...(['opt-out', 'erase'] as const).map(
    (action): Row => ({
      method: 'POST',
      pattern: `/admin/people/${action}`,
      url: `/admin/people/${action}`,
      access: { console: ['operator'] },
      form: { subject: 'no-such-subject' },
    }),
  ),
  {
    method: 'POST',
    pattern: '/admin/people/export',
    url: '/admin/people/export',
    access: { console: ['auditor'] },
    form: { subject: 'no-such-subject' },
  },
  {
    method: 'POST',
    pattern: '/admin/sync/retry-all',
    url: '/admin/sync/retry-all',
    access: { console: ['operator'] },
  },
  {
    method: 'POST',
    pattern: '/admin/erasures',
    url: '/admin/erasures',
    access: { console: ['operator'] },
    form: { phone: 'not a number', confirm: 'yes' },
  },
  { method: 'GET', pattern: '/admin/keys', url: '/admin/keys', access: { console: [] } },
  {
    method: 'POST',
    pattern: '/admin/keys',
    url: '/admin/keys',
    access: { console: [] },
    form: { role: 'auditor', label: 'access matrix' },
  },
  {
    method: 'POST',
    pattern: '/admin/keys/:id/revoke',
    url: '/admin/keys/0123456789ab/revoke',
    access: { console: [] },
  },
  { method: 'GET', pattern: '/admin/sync', url: '/admin/sync', access: { console: ['operator'] } },
  {
    method: 'POST',
    pattern: '/admin/sync/jobs/:id/retry',
    url: '/admin/sync/jobs/no-such-job/retry',
    access: { console: ['operator'] },
  },
  { method: 'GET', pattern: '/admin/erasures', url: '/admin/erasures', access: { console: ['operator'] } },
  {
    method: 'GET',
    pattern: '/admin/erasures/:id/receipt',
    url: '/admin/erasures/no-such-id/receipt',
    access: { console: ['operator'] },
  },
  {
    method: 'GET',
    pattern: '/admin/activity',
    url: '/admin/activity',
    access: { console: ['operator', 'auditor'] },
  },
  { method: 'GET', pattern: '/admin/audit', url: '/admin/audit', access: { console: ['auditor'] } },
  { method: 'GET', pattern: '/admin/compliance', url: '/admin/compliance', access: { console: ['auditor'] } },
  {
    method: 'GET',
    pattern: '/admin/compliance/record',
    url: '/admin/compliance/record',
    access: { console: ['auditor'] },
  },
  {
    method: 'GET',
    pattern: '/webhooks/whatsapp',
    url: `/webhooks/whatsapp?hub.mode=subscribe&hub.challenge=8812&hub.verify_token=${VERIFY_TOKEN}`,
    access: 'public',
  },
  { method: 'POST', pattern: '/webhooks/whatsapp', url: '/webhooks/whatsapp', access: 'signed' },
  { method: 'POST', pattern: '/webhooks/hubspot', url: '/webhooks/hubspot', access: 'vendor', body: [] },
  {
    method: 'POST',
    pattern: '/webhooks/salesforce',
    url: '/webhooks/salesforce',
    access: 'vendor',
    body: {},
  },
  {
    method: 'POST',
    pattern: '/v1/consents',
    url: '/v1/consents',
    access: ['intake', 'admin'],
    body: { phone: PHONE, purposes: ['marketing'] },
  },
  {
    method: 'GET',
    pattern: '/v1/subjects/:phone',
    url: `/v1/subjects/${P}`,
    access: ['operator', 'auditor', 'admin'],
  },
  {
    method: 'GET',
    pattern: '/v1/subjects/:phone/history',
    url: `/v1/subjects/${P}/history`,
    access: ['auditor', 'admin'],
  },
  {
    method: 'POST',
    pattern: '/v1/subjects/:phone/opt-out',
    url: `/v1/subjects/${P}/opt-out`,
    access: ['operator', 'admin'],
    body: { purposes: ['marketing'] },
  },
  {
    method: 'POST',
    pattern: '/v1/messages',
    url: '/v1/messages',
    access: ['operator', 'admin'],
    body: { phone: PHONE, purpose: 'transactional', text: 'Your parcel is on its way.' },
  },
  {
    method: 'GET',
    pattern: '/v1/subjects/:phone/export',
    url: `/v1/subjects/${P}/export`,
    // the complete Art. 15 copy holds the decrypted evidence of the history (finding 7)
    access: ['auditor', 'admin'],
  },
  {
    method: 'POST',
    pattern: '/v1/erasures',
    url: '/v1/erasures',
    access: ['operator', 'admin'],
    body: { phone: '+4915123456781' },
  },
  { method: 'GET', pattern: '/v1/erasures', url: '/v1/erasures', access: ['operator', 'admin'] },
  {
    method: 'GET',
    pattern: '/v1/erasures/:id',
    url: '/v1/erasures/no-such-id',
    access: ['operator', 'admin'],
  },
  {
    method: 'GET',
    pattern: '/v1/erasures/:id/receipt',
    url: '/v1/erasures/no-such-id/receipt',
    access: ['operator', 'admin'],
  },
  { method: 'GET', pattern: '/v1/ledger/verify', url: '/v1/ledger/verify', access: ['auditor', 'admin'] },
  { method: 'GET', pattern: '/v1/sync/jobs', url: '/v1/sync/jobs', access: ['operator', 'admin'] },
  {
    method: 'GET',
    pattern: '/v1/dead-events',
    url: '/v1/dead-events',
    access: ['operator', 'auditor', 'admin'],
  },
  {
    method: 'GET',
    pattern: '/v1/mappings/:connector',
    url: '/v1/mappings/hubspot',
    access: ['editor', 'admin'],
  },
  {
    method: 'PUT',
    pattern: '/v1/mappings/:connector',
    url: '/v1/mappings/hubspot',
    access: ['editor', 'admin'],
  },
  {
    method: 'POST',
    pattern: '/v1/mappings/:connector/preview',
    url: '/v1/mappings/salesforce/preview',
    access: ['editor', 'admin'],
    body: { example: { marketing: { status: 'opted_in' } } },
  },
  {
    method: 'POST',
    pattern: '/v1/sync/jobs/:id/retry',
    url: '/v1/sync/jobs/no-such-job/retry',
    access: ['operator', 'admin'],
  },
  {
    method: 'POST',
    pattern: '/v1/keys',
    url: '/v1/keys',
    access: ['admin'],
    body: { role: 'auditor', label: 'access matrix' },
  },
  { method: 'GET', pattern: '/v1/keys', url: '/v1/keys', access: ['admin'] },
  { method: 'DELETE', pattern: '/v1/keys/:id', url: '/v1/keys/0123456789ab', access: ['admin'] },
  { method: 'GET', pattern: '/v1/compliance', url: '/v1/compliance', access: ['auditor', 'admin'] },
  {
    method: 'GET',
    pattern: '/v1/compliance/record',
    url: '/v1/compliance/record',
    access: ['auditor', 'admin'],
  },
];

/** A token of the right shape that no key has. */
const WRONG_TOKEN = 'test-nobody-token-0123456789';

function authHeader(caller: Caller): Record<string, string> {
  if (caller === 'none') return {};
  return { authorization: `Bearer ${caller === 'wrong' ? WRONG_TOKEN : TOKENS[caller]}` };
}

let h: Harness;
beforeEach(async () => {
  // Dozens of wrong tokens from one client in a minute: the contract of each route is what this file
  // checks, so failed-authentication throttling (test/e2e/auth-throttle.test.ts) is off here.
  h = await startHarness({ env: { AUTH_FAILURES_PER_MINUTE: '0', AUTH_KEY_FAILURES_PER_MINUTE: '0' } });
});
afterEach(async () => {
  await h.close();
});

/** A console route: signed in as the caller (none: no cookie; wrong: a forged one). */
async function callConsole(row: Row, caller: Caller) {
  const fetch = (path: string, init?: RequestInit) => h.request(path, init);
  if (caller === 'none' || caller === 'wrong') {
    const headers = caller === 'wrong' ? { cookie: `consent_sync_console=${'A'.repeat(80)}` } : {};
    return row.method === 'GET'
      ? h.request(row.url, { headers })
      : h.request(row.url, { ...form(row.form ?? {}), headers: { ...form({}).headers, ...headers } });
  }
  const s = await signIn(fetch, TOKENS[caller]);
  return row.method === 'GET' ? s.get(row.url) : s.post(row.url, row.form ?? {});
}

async function call(row: Row, caller: Caller, opts: { signed?: boolean; body?: unknown } = {}) {
  if (isConsole(row.access)) return callConsole(row, caller);
  const headers: Record<string, string> = { ...authHeader(caller) };
  if (row.form) {
    return h.request(row.url, { ...form(row.form), headers: { ...form({}).headers, ...headers } });
  }
  let body: string | undefined;
  if (row.access === 'signed') {
    const req = await signedRequest(envelope(textMessage(WA, 'hello there')), APP_SECRET);
    body = req.body;
    headers['content-type'] = req.headers['content-type'];
    if (opts.signed !== false) headers['x-hub-signature-256'] = req.headers['x-hub-signature-256'];
  } else {
    const b = opts.body ?? row.body;
    if (b !== undefined) {
      body = JSON.stringify(b);
      headers['content-type'] = 'application/json';
    }
  }
  return h.request(row.url, { method: row.method, headers, ...(body !== undefined ? { body } : {}) });
}

type Expect = 'ok' | 401 | 403 | 'sign-in';

const isConsole = (a: Access): a is { console: readonly Role[] } => typeof a === 'object' && 'console' in a;

/**
 * What the contract says this caller gets. `ok` = not 401/403, not a 5xx and not sent to the
 * sign-in page; `sign-in` = a 303 to /admin/login.
 */
function expected(access: Access, caller: Caller): Expect | 404 {
  if (access === 'vendor') return 404;
  if (access === 'public' || access === 'signed') return 'ok';
  if (isConsole(access)) {
    if (caller === 'none' || caller === 'wrong') return 'sign-in';
    return caller === 'admin' || access.console.includes(caller) ? 'ok' : 403;
  }
  if (caller === 'none' || caller === 'wrong') return 401;
  return caller === 'admin' || access.includes(caller) ? 'ok' : 403;
}

describe('access matrix', () => {
  it('every route × every caller gets what the contract says', async () => {
    const mismatches: string[] = [];
    let checked = 0;
    for (const row of TABLE) {
      for (const caller of CALLERS) {
        const want = expected(row.access, caller);
        const res = await call(row, caller);
        const got = res.status;
        checked++;
        const label = `${row.method} ${row.pattern} as ${caller}`;
        const toSignIn = got === 303 && res.headers.get('location') === '/admin/login';
        if (want === 'ok') {
          if (got === 401 || got === 403 || got >= 500 || toSignIn)
            mismatches.push(`${label}: want ok, got ${got}`);
        } else if (want === 'sign-in') {
          if (!toSignIn) mismatches.push(`${label}: want a redirect to the sign-in page, got ${got}`);
        } else if (isConsole(row.access)) {
          // Console pages answer in HTML.
          if (got !== want) mismatches.push(`${label}: want ${want}, got ${got}`);
        } else {
          if (got !== want) {
            mismatches.push(`${label}: want ${want}, got ${got}`);
            continue;
          }
          const body = await json<{ error: { code: string; message: string } }>(res);
          const code = want === 401 ? 'UNAUTHORIZED' : want === 404 ? 'CONNECTOR_NOT_ENABLED' : 'FORBIDDEN';
          if (body.error?.code !== code) mismatches.push(`${label}: error code ${body.error?.code}`);
        }
        // A signed route ignores bearer tokens both ways: unsigned is 401 for every caller.
        if (row.access === 'signed') {
          const unsigned = await call(row, caller, { signed: false });
          if (unsigned.status !== 401) mismatches.push(`${label} unsigned: want 401, got ${unsigned.status}`);
        }
      }
    }
    expect(mismatches).toEqual([]);
    expect(checked).toBe(TABLE.length * CALLERS.length);
  });

  it('the table lists exactly the routes the app registers', () => {
    const app = createApp(h.services);
    const registered = new Set(
      app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path}`),
    );
    const table = new Set(TABLE.map((r) => `${r.method} ${r.pattern}`));
    expect(table.size, 'duplicate rows in the table').toBe(TABLE.length);
    expect(
      [...registered].filter((k) => !table.has(k)),
      'registered but not in the table',
    ).toEqual([]);
    expect(
      [...table].filter((k) => !registered.has(k)),
      'in the table but not registered',
    ).toEqual([]);
  });

  it('auth runs before validation: bad bodies still get 401/403, never 400', async () => {
    const garbage = { nonsense: true };
    for (const row of TABLE.filter((r) => r.body !== undefined && Array.isArray(r.access))) {
      expect((await call(row, 'none', { body: garbage })).status, row.pattern).toBe(401);
      const outsider = ROLES.find(
        (r) => r !== 'admin' && !(row.access as readonly Role[]).includes(r),
      ) as Role;
      expect((await call(row, outsider, { body: garbage })).status, row.pattern).toBe(403);
      expect((await call(row, 'admin', { body: garbage })).status, row.pattern).toBe(400);
    }
  });
});

describe('admin-only mapping settings and the editor preview (issue 14, finding 4)', () => {
  type Field = Mapping['fields'][number];
  const add = (m: Mapping, ...fields: Field[]): Mapping => ({ ...m, fields: [...m.fields, ...fields] });
  const pushOptOut: Omit<Field, 'remote'> = {
    local: 'optedOut',
    direction: 'push',
    transform: { type: 'boolean' },
  };

  it("an editor's PUT that changes policy gets 403 MAPPING_ADMIN_ONLY naming it and changes nothing; an admin's goes through", async () => {
    const x = await startCrmHarness();
    try {
      const put = (c: ConnectorName, role: Role, m: unknown) =>
        x.request(`/v1/mappings/${c}`, { method: 'PUT', role, json: m });
      const sf = structuredClone(x.services.mappings.get('salesforce'));
      const hs = structuredClone(x.services.mappings.get('hubspot'));
      const cases: Array<[string, ConnectorName, Mapping, string[]]> = [
        ['trustOptIn', 'salesforce', { ...sf, trustOptIn: true }, ['trustOptIn']],
        [
          'matching on User',
          'salesforce',
          { ...sf, match: { ...sf.match, objects: ['User'] } },
          ['match.objects'],
        ],
        [
          'another match field',
          'salesforce',
          // (the in-force mapping lists the match field in match.fields too, so both change)
          { ...sf, match: { ...sf.match, field: 'Phone', fields: ['Phone'] } },
          ['match.field', 'match.fields'],
        ],
        [
          'another match format',
          'hubspot',
          { ...hs, match: { ...hs.match, format: 'digits' } },
          ['match.format'],
        ],
        [
          'consent pulled from DoNotCall',
          'salesforce',
          add(
            { ...sf, allowStandardFields: ['DoNotCall'] },
            { local: 'optedOut', remote: 'DoNotCall', direction: 'pull', transform: { type: 'boolean' } },
          ),
          ['allowStandardFields', 'fields[DoNotCall]'],
        ],
        [
          'a value pushed into LastName',
          'salesforce',
          add(sf, {
            local: 'marketing.source',
            remote: 'LastName',
            direction: 'push',
            transform: { type: 'text' },
          }),
          ['fields[LastName]'],
        ],
        [
          'HasOptedOutOfEmail',
          'salesforce',
          add(sf, { ...pushOptOut, remote: 'HasOptedOutOfEmail' }),
          ['fields[HasOptedOutOfEmail]'],
        ],
        [
          "HubSpot's own opt-out",
          'hubspot',
          add(hs, { ...pushOptOut, remote: 'hs_email_optout' }),
          ['fields[hs_email_optout]'],
        ],
      ];
      for (const [what, c, m, adminOnly] of cases) {
        const before = structuredClone(x.services.mappings.get(c));
        const res = await put(c, 'editor', m);
        expect(res.status, what).toBe(403);
        const body = await json<{
          error: { code: string; message: string; details: { adminOnly: string[] } };
        }>(res);
        expect(body.error.code, what).toBe('MAPPING_ADMIN_ONLY');
        expect(body.error.details.adminOnly, what).toEqual(adminOnly);
        for (const name of adminOnly) expect(body.error.message, what).toContain(name);
        expect(x.services.mappings.get(c), what).toEqual(before);
      }
      expect((await x.services.store.listAudit(50)).map((a) => a.action)).not.toContain('mapping.replace');

      // An admin may; a standard field still needs the allow list, for admins too.
      expect((await put('salesforce', 'admin', { ...sf, trustOptIn: true })).status).toBe(200);
      const unlisted = await put(
        'salesforce',
        'admin',
        add(sf, { ...pushOptOut, remote: 'HasOptedOutOfEmail' }),
      );
      expect(unlisted.status).toBe(422);
      expect((await json<{ error: { message: string } }>(unlisted)).error.message).toContain(
        'allowStandardFields',
      );
      const allowed = add(
        { ...sf, trustOptIn: true, allowStandardFields: ['HasOptedOutOfEmail'] },
        { ...pushOptOut, remote: 'HasOptedOutOfEmail' },
      );
      expect((await put('salesforce', 'admin', allowed)).status).toBe(200);

      // The editor keeps the custom-field whitelist, around what the admin set.
      const inForce = structuredClone(x.services.mappings.get('salesforce'));
      const lessCustom = {
        ...inForce,
        fields: inForce.fields.filter((f) => f.remote !== 'WhatsApp_Consent_Source__c'),
      };
      expect((await put('salesforce', 'editor', lessCustom)).status).toBe(200);
      const withoutTheAdmins = {
        ...lessCustom,
        fields: lessCustom.fields.filter((f) => f.remote !== 'HasOptedOutOfEmail'),
      };
      const dropped = await put('salesforce', 'editor', withoutTheAdmins);
      expect(dropped.status).toBe(403);
      expect((await json<{ error: { code: string } }>(dropped)).error.code).toBe('MAPPING_ADMIN_ONLY');
      expect(x.services.mappings.get('salesforce').fields.map((f) => f.remote)).toContain(
        'HasOptedOutOfEmail',
      );
    } finally {
      await x.close();
    }
  });

  it('an editor previews example states and learns nothing about a number; an admin may preview a person', async () => {
    const x = await startCrmHarness({ enable: ['hubspot'] });
    try {
      const preview = (role: Role, body: unknown) =>
        x.request('/v1/mappings/hubspot/preview', { method: 'POST', role, json: body });
      const example = {
        marketing: { status: 'opted_in', changedAt: '2026-03-01T10:00:00.000Z' },
        transactional: { status: 'none' },
      };
      const first = await preview('editor', { example });
      expect(first.status).toBe(200);
      const answer = await json<Record<string, unknown>>(first);
      expect(answer).not.toHaveProperty('known');
      expect(answer).not.toHaveProperty('records');
      expect(answer).toMatchObject({
        example: true,
        properties: {
          whatsapp_marketing_consent: 'granted',
          whatsapp_marketing_consent_date: '2026-03-01T10:00:00.000Z',
          whatsapp_consent_source: 'whatsapp',
          whatsapp_consent_text_version: expect.stringMatching(/^marketing-/),
          whatsapp_transactional_consent: 'not_set',
          whatsapp_opted_out: false,
        },
      });

      // A person becomes known and opted in: an editor's preview cannot tell.
      x.hubspot.addContact({ mobilephone: PHONE });
      await x.request('/v1/consents', {
        method: 'POST',
        role: 'admin',
        json: { phone: PHONE, purposes: ['marketing'] },
      });
      await x.webhook(textMessage(WA, 'YES', { timestamp: String(Math.floor(x.now().getTime() / 1000)) }));
      await x.settle();
      expect(await json(await preview('editor', { example }))).toEqual(answer);
      const byPhone = await preview('editor', { phone: PHONE });
      expect(byPhone.status).toBe(403);
      const refusal = await byPhone.text();
      expect(JSON.parse(refusal)).toMatchObject({ error: { code: 'PREVIEW_BY_PHONE_ADMIN_ONLY' } });
      expect(refusal).not.toContain(WA);
      expect((await preview('editor', { phone: '+4915123450000' })).status).toBe(403);

      const admin = await preview('admin', { phone: PHONE });
      expect(admin.status).toBe(200);
      expect(await json(admin)).toMatchObject({
        example: false,
        known: true,
        records: [{ objectType: 'contact' }],
        properties: { whatsapp_marketing_consent: 'granted' },
      });

      expect((await preview('editor', {})).status).toBe(400);
      expect((await preview('admin', { phone: PHONE, example })).status).toBe(400);
      const unknown = await preview('editor', { example: { astrology: { status: 'opted_in' } } });
      expect(unknown.status).toBe(422);
      expect((await json<{ error: { code: string } }>(unknown)).error.code).toBe('UNKNOWN_PURPOSE');
    } finally {
      await x.close();
    }
  });
});

describe('the intake answer (issue 14, finding 5)', () => {
  /** Fictitious numbers, one per state. */
  const PEOPLE = {
    unknown: '+4915123456801',
    pending: '+4915123456802',
    optedIn: '+4915123456803',
    optedOut: '+4915123456804',
    erased: '+4915123456805',
  } as const;
  const ask = (phone: string, role: Role) =>
    h.request('/v1/consents', { method: 'POST', role, json: { phone, purposes: ['marketing'] } });
  const status = async (phone: string) =>
    (
      await json<{ purposes: Record<string, { status: string }> }>(
        await h.request(`/v1/subjects/${encodeURIComponent(phone)}`, { role: 'operator' }),
      )
    ).purposes.marketing?.status;

  it('intake gets the same 202 and body whatever the state; admin keeps the richer answer', async () => {
    await ask(PEOPLE.pending, 'admin');
    await ask(PEOPLE.optedIn, 'admin');
    h.advance(60_000);
    const timestamp = String(Math.floor(h.now().getTime() / 1000));
    await h.webhook(textMessage(PEOPLE.optedIn.slice(1), 'YES', { timestamp }));
    await h.request(`/v1/subjects/${encodeURIComponent(PEOPLE.optedOut)}/opt-out`, {
      method: 'POST',
      role: 'operator',
      json: {},
    });
    const erasure = await h.request('/v1/erasures', {
      method: 'POST',
      role: 'operator',
      json: { phone: PEOPLE.erased },
    });
    expect(erasure.status).toBe(202);
    expect(await status(PEOPLE.pending)).toBe('pending');
    expect(await status(PEOPLE.optedIn)).toBe('opted_in');
    expect(await status(PEOPLE.optedOut)).toBe('opted_out');

    const answers = new Map<string, string>();
    for (const [state, phone] of Object.entries(PEOPLE)) {
      const res = await ask(phone, 'intake');
      const headers = [...res.headers.keys()].filter((k) => k !== 'x-request-id').sort();
      answers.set(state, JSON.stringify({ status: res.status, headers, body: await res.json() }));
    }
    const distinct = [...new Set(answers.values())];
    expect(distinct, JSON.stringify(Object.fromEntries(answers))).toHaveLength(1);
    expect(JSON.parse(distinct[0] as string)).toMatchObject({
      status: 202,
      body: { status: 'accepted', purposes: ['marketing'] },
    });
    // The requests did what they do for anyone: a new person is pending, the erased one stays unknown.
    expect(await status(PEOPLE.unknown)).toBe('pending');
    expect(await status(PEOPLE.erased)).toBe('none');

    // Admin keys keep the answer that names the state.
    const optedIn = await ask(PEOPLE.optedIn, 'admin');
    expect(optedIn.status).toBe(200);
    expect(await json(optedIn)).toMatchObject({ confirmation: { status: 'not_needed' } });
    const erased = await ask(PEOPLE.erased, 'admin');
    expect(erased.status).toBe(409);
    expect((await json<{ error: { code: string } }>(erased)).error.code).toBe('ERASED');
  });
});

describe('bearer token handling', () => {
  const verify = (authorization: string | null) =>
    h.request('/v1/ledger/verify', { headers: authorization === null ? {} : { authorization } });
  const good = TOKENS.auditor;
  const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'x' ? 'y' : 'x') + s.slice(i + 1);

  it('tokens are compared in full', async () => {
    const rejected = [
      flip(good, 0),
      flip(good, Math.floor(good.length / 2)),
      flip(good, good.length - 1),
      good.slice(0, -1), // a prefix
      good.slice(0, 16),
      `${good}0`, // a valid token plus more
      good.toUpperCase(), // tokens are case-sensitive
      `${good},${TOKENS.admin}`,
    ];
    for (const token of rejected) {
      const res = await verify(`Bearer ${token}`);
      expect(res.status, token).toBe(401);
      const body = await json<{ error: { code: string; message: string } }>(res);
      expect(body.error.code).toBe('UNAUTHORIZED');
      expect(body.error.message).not.toContain(token);
    }
    expect((await verify(`Bearer ${good}`)).status).toBe(200);
  });

  it('documents how the Authorization header is read', async () => {
    const cases: Array<[string, string | null, number]> = [
      ['the usual form', `Bearer ${good}`, 200],
      ['the scheme is case-insensitive (RFC 9110)', `bearer ${good}`, 200],
      ['upper-case scheme', `BEARER ${good}`, 200],
      ['several spaces after the scheme', `Bearer    ${good}`, 200],
      ['a tab after the scheme', `Bearer\t${good}`, 200],
      ['trailing spaces (trimmed)', `Bearer ${good}   `, 200],
      ['leading spaces (trimmed by Headers)', `   Bearer ${good}`, 200],
      ['no header', null, 401],
      ['the token without a scheme', good, 401],
      ['another scheme', `Basic ${good}`, 401],
      ['no space after the scheme', `Bearer${good}`, 401],
      ['the scheme alone', 'Bearer', 401],
      ['the scheme and spaces', 'Bearer    ', 401],
      ['two tokens', `Bearer ${good} ${good}`, 401],
      ['a token with a space inside', `Bearer ${good.slice(0, 10)} ${good.slice(10)}`, 401],
    ];
    for (const [name, header, status] of cases) {
      expect((await verify(header)).status, name).toBe(status);
    }
  });

  it('a token in the query string is not accepted', async () => {
    expect((await h.request(`/v1/ledger/verify?access_token=${good}`)).status).toBe(401);
    expect((await h.request(`/v1/ledger/verify?token=${good}`)).status).toBe(401);
  });
});
