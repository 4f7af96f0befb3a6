/**
 * Real headless Chromium for the browser tests: Debian's `chromium` (`apt-get install chromium`),
 * driven by playwright-core; `CHROMIUM_PATH` overrides. Screenshots go to test/.artifacts/screens/
 * (git-ignored).
 */
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

export const SCREENS = join(import.meta.dirname, '..', '.artifacts', 'screens');

/** @example const browser = await launchChromium(); */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
}
