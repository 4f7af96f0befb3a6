/**
 * The command line end to end: `bin/consent-sync.js` run as a child process (Node 22, as `npx
 * consent-sync` runs it) against a real SQLite DATA_DIR and the HubSpot and Salesforce simulators
 * on loopback. People are put in the ledger through the real HTTP app first.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChainVerifier } from '../../src/core/ledger.ts';
import type { LedgerRecord } from '../../src/core/types.ts';
import { sha256Hex } from '../../src/crypto/encoding.ts';
import { createApp } from '../../src/http/app.ts';
import { createLogger } from '../../src/runtime/logger.ts';
import { bootNode } from '../../src/runtime/node.ts';
import { HUBSPOT, SALESFORCE } from '../helpers/crm.ts';
import { APP_SECRET, TOKENS, VERIFY_TOKEN } from '../helpers/harness.ts';
import { swapLedgerRows } from '../helpers/ledger-tamper.ts';
import { ROOT, runNode } from '../helpers/process.ts';
import { DEFAULT_CONTACT_PROPERTIES, type HubSpotSimulator, startHubSpotSimulator } from '../sim/hubspot.ts';
import { type SalesforceSimulator, startSalesforceSimulator } from '../sim/salesforce.ts';

const BIN = join(ROOT, 'bin/consent-sync.js');
// Fictitious German mobile numbers only.
const IN_BOTH = '+4915123456701';
const OPTED_OUT = '+4915123456702';
const NOWHERE = '+4915123456703';
/** Properties the HubSpot portal lacks at first (doctor must find them, --fix create them). */
const LACKING = ['whatsapp_opted_out', 'whatsapp_consent_text_version'];

const BASE = {
  NODE_ENV: 'test',
  LOG_LEVEL: 'silent',
  PII_KEY: 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=',
  API_KEYS: Object.entries(TOKENS)
    .map(([r, t]) => `${r}:${t}`)
    .join(','),
  WHATSAPP_APP_SECRET: APP_SECRET,
  WHATSAPP_VERIFY_TOKEN: VERIFY_TOKEN,
};

/** Runs the CLI as a child process. */
const cli = (args: string[], env: Record<string, string>) => runNode([BIN, ...args], env);

/** Puts people in the ledger through the HTTP app, with no CRM configured (so nothing is synced yet). */
async function seed(dataDir: string, optOut: string[], all: string[]): Promise<void> {
  const { services, store } = await bootNode({
    env: { ...BASE, DATA_DIR: dataDir },
    log: createLogger('silent'),
  });
  const app = createApp(services);
  const call = (path: string, role: keyof typeof TOKENS, body: unknown) =>
    app.request(path, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS[role]}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  for (const phone of all) {
    expect((await call('/v1/consents', 'intake', { phone, purposes: ['marketing'] })).status).toBe(202);
    if (optOut.includes(phone))
      expect((await call(`/v1/subjects/${encodeURIComponent(phone)}/opt-out`, 'operator', {})).status).toBe(
        200,
      );
  }
  await services.dispatcher.stop();
  await store.close();
}

function ledgerCount(dataDir: string): number {
  const db = new DatabaseSync(join(dataDir, 'consent-sync.db'), { readOnly: true });
  try {
    return Number(db.prepare('SELECT COUNT(*) AS n FROM ledger').get()?.n);
  } finally {
    db.close();
  }
}

let hubspot: HubSpotSimulator;
let salesforce: SalesforceSimulator;
let dataDir: string;
let env: Record<string, string>;
let hsId: string;
let sfId: string;

