/**
 * The mapping editor (issue 16) in real headless Chromium (Debian's `chromium`, driven by
 * playwright-core) against the real app on a loopback port and the HubSpot simulator: a field edited
 * with the form, a typo in a property refused beside its row with what was typed kept, the fixed
 * draft shown as changed lines only, the save in force and written under DATA_DIR; a save while
 * HubSpot cannot be reached, confirmed by an admin and audited. Screenshots at 1400 and 400 px go to
 * test/.artifacts/screens/ (git-ignored).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, SCREENS } from '../helpers/chromium.ts';
import { type CrmHarness, startCrmHarness } from '../helpers/crm.ts';
import { TOKENS } from '../helpers/harness.ts';

const SHIPPED = join(import.meta.dirname, '..', '..', 'mappings');

let h: CrmHarness;
let browser: Browser;

beforeAll(async () => {
  mkdirSync(SCREENS, { recursive: true });
  h = await startCrmHarness({ enable: ['hubspot'] });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

async function signedIn(role: keyof typeof TOKENS, width = 1400) {
  const context = await browser.newContext({ viewport: { width, height: 900 } });
  const page = await context.newPage();
  const blocked: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) blocked.push(m.text());
  });
  await page.goto(`${h.url}/admin/login`);
  await page.fill('#key', TOKENS[role]);
  await go(page, 'button[type=submit]');
  expect(new URL(page.url()).pathname).toBe('/admin');
  return { context, page, blocked };
}

async function go(page: Page, selector: string): Promise<void> {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
}
const text = async (page: Page, selector: string) =>
  (await page.locator(selector).first().textContent())?.replace(/\s+/g, ' ').trim();
const shot = (page: Page, name: string) =>
  page.screenshot({ path: join(SCREENS, `${name}.png`), fullPage: true });
/** The page is no wider than the window (tables scroll inside their own box). */
const overflow = (page: Page) =>
  page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);

