/**
 * PII key rotation on Node over SQLite (issue 14): people opt in and one is erased under key A; the
 * service restarts with B current and A retired, `consent-sync keys rotate` (a child process on the
 * data directory, stopped after one page) and the rotation module move everything to B, and the
 * service restarts with B alone. Throughout, the erased person re-creates nothing and is sent
 * nothing, the others keep their consent and readable evidence, the ledger verifies, and a webhook
 * acknowledged before the rotation is still a duplicate after it. Fictitious numbers and BSUIDs only.
 */
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, toBase64 } from '../../src/crypto/encoding.ts';
import { createPiiCrypto } from '../../src/crypto/pii.ts';
import { rotateKeys, rotationState } from '../../src/service/key-rotation.ts';
import { APP_SECRET, type Harness, json, startHarness, TOKENS, VERIFY_TOKEN } from '../helpers/harness.ts';
import { ROOT, runNode } from '../helpers/process.ts';
import { envelope, signedRequest, textMessage } from '../helpers/whatsapp.ts';

const key = () => toBase64(crypto.getRandomValues(new Uint8Array(32)));
const A = key();
const B = key();

// Fictitious German mobiles and BSUIDs.
const ERASED = { phone: '+4915123457001', wa: '4915123457001', bsuid: 'DE.7000000000000000701' };
const KEPT = { phone: '+4915123457002', wa: '4915123457002', bsuid: 'DE.7000000000000000702' };
const STOPPED = { phone: '+4915123457003', wa: '4915123457003' };
const OTHERS = ['+4915123457004', '+4915123457005', '+4915123457006'];
const ts = () => String(Math.floor(Date.now() / 1000));

let h: Harness;
/** STOPPED's STOP, acknowledged under A: delivered again after the rotation. */
let earlyStop: { body: string; headers: Record<string, string> };

async function optIn(phone: string, sender: string | { waId: string; userId: string }) {
  const r = await h.request('/v1/consents', {
    method: 'POST',
    role: 'intake',
    json: { phone, purposes: ['marketing'], evidence: { formUrl: 'https://shop.example/form' } },
  });
  expect(r.status).toBe(202);
  expect((await h.webhook(textMessage(sender, 'YES', { timestamp: ts() }))).status).toBe(200);
}

const subject = async (id: string) =>
  json<{ known: boolean; erased: boolean; purposes: Record<string, { status: string }> }>(
    await h.request(`/v1/subjects/${encodeURIComponent(id)}`, { role: 'operator' }),
  );

const sentTo = (...ids: string[]) =>
  h.graph.sent().filter((m) => ids.includes(String(m.to)) || ids.includes(String(m.recipient)));

const subjectCount = () => {
  const db = new DatabaseSync(h.dbPath, { readOnly: true });
  try {
    return Number(db.prepare('SELECT COUNT(*) AS n FROM subjects').get()?.n);
  } finally {
    db.close();
  }
};

/** The erased person writes (START by number, then by BSUID only): nothing is created or sent. */
async function erasedStaysErased(label: string) {
  const people = subjectCount();
  const sent = sentTo(ERASED.phone, ERASED.wa, ERASED.bsuid).length;
  expect((await h.webhook(textMessage(ERASED.wa, 'START', { timestamp: ts() }))).status, label).toBe(200);
  expect(
    (await h.webhook(textMessage({ userId: ERASED.bsuid }, 'START', { timestamp: ts() }))).status,
    label,
  ).toBe(200);
  await h.drain();
  expect(subjectCount(), label).toBe(people);
  expect(sentTo(ERASED.phone, ERASED.wa, ERASED.bsuid), label).toHaveLength(sent);
  for (const id of [ERASED.phone, ERASED.bsuid]) {
    expect(await subject(id), `${label}: ${id}`).toMatchObject({ known: false, erased: true });
  }
  const send = await h.request('/v1/messages', {
    method: 'POST',
    role: 'operator',
    json: { phone: ERASED.phone, purpose: 'marketing', text: 'Angebot' },
  });
  expect(send.status, label).toBe(409);
}

/** Who is opted out besides STOPPED (LATE texts STOP while both keys are configured). */
const optedOut = new Set<string>([STOPPED.phone]);

