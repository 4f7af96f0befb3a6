/**
 * The Node runtime as users run it: production config refuses to start without its secrets (naming
 * the variable, never a value), development mode generates and keeps keys, state survives restarts,
 * and tampering with the SQLite file shows up through the API.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, REQUIRED_SECRETS } from '../../src/config.ts';
import { toBase64 } from '../../src/crypto/encoding.ts';
import { type Harness, json, startHarness } from '../helpers/harness.ts';
import { LEDGER_CONTENT, swapLedgerRows } from '../helpers/ledger-tamper.ts';
import { freePort } from '../helpers/net.ts';
import { textMessage } from '../helpers/whatsapp.ts';

// Fictitious numbers only.
const PHONE = '+4915123456784';
const WA = '4915123456784';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const randomKey = (n: number) => toBase64(crypto.getRandomValues(new Uint8Array(n)));

/** A complete production environment with recognisable secret values. */
const productionEnv = (): Record<string, string> => ({
  NODE_ENV: 'production',
  PII_KEY: randomKey(32),
  API_KEYS: 'admin:prod-admin-secret-aaaaaaaa,operator:prod-operator-secret-bbbbbbbb',
  WHATSAPP_APP_SECRET: 'prod-app-secret-cccccccc',
  WHATSAPP_VERIFY_TOKEN: 'prod-verify-token-dddddddd',
  WHATSAPP_ACCESS_TOKEN: 'prod-access-token-eeeeeeee',
  WHATSAPP_PHONE_NUMBER_ID: '106540352242922',
});
const secretValues = (env: Record<string, string>) =>
  REQUIRED_SECRETS.flatMap((n) => (n === 'API_KEYS' ? env[n]!.split(/[,:]/) : [env[n]!])).filter(
    (v) => v.length > 6,
  );

function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    parseConfig(env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

const tempDirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'consent-sync-runtime-'));
  tempDirs.push(d);
  return d;
};
const children: ChildProcess[] = [];
let h: Harness | undefined;
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await h?.close();
  h = undefined;
  for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('production configuration', () => {
  it('a complete production environment parses', () => {
    expect(parseConfig(productionEnv()).NODE_ENV).toBe('production');
  });

  it.each(REQUIRED_SECRETS)(
    'without %s: a ConfigError naming exactly that variable, no secret values',
    (name) => {
      const env = productionEnv();
      const secrets = secretValues(env);
      for (const variant of [undefined, '', '   ']) {
        const e = configError({ ...env, [name]: variant });
        expect(e.variables).toEqual([name]);
        expect(e.message).toContain(name);
        for (const other of REQUIRED_SECRETS.filter((n) => n !== name))
          expect(e.message).not.toContain(other);
        for (const s of secrets) expect(e.message).not.toContain(s);
      }
    },
  );

  it.each([
    ['not base64', 'this is not base64!!'],
    ['16 bytes', randomKey(16)],
    ['33 bytes', randomKey(33)],
  ])('a malformed PII_KEY (%s) is named, its value is not', (_name, value) => {
    const e = configError({ ...productionEnv(), PII_KEY: value });
    expect(e.variables).toEqual(['PII_KEY']);
    expect(e.message).toContain('PII_KEY');
    expect(e.message).not.toContain(value);
  });

  it.each([
    ['an unknown role', 'superuser:prod-superuser-token-zzzz'],
    ['a short token', 'admin:tiny7x'],
    ['no colon', 'prod-admin-token-without-role-qqqq'],
    ['an empty role', ':prod-admin-token-without-role-qqqq'],
    ['one good, one bad', 'admin:prod-admin-secret-aaaaaaaa,auditor:tiny7x'],
  ])('a malformed API_KEYS (%s) is named, its tokens are not', (_name, value) => {
    const e = configError({ ...productionEnv(), API_KEYS: value });
    expect(e.variables).toEqual(['API_KEYS']);
    expect(e.message).toContain('API_KEYS');
    const tokens = value.split(',').map((entry) => entry.slice(entry.indexOf(':') + 1));
    for (const token of tokens) expect(e.message).not.toContain(token);
  });

  it('names every problem in one round: schema errors and missing production secrets together', () => {
    const env = productionEnv();
    const e = configError({
      ...env,
      PII_KEY: undefined,
      WHATSAPP_ACCESS_TOKEN: undefined,
      WHATSAPP_PHONE_NUMBER_ID: '',
      PORT: 'eighty',
    });
    expect(e.variables.sort()).toEqual(
      ['PII_KEY', 'PORT', 'WHATSAPP_ACCESS_TOKEN', 'WHATSAPP_PHONE_NUMBER_ID'].sort(),
    );
    for (const name of e.variables) expect(e.message).toContain(name);
    // an empty production environment: all six secrets at once
    expect(configError({ NODE_ENV: 'production' }).variables.sort()).toEqual([...REQUIRED_SECRETS].sort());
  });

  it('PORT=0 is outside the schema (1–65535), so tests pick a free port themselves', () => {
    expect(configError({ ...productionEnv(), PORT: '0' }).variables).toEqual(['PORT']);
  });
});

