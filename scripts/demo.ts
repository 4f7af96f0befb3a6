/**
 * `npm run demo`: consent-sync end to end on one machine, no accounts needed. Starts the real Node
 * runtime (production mode, fresh secrets, a temporary DATA_DIR) wired to the WhatsApp Graph API,
 * HubSpot and Salesforce simulators on loopback, then walks through four scenarios and prints what
 * each system holds after each step:
 *
 *   1. double opt-in: web form → WhatsApp confirmation → "JA" → opted in, synced to both CRMs
 *   2. STOP on WhatsApp → opted out everywhere
 *   3. a sales rep ticks "opted out" in HubSpot → the ledger and Salesforce follow
 *   4. an erasure request → both CRMs erased, receipt
 *
 * Then it prints the admin console URL and an admin API key and keeps running until Ctrl-C.
 * Options: `--no-wait` (or DEMO_EXIT=1) exits after the walk-through (exit code 1 if a step failed);
 * `--data-dir <dir>` keeps the data there instead of a temporary directory, and the demo's secrets
 * with it (`demo-secrets.json`, mode 0600): a second run on the same directory reuses the same
 * `PII_KEY`, so the people it finds were erased stay erased (the walk-through then says so: Anna,
 * erased in step 4, cannot sign up again). PORT picks the port.
 * Fictitious numbers only (+49 151 23456xxx).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError } from '../src/config.ts';
import { prepareDataDir } from '../src/runtime/data-dir.ts';
import { keepSecrets } from '../src/runtime/dev-secrets.ts';
import { startNode } from '../src/runtime/node.ts';
import { freePort } from '../test/helpers/net.ts';
import { envelope, PHONE_NUMBER_ID, signedRequest, textMessage } from '../test/helpers/whatsapp.ts';
import { startGraphSimulator } from '../test/sim/graph-api.ts';
import { startHubSpotSimulator } from '../test/sim/hubspot.ts';
import { startSalesforceSimulator } from '../test/sim/salesforce.ts';

const { values } = parseArgs({
  options: { 'no-wait': { type: 'boolean' }, 'data-dir': { type: 'string' } },
});
const exitAfter = Boolean(values['no-wait']) || process.env.DEMO_EXIT === '1';

// Fictitious German mobiles.
const ANNA = '+4915123456790';
const BEN = '+4915123456791';
const wa = (e164: string) => e164.slice(1);
const masked = (e164: string) => `${e164.slice(0, 7)}…${e164.slice(-2)}`;

const token = () => randomBytes(24).toString('base64url');
const HS_FIELDS = ['whatsapp_marketing_consent', 'whatsapp_transactional_consent', 'whatsapp_opted_out'];
const SF_FIELDS = [
  'WhatsApp_Marketing_Consent__c',
  'WhatsApp_Transactional_Consent__c',
  'WhatsApp_Opted_Out__c',
];

const out = (line = '') => console.log(line);

// ---- the three simulators and the server ----------------------------------------------------

const port = process.env.PORT ? Number(process.env.PORT) : await freePort();
const base = `http://127.0.0.1:${port}`;
const tempDir = values['data-dir'] ? null : mkdtempSync(join(tmpdir(), 'consent-sync-demo-'));
const dataDir = values['data-dir'] ? resolve(values['data-dir']) : (tempDir as string);
const reused = existsSync(join(dataDir, 'consent-sync.db'));

// Kept in the data directory (0600) so a second run on it reuses them: above all the PII key, without
// which the tombstones of people erased in an earlier run would no longer match anyone.
const fresh = {
  admin: () => `demo-admin-${token()}`,
  operator: () => `demo-operator-${token()}`,
  auditor: () => `demo-auditor-${token()}`,
  intake: () => `demo-intake-${token()}`,
  editor: () => `demo-editor-${token()}`,
  appSecret: token,
  verifyToken: token,
  graph: token,
  hubspot: token,
  hubspotSecret: token,
  sfId: () => 'demo-connected-app',
  sfSecret: token,
  sfOrg: () => '00D5e000000KQ2eEAG',
  piiKey: () => randomBytes(32).toString('base64'),
};
// --data-dir is checked like npm start's DATA_DIR: created when its parent exists, else a sentence.
try {
  if (prepareDataDir(dataDir).created) out(`created the data folder ${dataDir}`);
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  console.error(`demo: ${e.message.replace('Configuration error: DATA_DIR', '--data-dir')}`);
  process.exit(1);
}
const secrets = keepSecrets(
  join(dataDir, 'demo-secrets.json'),
  Object.keys(fresh) as Array<keyof typeof fresh>,
  (name) => fresh[name](),
).values;

const graph = await startGraphSimulator({ accessToken: secrets.graph, phoneNumberId: PHONE_NUMBER_ID });
const hubspot = await startHubSpotSimulator({
  accessToken: secrets.hubspot,
  clientSecret: secrets.hubspotSecret,
  webhookUrl: `${base}/webhooks/hubspot`,
});
// Like a workflow rule: a change of these fields sends an Outbound Message to the server.
const watched = ['WhatsApp_Opted_Out__c', 'WhatsApp_Marketing_Consent__c'];
const sfApp = { clientId: secrets.sfId, clientSecret: secrets.sfSecret, orgId: secrets.sfOrg };
const salesforce = await startSalesforceSimulator({
  ...sfApp,
  outboundOnChange: { url: `${base}/webhooks/salesforce`, fields: watched },
});

const server = await startNode({
  env: {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    PORT: String(port),
    DATA_DIR: dataDir,
    PII_KEY: secrets.piiKey,
    API_KEYS: ['admin', 'operator', 'auditor', 'intake', 'editor']
      .map((r) => `${r}:${secrets[r as keyof typeof secrets]}`)
      .join(','),
    WHATSAPP_APP_SECRET: secrets.appSecret,
    WHATSAPP_VERIFY_TOKEN: secrets.verifyToken,
    WHATSAPP_ACCESS_TOKEN: secrets.graph,
    WHATSAPP_PHONE_NUMBER_ID: PHONE_NUMBER_ID,
    WHATSAPP_GRAPH_URL: graph.url,
    HUBSPOT_ACCESS_TOKEN: secrets.hubspot,
    HUBSPOT_CLIENT_SECRET: secrets.hubspotSecret,
    HUBSPOT_BASE_URL: hubspot.url,
    SALESFORCE_LOGIN_URL: salesforce.url,
    SALESFORCE_CLIENT_ID: secrets.sfId,
    SALESFORCE_CLIENT_SECRET: secrets.sfSecret,
    SALESFORCE_ORG_ID: secrets.sfOrg,
    // The simulator's workflow rule sends Outbound Messages: signals the server reads back.
    SALESFORCE_OUTBOUND_MESSAGES: 'on',
    MAPPINGS_DIR: join(dataDir, 'mappings'),
    RECONCILE_EVERY_HOURS: '0',
  },
  dispatchEveryMs: 200,
});

async function shutdown(code: number): Promise<never> {
  await server.close();
  await Promise.all([graph.close(), hubspot.close(), salesforce.close()]);
  if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  process.exit(code);
}

// ---- talking to the server and watching the simulators --------------------------------------

type Role = 'admin' | 'operator' | 'auditor' | 'intake';

async function api(method: string, path: string, role: Role | null, body?: unknown) {
  const headers: Record<string, string> = {};
  if (role) headers.authorization = `Bearer ${secrets[role]}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as Record<string, unknown> };
}

async function whatsappWebhook(from: string, text: string): Promise<number> {
  const req = await signedRequest(envelope(textMessage(wa(from), text)), secrets.appSecret);
  const res = await fetch(`${base}/webhooks/whatsapp`, {
    method: 'POST',
    headers: req.headers,
    body: req.body,
  });
  await res.arrayBuffer();
  return res.status;
}

let deliveredHs = 0;
let deliveredSf = 0;
/** The CRMs deliver what they queued (HubSpot webhooks, Salesforce Outbound Messages), as they would. */
async function pump(): Promise<void> {
  deliveredHs += (await hubspot.flushWebhooks()).length;
  deliveredSf += (await salesforce.flushOutbound()).length;
}

