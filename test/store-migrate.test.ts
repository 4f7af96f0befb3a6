/**
 * Migrations: our runner and `wrangler d1 migrations apply` must agree on the `d1_migrations`
 * table, so a database migrated by either is up to date for the other.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, expect, it } from 'vitest';
import {
  type MigrationExecutor,
  migrationScript,
  pendingMigrations,
  runMigrations,
} from '../src/store/migrate.ts';
import { loadMigrations } from '../src/store/migrations.node.ts';
import { openSqliteStore } from '../src/store/sqlite.ts';

/** What wrangler runs (copied from wrangler's d1 migrations helpers), whitespace aside. */
const WRANGLER_TABLE = `CREATE TABLE IF NOT EXISTS d1_migrations(
		id         INTEGER PRIMARY KEY AUTOINCREMENT,
		name       TEXT UNIQUE,
		applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL
);`;

function asyncExecutor(db: DatabaseSync): MigrationExecutor {
  return {
    exec: async (sql) => db.exec(sql),
    all: async (sql) => db.prepare(sql).all(),
  };
}

const columns = (db: DatabaseSync) =>
  db
    .prepare(
      'SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(\'d1_migrations\') ORDER BY cid',
    )
    .all()
    .map((r) => ({ ...r }));

describe('migrations', () => {
  it('loads the .sql files sorted by name', () => {
    const names = loadMigrations().map((m) => m.name);
    expect(names[0]).toBe('0001_init.sql');
    expect(names).toEqual([...names].sort());
    expect(names.every((n) => n.endsWith('.sql'))).toBe(true);
  });

  it('plans only unapplied migrations, in name order', () => {
    const all = [
      { name: '0002_b.sql', sql: '' },
      { name: '0001_a.sql', sql: '' },
    ];
    expect(pendingMigrations(all, ['0001_a.sql']).map((m) => m.name)).toEqual(['0002_b.sql']);
    expect(pendingMigrations(all, []).map((m) => m.name)).toEqual(['0001_a.sql', '0002_b.sql']);
  });

  it('escapes quotes in the recorded name', () => {
    expect(migrationScript({ name: "0003_it's.sql", sql: 'SELECT 1' })).toContain(
      "VALUES ('0003_it''s.sql')",
    );
  });

  it('the async runner applies once and records names like wrangler', async () => {
    const db = new DatabaseSync(':memory:');
    const ex = asyncExecutor(db);
    const applied = await runMigrations(ex, loadMigrations());
    expect(applied).toEqual(loadMigrations().map((m) => m.name));
    expect(applied.slice(0, 9)).toEqual([
      '0001_init.sql',
      '0002_sync.sql',
      '0003_erasure.sql',
      '0004_mappings.sql',
      '0005_api_keys.sql',
      '0006_identity.sql',
      '0007_consent_integrity.sql',
      '0008_key_rotation.sql',
      '0009_inbox.sql',
    ]);
    expect(await runMigrations(ex, loadMigrations())).toEqual([]);
    const rows = db.prepare('SELECT id, name, applied_at FROM d1_migrations').all();
    expect(rows).toHaveLength(applied.length);
    expect(rows.slice(0, 9)).toMatchObject([
      { id: 1, name: '0001_init.sql' },
      { id: 2, name: '0002_sync.sql' },
      { id: 3, name: '0003_erasure.sql' },
      { id: 4, name: '0004_mappings.sql' },
      { id: 5, name: '0005_api_keys.sql' },
      { id: 6, name: '0006_identity.sql' },
      { id: 7, name: '0007_consent_integrity.sql' },
      { id: 8, name: '0008_key_rotation.sql' },
      { id: 9, name: '0009_inbox.sql' },
    ]);
    expect(typeof rows[0]?.applied_at).toBe('string');

    const wrangler = new DatabaseSync(':memory:');
    wrangler.exec(WRANGLER_TABLE);
    expect(columns(db)).toEqual(columns(wrangler));
    db.close();
    wrangler.close();
  });

  it('the SQLite store accepts a database migrated by wrangler', async () => {
    // Simulate `wrangler d1 migrations apply` on a file, then open it with our store.
    const dir = await mkdtemp(join(tmpdir(), 'consent-sync-migrate-'));
    const file = join(dir, 'consent.db');
    const raw = new DatabaseSync(file);
    raw.exec(WRANGLER_TABLE);
    for (const m of loadMigrations())
      raw.exec(`${m.sql}\nINSERT INTO d1_migrations (name) values ('${m.name}');`);
    raw.close();
    const store = openSqliteStore({ path: file });
    await store.migrate(); // would fail with "table subjects already exists" if it re-ran 0001
    await store.migrate();
    await store.close();
    const check = new DatabaseSync(file);
    expect(check.prepare('SELECT COUNT(*) AS n FROM d1_migrations').get()?.n).toBe(loadMigrations().length);
    check.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('0007 keeps consent rows stored before it: the new times read as null, the row as before', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'consent-sync-migrate-'));
    const file = join(dir, 'consent.db');
    const old = new DatabaseSync(file);
    old.exec(WRANGLER_TABLE);
    for (const m of loadMigrations().filter((m) => m.name < '0007'))
      old.exec(`${m.sql}\nINSERT INTO d1_migrations (name) values ('${m.name}');`);
    old.exec(`INSERT INTO consent_state (subject_id, purpose, status, changed_at, source, status_before_pending,
      pending_expires_at, double_opt_in_at, text_version, occurred_at) VALUES ('sub-1', 'marketing', 'opted_out',
      '2026-01-01T00:00:00.000Z', 'whatsapp', NULL, NULL, NULL, NULL, '2026-01-01T00:00:00.000Z')`);
    old.close();
    const store = openSqliteStore({ path: file });
    await store.migrate();
    expect(await store.getStates('sub-1')).toEqual([
      {
        subjectId: 'sub-1',
        purpose: 'marketing',
        status: 'opted_out',
        changedAt: '2026-01-01T00:00:00.000Z',
        source: 'whatsapp',
        statusBeforePending: null,
        pendingExpiresAt: null,
        doubleOptInAt: null,
        textVersion: null,
        occurredAt: '2026-01-01T00:00:00.000Z',
        withdrawnAt: null,
        crmOptedOutAt: null,
        crmGrantedAt: null,
        requestedAt: null,
      },
    ]);
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
});