beforeAll(async () => {
  hubspot = await startHubSpotSimulator({
    accessToken: HUBSPOT.token,
    clientSecret: HUBSPOT.secret,
    properties: DEFAULT_CONTACT_PROPERTIES.filter((p) => !LACKING.includes(p)),
  });
  salesforce = await startSalesforceSimulator({
    clientId: SALESFORCE.clientId,
    clientSecret: SALESFORCE.clientSecret,
    orgId: SALESFORCE.orgId,
  });
  dataDir = mkdtempSync(join(tmpdir(), 'consent-sync-cli-'));
  env = {
    ...BASE,
    DATA_DIR: dataDir,
    HUBSPOT_ACCESS_TOKEN: HUBSPOT.token,
    HUBSPOT_BASE_URL: hubspot.url,
    SALESFORCE_LOGIN_URL: salesforce.url,
    SALESFORCE_CLIENT_ID: SALESFORCE.clientId,
    SALESFORCE_CLIENT_SECRET: SALESFORCE.clientSecret,
    SALESFORCE_ORG_ID: SALESFORCE.orgId,
  };
  await seed(dataDir, [OPTED_OUT], [IN_BOTH, OPTED_OUT, NOWHERE]);
  hsId = hubspot.addContact({ mobilephone: IN_BOTH, firstname: 'Example' });
  hubspot.addContact({ mobilephone: OPTED_OUT, firstname: 'Example' });
  sfId = salesforce.add('Contact', { MobilePhone: IN_BOTH, LastName: 'Example' });
}, 60_000);

