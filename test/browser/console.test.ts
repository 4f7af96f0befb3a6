/**
 * The web console in real headless Chromium (Debian's `chromium`, driven by playwright-core)
 * against the real app on a loopback port, with the HubSpot simulator: sign in, a mapping edit
 * with a validation error then a good save, a person lookup, a dead-letter retry and a receipt
 * download; every console page at 1400 px and at 400 px, which must not scroll sideways. A
 * screenshot of every page goes to test/.artifacts/screens/ (git-ignored).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, SCREENS } from '../helpers/chromium.ts';
import { type CrmHarness, startCrmHarness } from '../helpers/crm.ts';
import { json, TOKENS } from '../helpers/harness.ts';
import { textMessage } from '../helpers/whatsapp.ts';

// Fictitious numbers only.
const PERSON = '+4915123456701';
const STUCK = '+4915123456702';
const ERASED = '+4915123456703';
const ts = () => String(Math.floor(Date.now() / 1000));

let h: CrmHarness;
let browser: Browser;
let stuckContact: string;

beforeAll(async () => {
  mkdirSync(SCREENS, { recursive: true });
  h = await startCrmHarness({ enable: ['hubspot'] });
  // A person who opted in on a form and confirmed on WhatsApp.
  await h.request('/v1/consents', {
    method: 'POST',
    role: 'intake',
    json: {
      phone: PERSON,
      purposes: ['marketing'],
      locale: 'en',
      evidence: { formUrl: 'https://shop.example/form' },
    },
  });
  await h.webhook(textMessage(PERSON.slice(1), 'YES', { timestamp: ts() }));
  // A STOP whose HubSpot write is rejected once: a dead letter.
  stuckContact = h.hubspot.addContact({ mobilephone: STUCK, firstname: 'Example' });
  h.hubspot.failRecord(stuckContact, 1);
  await h.webhook(textMessage(STUCK.slice(1), 'STOP', { timestamp: ts() }));
  // A finished erasure, with a receipt.
  await h.request('/v1/erasures', { method: 'POST', role: 'operator', json: { phone: ERASED } });
  await h.settle();
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

async function signedIn(role: keyof typeof TOKENS): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${h.url}/admin`);
  expect(new URL(page.url()).pathname).toBe('/admin/login');
  await page.fill('#key', TOKENS[role]);
  await go(page, 'button[type=submit]');
  expect(new URL(page.url()).pathname).toBe('/admin');
  expect(await text(page, '.who strong')).toBe(role);
  return { context, page };
}

/** Clicks something that submits a form or follows a link, and waits for the new page. */
async function go(page: Page, selector: string): Promise<void> {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
}
const text = async (page: Page, selector: string) =>
  (await page.locator(selector).first().textContent())?.trim();
const count = (page: Page, selector: string) => page.locator(selector).count();

const shot = (page: Page, name: string) =>
  page.screenshot({ path: join(SCREENS, `${name}.png`), fullPage: true });