/** The others are found (by number and by BSUID) with their states. */
async function othersKnown(label: string) {
  const status = (p: string) => (optedOut.has(p) ? 'opted_out' : 'opted_in');
  expect((await subject(KEPT.phone)).purposes.marketing?.status, label).toBe('opted_in');
  expect((await subject(KEPT.bsuid)).purposes.marketing?.status, label).toBe('opted_in');
  for (const p of [STOPPED.phone, ...OTHERS])
    expect((await subject(p)).purposes.marketing?.status, `${label}: ${p}`).toBe(status(p));
}

/** Every data key opens under B alone and every live identifier is stored under B's hash. */
async function everythingUnderB() {
  const onlyB = await createPiiCrypto(fromBase64(B));
  const db = new DatabaseSync(h.dbPath, { readOnly: true });
  try {
    const subjects = db.prepare('SELECT id, dek_wrapped FROM subjects WHERE dek_wrapped IS NOT NULL').all();
    expect(subjects.length).toBeGreaterThan(0);
    for (const s of subjects) expect(await onlyB.rewrap(String(s.id), String(s.dek_wrapped))).toBeNull();
    const live = db
      .prepare('SELECT i.hash FROM subject_identifiers i WHERE i.value_enc IS NOT NULL')
      .all()
      .map((r) => String(r.hash));
    const underB = await Promise.all(
      [KEPT.phone, KEPT.bsuid, STOPPED.phone, ...OTHERS].map((v) => onlyB.lookupHash(v)),
    );
    expect(new Set(live)).toEqual(new Set(underB));
    // Stored: the retired key's lookup key (wrapped, not the key itself), never a PII key.
    const stored = db.prepare('SELECT * FROM pii_lookup_keys').all();
    expect(stored).toHaveLength(1);
    expect(JSON.stringify(stored)).not.toContain(A);
    expect(JSON.stringify(stored)).not.toContain(B);
  } finally {
    db.close();
  }
}

const cliEnv = (extra: Record<string, string>) => ({
  NODE_ENV: 'test',
  LOG_LEVEL: 'silent',
  DATA_DIR: h.dir,
  PII_KEY: B,
  API_KEYS: Object.entries(TOKENS)
    .map(([r, t]) => `${r}:${t}`)
    .join(','),
  WHATSAPP_APP_SECRET: APP_SECRET,
  WHATSAPP_VERIFY_TOKEN: VERIFY_TOKEN,
  ...extra,
});
const rotateCli = (args: string[], extra: Record<string, string>) =>
  runNode([join(ROOT, 'bin/consent-sync.js'), 'keys', 'rotate', ...args], cliEnv(extra));
const doctor = (extra: Record<string, string>) =>
  runNode([join(ROOT, 'bin/consent-sync.js'), 'doctor'], cliEnv(extra));

beforeAll(async () => {
  h = await startHarness({ piiKey: A, clock: 'real' });
  await optIn(ERASED.phone, { waId: ERASED.wa, userId: ERASED.bsuid });
  await optIn(KEPT.phone, { waId: KEPT.wa, userId: KEPT.bsuid });
  await optIn(STOPPED.phone, STOPPED.wa);
  for (const p of OTHERS) await optIn(p, p.slice(1));
  earlyStop = await signedRequest(envelope(textMessage(STOPPED.wa, 'STOP', { timestamp: ts() })), APP_SECRET);
  const stop = await h.request('/webhooks/whatsapp', { method: 'POST', ...earlyStop });
  expect(await json(stop)).toMatchObject({ stored: 1 });
  expect(await h.drained()).toMatchObject({ applied: 1, duplicates: 0 });
  await h.services.deadEvents.record([
    {
      source: 'whatsapp',
      kind: 'message',
      reason: 'fixture: unreadable',
      raw: { note: 'kept for inspection' },
    },
  ]);
  const erasure = await h.request('/v1/erasures', {
    method: 'POST',
    role: 'operator',
    json: { phone: ERASED.phone },
  });
  expect(erasure.status).toBe(202);
  await h.drain();
  await h.drain();
  await erasedStaysErased('under A');
}, 60_000);

afterAll(async () => {
  await h?.close();
});

