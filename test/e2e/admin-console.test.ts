/**
 * The web console over HTTP (issue 7): cookie sessions, CSRF, what each role sees, phone masking,
 * mapping edits through the validated and audited path, dead-letter retry, erasure receipts and
 * the activity chart. Real SQLite file, real app, the CRM simulators where a CRM is needed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PAGES } from '../../src/admin/layout.ts';
import { ROLES, type Role } from '../../src/config.ts';
import { csrfOf, form, signIn } from '../helpers/console.ts';
import { type CrmHarness, startCrmHarness } from '../helpers/crm.ts';
import { type Harness, json, startHarness, TOKENS } from '../helpers/harness.ts';
import { textMessage } from '../helpers/whatsapp.ts';

// Fictitious numbers only.
const PHONE = '+4915123456780';
const WA = '4915123456780';
const STUCK = '+4915123456782';
const ts = () => String(Math.floor(Date.now() / 1000));
/** A WhatsApp timestamp on the harness clock. */
const at = (x: Harness) => String(Math.floor(x.now().getTime() / 1000));

let h: Harness | CrmHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function plain(): Promise<Harness> {
  h = await startHarness();
  return h;
}
async function crm(): Promise<CrmHarness> {
  const x = await startCrmHarness({ enable: ['hubspot'] });
  h = x;
  return x;
}
const fetcher = (x: Harness) => (path: string, init?: RequestInit) => x.request(path, init);
const session = (x: Harness, role: Role) => signIn(fetcher(x), TOKENS[role]);
const auditActions = async (x: Harness) => (await x.services.store.listAudit(100)).map((e) => e.action);

async function optIn(x: Harness, phone = PHONE, wa = WA) {
  await x.request('/v1/consents', {
    method: 'POST',
    role: 'intake',
    json: {
      phone,
      purposes: ['marketing'],
      locale: 'en',
      evidence: { formUrl: 'https://shop.example/form' },
    },
  });
  await x.webhook(textMessage(wa, 'YES', { timestamp: at(x) }));
  await x.drain();
}

describe('console sign-in', () => {
  it('a good key opens a Secure, HttpOnly, SameSite=Strict session on /admin for 8 hours', async () => {
    const x = await plain();
    const s = await session(x, 'operator');
    const attrs = s.setCookie.split(';').map((a) => a.trim().toLowerCase());
    expect(attrs).toEqual(
      expect.arrayContaining(['secure', 'httponly', 'samesite=strict', 'path=/admin', 'max-age=28800']),
    );
    // The cookie holds the key sealed, never in clear.
    expect(s.cookie).not.toContain(TOKENS.operator);
    const page = await (await s.get('/admin')).text();
    expect(page).toContain('signed in as <strong>operator</strong>');
    expect(await auditActions(x)).toContain('console.sign_in');
  });

  it('the sign-in page warns when it came over plain HTTP from anywhere but localhost', async () => {
    const x = await plain();
    const warning = 'browsers keep the sign-in cookie only over HTTPS';
    expect(await (await x.request('/admin/login')).text()).not.toContain(warning);
    expect(await (await x.request('http://consent.example/admin/login')).text()).toContain(warning);
    const proxied = await x.request('http://consent.example/admin/login', {
      headers: { 'x-forwarded-proto': 'https' },
    });
    expect(await proxied.text()).not.toContain(warning);
  });

  it('a bad key is refused, audited without the key, and sets no cookie', async () => {
    const x = await plain();
    const bad = 'not-a-real-key-0123456789';
    const res = await x.request('/admin/login', form({ key: bad }));
    expect(res.status).toBe(401);
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(await res.text()).toContain('That key was not accepted.');
    const [entry] = await x.services.store.listAudit(1);
    expect(entry).toMatchObject({ action: 'console.sign_in_failed', actor: 'anonymous', role: 'none' });
    expect(JSON.stringify(entry)).not.toContain(bad);
    expect(x.logs.join('')).not.toContain(bad);
    // Without a session every page sends the browser to the sign-in page.
    const page = await x.request('/admin/people');
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/admin/login');
  });

  it('a session ends after 8 hours, and a tampered cookie is no session', async () => {
    const x = await plain();
    const s = await session(x, 'auditor');
    x.advance(8 * 3_600_000 - 60_000);
    expect((await s.get('/admin/audit')).status).toBe(200);
    x.advance(120_000);
    const expired = await s.get('/admin/audit');
    expect(expired.status).toBe(303);
    expect(expired.headers.get('location')).toBe('/admin/login');
    expect(expired.headers.get('set-cookie')).toMatch(/Max-Age=0/);

    const fresh = await session(x, 'auditor');
    const [name, value] = fresh.cookie.split('=') as [string, string];
    const flipped = `${name}=${value.slice(0, 20)}${value[20] === 'A' ? 'B' : 'A'}${value.slice(21)}`;
    const res = await x.request('/admin/audit', { headers: { cookie: flipped } });
    expect(res.status).toBe(303);
  });

  it('a key revoked through the API ends its console session at the next request', async () => {
    const x = await plain();
    const created = await json<{ id: string; token: string }>(
      await x.request('/v1/keys', {
        method: 'POST',
        role: 'admin',
        json: { role: 'operator', label: 'console' },
      }),
    );
    const s = await signIn(fetcher(x), created.token);
    expect((await s.get('/admin/sync')).status).toBe(200);
    const revoked = await x.request(`/v1/keys/${created.id}`, { method: 'DELETE', role: 'admin' });
    expect(revoked.status).toBeLessThan(300);
    const after = await s.get('/admin/sync');
    expect(after.status).toBe(303);
    expect(after.headers.get('location')).toBe('/admin/login');
  });

  it('signing out clears the cookie and is audited', async () => {
    const x = await plain();
    const s = await session(x, 'editor');
    const res = await s.post('/admin/logout');
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/admin/login?signed_out=1');
    expect(res.headers.get('set-cookie')).toMatch(/^consent_sync_console=;.*Max-Age=0/);
    expect(await auditActions(x)).toContain('console.sign_out');
  });
});