class StepFailed extends Error {}

/** Polls (delivering CRM webhooks meanwhile) until `check` holds; fails the step after `ms`. */
async function until(what: string, check: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    await pump();
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new StepFailed(`timed out waiting for: ${what}`);
}

const statusOf = async (phone: string, purpose = 'marketing') => {
  const r = await api('GET', `/v1/subjects/${encodeURIComponent(phone)}`, 'operator');
  const p = (r.body.purposes as Record<string, { status: string; source: string | null }> | undefined)?.[
    purpose
  ];
  return { known: r.body.known !== false, status: p?.status ?? 'none', source: p?.source ?? null };
};

const pick = (record: Record<string, unknown> | null, fields: string[]) =>
  record ? fields.map((f) => `${f}=${record[f] ?? '∅'}`).join(', ') : 'gone (no such record)';

async function report(phone: string, ids: { hs: string; sf: string }): Promise<void> {
  const history = await api('GET', `/v1/subjects/${encodeURIComponent(phone)}/history`, 'auditor');
  const events =
    (history.body.events as Array<{ seq: number; action: string; purpose: string; source: string }>) ?? [];
  out(
    `  ledger      ${events.length ? events.map((e) => `#${e.seq} ${e.action} ${e.purpose} (${e.source})`).join(' · ') : 'no readable events (crypto-shredded)'}`,
  );
  const jobs = await api('GET', '/v1/sync/jobs?limit=500', 'operator');
  const byKind = new Map<string, number>();
  for (const j of jobs.body.jobs as Array<{ kind: string; status: string }>) {
    const key = `${j.kind} ${j.status}`;
    byKind.set(key, (byKind.get(key) ?? 0) + 1);
  }
  out(`  outbox      ${[...byKind].map(([k, n]) => `${k} ×${n}`).join(' · ')}`);
  out(`  HubSpot     contact ${ids.hs}: ${pick(hubspot.getContact(ids.hs), HS_FIELDS)}`);
  out(`  Salesforce  Contact ${ids.sf}: ${pick(salesforce.get('Contact', ids.sf), SF_FIELDS)}`);
  out(
    `  webhooks    ${deliveredHs} HubSpot webhook and ${deliveredSf} Salesforce Outbound Message deliveries so far (our own writes coming back are dropped as echoes)`,
  );
}

