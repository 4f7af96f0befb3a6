/**
 * `npm run demo` in exit mode, as a child process: the real Node runtime with the WhatsApp, HubSpot
 * and Salesforce simulators. Each step's outcome is read from what the demo prints.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runNode } from '../helpers/process.ts';

const runDemo = (...args: string[]) =>
  runNode(['--disable-warning=ExperimentalWarning', 'scripts/demo.ts', ...args], { DEMO_EXIT: '1' });

/** The lines of one step's section. */
const section = (stdout: string, n: number) => stdout.split(`━━ Step ${n}:`)[1]?.split('━━ Step')[0] ?? '';

describe('npm run demo', () => {
  it('walks through double opt-in, STOP, a HubSpot opt-out and an erasure, then exits 0', {
    timeout: 120_000,
  }, async () => {
    const { code, stdout, stderr } = await runDemo();
    expect(stderr).toBe('');
    expect(code).toBe(0);

    const one = section(stdout, 1);
    expect(one).toMatch(/Anna signs up on the web form: POST \/v1\/consents → 202, marketing pending/);
    expect(one).toMatch(/WhatsApp +message to \+491512…90: "Hallo! Beispiel GmbH/);
    expect(one).toMatch(/Anna replies "JA" \(signed WhatsApp webhook\) → 200/);
    expect(one).toMatch(/ledger +#1 requested marketing \(form\) · #2 confirmed marketing \(whatsapp\)/);
    expect(one).toMatch(
      /HubSpot +contact \d+: whatsapp_marketing_consent=granted, .*whatsapp_opted_out=false/,
    );
    expect(one).toMatch(
      /Salesforce +Contact \w+: WhatsApp_Marketing_Consent__c=Opted In, .*WhatsApp_Opted_Out__c=false/,
    );
    expect(one).toContain('✓ step 1: Anna and Ben opted in');

    const two = section(stdout, 2);
    expect(two).toMatch(/Anna texts "STOPP" \(signed WhatsApp webhook\) → 200/);
    expect(two).toMatch(/#\d+ opted_out marketing \(whatsapp\)/);
    expect(two).toMatch(
      /HubSpot +contact \d+: whatsapp_marketing_consent=withdrawn, .*whatsapp_opted_out=true/,
    );
    expect(two).toMatch(
      /Salesforce +Contact \w+: WhatsApp_Marketing_Consent__c=Opted Out, .*WhatsApp_Opted_Out__c=true/,
    );
    expect(two).toContain('✓ step 2:');

    const three = section(stdout, 3);
    expect(three).toMatch(/#\d+ opted_out marketing \(hubspot\)/);
    expect(three).toMatch(/Salesforce +Contact \w+: .*WhatsApp_Opted_Out__c=true/);
    expect(three).toContain('✓ step 3: Ben opted out from HubSpot');

    const four = section(stdout, 4);
    expect(four).toMatch(/POST \/v1\/erasures → 202/);
    expect(four).toMatch(/tasks +.*hubspot: done \(1 record\(s\)\).*salesforce: done \(1 record\(s\)\)/);
    expect(four).toMatch(/receipt +completed \S+, within the deadline: true/);
    expect(four).toMatch(/HubSpot +contact \d+: gone/);
    expect(four).toMatch(/Salesforce +Contact \w+: gone/);
    expect(four).toContain('✓ step 4:');

    expect(stdout).toMatch(/ledger +✓ hash chain intact, 9 event\(s\)/);
    expect(stdout).toContain('✓ all 4 steps passed');
    expect(stdout).toMatch(/Admin console: http:\/\/localhost:\d+\/admin/);
    expect(stdout).toMatch(/Admin API key: demo-admin-\S{20,}/);
    // Fictitious numbers, and even those only masked.
    expect(stdout).not.toMatch(/4915123456\d{3}/);
  });

  it('--data-dir keeps its secrets there (0600): a second run reuses PII_KEY, so Anna, erased in the first, stays erased', {
    timeout: 120_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'consent-sync-demo-test-'));
    try {
      const first = await runDemo('--data-dir', dir);
      expect(first.code).toBe(0);
      expect(first.stdout).toContain('✓ step 4:');
      expect(statSync(join(dir, 'demo-secrets.json')).mode & 0o777).toBe(0o600);
      const second = await runDemo('--data-dir', dir);
      expect(second.stderr).toBe('');
      expect(second.code).toBe(0);
      expect(second.stdout).toContain('holds an earlier run (same keys)');
      expect(second.stdout).toMatch(/POST \/v1\/consents \(intake key\) → 202, the same answer/);
      expect(second.stdout).toContain('✓ step 1: nothing recorded, nothing sent');
      // The admin key is kept too: the console of the first run opens with the same key.
      const key = (out: string) => out.match(/Admin API key: (\S+)/)?.[1];
      expect(key(second.stdout)).toBe(key(first.stdout));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--data-dir whose parent is missing: one clear sentence, exit 1, nothing created', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'consent-sync-demo-test-'));
    try {
      const target = join(dir, 'typo', 'demo');
      const r = await runDemo('--data-dir', target);
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toBe(
        `demo: --data-dir ${target} does not exist, nor does its parent folder ${join(dir, 'typo')}: create it (mkdir -p) or fix the path`,
      );
      expect(existsSync(join(dir, 'typo'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('kept running, its last lines say how to open the console, and the printed key signs in', {
    timeout: 120_000,
  }, async () => {
    const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', 'scripts/demo.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '' },
    });
    try {
      let stdout = '';
      await new Promise<void>((ok, fail) => {
        child.stdout.on('data', (d) => {
          stdout += d;
          if (stdout.includes('until you press Ctrl-C')) ok();
        });
        child.once('exit', (code) => fail(new Error(`demo exited with ${code}: ${stdout}`)));
      });
      const url = stdout.match(/Open (http:\/\/localhost:\d+)\/admin in a browser/)?.[1];
      const key = stdout.match(/Admin API key: (\S+)/)?.[1];
      expect(url && key, stdout).toBeTruthy();
      const signIn = await fetch(`${url}/admin/login`, {
        method: 'POST',
        body: new URLSearchParams({ key: key ?? '' }),
        redirect: 'manual',
      });
      expect(signIn.status).toBe(303);
      const cookie = signIn.headers
        .getSetCookie()
        .map((c) => c.split(';')[0])
        .join('; ');
      const home = await fetch(`${url}/admin`, { headers: { cookie }, redirect: 'manual' });
      expect(home.status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      await new Promise((ok) => (child.exitCode === null ? child.once('exit', ok) : ok(null)));
    }
  });
});
