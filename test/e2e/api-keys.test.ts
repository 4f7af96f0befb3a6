/**
 * API keys made through the API (issue 7, deliver 2): created by admins, shown once, stored as a
 * SHA-256 only, usable at once with their role, revoked from the next request on (in every
 * process on the same database), audited, never in logs.
 */
import { readFileSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/crypto/encoding.ts';
import { createApiKeyAuth, TOUCH_EVERY_MS } from '../../src/service/api-keys.ts';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import { type Harness, json, startHarness, type TestRole, TOKENS } from '../helpers/harness.ts';

interface Created {
  id: string;
  role: string;
  label: string;
  token: string;
  createdAt: string;
}
interface Listed {
  id: string;
  role: string;
  source: 'api' | 'env';
  label: string;
  createdAt: string | null;
  createdBy: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}
type ErrorBody = { error: { code: string; message: string } };

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const create = (body: unknown, role: TestRole = 'admin') =>
  h.request('/v1/keys', { method: 'POST', role, json: body });
const list = async () =>
  (await json<{ keys: Listed[] }>(await h.request('/v1/keys', { role: 'admin' }))).keys;
const revoke = (id: string, role: TestRole = 'admin') =>
  h.request(`/v1/keys/${id}`, { method: 'DELETE', role });
const verifyWith = (token: string) => h.request('/v1/ledger/verify', { headers: bearer(token) });

async function newKey(role: string, label = `${role} key`): Promise<Created> {
  const res = await create({ role, label });
  expect(res.status).toBe(201);
  return json<Created>(res);
}

describe('API keys', () => {
  it('create → use → list without the token → revoke → 401 on the very next request', async () => {
    const k = await newKey('auditor', 'DPO laptop');
    expect(k).toMatchObject({ role: 'auditor', label: 'DPO laptop', createdAt: h.now().toISOString() });
    expect(k.token).toMatch(/^csk_[A-Za-z0-9_-]{43}$/);
    expect(k.id).toBe((await sha256Hex(k.token)).slice(0, 12));

    expect((await verifyWith(k.token)).status).toBe(200);
    // The role is enforced like any key's.
    const denied = await h.request('/v1/sync/jobs', { headers: bearer(k.token) });
    expect(denied.status).toBe(403);
    expect((await json<ErrorBody>(denied)).error.code).toBe('FORBIDDEN');

    const listRes = await h.request('/v1/keys', { role: 'admin' });
    const raw = await listRes.text();
    expect(raw).not.toContain(k.token);
    for (const t of Object.values(TOKENS)) expect(raw).not.toContain(t);
    const keys = (JSON.parse(raw) as { keys: Listed[] }).keys;
    const envIds = await Promise.all(
      Object.values(TOKENS).map(async (t) => (await sha256Hex(t)).slice(0, 12)),
    );
    expect(keys.filter((x) => x.source === 'env').map((x) => x.id)).toEqual(envIds);
    expect(keys.filter((x) => x.source === 'env').map((x) => x.role)).toEqual(Object.keys(TOKENS));
    expect(keys.find((x) => x.id === k.id)).toEqual({
      id: k.id,
      role: 'auditor',
      source: 'api',
      label: 'DPO laptop',
      createdAt: k.createdAt,
      createdBy: envIds[0],
      lastUsedAt: h.now().toISOString(),
      revokedAt: null,
    });

    h.advance(1_000);
    expect((await revoke(k.id)).status).toBe(204);
    const after = await verifyWith(k.token);
    expect(after.status).toBe(401);
    expect((await json<ErrorBody>(after)).error.code).toBe('UNAUTHORIZED');
    expect((await list()).find((x) => x.id === k.id)?.revokedAt).toBe(h.now().toISOString());

    // Revoking again changes nothing; a restart keeps the key revoked.
    h.advance(1_000);
    expect((await revoke(k.id)).status).toBe(204);
    await h.restart();
    expect((await verifyWith(k.token)).status).toBe(401);
    const revokedAt = (await list()).find((x) => x.id === k.id)?.revokedAt;
    expect(revokedAt).toBe(new Date(h.now().getTime() - 1_000).toISOString());
  });

  it('a key made by the API works after a restart, with exactly its role; an admin key can make keys', async () => {
    const operator = await newKey('operator');
    const admin = await newKey('admin');
    await h.restart();
    expect((await h.request('/v1/sync/jobs', { headers: bearer(operator.token) })).status).toBe(200);
    expect((await verifyWith(operator.token)).status).toBe(403);
    const res = await h.request('/v1/keys', {
      method: 'POST',
      headers: { ...bearer(admin.token), 'content-type': 'application/json' },
      body: JSON.stringify({ role: 'intake', label: 'web form' }),
    });
    expect(res.status).toBe(201);
    expect((await list()).find((x) => x.label === 'web form')?.createdBy).toBe(admin.id);
  });

  it('only admins may create, list and revoke keys', async () => {
    const k = await newKey('editor');
    for (const role of ['editor', 'operator', 'auditor', 'intake'] as const) {
      const tries = [
        create({ role: 'admin', label: 'escalation' }, role),
        h.request('/v1/keys', { role }),
        revoke(k.id, role),
      ];
      for (const res of await Promise.all(tries)) {
        expect(res.status, role).toBe(403);
        expect((await json<ErrorBody>(res)).error.code).toBe('FORBIDDEN');
      }
    }
    // The stored editor key cannot make itself an admin either.
    const self = await h.request('/v1/keys', {
      method: 'POST',
      headers: { ...bearer(k.token), 'content-type': 'application/json' },
      body: JSON.stringify({ role: 'admin', label: 'escalation' }),
    });
    expect(self.status).toBe(403);
    expect((await list()).filter((x) => x.source === 'api').map((x) => x.id)).toEqual([k.id]);
    expect((await list()).find((x) => x.id === k.id)?.revokedAt).toBeNull();
  });

  it('bad input: 400/404/409 with a code, and nothing changes', async () => {
    const k = await newKey('auditor');
    const auditBefore = (await h.services.store.listAudit(100)).length;
    const bad: Array<[unknown, string]> = [
      [{ label: 'no role' }, 'VALIDATION_FAILED'],
      [{ role: 'superuser', label: 'unknown role' }, 'VALIDATION_FAILED'],
      [{ role: 'auditor' }, 'VALIDATION_FAILED'],
      [{ role: 'auditor', label: '   ' }, 'VALIDATION_FAILED'],
      [{ role: 'auditor', label: 'x'.repeat(101) }, 'VALIDATION_FAILED'],
      [{ role: 'auditor', label: 'line\nbreak' }, 'VALIDATION_FAILED'],
      [{ role: 'auditor', label: 'extra', token: 'csk_mine' }, 'VALIDATION_FAILED'],
      [[], 'VALIDATION_FAILED'],
    ];
    for (const [body, code] of bad) {
      const res = await create(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((await json<ErrorBody>(res)).error.code).toBe(code);
    }
    const malformed = await h.request('/v1/keys', {
      method: 'POST',
      role: 'admin',
      headers: { 'content-type': 'application/json' },
      body: '{"role": "auditor",',
    });
    expect(malformed.status).toBe(400);
    expect((await json<ErrorBody>(malformed)).error).toEqual({
      code: 'MALFORMED_JSON',
      message: 'the body is not valid JSON',
    });

    const cases: Array<[string, number, string]> = [
      ['not-a-key-id', 400, 'VALIDATION_FAILED'],
      ['ABCDEF012345', 400, 'VALIDATION_FAILED'],
      ['0123456789ab', 404, 'NOT_FOUND'],
      [(await sha256Hex(TOKENS.auditor)).slice(0, 12), 409, 'ENV_KEY_NOT_REVOCABLE'],
    ];
    for (const [id, status, code] of cases) {
      const res = await revoke(id);
      expect(res.status, id).toBe(status);
      expect((await json<ErrorBody>(res)).error.code).toBe(code);
    }
    // nothing was audited (counted before the probe below, whose ledger verification is audited)
    expect((await h.services.store.listAudit(100)).length).toBe(auditBefore);
    expect((await verifyWith(TOKENS.auditor)).status).toBe(200);
    expect((await list()).filter((x) => x.source === 'api').map((x) => [x.id, x.revokedAt])).toEqual([
      [k.id, null],
    ]);
  });

  it('audits create and revoke (who, what), and the token is in no log, audit entry or file', async () => {
    const k = await newKey('operator', 'sync dashboard');
    await h.request('/v1/sync/jobs', { headers: bearer(k.token) });
    expect((await revoke(k.id)).status).toBe(204);
    await h.request('/v1/sync/jobs', { headers: bearer(k.token) });

    const adminId = (await sha256Hex(TOKENS.admin)).slice(0, 12);
    const entries = (await h.services.store.listAudit(100)).filter((a) => a.action.startsWith('apikey.'));
    expect(entries.map((a) => [a.action, a.actor, a.role, a.target, a.details]).sort()).toEqual([
      ['apikey.create', adminId, 'admin', k.id, { role: 'operator', label: 'sync dashboard' }],
      ['apikey.revoke', adminId, 'admin', k.id, { role: 'operator', label: 'sync dashboard' }],
    ]);
    expect(JSON.stringify(entries)).not.toContain(k.token);
    expect(h.logs.join('\n')).not.toContain(k.token);
    expect(h.logs.join('\n')).not.toContain(k.token.slice(4, 24));
    expect(h.logs.some((l) => l.includes('api key created') && l.includes(k.id))).toBe(true);

    // The database holds the SHA-256 of the token, never the token (file, WAL and the row itself).
    await h.restart();
    for (const f of [h.dbPath, `${h.dbPath}-wal`]) {
      let bytes = '';
      try {
        bytes = readFileSync(f, 'latin1');
      } catch {
        continue;
      }
      expect(bytes.includes(k.token), f).toBe(false);
      expect(bytes.includes(k.token.slice(4)), f).toBe(false);
    }
    const db = new DatabaseSync(h.dbPath, { readOnly: true });
    try {
      const row = db.prepare('SELECT * FROM api_keys WHERE id = ?').get(k.id) as Record<string, unknown>;
      expect(row.digest).toBe(await sha256Hex(k.token));
      expect(Object.values(row)).not.toContain(k.token);
    } finally {
      db.close();
    }
  });

  it('writes lastUsedAt at most every 5 minutes, not on every request', async () => {
    const k = await newKey('auditor');
    const first = h.now().toISOString();
    for (let i = 0; i < 3; i++) {
      h.advance(60_000);
      expect((await verifyWith(k.token)).status).toBe(200);
    }
    const lastUsed = async () => (await h.services.store.getApiKey(k.id))?.lastUsedAt;
    expect(await lastUsed()).toBe(new Date(Date.parse(first) + 60_000).toISOString());
    h.advance(TOUCH_EVERY_MS);
    await verifyWith(k.token);
    expect(await lastUsed()).toBe(h.now().toISOString());
  });

  it('a revocation holds at once in another process on the same database (no cache)', async () => {
    const k = await newKey('auditor');
    const other = openSqliteStore({ path: h.dbPath });
    try {
      const auth = await createApiKeyAuth([], { store: other });
      expect(await auth.identify(`Bearer ${k.token}`)).toEqual({ role: 'auditor', keyId: k.id });
      const flipped = `${k.token.slice(0, -1)}${k.token.endsWith('x') ? 'y' : 'x'}`;
      expect(await auth.identify(`Bearer ${flipped}`)).toBeNull();
      expect((await revoke(k.id)).status).toBe(204);
      expect(await auth.identify(`Bearer ${k.token}`)).toBeNull();
    } finally {
      await other.close();
    }
  });
});