function messagesTo(phone: string) {
  return graph.sent().filter((m) => m.to === phone || m.to === wa(phone));
}

function showMessage(n: number, phone: string): void {
  const m = messagesTo(phone).at(n);
  const body = (m?.text as { body?: string } | undefined)?.body ?? m?.type ?? '';
  out(`  WhatsApp    message to ${masked(phone)}: "${body.replace(/\s+/g, ' ').slice(0, 90)}…"`);
}

// ---- the walk-through ------------------------------------------------------------------------

const people = {
  anna: {
    hs: hubspot.addContact({ mobilephone: ANNA, firstname: 'Anna', lastname: 'Example' }),
    sf: salesforce.add('Contact', { MobilePhone: ANNA, FirstName: 'Anna', LastName: 'Example' }),
  },
  ben: {
    hs: hubspot.addContact({ mobilephone: BEN, firstname: 'Ben', lastname: 'Example' }),
    sf: salesforce.add('Contact', { MobilePhone: BEN, FirstName: 'Ben', LastName: 'Example' }),
  },
};

out('consent-sync demo');
out(`  server      ${base} (Node runtime, NODE_ENV=production, DATA_DIR ${dataDir})`);
out(`  WhatsApp    Graph API simulator ${graph.url}`);
out(`  HubSpot     simulator ${hubspot.url}: contacts ${people.anna.hs} (Anna), ${people.ben.hs} (Ben)`);
out(`  Salesforce  simulator ${salesforce.url}: Contacts ${people.anna.sf} (Anna), ${people.ben.sf} (Ben)`);
out(`  numbers     fictitious: Anna ${masked(ANNA)}, Ben ${masked(BEN)}`);
if (reused) out(`  data        ${dataDir} holds an earlier run (same keys)`);

