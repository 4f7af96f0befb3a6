/**
 * `/docs` in real headless Chromium against the Node runtime: Scalar's API reference renders from
 * the package's own bundle under the page's nonce CSP, makes no request to another origin, and its
 * request-body examples come from the schema examples (not empty strings).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/runtime/logger.ts';
import { type NodeServer, startNode } from '../../src/runtime/node.ts';
import { freePort } from '../helpers/net.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--no-first-run',
];

let server: NodeServer;
let browser: Browser;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'consent-sync-docs-'));
  server = await startNode({
    env: { NODE_ENV: 'test', DATA_DIR: dir, PORT: String(await freePort()), HOST: '127.0.0.1' },
    log: createLogger('silent'),
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
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
});