describe('console roles', () => {
  it('each role sees only its pages, in the navigation and by URL (403 otherwise)', async () => {
    const x = await plain();
    for (const role of ROLES) {
      const s = await session(x, role);
      const home = await (await s.get('/admin')).text();
      for (const page of Object.values(PAGES)) {
        const may = role === 'admin' || (page.roles as readonly Role[]).includes(role);
        const res = await s.get(page.path);
        expect(res.status, `${role} ${page.path}`).toBe(may ? 200 : 403);
        expect(home.includes(`href="${page.path}"`), `${role} nav ${page.path}`).toBe(may);
      }
    }
  });

  it('numbers are masked for operators, shown in full to auditors and admins; only they see the timeline', async () => {
    const x = await plain();
    await optIn(x);
    const lookup = async (role: Role) => {
      const s = await session(x, role);
      const res = await s.post('/admin/people', { phone: WA });
      expect(res.status).toBe(200);
      return res.text();
    };
    const operator = await lookup('operator');
    expect(operator).toContain('+49151•••••780');
    expect(operator).not.toContain(PHONE);
    expect(operator).not.toContain(WA);
    expect(operator).toMatch(/data-purpose="marketing">.*opted in/s);
    expect(operator).not.toContain('<ol class="timeline">');
    for (const role of ['auditor', 'admin'] as const) {
      const page = await lookup(role);
      expect(page).toContain(`<h2>${PHONE}</h2>`);
      expect(page).toContain('<ol class="timeline">');
      // The exact wording shown, with its version and evidence.
      expect(page).toContain('https://shop.example/form');
      expect(page).toMatch(
        /Wording shown \(version <code>[^<]+<\/code>\):<blockquote>[^<]{20,}<\/blockquote>/,
      );
    }
    const s = await session(x, 'operator');
    const bad = await s.post('/admin/people', { phone: 'call me' });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('Enter an E.164 number');
  });
});

