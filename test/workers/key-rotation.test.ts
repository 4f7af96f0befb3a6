/**
 * PII key rotation on Workers (issue 14): the Worker's own handlers over D1 in workerd, with three
 * configurations of one database: key A; B current with A retired, whose every-minute cron moves a
 * bounded batch until the rotation is done; B alone. The erased person re-creates nothing and is
 * sent nothing throughout, the others keep consent and readable evidence, the ledger verifies, and
 * a webhook acknowledged under A is still a duplicate under B. Fictitious numbers and BSUIDs only.
 */
import {
  createExecutionContext,
  createScheduledController,
  reset,
  waitOnExecutionContext,
} from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { toBase64 } from '../../src/crypto/encoding.ts';
import { createPiiCrypto } from '../../src/crypto/pii.ts';
import { CRONS, createWorker, type Env } from '../../src/runtime/worker.ts';
import { openD1Store } from '../../src/store/d1.ts';
import { envelope, signedRequest, textMessage } from '../helpers/whatsapp.ts';
import { remoteSim } from './sim-control.ts';

const graph = remoteSim(inject('simControl'), 'graph', inject('graphUrl'));
const key = () => toBase64(crypto.getRandomValues(new Uint8Array(32)));
const A = key();
const B = key();
const AUTH = {
  intake: 'Bearer workers-intake-token-0123456789',
  operator: 'Bearer workers-operator-token-0123456789',
  auditor: 'Bearer workers-auditor-token-0123456789',
};
const ERASED = { phone: '+4915123459001', wa: '4915123459001', bsuid: 'DE.7000000000000000991' };
const KEPT = { phone: '+4915123459002', wa: '4915123459002', bsuid: 'DE.7000000000000000992' };
const STOPPED = { phone: '+4915123459003', wa: '4915123459003' };
const ts = () => String(Math.floor(Date.now() / 1000));

/**
 * The test's bindings with another PII configuration: no queues (jobs run and webhooks are decided
 * in the invocation, under this configuration's keys, not in the consumers of the default Worker,
 * which run under the default keys) and no CRM.
 */
function bindings(keys: Record<string, string>): Env {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(env)) {
    if (k !== 'OUTBOX' && k !== 'INBOX' && !k.startsWith('HUBSPOT_')) out[k] = v;
  }
  return { ...out, ...keys, DB: env.DB } as Env;
}

/** One Worker (its own isolate state) under one configuration. */
function deployment(keys: Record<string, string>) {
  const worker = createWorker();
  const e = bindings(keys);
  return {
    async fetch(path: string, init: RequestInit = {}) {
      const ctx = createExecutionContext();
      const res = await worker.fetch(new Request(`http://w${path}`, init), e, ctx as never);
      await waitOnExecutionContext(ctx);
      return res;
    },
    async webhook(body: string | object) {
      const req = await signedRequest(body, env.WHATSAPP_APP_SECRET);
      return this.fetch('/webhooks/whatsapp', { method: 'POST', headers: req.headers, body: req.body });
    },
    async cron() {
      const ctx = createExecutionContext();
      const controller = createScheduledController({ cron: CRONS.everyMinute });
      await worker.scheduled(controller as never, e, ctx as never);
      await waitOnExecutionContext(ctx);
    },
  };
}
type Deployment = ReturnType<typeof deployment>;

const sentTo = async (...ids: string[]) =>
  (await graph.call<Array<{ to: string; recipient?: string }>>('sent')).filter(
    (m) => ids.includes(m.to) || ids.includes(m.recipient ?? ''),
  ).length;

async function subject(d: Deployment, id: string) {
  const res = await d.fetch(`/v1/subjects/${encodeURIComponent(id)}`, {
    headers: { authorization: AUTH.operator },
  });
  return (await res.json()) as {
    known: boolean;
    erased: boolean;
    purposes: Record<string, { status: string }>;
  };
}

async function subjectCount(): Promise<number> {
  return Number((await env.DB.prepare('SELECT COUNT(*) AS n FROM subjects').first<{ n: number }>())?.n);
}

async function erasedStaysErased(d: Deployment, label: string) {
  const people = await subjectCount();
  const sent = await sentTo(ERASED.phone, ERASED.wa, ERASED.bsuid);
  expect(
    (await d.webhook(envelope(textMessage(ERASED.wa, 'START', { timestamp: ts() })))).status,
    label,
  ).toBe(200);
  const bsuidOnly = envelope(textMessage({ userId: ERASED.bsuid }, 'START', { timestamp: ts() }));
  expect((await d.webhook(bsuidOnly)).status, label).toBe(200);
  await d.cron();
  expect(await subjectCount(), label).toBe(people);
  expect(await sentTo(ERASED.phone, ERASED.wa, ERASED.bsuid), label).toBe(sent);
  for (const id of [ERASED.phone, ERASED.bsuid]) {
    expect(await subject(d, id), `${label}: ${id}`).toMatchObject({ known: false, erased: true });
  }
}