/** The real start command (`npm start`) as a child process, output captured. */
function start(env: Record<string, string>) {
  const major = Number(process.versions.node.split('.')[0]);
  expect(major, `vitest runs on ${process.execPath}`).toBeGreaterThanOrEqual(22);
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', 'src/runtime/node.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    exited,
    output: () => ({ stdout, stderr }),
  };
}

async function waitHealthy(base: string, proc: ReturnType<typeof start>, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (proc.child.exitCode !== null) throw new Error(`exited early: ${JSON.stringify(proc.output())}`);
    try {
      const res = await fetch(`${base}/healthz`);
      if (res.status === 200 && ((await res.json()) as { status: string }).status === 'ok') return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not healthy in time: ${JSON.stringify(proc.output())}`);
}

async function stop(proc: ReturnType<typeof start>) {
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), 10_000);
  const result = await proc.exited;
  clearTimeout(timer);
  return result;
}

describe('the start command (child process)', () => {
  it('NODE_ENV=production without PII_KEY exits non-zero naming PII_KEY', async () => {
    const dataDir = tempDir();
    const env = productionEnv();
    const secrets = secretValues(env);
    delete (env as Partial<typeof env>).PII_KEY;
    const proc = start({ ...env, DATA_DIR: dataDir, PORT: String(await freePort()) });
    const { code } = await proc.exited;
    const { stdout, stderr } = proc.output();
    expect(code).not.toBe(0);
    expect(code).not.toBeNull();
    expect(stderr).toContain('PII_KEY');
    for (const s of secrets) expect(stdout + stderr).not.toContain(s);
  });

  it('a DATA_DIR that cannot be made is one clear sentence, not a SQLite stack trace', async () => {
    const parent = tempDir();
    const missing = join(parent, 'typo', 'data');
    const proc = start({ NODE_ENV: 'development', DATA_DIR: missing, PORT: String(await freePort()) });
    const { code } = await proc.exited;
    const { stdout, stderr } = proc.output();
    expect(code).toBe(1);
    expect(stderr.trim()).toBe(
      `Configuration error: DATA_DIR ${missing} does not exist, nor does its parent folder ${join(parent, 'typo')}: create it (mkdir -p) or fix the path`,
    );
    expect(stdout + stderr).not.toMatch(/\bat \S+ \(|sqlite/i);
    expect(existsSync(join(parent, 'typo'))).toBe(false);
    // a file where the folder should be
    writeFileSync(join(parent, 'file'), '');
    const file = start({
      NODE_ENV: 'development',
      DATA_DIR: join(parent, 'file'),
      PORT: String(await freePort()),
    });
    expect((await file.exited).code).toBe(1);
    expect(file.output().stderr).toContain(`DATA_DIR ${join(parent, 'file')} is a file, not a folder`);
  });

  it('production logs stay JSON, and the banner is one JSON line naming the console', async () => {
    const dataDir = tempDir();
    const env = { ...productionEnv(), DATA_DIR: dataDir, PORT: String(await freePort()) };
    const proc = start(env);
    await waitHealthy(`http://127.0.0.1:${env.PORT}`, proc);
    await stop(proc);
    const lines = proc.output().stdout.trim().split('\n');
    const parsed = lines.map((l) => JSON.parse(l) as { msg: string; console?: string });
    const banner = parsed.find((l) => l.msg.startsWith('consent-sync is running'));
    expect(banner?.msg).toBe('consent-sync is running (production mode)');
    expect(banner?.console).toBe(`http://127.0.0.1:${env.PORT}/admin`);
  });

  it('development mode generates keys once, says so loudly, and keeps keys and state across restarts', {
    timeout: 60_000,
  }, async () => {
    const dataDir = join(tempDir(), 'data');
    const secretsFile = join(dataDir, 'dev-secrets.json');
    const devEnv = async () => ({
      NODE_ENV: 'development',
      DATA_DIR: dataDir,
      PORT: String(await freePort()),
    });

    // first run
    const env1 = await devEnv();
    const first = start(env1);
    const base1 = `http://127.0.0.1:${env1.PORT}`;
    await waitHealthy(base1, first);
    const secretsText = readFileSync(secretsFile, 'utf8');
    const secrets = JSON.parse(secretsText) as Record<string, string>;
    expect(Object.keys(secrets).sort()).toEqual(
      ['API_KEYS', 'PII_KEY', 'WHATSAPP_APP_SECRET', 'WHATSAPP_VERIFY_TOKEN'].sort(),
    );
    const tokens = Object.fromEntries(
      secrets.API_KEYS!.split(',').map((p) => [p.slice(0, p.indexOf(':')), p.slice(p.indexOf(':') + 1)]),
    );
    expect(Object.keys(tokens).sort()).toEqual(['admin', 'auditor', 'editor', 'intake', 'operator']);

    const warning = (out: string) =>
      out
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          try {
            return JSON.parse(l) as { level: number; msg: string };
          } catch {
            return { level: 0, msg: l };
          }
        })
        .find((l) => l.msg.includes('DEVELOPMENT MODE'));
    const w1 = warning(first.output().stdout + first.output().stderr);
    expect(w1, JSON.stringify(first.output())).toBeDefined();
    // development logs are readable lines (pino-pretty), not JSON: the warning says WARN
    expect(w1!.level).toBe(0);
    expect(w1!.msg).toMatch(/\bWARN\b.*DEVELOPMENT MODE/);
    expect(w1!.msg).toContain('dev-secrets.json');
    // the banner: where the API, the console and the keys are
    const out1 = first.output().stdout;
    expect(out1).toContain('consent-sync is running (development mode)');
    expect(out1).toContain(`console   ${base1}/admin`);
    expect(out1).toContain(`keys      ${secretsFile}`);
    // a missing DATA_DIR whose parent exists was created, and the log says so
    expect(out1).toContain(`created the data folder ${dataDir}`);
    // it names the file, never the values
    const values = [secrets.PII_KEY!, secrets.WHATSAPP_APP_SECRET!, ...Object.values(tokens)];
    for (const v of values) expect(first.output().stdout + first.output().stderr).not.toContain(v);

    const created = await fetch(`${base1}/v1/consents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.intake}`, 'content-type': 'application/json' },
      body: JSON.stringify({ phone: PHONE, purposes: ['marketing'] }),
    });
    expect(created.status).toBe(202);
    expect(await stop(first)).toEqual({ code: 0, signal: null });

    // second run: same keys, same data
    const env2 = await devEnv();
    const second = start(env2);
    const base2 = `http://127.0.0.1:${env2.PORT}`;
    await waitHealthy(base2, second);
    expect(readFileSync(secretsFile, 'utf8')).toBe(secretsText);
    expect(warning(second.output().stdout + second.output().stderr)).toBeDefined();
    const res = await fetch(`${base2}/v1/subjects/${encodeURIComponent(PHONE)}`, {
      headers: { authorization: `Bearer ${tokens.operator}` },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ known: true, purposes: { marketing: { status: 'pending' } } });
    expect(
      (await fetch(`${base2}/v1/ledger/verify`, { headers: { authorization: `Bearer ${tokens.auditor}` } }))
        .status,
    ).toBe(200);
    expect(await stop(second)).toEqual({ code: 0, signal: null });
  });
});