// A browser on a busy 2-core CI machine: generous limits (each test takes a few seconds).
describe('console in Chromium', { timeout: 60_000 }, () => {
  it('signs in with a Secure, HttpOnly, SameSite=Strict cookie and signs out', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${h.url}/admin/login`);
    await shot(page, '01-sign-in');
    await page.fill('#key', 'not-a-key-0123456789abcdef');
    await go(page, 'button[type=submit]');
    expect(await text(page, '[role=alert]')).toBe('That key was not accepted.');
    expect(await context.cookies()).toEqual([]);
    await page.fill('#key', TOKENS.admin);
    await go(page, 'button[type=submit]');
    expect(new URL(page.url()).pathname).toBe('/admin');
    const [cookie] = await context.cookies();
    // Chromium keeps a Secure cookie from http://127.0.0.1 (a secure context).
    expect(cookie).toMatchObject({ path: '/admin', secure: true, httpOnly: true, sameSite: 'Strict' });
    expect(cookie!.expires * 1000 - Date.now()).toBeGreaterThan(7.9 * 3_600_000);
    // Scripts cannot read it.
    expect(await page.evaluate(() => document.cookie)).toBe('');
    await shot(page, '02-overview');
    for (const [path, name] of [
      ['/admin/mappings', '03-mappings'],
      ['/admin/audit', '04-audit'],
      ['/admin/activity', '05-activity'],
    ] as const) {
      await page.goto(`${h.url}${path}`);
      await shot(page, name);
    }
    expect(await count(page, 'svg#changes-chart g.bar')).toBe(30);
    await go(page, 'text=Sign out');
    expect(new URL(page.url()).pathname).toBe('/admin/login');
    expect(await context.cookies()).toEqual([]);
    await context.close();
  });

  it('edits a mapping: a validation error first, then a good save that is in force', async () => {
    const { context, page } = await signedIn('editor');
    await go(page, 'nav >> text=Mappings');
    await go(page, 'text=Edit, preview');
    const before = JSON.parse(await page.inputValue('#mapping')) as {
      fields: Array<Record<string, unknown>>;
    };
    const bad = structuredClone(before);
    bad.fields[0] = { ...bad.fields[0], direction: 'sideways' };
    await page.fill('#mapping', JSON.stringify(bad, null, 2));
    await go(page, 'text=Check and show the change');
    expect(await text(page, 'tr.has-issue[data-field="0"] td.issue')).toContain('fields.0.direction');
    expect(await text(page, '#mapping-errors')).toContain('nothing was saved');
    await shot(page, '06-mapping-error');
    expect(h.services.mappings.get('hubspot').fields[0]?.direction).toBe('both');

    const good = structuredClone(before);
    good.fields[3] = { ...good.fields[3], description: 'Where the last change came from (example edit).' };
    await page.fill('#mapping', JSON.stringify(good, null, 2));
    await go(page, 'text=Check and show the change');
    expect(await page.locator('pre.diff .add', { hasText: 'example edit' }).count()).toBe(1);
    await shot(page, '07-mapping-diff');
    await go(page, 'text=Save and put in force');
    expect(await text(page, '.notice')).toBe('Saved. The new mapping is in force.');
    expect(h.services.mappings.get('hubspot').fields[3]?.description).toBe(
      'Where the last change came from (example edit).',
    );
    // Editors preview example states, never a person's number (issue 14, finding 4).
    expect(await count(page, '#preview input[name=phone]')).toBe(0);
    await page.selectOption('#preview-status-marketing', 'opted_in');
    await go(page, '#preview button');
    expect(await text(page, '.preview-result')).toContain('whatsapp_marketing_consent');
    expect(await text(page, '.preview-result')).toContain('"granted"');
    await shot(page, '08-mapping-preview');
    await context.close();
  });

  it('looks up a person: states, masked number for an operator', async () => {
    const { context, page } = await signedIn('operator');
    await go(page, 'nav >> text=People');
    await page.fill('#phone', PERSON);
    await go(page, 'text=Look up');
    expect(await text(page, '#person h2')).toBe('+49151•••••701');
    expect(await text(page, 'tr[data-purpose=marketing] .badge')).toBe('opted in');
    expect(await count(page, 'ol.timeline')).toBe(0);
    await shot(page, '09-person-operator');
    await context.close();

    const auditor = await signedIn('auditor');
    await go(auditor.page, 'nav >> text=People');
    await auditor.page.fill('#phone', PERSON);
    await go(auditor.page, 'text=Look up');
    expect(await text(auditor.page, '#person h2')).toBe(PERSON);
    expect(await count(auditor.page, 'ol.timeline li')).toBe(2);
    expect((await text(auditor.page, 'ol.timeline blockquote'))?.length).toBeGreaterThan(20);
    await shot(auditor.page, '10-person-auditor');
    await auditor.context.close();
  });

  it('retries a dead letter, which then reaches HubSpot', async () => {
    const { context, page } = await signedIn('operator');
    await go(page, 'nav >> text=Sync health');
    expect(await count(page, 'table.dead tr[data-job]')).toBe(1);
    expect(await text(page, 'table.dead tr[data-job]')).toContain('RECORD_REJECTED');
    await shot(page, '11-sync-dead-letter');
    await go(page, 'table.dead button:has-text("Retry")');
    // the page waits for the dispatcher's pass and says how the retry ended
    expect(await text(page, '[data-outcome]')).toBe('Retried: done, the change was delivered.');
    await h.settle();
    expect(h.hubspot.getContact(stuckContact)?.whatsapp_opted_out).toBe('true');
    await page.goto(`${h.url}/admin/sync`);
    expect(await count(page, 'table.dead')).toBe(0);
    await shot(page, '12-sync-after-retry');
    await context.close();
  });

  it('downloads an erasure receipt', async () => {
    const { context, page } = await signedIn('operator');
    await go(page, 'nav >> text=Erasures');
    await shot(page, '13-erasures');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('text=Download receipt'),
    ]);
    expect(download.suggestedFilename()).toMatch(/^erasure-receipt-[0-9a-f-]+\.json$/);
    const receipt = JSON.parse(readFileSync((await download.path())!, 'utf8')) as { requestId: string };
    const list = await json<{ erasures: Array<{ id: string }> }>(
      await h.request('/v1/erasures', { role: 'operator' }),
    );
    expect(receipt.requestId).toBe(list.erasures[0]?.id);
    expect(JSON.stringify(receipt)).not.toContain(ERASED.slice(1));
    await context.close();
  });

  it('every page fits 1400 px and 400 px wide without scrolling sideways (screenshots of each)', async () => {
    const { context, page } = await signedIn('admin');
    // An API key to list, and a person looked up, so the pages have their tables.
    await h.request('/v1/keys', {
      method: 'POST',
      role: 'admin',
      json: { role: 'auditor', label: 'DPO laptop' },
    });
    const pages: Array<[string, string | (() => Promise<void>)]> = [
      ['overview', '/admin'],
      [
        'people',
        async () => {
          await page.goto(`${h.url}/admin/people`);
          await page.fill('#phone', PERSON);
          await go(page, 'text=Look up');
        },
      ],
      ['sync', '/admin/sync'],
      ['erasures', '/admin/erasures'],
      ['activity', '/admin/activity'],
      ['audit', '/admin/audit'],
      ['compliance', '/admin/compliance'],
      ['keys', '/admin/keys'],
      ['mappings', '/admin/mappings'],
      ['mapping-editor', '/admin/mappings/hubspot'],
    ];
    const overflowing: string[] = [];
    for (const width of [1400, 400]) {
      await page.setViewportSize({ width, height: 900 });
      for (const [name, open] of pages) {
        if (typeof open === 'string') await page.goto(`${h.url}${open}`);
        else await open();
        // open every folded section, so what it holds is measured too
        await page.evaluate(() => {
          for (const d of document.querySelectorAll('details')) d.open = true;
        });
        const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        if (wide > 0) overflowing.push(`${name} at ${width} px: ${wide} px too wide`);
        await shot(page, `w${width}-${name}`);
      }
    }
    expect(overflowing).toEqual([]);
    await context.close();
  });

  it('People in the browser: an operator opts a person out, with the confirmation an erasure starts', async () => {
    // someone of their own, so the other tests' people keep their states
    const other = '+4915123456704'; // example number
    await h.request('/v1/consents', {
      method: 'POST',
      role: 'intake',
      json: { phone: other, purposes: ['marketing'], locale: 'en' },
    });
    const { context, page } = await signedIn('operator');
    await go(page, 'nav >> text=People');
    await page.fill('#phone', other);
    await go(page, 'text=Look up');
    await page.selectOption('#opt-out-purpose', 'marketing');
    await go(page, 'form.action button:has-text("Opt out")');
    expect(await text(page, '.notice')).toContain('Opted out of marketing.');
    expect(await text(page, 'tr[data-purpose=marketing] .badge')).toBe('opted out');
    await shot(page, '15-person-opted-out');
    // The browser refuses the erasure form until the box is ticked.
    await page.click('button:has-text("Start the erasure")');
    expect(new URL(page.url()).pathname).toBe('/admin/people/opt-out');
    await context.close();
  });
});
