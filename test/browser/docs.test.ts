/**
 * `/docs` in real headless Chromium against the Node runtime: Scalar's API reference renders from
 * the package's own bundle under the page's nonce CSP, makes no request to another origin, and its
 * request-body examples come from the schema examples (not empty strings).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/runtime/logger.ts';
import { type NodeServer, startNode } from '../../src/runtime/node.ts';
import { launchChromium } from '../helpers/chromium.ts';
import { freePort } from '../helpers/net.ts';

const ADMIN = 'docs-test-admin-token-0123456789';

let server: NodeServer;
let browser: Browser;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'consent-sync-docs-'));
  server = await startNode({
    env: {
      NODE_ENV: 'test',
      DATA_DIR: dir,
      PORT: String(await freePort()),
      HOST: '127.0.0.1',
      API_KEYS: `admin:${ADMIN}`,
    },
    log: createLogger('silent'),
  });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('/docs', () => {
  it('renders the API reference from this origin, without CSP violations, with filled examples', {
    timeout: 90_000,
  }, async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const problems: string[] = [];
    const elsewhere: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy|Refused/i.test(m.text())) problems.push(m.text());
    });
    page.on('request', (r) => {
      const url = new URL(r.url());
      if (!['data:', 'blob:'].includes(url.protocol) && url.origin !== server.url) elsewhere.push(r.url());
    });
    const script = await page.request.get(`${server.url}/docs/scalar.js`);
    expect(script.status()).toBe(200);
    expect(script.headers()['content-type']).toContain('javascript');
    await page.goto(`${server.url}/docs`);
    // the sidebar's "consent" tag opens the POST /v1/consents operation with its example request
    await page.getByText('consent', { exact: true }).first().click({ timeout: 60_000 });
    await page.getByText('Start a WhatsApp double opt-in').first().waitFor({ timeout: 30_000 });
    expect(await page.locator('body').textContent()).toContain('consent-sync');
    // the example request body of POST /v1/consents, from the schema's example
    const html = await page.content();
    expect(html).toContain('+4915112345678');
    expect(html).not.toMatch(/"phone":\s*""/);
    await page
      .screenshot({ path: join(import.meta.dirname, '..', '.artifacts', 'docs.png') })
      .catch(() => {});
    expect(problems).toEqual([]);
    expect(elsewhere).toEqual([]);
  });

  it('its "try it" client sends the example body with the key typed once, and shows the answer', {
    timeout: 90_000,
  }, async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`${server.url}/docs#tag/keys/POST/v1/keys`);
    await page
      .getByRole('button', { name: /Test Request/ })
      .first()
      .click({ timeout: 60_000 });
    await page.getByPlaceholder('Token').last().fill(ADMIN);
    const answer = page.waitForResponse((r) => new URL(r.url()).pathname === '/v1/keys', { timeout: 30_000 });
    // the client's own shortcut for its Send button ("Send Request CTRL ↵")
    await page.keyboard.press('Control+Enter');
    const res = await answer;
    expect(res.request().method()).toBe('POST');
    expect(res.request().headers().authorization).toBe(`Bearer ${ADMIN}`);
    // the body came from the schema example, not empty strings
    expect(JSON.parse(res.request().postData() ?? '{}')).toEqual({ role: 'admin', label: 'DPO laptop' });
    expect(res.status()).toBe(201);
    // and the client shows the answer: the new key's id from the response body
    const { id } = (await res.json()) as { id: string };
    await expect.poll(() => page.locator('body').textContent(), { timeout: 15_000 }).toContain(id);
    await page.close();
  });
});