const ts = (hh: Harness) => String(Math.floor(hh.now().getTime() / 1000));
const subjectOf = async (hh: Harness) =>
  json<{ known: boolean; purposes: Record<string, { status: string }> }>(
    await hh.request(`/v1/subjects/${encodeURIComponent(PHONE)}`, { role: 'operator' }),
  );
type Verify = { ok: boolean; events: number; brokenAt?: { seq: number; id: string | null; reason: string } };
const verify = async (hh: Harness) =>
  json<Verify>(await hh.request('/v1/ledger/verify', { role: 'auditor' }));

/** DOI for two purposes, JA, STOP: six ledger events. */
async function sixEvents(hh: Harness) {
  const res = await hh.request('/v1/consents', {
    method: 'POST',
    role: 'intake',
    json: { phone: PHONE, purposes: ['marketing', 'transactional'] },
  });
  expect(res.status).toBe(202);
  hh.advance(60_000);
  expect((await hh.webhook(textMessage(WA, 'JA', { timestamp: ts(hh) }))).status).toBe(200);
  hh.advance(60_000);
  expect((await hh.webhook(textMessage(WA, 'STOP', { timestamp: ts(hh) }))).status).toBe(200);
  await hh.drain();
  expect(await verify(hh)).toEqual({ ok: true, events: 6 });
}