async function othersKnown(d: Deployment, label: string) {
  expect((await subject(d, KEPT.phone)).purposes.marketing?.status, label).toBe('opted_in');
  expect((await subject(d, KEPT.bsuid)).purposes.marketing?.status, label).toBe('opted_in');
  expect((await subject(d, STOPPED.phone)).purposes.marketing?.status, label).toBe('opted_out');
}

let underA: Deployment;
/** STOPPED's STOP as delivered under A (delivered again under B). */
let earlyStop: string;

beforeAll(async () => {
  await reset();
  await openD1Store({ db: env.DB, migrations: env.TEST_MIGRATIONS }).migrate();
  underA = deployment({ PII_KEY: A });
  for (const [p, sender] of [
    [ERASED.phone, { waId: ERASED.wa, userId: ERASED.bsuid }],
    [KEPT.phone, { waId: KEPT.wa, userId: KEPT.bsuid }],
    [STOPPED.phone, STOPPED.wa],
  ] as const) {
    const r = await underA.fetch('/v1/consents', {
      method: 'POST',
      headers: { authorization: AUTH.intake, 'content-type': 'application/json' },
      body: JSON.stringify({ phone: p, purposes: ['marketing'] }),
    });
    expect(r.status).toBe(202);
    expect((await underA.webhook(envelope(textMessage(sender, 'YES', { timestamp: ts() })))).status).toBe(
      200,
    );
  }
  earlyStop = JSON.stringify(envelope(textMessage(STOPPED.wa, 'STOP', { timestamp: ts() })));
  expect(await (await underA.webhook(earlyStop)).json()).toMatchObject({ applied: 1 });
  const erasure = await underA.fetch('/v1/erasures', {
    method: 'POST',
    headers: { authorization: AUTH.operator, 'content-type': 'application/json' },
    body: JSON.stringify({ phone: ERASED.phone }),
  });
  expect(erasure.status).toBe(202);
  await underA.cron();
  await erasedStaysErased(underA, 'under A');
}, 60_000);

describe('rotating PII_KEY on Workers (D1)', { timeout: 60_000 }, () => {
  it('B current, A retired: the erased person stays erased; the cron moves a batch per run until done', async () => {
    const both = deployment({ PII_KEY: B, PII_KEYS_RETIRED: A, KEY_ROTATION_BATCH: '1' });
    await erasedStaysErased(both, 'B current, A retired');
    await othersKnown(both, 'B current, A retired');
    const keyB = (await createPiiCrypto(Uint8Array.from(atob(B), (c) => c.charCodeAt(0)))).keyId;
    const progress = async () =>
      await env.DB.prepare('SELECT phase, subjects FROM key_rotations WHERE key_id = ?')
        .bind(keyB)
        .first<{ phase: string; subjects: number }>();
    const phase = async () => (await progress())?.phase;
    // erasedStaysErased ran the cron once already: one batch (KEY_ROTATION_BATCH = 1 person), not all.
    expect(await progress()).toEqual({ phase: 'subjects', subjects: 1 });
    let runs = 1;
    while ((await phase()) !== 'done' && runs < 20) {
      await both.cron();
      runs++;
    }
    expect(await phase()).toBe('done');
    // One person per run (3 people), then the empty page, then the dead events.
    expect(runs).toBeGreaterThanOrEqual(4);
    expect((await progress())?.subjects).toBe(3);
    const wrapped = await env.DB.prepare('SELECT COUNT(*) AS n FROM pii_lookup_keys').first<{ n: number }>();
    expect(wrapped?.n).toBe(1);
    // Every live identifier is under B's hash now.
    const onlyB = await createPiiCrypto(Uint8Array.from(atob(B), (c) => c.charCodeAt(0)));
    const live = await env.DB.prepare(
      'SELECT hash FROM subject_identifiers WHERE value_enc IS NOT NULL',
    ).all<{
      hash: string;
    }>();
    const expected = await Promise.all(
      [KEPT.phone, KEPT.bsuid, STOPPED.phone].map((v) => onlyB.lookupHash(v)),
    );
    expect(new Set(live.results.map((r) => r.hash))).toEqual(new Set(expected));
  });

  it('B alone: still nothing for the erased person; evidence, ledger and dedupe hold', async () => {
    const onlyB = deployment({ PII_KEY: B });
    await erasedStaysErased(onlyB, 'B alone');
    await othersKnown(onlyB, 'B alone');
    for (const p of [KEPT.phone, STOPPED.phone]) {
      const res = await onlyB.fetch(`/v1/subjects/${encodeURIComponent(p)}/history`, {
        headers: { authorization: AUTH.auditor },
      });
      const { events } = (await res.json()) as { events: Array<{ evidence: unknown }> };
      expect(events.length).toBeGreaterThan(0);
      for (const e of events) expect(e.evidence).toEqual(expect.any(Object));
    }
    const verify = await onlyB.fetch('/v1/ledger/verify', { headers: { authorization: AUTH.auditor } });
    expect(await verify.json()).toMatchObject({ ok: true });
    expect(await (await onlyB.webhook(earlyStop)).json()).toMatchObject({ applied: 0, duplicates: 1 });
  });
});
