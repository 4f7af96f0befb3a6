/**
 * Migrations on D1: the script splitter, one batch per migration (all or nothing), and the
 * `d1_migrations` table shared with wrangler (here: the vitest plugin's wrangler-style runner).
 */
import { applyD1Migrations, reset } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import { openD1Store } from '../../src/store/d1.ts';
import { migrateD1, splitSql } from '../../src/store/d1-migrate.ts';

const names = async () =>
  (await env.DB.prepare('SELECT name FROM d1_migrations ORDER BY id').all()).results.map((r) => r.name);

describe('splitSql', () => {
  it('splits at top-level semicolons only', () => {
    const script = `-- a comment; with a semicolon
      CREATE TABLE a (x TEXT DEFAULT ';', "we;ird" TEXT); /* block; comment */
      INSERT INTO a (x) VALUES ('it''s; fine');
      CREATE TRIGGER t AFTER INSERT ON a BEGIN
        INSERT INTO a (x) VALUES ('nested;');
        UPDATE a SET x = x;
      END;
      -- trailing comment only`;
    const parts = splitSql(script);
    expect(parts).toHaveLength(3);
    expect(parts[0]).toMatch(/^-- a comment; with a semicolon\s+CREATE TABLE a/);
    expect(parts[1]).toBe("/* block; comment */\n      INSERT INTO a (x) VALUES ('it''s; fine')");
    expect(parts[2]).toMatch(/^CREATE TRIGGER t[\s\S]*UPDATE a SET x = x;\s+END$/);
  });
});

describe('D1 migrations', () => {
  beforeEach(async () => {
    await reset();
  });

  it('applies every file once and records it under its file name, as wrangler does', async () => {
    const store = openD1Store({ db: env.DB, migrations: env.TEST_MIGRATIONS });
    await store.migrate();
    await store.migrate();
    expect(await names()).toEqual(env.TEST_MIGRATIONS.map((m) => m.name));
    const all = env.TEST_MIGRATIONS.map((m) => m.name);
    expect(all).toEqual([...all].sort());
    expect(all).toEqual(
      expect.arrayContaining([
        '0001_init.sql',
        '0002_sync.sql',
        '0003_erasure.sql',
        '0004_mappings.sql',
        '0005_api_keys.sql',
        '0006_identity.sql',
        '0007_consent_integrity.sql',
        '0008_key_rotation.sql',
        '0009_inbox.sql',
      ]),
    );
  });

  it('sees migrations applied by a wrangler-style runner as applied', async () => {
    const [first, ...rest] = env.TEST_MIGRATIONS;
    await applyD1Migrations(env.DB, [{ name: first!.name, queries: splitSql(first!.sql) }]);
    expect(await migrateD1(env.DB, env.TEST_MIGRATIONS)).toEqual(rest.map((m) => m.name));
    expect(await names()).toEqual(env.TEST_MIGRATIONS.map((m) => m.name));
  });

  it('applies a migration and its record together or not at all', async () => {
    const broken = {
      name: '9999_broken.sql',
      sql: 'CREATE TABLE t_ok (x);\nINSERT INTO no_such_table VALUES (1);',
    };
    await expect(migrateD1(env.DB, [...env.TEST_MIGRATIONS, broken])).rejects.toThrow(/no_such_table/);
    expect(await names()).toEqual(env.TEST_MIGRATIONS.map((m) => m.name));
    const tables = await env.DB.prepare("SELECT name FROM sqlite_master WHERE name = 't_ok'").all();
    expect(tables.results).toEqual([]);
  });

  it('lets two stores migrate the same empty database at once', async () => {
    const open = () => openD1Store({ db: env.DB, migrations: env.TEST_MIGRATIONS });
    await Promise.all([open().migrate(), open().migrate()]);
    expect(await names()).toEqual(env.TEST_MIGRATIONS.map((m) => m.name));
  });
});
