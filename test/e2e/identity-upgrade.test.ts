/**
 * Migration 0006 moves existing data forward without loss: a database written by the previous
 * schema (numbers only on `subjects`) is opened by this version, and every person is still found
 * by their number, their consent and evidence read, and their number decrypted as an identifier.
 */
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { fromBase64 } from '../../src/crypto/encoding.ts';
import { createPiiCrypto } from '../../src/crypto/pii.ts';
import { runMigrations } from '../../src/store/migrate.ts';
import { loadMigrations } from '../../src/store/migrations.node.ts';
import { type Harness, json, startHarness } from '../helpers/harness.ts';

const NUMBER = '+4915112340601'; // fictitious
let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** Writes what the previous version wrote for one opted-out person, with its migrations only. */
async function previousVersionDatabase(dbPath: string, piiKey: string): Promise<void> {
  const db = new DatabaseSync(dbPath);
  const previous = loadMigrations().filter((m) => m.name < '0006');
  expect(previous.map((m) => m.name)).toEqual([
    '0001_init.sql',
    '0002_sync.sql',
    '0003_erasure.sql',
    '0004_mappings.sql',
    '0005_api_keys.sql',
  ]);
  await runMigrations(
    { exec: async (sql) => db.exec(sql), all: async (sql) => db.prepare(sql).all() },
    previous,
  );
  const pii = await createPiiCrypto(fromBase64(piiKey));
  const id = 'legacy-subject-1';
  const { key, wrapped } = await pii.newSubjectKey(id);
  const at = '2026-02-01T10:00:00.000Z';
  db.prepare(
    'INSERT INTO subjects (id, phone_hash, phone_enc, dek_wrapped, locale, privacy_notice_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
  ).run(
    id,
    await pii.lookupHash(NUMBER),
    await pii.encrypt(key, NUMBER, `phone:${id}`),
    wrapped,
    'de',
    null,
    at,
  );
  db.prepare(
    `INSERT INTO consent_state (subject_id, purpose, status, changed_at, source, status_before_pending,
     pending_expires_at, double_opt_in_at, text_version, occurred_at) VALUES (?, 'marketing', 'opted_out', ?, 'whatsapp', NULL, NULL, NULL, NULL, ?)`,
  ).run(id, at, at);
  db.close();
}

describe('upgrading a database made with the previous schema', () => {
  it('finds every person by their number, with consent, identifiers and export intact', async () => {
    h = await startHarness({ prepare: previousVersionDatabase });
    const res = await h.request(`/v1/subjects/${encodeURIComponent(NUMBER)}`, { role: 'operator' });
    const body = await json<{
      known: boolean;
      purposes: Record<string, { status: string }>;
      identifiers: unknown[];
    }>(res);
    expect(body.known).toBe(true);
    expect(body.purposes.marketing?.status).toBe('opted_out');
    expect(body.identifiers).toEqual([
      { kind: 'phone', masked: expect.stringMatching(/^\+49•+01$/), status: 'active' },
    ]);
    const exported = await json<{ person: { phone: string; identifiers: unknown[] } }>(
      await h.request(`/v1/subjects/${encodeURIComponent(NUMBER)}/export`, { role: 'admin' }),
    );
    expect(exported.person.phone).toBe(NUMBER);
    expect(exported.person.identifiers).toEqual([{ kind: 'phone', value: NUMBER, status: 'active' }]);
    // A later event carrying the number and a BSUID links the BSUID to the same person.
    const sub = await h.services.consent.change({
      identity: { phone: NUMBER, bsuid: 'DE.7000000000000000601' },
      intent: 'opt_out',
      purposes: ['transactional'],
      source: 'whatsapp',
      occurredAt: h.now().toISOString(),
      evidence: {},
      create: true,
      reply: null,
    });
    expect(sub).toMatchObject({ status: 'applied', subjectId: 'legacy-subject-1' });
    const byBsuid = await json<{ purposes: Record<string, { status: string }> }>(
      await h.request('/v1/subjects/DE.7000000000000000601', { role: 'operator' }),
    );
    expect(byBsuid.purposes.marketing?.status).toBe('opted_out');
    expect(byBsuid.purposes.transactional?.status).toBe('opted_out');
  });
});