afterAll(async () => {
  await hubspot?.close();
  await salesforce?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('consent-sync CLI', { timeout: 90_000 }, () => {
  it('prints help for every command and exits 0', async () => {
    const overview = await cli(['--help'], env);
    expect(overview.code).toBe(0);
    const commands = [
      'doctor',
      'reconcile',
      'backfill',
      'ledger export',
      'ledger verify',
      'mappings check',
      'keys rotate',
    ];
    for (const c of commands) expect(overview.stdout).toContain(c);
    for (const c of commands) {
      const r = await cli([...c.split(' '), '--help'], env);
      expect(r.code, c).toBe(0);
      expect(r.stdout).toContain(`Usage: consent-sync ${c}`);
    }
  });

  it('answers bad arguments with a clear message and a non-zero exit', async () => {
    const unknownCommand = await cli(['frobnicate'], env);
    const unknownOption = await cli(['doctor', '--force'], env);
    const badConnector = await cli(['backfill', '--connector', 'pipedrive'], env);
    const badPage = await cli(['ledger', 'export', '--page-size', '0'], env);
    const missingSub = await cli(['ledger'], env);
    expect(unknownCommand.code).toBe(2);
    expect(unknownCommand.stderr).toContain('unknown command "frobnicate"');
    expect(unknownOption.code).toBe(2);
    expect(unknownOption.stderr).toContain("Unknown option '--force'");
    expect(unknownOption.stderr).toContain('Usage: consent-sync doctor');
    expect(badConnector.code).toBe(2);
    expect(badConnector.stderr).toContain(
      '--connector must be one of the configured CRMs: hubspot, salesforce',
    );
    expect(badPage.code).toBe(2);
    expect(badPage.stderr).toContain('--page-size must be a whole number');
    expect(missingSub.code).toBe(2);
    expect(missingSub.stderr).toContain('consent-sync ledger: unknown or missing subcommand');
    // Bad input changes nothing: no sync call reached a CRM.
    expect(hubspot.requests.filter((r) => r.path.includes('batch/update'))).toHaveLength(0);
  });

  it('doctor names bad configuration by variable, never its value', async () => {
    const bad = 'bm90LWEta2V5';
    const r = await cli(['doctor'], {
      ...env,
      NODE_ENV: 'production',
      PII_KEY: bad,
      API_KEYS: 'admin:tooshort',
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/✗ configuration PII_KEY +PII_KEY must be base64 of exactly 32 random bytes/);
    expect(r.stdout).toContain('openssl rand -base64 32');
    expect(r.stdout).toMatch(
      /✗ configuration API_KEYS +API_KEYS the admin token is shorter than 16 characters/,
    );
    expect(r.stdout + r.stderr).not.toContain(bad);
    expect(r.stdout + r.stderr).not.toContain('tooshort');
    expect(r.stdout).toContain('- crm');
  });

  it('doctor finds the missing HubSpot properties, --fix creates them with the right types', async () => {
    const before = await cli(['doctor'], env);
    expect(before.code).toBe(1);
    expect(before.stdout).toMatch(/✓ hubspot connection +authenticated; \d+ of 100 requests left \(10 s\)/);
    expect(before.stdout).toMatch(
      /✗ hubspot contact +2 of 8 mapped field\(s\) missing: whatsapp_opted_out, whatsapp_consent_text_version/,
    );
    expect(before.stdout).toContain('run consent-sync doctor --fix');
    expect(before.stdout).toMatch(
      /✓ salesforce connection +authenticated; \d+ of 100000 requests left \(24 h\)/,
    );
    expect(before.stdout).toMatch(/✓ salesforce Contact +all 6 mapped field\(s\) present/);
    expect(before.stdout).toMatch(/✓ salesforce Lead +all 6 mapped field\(s\) present/);
    expect(hubspot.properties().map((p) => p.name)).not.toContain('whatsapp_opted_out');

    const fix = await cli(['doctor', '--fix'], env);
    expect(fix.code).toBe(0);
    expect(fix.stdout).toMatch(
      /✓ hubspot fix +created 2 properties in group consent_sync: whatsapp_opted_out, whatsapp_consent_text_version/,
    );
    const props = new Map(hubspot.properties().map((p) => [p.name, p]));
    expect(props.get('whatsapp_opted_out')).toMatchObject({
      type: 'bool',
      fieldType: 'booleancheckbox',
      groupName: 'consent_sync',
      options: ['true', 'false'],
    });
    expect(props.get('whatsapp_consent_text_version')).toMatchObject({
      type: 'string',
      groupName: 'consent_sync',
    });
    expect(
      hubspot.requests.some((r) => r.method === 'POST' && r.path === '/crm/v3/properties/contacts/groups'),
    ).toBe(true);

    const after = await cli(['doctor'], env);
    expect(after.code).toBe(0);
    expect(after.stdout).toMatch(/✓ hubspot contact +all 8 mapped field\(s\) present/);
    expect(after.stdout).toMatch(/0 failed/);
  });

  it('doctor reports a missing Salesforce object and field with what to create in Setup', async () => {
    const mappings = mkdtempSync(join(tmpdir(), 'consent-sync-cli-mappings-'));
    try {
      const shipped = JSON.parse(readFileSync(join(ROOT, 'mappings/salesforce.json'), 'utf8'));
      shipped.match.objects = ['Contact', 'Account'];
      shipped.match.bsuidField = 'WhatsApp_Scoped_Id__c';
      shipped.fields.push({
        local: 'marketing.doubleOptInAt',
        remote: 'WhatsApp_Double_Opt_In__c',
        direction: 'push',
        transform: { type: 'date', format: 'iso' },
      });
      writeFileSync(join(mappings, 'salesforce.json'), JSON.stringify(shipped));
      const r = await cli(['doctor', '--fix'], { ...env, MAPPINGS_DIR: mappings });
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/✗ salesforce Account +the object type Account does not exist/);
      expect(r.stdout).toMatch(
        /✗ salesforce Contact +BSUID field WhatsApp_Scoped_Id__c missing; 1 of 7 mapped field\(s\) missing: WhatsApp_Double_Opt_In__c/,
      );
      expect(r.stdout).toContain('WhatsApp_Scoped_Id__c (Text(140), External ID)');
      expect(r.stdout).toContain(
        'create them on Contact in Setup → Object Manager: WhatsApp_Double_Opt_In__c (Date/Time)',
      );
      expect(r.stdout).not.toContain('salesforce fix');
    } finally {
      rmSync(mappings, { recursive: true, force: true });
    }
  });

  it('doctor reports a CRM that refuses the credentials, with a hint', async () => {
    const r = await cli(['doctor'], { ...env, HUBSPOT_ACCESS_TOKEN: 'wrong-token' });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/✗ hubspot connection +UNAUTHORIZED/);
    expect(r.stdout).toContain('HubSpot refused HUBSPOT_ACCESS_TOKEN');
    expect(r.stdout).not.toContain('wrong-token');
  });

  it('backfill --dry-run counts and sends nothing; backfill pushes the ledger to both CRMs', async () => {
    const dry = await cli(['backfill', '--dry-run'], env);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/hubspot\s+3\s+0\s+3/);
    expect(dry.stdout).toMatch(/salesforce\s+3\s+0\s+3/);
    expect(dry.stdout).toContain('Dry run: nothing was queued or sent.');
    expect(hubspot.getContact(hsId)?.whatsapp_marketing_consent).toBeUndefined();

    const run = await cli(['backfill'], env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Backfill complete.');
    // connector, people, skipped (erased), queued, joined, sent, in CRM, not in CRM, failed, will retry
    expect(run.stdout).toMatch(/hubspot\s+3\s+0\s+3\s+0\s+3\s+2\s+1\s+0\s+0/);
    expect(run.stdout).toMatch(/salesforce\s+3\s+0\s+3\s+0\s+3\s+1\s+2\s+0\s+0/);
    expect(hubspot.getContact(hsId)).toMatchObject({
      whatsapp_marketing_consent: 'pending',
      whatsapp_opted_out: 'false',
    });
    const optedOut = hubspot.contacts().find((c) => c.properties.mobilephone === OPTED_OUT);
    expect(optedOut?.properties).toMatchObject({
      whatsapp_marketing_consent: 'withdrawn',
      whatsapp_opted_out: 'true',
    });
    expect(salesforce.get('Contact', sfId)).toMatchObject({ WhatsApp_Marketing_Consent__c: 'Pending' });
    // Nothing was created for the person neither CRM has (rule 6).
    expect(hubspot.contacts()).toHaveLength(2);
    expect(salesforce.all('Contact')).toHaveLength(1);
    // Counts only, never a number.
    expect(run.stdout).not.toMatch(/4915123456/);

    const unlinked = await cli(['backfill', '--unlinked', '--connector', 'hubspot', '--dry-run'], env);
    expect(unlinked.code).toBe(0);
    // people, skipped (erased), skipped (linked), would queue
    expect(unlinked.stdout).toMatch(/hubspot\s+3\s+0\s+2\s+1/);
    expect(unlinked.stdout).not.toContain('salesforce');
  });

  it('reconcile compares both CRMs and reports counts', async () => {
    salesforce.updateFromUi('Contact', sfId, { WhatsApp_Opted_Out__c: true });
    const r = await cli(['reconcile'], env);
    expect(r.code).toBe(0);
    // connector, people, records, in sync, drift, opt-outs taken
    expect(r.stdout).toMatch(/salesforce\s+3\s+1\s+0\s+1\s+1/);
    expect(r.stdout).toMatch(/Sent \d+ queued job\(s\)\./);
    // The opt-out found in Salesforce reached HubSpot.
    expect(hubspot.getContact(hsId)).toMatchObject({ whatsapp_opted_out: 'true' });
  });

  it('ledger export writes NDJSON, one verifiable line per ledger event, to stdout or a file', async () => {
    const r = await cli(['ledger', 'export', '--page-size', '2'], env);
    expect(r.code).toBe(0);
    const all = r.stdout.trimEnd().split('\n');
    // the last line closes the file: the count and the last link
    const end = JSON.parse(all.at(-1) ?? '') as { end: string; events: number; lastSeq: number };
    const lines = all.slice(0, -1);
    expect(end).toMatchObject({ end: 'consent-sync/ledger/v1', events: lines.length, lastSeq: lines.length });
    expect(lines.length).toBe(ledgerCount(dataDir));
    expect(lines.length).toBeGreaterThanOrEqual(5);
    expect(r.stderr).toContain(`exported ${lines.length} ledger event(s)`);
    const records = lines.map((l) => JSON.parse(l) as LedgerRecord);
    expect(records.map((e) => e.seq)).toEqual(records.map((_, i) => i + 1));
    const verifier = new ChainVerifier(sha256Hex);
    for (const e of records) expect(await verifier.add(e)).toBe(true);
    expect(records.some((e) => e.action === 'opted_out')).toBe(true);
    // Pseudonymous ids and ciphertext only.
    expect(r.stdout).not.toMatch(/4915123456/);

    const file = join(dataDir, 'ledger.ndjson');
    const toFile = await cli(['ledger', 'export', '--out', file], env);
    expect(toFile.code).toBe(0);
    expect(toFile.stdout).toBe('');
    expect(readFileSync(file, 'utf8')).toBe(r.stdout);

    // it needs only the database (no secrets), and says so when there is none
    const empty = mkdtempSync(join(tmpdir(), 'consent-sync-cli-empty-'));
    try {
      const none = await cli(['ledger', 'export'], { PATH: process.env.PATH ?? '', DATA_DIR: empty });
      expect(none.code).toBe(1);
      expect(none.stderr).toContain('no database at');
      expect(none.stdout).toBe('');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('ledger verify exits 0 on an intact chain and 1 where a tampered one breaks', async () => {
    const intact = await cli(['ledger', 'verify'], env);
    expect(intact.code).toBe(0);
    expect(intact.stdout).toContain(`✓ ledger intact: ${ledgerCount(dataDir)} event(s)`);

    const tampered = mkdtempSync(join(tmpdir(), 'consent-sync-cli-tamper-'));
    try {
      await seed(tampered, [], ['+4915123456711', '+4915123456712']);
      const db = new DatabaseSync(join(tampered, 'consent-sync.db'));
      swapLedgerRows(db, 1, 2, ['subject_id']);
      db.close();
      const broken = await cli(['ledger', 'verify'], { ...BASE, DATA_DIR: tampered });
      expect(broken.code).toBe(1);
      expect(broken.stdout).toMatch(/✗ ledger chain broken at event #1 \(id [^)]+\): hash_mismatch/);
    } finally {
      rmSync(tampered, { recursive: true, force: true });
    }
  });

  it('mappings check validates the mapping files', async () => {
    const r = await cli(['mappings', 'check'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('✓ mappings/hubspot.json: 8 fields');
    const dir = mkdtempSync(join(tmpdir(), 'consent-sync-cli-bad-mapping-'));
    try {
      const shipped = JSON.parse(readFileSync(join(ROOT, 'mappings/hubspot.json'), 'utf8'));
      shipped.fields[0].direction = 'sideways';
      writeFileSync(join(dir, 'hubspot.json'), JSON.stringify(shipped));
      const bad = await cli(['mappings', 'check'], { ...env, MAPPINGS_DIR: dir });
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain(`✗ ${join(dir, 'hubspot.json')}: fields.0.direction:`);
      expect(bad.stdout).toContain(`- ${join(dir, 'salesforce.json')}: none (the built-in default applies)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ledger verify --file checks an export on its own: intact, edited, cut short, no end line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'consent-sync-cli-file-'));
    try {
      const file = join(dir, 'export.ndjson');
      expect((await cli(['ledger', 'export', '--out', file], env)).code).toBe(0);
      const text = readFileSync(file, 'utf8');
      const events = ledgerCount(dataDir);
      // no database, no keys: only the file
      const alone = { PATH: process.env.PATH ?? '', DATA_DIR: join(dir, 'nothing-here') };
      const ok = await cli(['ledger', 'verify', '--file', file], alone);
      expect(ok.stderr).toBe('');
      expect(ok.code).toBe(0);
      expect(ok.stdout).toContain(`✓ ${file}: ${events} event(s), every hash and link checks out`);
      expect(existsSync(alone.DATA_DIR)).toBe(false);

      const lines = text.trimEnd().split('\n');
      const variant = async (name: string, content: string) => {
        const f = join(dir, name);
        writeFileSync(f, content);
        return cli(['ledger', 'verify', '--file', f], alone);
      };
      const second = JSON.parse(lines[1] ?? '') as { purpose: string };
      const edited = [...lines];
      edited[1] = JSON.stringify({
        ...second,
        purpose: second.purpose === 'marketing' ? 'transactional' : 'marketing',
      });
      const e = await variant('edited.ndjson', `${edited.join('\n')}\n`);
      expect(e.code).toBe(1);
      expect(e.stdout).toMatch(/line 2: hash_mismatch/);

      // the last event removed, the end line kept: the end line no longer matches
      const cut = await variant('cut.ndjson', `${[...lines.slice(0, -2), lines.at(-1)].join('\n')}\n`);
      expect(cut.code).toBe(1);
      expect(cut.stdout).toMatch(/head_mismatch/);

      // the end line removed too: the file cannot prove it is complete
      const noEnd = await variant('no-end.ndjson', `${lines.slice(0, -1).join('\n')}\n`);
      expect(noEnd.code).toBe(1);
      expect(noEnd.stdout).toMatch(/no_end_line/);

      const junk = await variant('junk.ndjson', 'hello\n');
      expect(junk.code).toBe(1);
      expect(junk.stdout).toMatch(/line 1: not_json/);

      const missing = await cli(['ledger', 'verify', '--file', join(dir, 'absent.ndjson')], alone);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain('absent.ndjson does not exist');
      expect(missing.stderr).not.toContain('unexpected');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('read commands refuse a DATA_DIR without a database and create nothing (no folder, no secrets)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'consent-sync-cli-nodb-'));
    try {
      const typo = join(dir, 'typo');
      const dev = { PATH: process.env.PATH ?? '', NODE_ENV: 'development' };
      for (const args of [
        ['ledger', 'verify'],
        ['reconcile'],
        ['backfill', '--dry-run'],
        ['keys', 'rotate'],
      ]) {
        const r = await cli(args, { ...dev, DATA_DIR: typo });
        expect(r.code, args.join(' ')).toBe(1);
        expect(r.stderr).toContain(`DATA_DIR ${typo} does not exist`);
        expect(r.stdout).not.toContain('intact');
        expect(existsSync(typo)).toBe(false);
      }
      // an existing folder without a database: named, and still nothing written into it
      const r = await cli(['ledger', 'verify'], { ...dev, DATA_DIR: dir });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('holds no database');
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a read command neither opens nor creates the inbox file (DATA_DIR/inbox.db)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'consent-sync-cli-noinbox-'));
    try {
      await seed(dir, [], [NOWHERE]);
      for (const f of readdirSync(dir)) if (f.startsWith('inbox.db')) rmSync(join(dir, f));
      const r = await cli(['ledger', 'verify'], { ...BASE, DATA_DIR: dir });
      expect(r.code, r.stderr).toBe(0);
      expect(readdirSync(dir).filter((f) => f.startsWith('inbox.db'))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ledger export --out names what is wrong with the path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'consent-sync-cli-out-'));
    try {
      const missing = await cli(['ledger', 'export', '--out', join(dir, 'missing/x.ndjson')], env);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain(`the folder ${join(dir, 'missing')} does not exist`);
      expect(missing.stderr).not.toMatch(/unexpected|ENOENT/);
      const folder = await cli(['ledger', 'export', '--out', dir], env);
      expect(folder.code).toBe(1);
      expect(folder.stderr).toContain('is a folder; name a file in it');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