describe('mapping editor in Chromium', { timeout: 60_000 }, () => {
  it('edits a field with the form: a typo is refused beside its row, the fix is diffed by changed lines, saved, in force', async () => {
    const shipped = readFileSync(join(SHIPPED, 'hubspot.json'));
    const { context, page, blocked } = await signedIn('editor');
    await page.goto(`${h.url}/admin/mappings/hubspot`);
    // The picker is filled from HubSpot: each property with its type; the rows say whether it fits.
    expect(await page.locator('#crm-props option[value=whatsapp_opted_out]').getAttribute('data-type')).toBe(
      'bool',
    );
    expect(await text(page, 'tr[data-field="0"] .fit')).toBe('bool: fits');
    expect(await text(page, 'tr[data-field="1"] .fit')).toBe('enumeration: fits');
    // Only the options of the row's transform are shown (the script runs under the CSP nonce).
    expect(await page.locator('tr[data-field="1"] [data-opt=enum]').isVisible()).toBe(true);
    expect(await page.locator('tr[data-field="1"] [data-opt=date]').isVisible()).toBe(false);
    await shot(page, 'mapping-editor-1400');

    // A typo in a property name: the fit says so as it is typed, and the check refuses it.
    await page.fill('input[name="f.3.remote"]', 'whatsapp_consent_sorce');
    expect(await text(page, 'tr[data-field="3"] .fit')).toBe('not in the CRM');
    await page.fill('input[name="f.3.description"]', 'Where the change came from (form edit).');
    await go(page, 'text=Check these rows');
    expect(await text(page, '#mapping-errors')).toContain('1 problem(s); nothing was saved.');
    expect(await text(page, '#mapping-errors')).toContain('fields.3.remote');
    expect(await text(page, 'tr.has-issue[data-field="3"] td.issue')).toContain(
      'contact has no property whatsapp_consent_sorce',
    );
    // What was typed is still there, and the problems are at the top, within the first screen.
    expect(await page.inputValue('input[name="f.3.remote"]')).toBe('whatsapp_consent_sorce');
    expect(await page.inputValue('input[name="f.3.description"]')).toBe(
      'Where the change came from (form edit).',
    );
    const box = await page.locator('#mapping-errors').boundingBox();
    expect(box!.y).toBeLessThan(900);
    expect(box!.y).toBeLessThan((await page.locator('#mapping-form').boundingBox())!.y);
    await shot(page, 'mapping-editor-error');
    expect(h.services.mappings.get('hubspot').fields[3]?.remote).toBe('whatsapp_consent_source');

    // The fix: the diff shows the changed lines with a little context, not the whole file.
    await page.fill('input[name="f.3.remote"]', 'whatsapp_consent_source');
    expect(await text(page, 'tr[data-field="3"] .fit')).toBe('string: fits');
    await go(page, 'text=Check these rows');
    expect(await page.locator('#mapping-errors').count()).toBe(0);
    const adds = await page.locator('pre.diff .add').allTextContents();
    const dels = await page.locator('pre.diff .del').allTextContents();
    // The new key, and the comma it puts after the line before it.
    expect(
      adds.filter((l) => l.includes('"description": "Where the change came from (form edit)."')),
    ).toHaveLength(1);
    expect(adds.length + dels.length).toBeLessThanOrEqual(3);
    expect(await page.locator('pre.diff .skip').count()).toBe(2);
    const shown = await page.locator('pre.diff > span').count();
    const lines = JSON.stringify(h.services.mappings.get('hubspot'), null, 2).split('\n').length;
    expect(shown).toBeLessThan(10);
    expect(lines).toBeGreaterThan(60);
    await shot(page, 'mapping-editor-diff');

    await go(page, 'text=Save and put in force');
    expect(await text(page, '.notice')).toBe('Saved. The new mapping is in force.');
    const inForce = h.services.mappings.get('hubspot');
    expect(inForce.fields[3]).toMatchObject({
      remote: 'whatsapp_consent_source',
      description: 'Where the change came from (form edit).',
    });
    // Keys the form does not edit are kept as they were.
    expect(inForce.trustOptIn).toBe(false);
    expect(inForce.match.bsuidField).toBe('whatsapp_bsuid');
    expect(inForce.fields[1]?.transform).toEqual({
      type: 'enum',
      values: { none: 'not_set', pending: 'pending', opted_in: 'granted', opted_out: 'withdrawn' },
    });
    // Saved under DATA_DIR; the shipped file is untouched.
    expect(existsSync(join(h.dir, 'mappings', 'hubspot.json'))).toBe(true);
    expect(readFileSync(join(SHIPPED, 'hubspot.json'))).toEqual(shipped);
    expect(blocked).toEqual([]);
    await context.close();
  });

  it('adds a row, and fits at 400 px without the page scrolling sideways', async () => {
    const { context, page } = await signedIn('editor', 400);
    await page.goto(`${h.url}/admin/mappings/hubspot`);
    const rows = await page.locator('table.rows tr[data-field]').count();
    await go(page, 'text=Add a field');
    expect(await page.locator('table.rows tr[data-field]').count()).toBe(rows + 1);
    expect(await overflow(page)).toBe(0);
    await shot(page, 'mapping-editor-400');
    await context.close();
  });

  it('while HubSpot cannot be reached, an admin saves only with an explicit confirmation, which is audited', async () => {
    const { context, page } = await signedIn('admin');
    await page.goto(`${h.url}/admin/mappings/hubspot`);
    await page.fill('input[name="f.4.description"]', 'Saved while HubSpot was unreachable.');
    h.hubspot.failNext(2, '503'); // both attempts of the check's describe call
    await go(page, 'text=Check these rows');
    expect(await text(page, '#change .alert')).toContain('HubSpot could not be reached');
    const confirm = page.locator('#change input[name=unchecked]');
    expect(await confirm.isChecked()).toBe(false);
    // Without the tick the browser does not send the form (the checkbox is required).
    await page.click('text=Save and put in force');
    expect(new URL(page.url()).pathname).toBe('/admin/mappings/hubspot/check');
    await confirm.check();
    h.hubspot.failNext(2, '503'); // and again for the save's own check
    await shot(page, 'mapping-editor-unreachable');
    await go(page, 'text=Save and put in force');
    expect(await text(page, '.notice')).toBe('Saved. The new mapping is in force.');
    expect(h.services.mappings.get('hubspot').fields[4]?.description).toBe(
      'Saved while HubSpot was unreachable.',
    );
    const entry = (await h.services.store.listAudit(20)).find((a) => a.action === 'mapping.replace');
    expect(entry).toMatchObject({
      role: 'admin',
      details: { crmCheck: { status: 'skipped', confirmedBy: 'admin' } },
    });
    await context.close();
  });
});