describe('in-process restart', () => {
  it('keeps state and the ledger across a restart', async () => {
    h = await startHarness();
    await h.request('/v1/consents', {
      method: 'POST',
      role: 'intake',
      json: { phone: PHONE, purposes: ['marketing', 'transactional'] },
    });
    h.advance(60_000);
    await h.webhook(textMessage(WA, 'JA', { timestamp: ts(h) }));
    await h.drain();
    await h.restart();
    const s = await subjectOf(h);
    expect(s.known).toBe(true);
    expect(s.purposes.marketing?.status).toBe('opted_in');
    expect(s.purposes.transactional?.status).toBe('opted_in');
    expect(await verify(h)).toEqual({ ok: true, events: 4 });
    // and the restarted app keeps appending to the same chain
    h.advance(60_000);
    await h.webhook(textMessage(WA, 'STOP', { timestamp: ts(h) }));
    expect(await verify(h)).toEqual({ ok: true, events: 6 });
  });
});

describe('ledger tampering, seen through GET /v1/ledger/verify', () => {
  /** Edits the live database file through a second connection, as someone with disk access could. */
  function edit(hh: Harness, fn: (db: DatabaseSync) => void) {
    const db = new DatabaseSync(hh.dbPath);
    try {
      db.exec('PRAGMA busy_timeout = 5000');
      fn(db);
    } finally {
      db.close();
    }
  }

  it('an edited purpose → hash_mismatch at that row; deleting the last row → head_mismatch', async () => {
    h = await startHarness();
    await sixEvents(h);
    const original = await (async () => {
      let purpose = '';
      edit(h!, (db) => {
        purpose = String(db.prepare('SELECT purpose FROM ledger WHERE seq = 3').get()!.purpose);
        db.prepare('UPDATE ledger SET purpose = ? WHERE seq = 3').run(
          purpose === 'marketing' ? 'transactional' : 'marketing',
        );
      });
      return purpose;
    })();
    const edited = await verify(h);
    expect(edited.ok).toBe(false);
    expect(edited.brokenAt).toMatchObject({ seq: 3, reason: 'hash_mismatch' });
    expect(edited.events).toBe(2);

    // put it back: the chain verifies again (the check is over the content)
    edit(h, (db) => db.prepare('UPDATE ledger SET purpose = ? WHERE seq = 3').run(original));
    expect(await verify(h)).toEqual({ ok: true, events: 6 });

    edit(h, (db) => db.prepare('DELETE FROM ledger WHERE seq = (SELECT MAX(seq) FROM ledger)').run());
    const truncated = await verify(h);
    expect(truncated.ok).toBe(false);
    expect(truncated.brokenAt).toMatchObject({ seq: 6, reason: 'head_mismatch' });
    expect(truncated.events).toBe(5);
  });

  it.each([
    ['content only (hashes stay in place)', LEDGER_CONTENT, 'hash_mismatch'],
    ['whole rows (a reorder)', [...LEDGER_CONTENT, 'prev_hash', 'hash'], 'prev_hash_mismatch'],
  ])('swapping two rows: %s → not ok', async (_name, columns, reason) => {
    h = await startHarness();
    await sixEvents(h);
    edit(h, (db) => swapLedgerRows(db, 2, 4, columns));
    const v = await verify(h);
    expect(v.ok).toBe(false);
    expect(v.brokenAt).toMatchObject({ seq: 2, reason });
  });
});