describe('console forms', () => {
  it('reject a missing, wrong, foreign or cross-site token with 403 and change nothing', async () => {
    const x = await crm();
    const before = x.services.mappings.get('hubspot');
    const draft = JSON.stringify({ ...before, fields: before.fields.slice(0, -1) });
    const editor = await session(x, 'editor');
    const other = await session(x, 'editor');
    const attempts: Array<[string, Promise<Response>]> = [
      ['no token', editor.post('/admin/mappings/hubspot/save', { mapping: draft }, null)],
      ['wrong token', editor.post('/admin/mappings/hubspot/save', { mapping: draft }, 'f'.repeat(64))],
      [
        "another session's token",
        editor.post('/admin/mappings/hubspot/save', { mapping: draft }, other.csrf),
      ],
      [
        'another origin',
        x.request('/admin/mappings/hubspot/save', {
          ...form({ mapping: draft, csrf: editor.csrf }),
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            cookie: editor.cookie,
            origin: 'https://evil.example',
          },
        }),
      ],
      [
        'a cross-site fetch',
        x.request('/admin/mappings/hubspot/save', {
          ...form({ mapping: draft, csrf: editor.csrf }),
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            cookie: editor.cookie,
            'sec-fetch-site': 'cross-site',
          },
        }),
      ],
    ];
    for (const [what, res] of attempts) expect((await res).status, what).toBe(403);
    expect(x.services.mappings.get('hubspot')).toEqual(before);
    expect(await auditActions(x)).not.toContain('mapping.replace');
    // The same form with the session's own token goes through.
    const ok = await editor.post('/admin/mappings/hubspot/save', { mapping: draft });
    expect(ok.status).toBe(303);
    expect(x.services.mappings.get('hubspot').fields).toHaveLength(before.fields.length - 1);
  });

  it('a mapping with an error is shown next to its field and changes nothing; a good one is diffed, saved, audited, in force', async () => {
    const x = await crm();
    const s = await session(x, 'editor');
    const before = x.services.mappings.get('hubspot');
    const bad = structuredClone(before) as unknown as { fields: Array<Record<string, unknown>> };
    bad.fields[2] = { ...bad.fields[2], local: 'marketing.phone' };
    const checked = await s.post('/admin/mappings/hubspot/check', { mapping: JSON.stringify(bad) });
    expect(checked.status).toBe(422);
    const page = await checked.text();
    expect(page).toMatch(
      /<tr class="has-issue" data-field="2">[\s\S]*?<code>fields\.2\.local<\/code>: must be optedOut/,
    );
    expect(page).toContain('nothing was saved');
    // Saving it anyway goes through PUT /v1/mappings and is refused there too.
    const forced = await s.post('/admin/mappings/hubspot/save', { mapping: JSON.stringify(bad) });
    expect(forced.status).toBe(422);
    const syntax = await s.post('/admin/mappings/hubspot/check', { mapping: '{"fields": [' });
    expect(syntax.status).toBe(422);
    expect(await syntax.text()).toContain('Not valid JSON');
    expect(x.services.mappings.get('hubspot')).toEqual(before);

    const good = structuredClone(before);
    good.fields = good.fields.filter((f) => f.remote !== 'whatsapp_consent_text_version');
    const diff = await s.post('/admin/mappings/hubspot/check', { mapping: JSON.stringify(good) });
    expect(diff.status).toBe(200);
    const diffPage = await diff.text();
    expect(diffPage).toMatch(
      /<span class="del">- +&quot;remote&quot;: &quot;whatsapp_consent_text_version&quot;,<\/span>/,
    );
    expect(x.services.mappings.get('hubspot')).toEqual(before); // checking saves nothing
    const confirm =
      /<form method="post" action="\/admin\/mappings\/hubspot\/save">[\s\S]*?name="mapping" value="([^"]*)"/.exec(
        diffPage,
      );
    const draft = confirm?.[1]?.replaceAll('&quot;', '"').replaceAll('&amp;', '&') ?? '';
    // What the draft would send, before saving it.
    const underDraft = await (
      await s.post('/admin/mappings/hubspot/preview', { mapping: draft, phone: PHONE })
    ).text();
    const result = underDraft.slice(underDraft.indexOf('<div class="preview-result">'));
    expect(result).toContain('Under your draft (not saved).');
    expect(result).toContain('<code>whatsapp_consent_source</code></td>');
    expect(result).not.toContain('<code>whatsapp_consent_text_version</code></td>');
    expect(x.services.mappings.get('hubspot')).toEqual(before);
    const saved = await s.post('/admin/mappings/hubspot/save', { mapping: draft });
    expect(saved.status).toBe(303);
    expect(saved.headers.get('location')).toBe('/admin/mappings/hubspot?saved=1');
    expect(await (await s.get('/admin/mappings/hubspot?saved=1')).text()).toContain(
      'The new mapping is in force.',
    );
    // In force at once: the preview (same service as the API's) no longer sends the field. An editor
    // previews example states: a number typed into the form is not used (finding 4).
    const preview = await (
      await s.post('/admin/mappings/hubspot/preview', { phone: PHONE, 'status.marketing': 'opted_in' })
    ).text();
    expect(preview).toContain('whatsapp_consent_source');
    expect(preview).not.toContain('<code>whatsapp_consent_text_version</code></td>');
    expect(preview).toContain('For a person in these example states');
    expect(preview).toContain('<code>&quot;granted&quot;</code>');
    expect(preview).not.toContain('780');
    const [entry] = (await x.services.store.listAudit(50)).filter((e) => e.action === 'mapping.replace');
    expect(entry?.role).toBe('editor');
    expect(JSON.stringify(entry?.details.before)).toContain('whatsapp_consent_text_version');
    expect(JSON.stringify(entry?.details.after)).not.toContain('whatsapp_consent_text_version');
    // The audit log page shows who did it and the change.
    const auditor = await session(x, 'auditor');
    const log = await (await auditor.get('/admin/audit')).text();
    expect(log).toMatch(
      /data-action="mapping.replace">[\s\S]*?<td>editor<\/td>[\s\S]*?whatsapp_consent_text_version/,
    );
  });

  it('an editor cannot save admin-only settings or preview a person; an admin can (issue 14, finding 4)', async () => {
    const x = await crm();
    await optIn(x);
    const editor = await session(x, 'editor');
    const before = x.services.mappings.get('hubspot');
    const policy = JSON.stringify({ ...before, trustOptIn: true });
    const refused = await editor.post('/admin/mappings/hubspot/save', { mapping: policy });
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain('only an admin may change trustOptIn');
    expect(x.services.mappings.get('hubspot')).toEqual(before);
    // The editor's preview form has no number field, and a number posted anyway is not looked up.
    const page = await (await editor.get('/admin/mappings/hubspot')).text();
    expect(page).toContain('name="status.marketing"');
    expect(page).not.toContain('name="phone"');
    const known = await (await editor.post('/admin/mappings/hubspot/preview', { phone: PHONE })).text();
    const unknown = await (
      await editor.post('/admin/mappings/hubspot/preview', { phone: '+4915123450000' })
    ).text();
    const result = (p: string) =>
      p.slice(
        p.indexOf('<div class="preview-result">'),
        p.indexOf('</section>', p.indexOf('<div class="preview-result">')),
      );
    expect(result(known)).toEqual(result(unknown));
    expect(known).not.toContain('known here');

    const admin = await session(x, 'admin');
    expect(await (await admin.get('/admin/mappings/hubspot')).text()).toContain('name="phone"');
    const byPhone = await (await admin.post('/admin/mappings/hubspot/preview', { phone: PHONE })).text();
    expect(byPhone).toContain(`For <strong>${PHONE}</strong>: known here`);
    expect(byPhone).toContain('<code>&quot;granted&quot;</code>');
    expect((await admin.post('/admin/mappings/hubspot/save', { mapping: policy })).status).toBe(303);
    expect(x.services.mappings.get('hubspot').trustOptIn).toBe(true);
  });

  it('a dead letter is retried from sync health and reaches HubSpot', async () => {
    const x = await crm();
    const contact = x.hubspot.addContact({ mobilephone: PHONE, firstname: 'Example' });
    x.hubspot.failRecord(contact, 1);
    await x.webhook(textMessage(WA, 'STOP', { timestamp: ts() }));
    await x.settle();
    const [dead] = await x.services.store.listJobs({ status: 'dead' });
    expect(dead?.kind).toBe('sync.hubspot');
    const s = await session(x, 'operator');
    const page = await (await s.get('/admin/sync')).text();
    expect(page).toMatch(
      /<tr data-kind="sync.hubspot"><td><code>sync.hubspot<\/code><\/td><td>0<\/td>[\s\S]*?<td>1<\/td><\/tr>/,
    );
    expect(page).toContain(`action="/admin/sync/jobs/${dead?.id}/retry"`);
    expect(page).toContain('RECORD_REJECTED');
    expect((await s.post(`/admin/sync/jobs/${dead?.id}/retry`, {}, null)).status).toBe(403);
    expect((await x.services.store.getJob(dead!.id))?.status).toBe('dead');
    const res = await s.post(`/admin/sync/jobs/${dead?.id}/retry`);
    expect(res.status).toBe(303);
    await x.settle();
    expect(x.hubspot.getContact(contact)?.whatsapp_opted_out).toBe('true');
    expect((await x.services.store.getJob(dead!.id))?.status).toBe('done');
    expect(await auditActions(x)).toContain('job.retry');
    // A second retry of a job that is no longer dead is refused as the API refuses it.
    expect((await s.post(`/admin/sync/jobs/${dead?.id}/retry`)).status).toBe(409);
  });
});