const walkThrough: Array<[string, () => Promise<string>]> = [
  [
    'double opt-in',
    async () => {
      for (const [name, phone, ids] of [
        ['Anna', ANNA, people.anna],
        ['Ben', BEN, people.ben],
      ] as const) {
        const r = await api('POST', '/v1/consents', 'intake', {
          phone,
          purposes: ['marketing'],
          locale: 'de',
          evidence: { formUrl: 'https://shop.example/newsletter' },
        });
        // The intake key learns nothing about the person (202 whatever the state); an operator reads it.
        out(
          `→ ${name} signs up on the web form: POST /v1/consents → ${r.status}, marketing ${(await statusOf(phone)).status}`,
        );
        await until(`the confirmation message to ${name}`, () => messagesTo(phone).length >= 1);
        showMessage(0, phone);
        out(`→ ${name} replies "JA" (signed WhatsApp webhook) → ${await whatsappWebhook(phone, 'JA')}`);
        await until(`${name} opted in`, async () => (await statusOf(phone)).status === 'opted_in');
        await until(
          `${name} synced to both CRMs`,
          () =>
            hubspot.getContact(ids.hs)?.whatsapp_marketing_consent === 'granted' &&
            salesforce.get('Contact', ids.sf)?.WhatsApp_Marketing_Consent__c === 'Opted In',
        );
        await until(`the welcome message to ${name}`, () => messagesTo(phone).length >= 2);
        showMessage(1, phone);
      }
      await report(ANNA, people.anna);
      return 'Anna and Ben opted in (double opt-in), synced to HubSpot (granted) and Salesforce (Opted In)';
    },
  ],
  [
    'STOP on WhatsApp',
    async () => {
      out(`→ Anna texts "STOPP" (signed WhatsApp webhook) → ${await whatsappWebhook(ANNA, 'STOPP')}`);
      await until('Anna opted out', async () => (await statusOf(ANNA)).status === 'opted_out');
      await until(
        'the opt-out in both CRMs',
        () =>
          hubspot.getContact(people.anna.hs)?.whatsapp_opted_out === 'true' &&
          salesforce.get('Contact', people.anna.sf)?.WhatsApp_Opted_Out__c === true,
      );
      await until('the opt-out confirmation', () => messagesTo(ANNA).length >= 3);
      showMessage(2, ANNA);
      await report(ANNA, people.anna);
      return 'Anna opted out on WhatsApp: ledger opted_out, HubSpot and Salesforce opted out';
    },
  ],
  [
    'opt-out made in HubSpot',
    async () => {
      out(
        '→ a sales rep ticks "WhatsApp opted out" on Ben\'s HubSpot contact; HubSpot sends a signed v3 webhook',
      );
      hubspot.updateFromUi(people.ben.hs, { whatsapp_opted_out: 'true' });
      await until('Ben opted out in the ledger', async () => {
        const s = await statusOf(BEN);
        return s.status === 'opted_out' && s.source === 'hubspot';
      });
      await until(
        'the opt-out in Salesforce',
        () => salesforce.get('Contact', people.ben.sf)?.WhatsApp_Opted_Out__c === true,
      );
      await report(BEN, people.ben);
      return 'Ben opted out from HubSpot: ledger opted_out (source hubspot), Salesforce followed';
    },
  ],
  [
    'erasure',
    async () => {
      const r = await api('POST', '/v1/erasures', 'operator', { phone: ANNA });
      const id = String(r.body.id);
      out(
        `→ Anna asks to be forgotten: POST /v1/erasures → ${r.status}, due ${String(r.body.dueAt).slice(0, 10)}`,
      );
      let erasure: Record<string, unknown> = {};
      await until('the erasure to complete', async () => {
        erasure = (await api('GET', `/v1/erasures/${id}`, 'operator')).body;
        return erasure.status === 'completed';
      });
      const tasks = erasure.tasks as Array<{ system: string; status: string; records: number }>;
      out(
        `  tasks       ${tasks.map((t) => `${t.system}: ${t.status} (${t.records} record(s))`).join(' · ')}`,
      );
      const receipt = erasure.receipt as { withinDeadline?: boolean; completedAt?: string } | null;
      out(
        `  receipt     completed ${receipt?.completedAt ?? '?'}, within the deadline: ${receipt?.withinDeadline}`,
      );
      const gone =
        hubspot.getContact(people.anna.hs) === null && salesforce.get('Contact', people.anna.sf) === null;
      if (!gone) throw new StepFailed('a CRM still holds Anna');
      await report(ANNA, people.anna);
      return 'Anna erased: HubSpot contact and Salesforce Contact deleted, local data crypto-shredded, receipt issued';
    },
  ],
];