describe('rotating PII_KEY on Node', { timeout: 60_000 }, () => {
  it('with B current and A retired: the erased person stays erased, the others are found', async () => {
    await h.restart({ PII_KEY: B, PII_KEYS_RETIRED: A });
    await erasedStaysErased('B current, A retired');
    await othersKnown('B current, A retired');
    // A person known under A writes: found, and their number moves to B's hash with the change.
    const late = OTHERS[2] as string;
    await h.drained();
    await h.acknowledge(textMessage(late.slice(1), 'STOP', { timestamp: ts() }));
    expect(await h.drained()).toMatchObject({ applied: 1 });
    optedOut.add(late);
    await othersKnown('B current, A retired, after a STOP');
    const [stored] = await h.services.store.identifiersOf([
      (await h.services.subjects.findValue(late))?.row.id as string,
    ]);
    expect(stored?.hash).toBe(await h.services.subjects.hash(late));
    expect(subjectCount()).toBe(2 + OTHERS.length + 1);
  });

  it('keys rotate refuses to run without PII_KEYS_RETIRED; doctor says what is wrong and what is pending', async () => {
    const r = await rotateCli([], {});
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('PII_KEYS_RETIRED is not set');
    // B alone before any rotation: the data keys open under no configured key.
    const wrong = await doctor({});
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(
      /✗ pii keys +\d+ of \d+ sampled data keys open under neither PII_KEY nor PII_KEYS_RETIRED/,
    );
    const pending = await doctor({ PII_KEYS_RETIRED: A });
    expect(pending.stdout).toMatch(/! pii key rotation +pending: 1 retired key\(s\)/);
    expect(pending.stdout).toContain('run consent-sync keys rotate');
    expect(pending.stdout + pending.stderr).not.toContain(A);
  });

  it('the CLI (stopped after one page) and the module move everything to B; a finished run has nothing to do', async () => {
    const partial = await rotateCli(['--page-size', '2', '--max-pages', '1'], { PII_KEYS_RETIRED: A });
    expect(partial.stderr).toBe('');
    expect(partial.code).toBe(0);
    expect(partial.stdout).toMatch(/Stopped after 1 page\(s\), \d+ people left/);
    expect((await rotationState(h.services))?.phase).toBe('subjects');

    // The rest through the module, in the service process (as the Workers cron does).
    const rest = await rotateKeys(h.services, { pageSize: 3 });
    expect(rest).toMatchObject({ done: true, alreadyDone: false });
    expect(rest.state.subjects).toBe(2 + OTHERS.length + 1); // every subject row, each once
    expect(rest.state.resealed).toBe(1);

    const again = await rotateCli([], { PII_KEYS_RETIRED: A });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('Nothing to do');
    expect(again.stdout).toContain('PII_KEYS_RETIRED can now be removed');
    await everythingUnderB();
    const finished = await doctor({ PII_KEYS_RETIRED: A });
    expect(finished.stdout).toMatch(
      /! pii key rotation +finished \S+: nothing is left under PII_KEYS_RETIRED/,
    );
    const after = await doctor({});
    expect(after.stdout).toMatch(/✓ pii keys +PII_KEY only; 1 retired lookup key\(s\) stored for tombstones/);
  });

  it('with B alone: still nothing for the erased person; evidence, ledger and dedupe hold', async () => {
    await h.restart({ PII_KEY: B, PII_KEYS_RETIRED: undefined });
    await erasedStaysErased('B alone');
    await othersKnown('B alone');
    for (const p of [KEPT.phone, STOPPED.phone, ...OTHERS]) {
      const { events } = await json<{ events: Array<{ evidence: unknown }> }>(
        await h.request(`/v1/subjects/${encodeURIComponent(p)}/history`, { role: 'auditor' }),
      );
      expect(events.length).toBeGreaterThan(0);
      for (const e of events) expect(e.evidence).toEqual(expect.any(Object));
    }
    expect(await json(await h.request('/v1/ledger/verify', { role: 'auditor' }))).toMatchObject({ ok: true });
    await h.drained();
    await h.request('/webhooks/whatsapp', { method: 'POST', ...earlyStop });
    expect(await h.drained()).toMatchObject({ applied: 0, duplicates: 1 });
    // The dead event, sealed under A, reads under B.
    const dead = await json<{ events: Array<{ raw: unknown }> }>(
      await h.request('/v1/dead-events', { role: 'auditor' }),
    );
    expect(dead.events[0]?.raw).toEqual({ note: 'kept for inspection' });
    // The erased person's export is the tombstone and the receipt (their erasure found under A's hash).
    const exported = await json<{ erased: boolean; erasures: unknown[] }>(
      await h.request(`/v1/subjects/${encodeURIComponent(ERASED.phone)}/export`, { role: 'auditor' }),
    );
    expect(exported).toMatchObject({ erased: true });
    expect(exported.erasures).toHaveLength(1);
  });
});