describe('console views', () => {
  it('erasures show per-system status and overdue ones; the receipt downloads as the API serves it', async () => {
    const x = await plain();
    await optIn(x);
    x.services.dispatcher.pause();
    const opened = await json<{ id: string }>(
      await x.request('/v1/erasures', { method: 'POST', role: 'operator', json: { phone: PHONE } }),
    );
    x.advance(31 * 86_400_000);
    const s = await session(x, 'operator');
    const open = await (await s.get('/admin/erasures')).text();
    expect(open).toMatch(new RegExp(`<tr class="overdue" data-erasure="${opened.id}">`));
    expect(open).toContain('local: <span class="badge pending">pending</span>');
    expect(open).toContain('1 erasure(s) are overdue');
    expect((await s.get(`/admin/erasures/${opened.id}/receipt`)).status).toBe(409);
    await x.services.dispatcher.resume();
    await x.drain();
    const done = await (await s.get('/admin/erasures')).text();
    expect(done).toContain(`href="/admin/erasures/${opened.id}/receipt"`);
    const receipt = await s.get(`/admin/erasures/${opened.id}/receipt`);
    expect(receipt.status).toBe(200);
    expect(receipt.headers.get('content-disposition')).toBe(
      `attachment; filename="erasure-receipt-${opened.id}.json"`,
    );
    const api = await x.request(`/v1/erasures/${opened.id}/receipt`, { role: 'operator' });
    expect(await receipt.json()).toEqual(await api.json());
  });

  it('the activity chart draws consent changes by source and opt-outs per day', async () => {
    const x = await plain();
    await optIn(x);
    await x.webhook(textMessage(WA, 'STOP', { timestamp: at(x) }));
    await x.drain();
    const s = await session(x, 'auditor');
    const page = await (await s.get('/admin/activity')).text();
    const today = x.now().toISOString().slice(0, 10);
    // Today: requested (form), confirmed (WhatsApp), and a STOP that opted out of both purposes.
    expect(page).toMatch(
      new RegExp(
        `<g class="bar" data-day="${today}" data-total="4"><title>${today}: form 1, whatsapp 3</title>`,
      ),
    );
    expect(page).toMatch(new RegExp(`id="optouts-chart"[\\s\\S]*data-day="${today}" data-total="2"`));
    // 30 bars per chart, the other days empty.
    expect(page.match(/<g class="bar"/g)).toHaveLength(60);
    expect(page).toContain('4 consent change(s), 2 opt-out(s)');
  });

  it('the compliance page shows the checklist and the record, and downloads it as Markdown', async () => {
    const x = await plain();
    const s = await session(x, 'auditor');
    const page = await (await s.get('/admin/compliance')).text();
    expect(page).toContain('GDPR checklist');
    expect(page.match(/<tr data-check="/g)?.length).toBeGreaterThan(3);
    expect(page).toContain('Record of processing (Art. 30)');
    expect(page).toContain('data-recipient="whatsapp"');
    const md = await s.get('/admin/compliance/record');
    expect(md.status).toBe(200);
    expect(md.headers.get('content-disposition')).toMatch(/^attachment; filename="record-of-processing-/);
    expect(await md.text()).toMatch(/^# Record of processing activities/);
    expect((await (await session(x, 'operator')).get('/admin/compliance')).status).toBe(403);
  });

  it('pages carry a strict Content-Security-Policy and are not cached', async () => {
    const x = await plain();
    const s = await session(x, 'admin');
    const res = await s.get('/admin/activity');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(csrfOf(await res.text())).toBe(s.csrf);
  });
});

describe('console: identities and unreadable events', () => {
  it('People finds a person by BSUID and lists how they are known; Sync health lists unreadable events', async () => {
    const x = await plain();
    const b = 'DE.7000000000000000901'; // fictitious BSUID
    // A signed delivery with a BSUID-only STOP and one message Meta's schema would never produce.
    const stop = textMessage({ waId: WA, userId: b }, 'STOP', { timestamp: at(x) });
    const broken = { ...textMessage(WA, 'hello'), value: { messages: [{ type: 'text', id: 42 }] } };
    const res = await x.webhook(stop, broken);
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ stored: 1, skipped: 1 });
    const operator = await session(x, 'operator');
    const page = await (await operator.post('/admin/people', { phone: b })).text();
    expect(page).toContain('DE.•••••01');
    expect(page).not.toContain(b);
    expect(page).toMatch(/data-kind="bsuid">.*WhatsApp BSUID/s);
    expect(page).toMatch(/data-kind="phone">.*phone number/s);
    expect(page).toMatch(/data-purpose="marketing">.*opted out/s);
    const sync = await (await operator.get('/admin/sync')).text();
    expect(sync).toContain('Unreadable webhook events');
    expect(sync).toMatch(/data-dead-event="[^"]+">.*whatsapp.*message.*messages\[0\]/s);
    // Operators see why, not the event; admins (and auditors, through the API) may open the event itself.
    expect(sync).not.toContain('event as received');
    const admin = await session(x, 'admin');
    expect(await (await admin.get('/admin/sync')).text()).toContain('event as received');
  });
});

describe('console pages that do the work (issue 16)', () => {
  it('the overview shows status tiles, each for the roles that may open its page, and verifies the ledger on request', async () => {
    const x = await crm();
    await optIn(x);
    const contact = x.hubspot.addContact({ mobilephone: STUCK, firstname: 'Example' });
    x.hubspot.failRecord(contact);
    await x.webhook(textMessage(STUCK.slice(1), 'STOP', { timestamp: ts() }));
    await x.settle();
    x.services.dispatcher.pause();
    await x.request('/v1/erasures', { method: 'POST', role: 'operator', json: { phone: PHONE } });
    x.advance(31 * 86_400_000);
    const operator = await (await (await session(x, 'operator')).get('/admin')).text();
    const tile = (page: string, id: string) =>
      new RegExp(`<a class="tile ([a-z]+)" href="([^"]+)" data-tile="${id}">([\\s\\S]*?)</a>`).exec(page);
    expect(tile(operator, 'people')?.[2]).toBe('/admin/people');
    expect(tile(operator, 'people')?.[3]).toMatch(
      /<tr data-purpose="marketing"><td>marketing<\/td><td>1<\/td>/,
    );
    expect(tile(operator, 'dead-letters')?.slice(1, 3)).toEqual(['bad', '/admin/sync']);
    expect(tile(operator, 'dead-letters')?.[3]).toContain('<span class="big">1</span>');
    expect(tile(operator, 'queues')?.[3]).toContain('data-kind="sync.hubspot"');
    expect(tile(operator, 'erasures')?.slice(1, 3)).toEqual(['bad', '/admin/erasures']);
    expect(tile(operator, 'erasures')?.[3]).toContain('<span class="big">1</span>');
    // Opt-outs are counted by the day they happened (the clock moved 31 days on): none today.
    expect(tile(operator, 'opt-outs')?.[3]).toContain('0 today');
    // Operators may not open the compliance page: no ledger or checklist tile, no verify button.
    expect(tile(operator, 'ledger')).toBeNull();
    expect(operator).not.toContain('/admin/ledger/verify');

    const auditor = await session(x, 'auditor');
    const before = await (await auditor.get('/admin')).text();
    expect(tile(before, 'ledger')?.[1]).toBe('warn');
    expect(tile(before, 'ledger')?.[3]).toContain('not yet');
    expect(tile(before, 'checklist')?.[3]).toMatch(/[1-9]\d* failing/);
    expect(tile(before, 'dead-letters')).toBeNull();
    const verified = await auditor.post('/admin/ledger/verify');
    expect(verified.status).toBe(303);
    expect(verified.headers.get('location')).toBe('/admin?verified=ok');
    const after = await (await auditor.get('/admin?verified=ok')).text();
    expect(tile(after, 'ledger')?.[1]).toBe('good');
    expect(tile(after, 'ledger')?.[3]).toMatch(/intact[\s\S]*\d+ events verified/);
    const [entry] = await x.services.store.listAudit(1, { action: 'ledger.verify' });
    expect(entry?.details).toMatchObject({ ok: true });
    // Verifying is the auditors' (and admins'); an operator's POST is refused and records nothing.
    expect((await (await session(x, 'operator')).post('/admin/ledger/verify')).status).toBe(403);
    expect(await x.services.store.listAudit(10, { action: 'ledger.verify' })).toHaveLength(1);
    // Intake keys have no console pages: no tiles.
    const intake = await (await (await session(x, 'intake')).get('/admin')).text();
    expect(intake).not.toContain('data-tile=');
    expect(intake).toContain('has no console pages');
  });

  it('People: an operator opts a person out and starts an erasure; an auditor downloads the Art. 15 export; CRM records listed', async () => {
    const x = await crm();
    const contact = x.hubspot.addContact({ mobilephone: PHONE, firstname: 'Example' });
    await optIn(x);
    await x.settle();
    const operator = await session(x, 'operator');
    const page = await (await operator.post('/admin/people', { phone: PHONE })).text();
    const subject = /name="subject" value="([^"]+)"/.exec(page)?.[1] ?? '';
    expect(subject).not.toBe('');
    expect(page).not.toContain(PHONE);
    expect(page).toContain('action="/admin/people/opt-out"');
    expect(page).toContain('action="/admin/people/erase"');
    expect(page).not.toContain('action="/admin/people/export"');
    expect(page).toMatch(new RegExp(`<li data-link="hubspot">hubspot contacts? ${contact}`));

    const out = await operator.post('/admin/people/opt-out', { subject, purpose: 'marketing' });
    expect(out.status).toBe(200);
    const outPage = await out.text();
    expect(outPage).toContain('Opted out of marketing.');
    expect(outPage).toMatch(/data-purpose="marketing">.*opted out/s);
    const state = await json<{ purposes: Record<string, { status: string }> }>(
      await x.request(`/v1/subjects/${encodeURIComponent(PHONE)}`, { role: 'operator' }),
    );
    expect(state.purposes.marketing?.status).toBe('opted_out');
    // A forged form (no token) changes nothing.
    expect((await operator.post('/admin/people/erase', { subject, confirm: 'yes' }, null)).status).toBe(403);
    // Without the confirmation nothing starts.
    const unconfirmed = await (await operator.post('/admin/people/erase', { subject })).text();
    expect(unconfirmed).toContain('Tick the confirmation');
    expect((await x.services.store.listErasures({ limit: 10 })).length).toBe(0);

    const auditor = await session(x, 'auditor');
    const auditorPage = await (await auditor.post('/admin/people', { phone: PHONE })).text();
    expect(auditorPage).toContain('action="/admin/people/export"');
    expect(auditorPage).not.toContain('action="/admin/people/opt-out"');
    const exported = await auditor.post('/admin/people/export', { subject });
    expect(exported.status).toBe(200);
    expect(exported.headers.get('content-disposition')).toMatch(/^attachment; filename="art15-export-/);
    expect(((await exported.json()) as { person: { phone: string } }).person.phone).toBe(PHONE);
    // Operators may not export (as GET /v1/subjects/{phone}/export), nor may auditors opt out.
    expect((await operator.post('/admin/people/export', { subject })).status).toBe(403);
    expect((await auditor.post('/admin/people/opt-out', { subject })).status).toBe(403);

    const erased = await operator.post('/admin/people/erase', { subject, confirm: 'yes' });
    expect(await erased.text()).toContain('started: follow it on');
    expect((await x.services.store.listErasures({ limit: 10 })).length).toBe(1);
    expect(await auditActions(x)).toEqual(expect.arrayContaining(['erasure.request', 'subject.export']));
  });

  it('People keeps a number it could not read in the field', async () => {
    const x = await plain();
    const s = await session(x, 'operator');
    const res = await s.post('/admin/people', { phone: '+49 151 not a number' });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('value="+49 151 not a number"');
  });

  it('dead letters name the person (masked), say what happened and how to fix it; Retry says how it ended; Retry all', async () => {
    const x = await crm();
    const contact = x.hubspot.addContact({ mobilephone: STUCK, firstname: 'Example' });
    x.hubspot.failRecord(contact, 2);
    await x.webhook(textMessage(STUCK.slice(1), 'STOP', { timestamp: ts() }));
    await x.settle();
    const [dead] = await x.services.store.listJobs({ status: 'dead' });
    const s = await session(x, 'operator');
    const page = await (await s.get('/admin/sync')).text();
    const row = new RegExp(`<tr data-job="${dead?.id}">([\\s\\S]*?)</tr>`).exec(page)?.[1] ?? '';
    expect(row).toContain('<td class="person">+49151•••••782</td>');
    // the simulator rejects with HubSpot's INVALID_OPTION: named as such, not as a bare rejection
    expect(row).toContain('data-cause="invalid-value"');
    expect(row).toContain('Fix: ');
    expect(page).not.toContain(STUCK);
    // The first retry fails again (the simulator rejects the record once more): the page says so.
    const again = await s.post(`/admin/sync/jobs/${dead?.id}/retry`);
    expect(again.status).toBe(303);
    const failedPage = await (await s.get(again.headers.get('location') ?? '')).text();
    expect(failedPage).toContain('data-outcome="dead"');
    expect(failedPage).toContain('Retried, and it failed again');
    // Retry all: this time it goes through.
    const all = await s.post('/admin/sync/retry-all');
    expect(all.headers.get('location')).toBe('/admin/sync?retried_all=1&done=1&dead=0');
    expect(await (await s.get(all.headers.get('location') ?? '')).text()).toContain(
      'Retried 1 dead letter(s): 1 done, 0 failed again',
    );
    expect(x.hubspot.getContact(contact)?.whatsapp_opted_out).toBe('true');
  });

  it('Erasures: one is started by number after a confirmation; a typo keeps the field and starts nothing', async () => {
    const x = await plain();
    await optIn(x);
    const s = await session(x, 'operator');
    const page = await (await s.get('/admin/erasures')).text();
    expect(page).toContain('id="start-erasure"');
    const unconfirmed = await s.post('/admin/erasures', { phone: PHONE });
    expect(unconfirmed.status).toBe(400);
    const typo = await s.post('/admin/erasures', { phone: '+49 15x', confirm: 'yes' });
    expect(typo.status).toBe(400);
    expect(await typo.text()).toContain('value="+49 15x"');
    expect(await x.services.store.listErasures({ limit: 10 })).toHaveLength(0);
    const started = await s.post('/admin/erasures', { phone: PHONE, confirm: 'yes' });
    expect(started.status).toBe(303);
    const [erasure] = await x.services.store.listErasures({ limit: 10 });
    expect(started.headers.get('location')).toBe(`/admin/erasures?started=${erasure?.id}`);
    expect(
      (await (await session(x, 'auditor')).post('/admin/erasures', { phone: PHONE, confirm: 'yes' })).status,
    ).toBe(403);
  });

  it('API keys: an admin creates one (token shown once), it signs in, and revoking it ends that', async () => {
    const x = await plain();
    const admin = await session(x, 'admin');
    const created = await admin.post('/admin/keys', { role: 'auditor', label: 'DPO laptop' });
    expect(created.status).toBe(201);
    const page = await created.text();
    const token = /id="token" readonly value="([^"]+)"/.exec(page)?.[1] ?? '';
    expect(token.length).toBeGreaterThan(20);
    const id = /Key id <code>([^<]+)<\/code>/.exec(page)?.[1] ?? '';
    const list = await (await admin.get('/admin/keys')).text();
    expect(list).toContain(`data-key="${id}"`);
    expect(list).toContain('DPO laptop');
    expect(list).not.toContain(token);
    const dpo = await signIn(fetcher(x), token);
    expect((await dpo.get('/admin/audit')).status).toBe(200);
    // A bad label is refused with the API's reason and keeps what was typed.
    const bad = await admin.post('/admin/keys', { role: 'auditor', label: '' });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('The key was not created');
    const revoked = await admin.post(`/admin/keys/${id}/revoke`);
    expect(revoked.status).toBe(303);
    expect((await dpo.get('/admin/audit')).status).toBe(303);
    // API_KEYS keys live in the configuration: no revoke button, and a forced POST is refused (409).
    const envId = /data-key="([^"]+)"[^>]*>[\s\S]*?remove it from API_KEYS/.exec(list)?.[1] ?? '';
    expect((await admin.post(`/admin/keys/${envId}/revoke`)).status).toBe(409);
    expect(await auditActions(x)).toEqual(expect.arrayContaining(['apikey.create', 'apikey.revoke']));
    expect((await (await session(x, 'auditor')).get('/admin/keys')).status).toBe(403);
  });

  it('the audit log filters by key, action and date, collapses repeated sign-ins and shows details as key/value', async () => {
    const x = await crm();
    for (let i = 0; i < 3; i++) await session(x, 'operator');
    const contact = x.hubspot.addContact({ mobilephone: STUCK, firstname: 'Example' });
    x.hubspot.failRecord(contact, 1);
    await x.webhook(textMessage(STUCK.slice(1), 'STOP', { timestamp: ts() }));
    await x.settle();
    const [dead] = await x.services.store.listJobs({ status: 'dead' });
    await x.request(`/v1/sync/jobs/${dead?.id}/retry`, { method: 'POST', role: 'operator' });
    const s = await session(x, 'auditor');
    const page = await (await s.get('/admin/audit')).text();
    // the three operator sign-ins are one row; the auditor's own sign-in another
    expect(page).toMatch(/data-action="console.sign_in" data-count="3">/);
    expect(page).toMatch(
      /data-action="job.retry">[\s\S]*?<dl class="kv details"><dt>kind<\/dt><dd>sync.hubspot<\/dd><\/dl>/,
    );
    const only = await (await s.get('/admin/audit?action=job.retry')).text();
    expect(only.match(/<tr data-action=/g)).toHaveLength(1);
    const today = x.now().toISOString().slice(0, 10);
    const none = await (await s.get('/admin/audit?from=2000-01-01&to=2000-01-02')).text();
    expect(none.match(/<tr data-action=/g)).toBeNull();
    const day = await (await s.get(`/admin/audit?from=${today}&to=${today}`)).text();
    expect(day.match(/<tr data-action=/g)?.length).toBeGreaterThan(1);
    const badDate = await (await s.get('/admin/audit?from=yesterday')).text();
    expect(badDate).toContain('Not understood, so not applied: from');
  });

  it('compliance: the summary and failures come first, sections fold, and fail badges are red', async () => {
    const x = await plain();
    const s = await session(x, 'auditor');
    const page = await (await s.get('/admin/compliance')).text();
    const summary = page.indexOf('class="card summary"');
    expect(summary).toBeGreaterThan(-1);
    expect(summary).toBeLessThan(page.indexOf('GDPR checklist'));
    expect(page).toContain('<details class="section card" open id="checklist">');
    expect(page).toContain('<details class="section card" id="record">');
    expect(page).toMatch(/<ul class="failing"><li><a href="#check-/);
    expect(page).toContain('<span class="badge fail">fail</span>');
    const css = await (await x.request('/admin/console.css')).text();
    // the page says `fail`; the stylesheet used to colour only `.badge.failed`
    expect(css).toMatch(/\.badge\.fail[,\s][^{]*\{[^}]*color:var\(--bad\)/);
  });
});