/** On a data directory where Anna was erased before: her tombstone still matches (same PII_KEY). */
const stillErased: Array<[string, () => Promise<string>]> = [
  [
    'an erased person stays erased',
    async () => {
      out('→ Anna was erased in an earlier run on this data directory; she fills in the web form again');
      // The intake key gets its one answer (202) whatever the state; nothing is recorded or sent.
      const r = await api('POST', '/v1/consents', 'intake', { phone: ANNA, purposes: ['marketing'] });
      out(`  API         POST /v1/consents (intake key) → ${r.status}, the same answer for every number`);
      out(`→ Anna texts "JA" (signed WhatsApp webhook) → ${await whatsappWebhook(ANNA, 'JA')}`);
      const status = await statusOf(ANNA);
      if (r.status !== 202 || status.known) throw new StepFailed('Anna was recorded again');
      if (messagesTo(ANNA).length > 0) throw new StepFailed('a message went to Anna');
      return 'nothing recorded, nothing sent: the tombstone of the earlier run still matches (the walk-through needs a new data directory)';
    },
  ],
];
const annaErased =
  reused && (await api('GET', `/v1/subjects/${encodeURIComponent(ANNA)}`, 'operator')).body.erased;
const steps = annaErased ? stillErased : walkThrough;

let failed = 0;
for (const [i, [title, run]] of steps.entries()) {
  out('');
  out(`━━ Step ${i + 1}: ${title} ━━`);
  try {
    out(`✓ step ${i + 1}: ${await run()}`);
  } catch (e) {
    failed++;
    out(
      `✗ step ${i + 1}: ${e instanceof StepFailed ? e.message : `${(e as Error).name}: ${(e as Error).message}`}`,
    );
  }
}

const verify = await api('GET', '/v1/ledger/verify', 'auditor');
out('');
out(
  `ledger      ${verify.body.ok ? '✓ hash chain intact' : '✗ hash chain broken'}, ${verify.body.events} event(s)`,
);
const n = steps.length;
out(`${failed === 0 ? `✓ all ${n} step${n === 1 ? '' : 's'} passed` : `✗ ${failed} of ${n} steps failed`}`);
out('');
out(`Admin console: http://localhost:${port}/admin`);
out(`Admin API key: ${secrets.admin}`);
out(`API docs:      http://localhost:${port}/docs`);
out('');
if (exitAfter) {
  out('The demo stops now, and its console with it. To look around in the console, run');
  out(`  npm run demo${values['data-dir'] ? ` -- --data-dir ${dataDir}` : ''}`);
  out('without --no-wait: it keeps running and the key it prints signs you in.');
  await shutdown(failed === 0 ? 0 : 1);
}
out(`Open http://localhost:${port}/admin in a browser and paste the admin API key above into "API key".`);
out('The demo keeps running (simulators included) and the key works until you press Ctrl-C.');
// Keep delivering what the CRM simulators queue, so changes made meanwhile keep flowing.
setInterval(() => void pump().catch(() => undefined), 1_000);
const stop = () => void shutdown(0);
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
