/**
 * Migration runner shared by the SQLite and D1 adapters. Runtime-free: the caller passes the
 * migrations (name + SQL) and a tiny executor, so this file never touches a file system or driver.
 *
 * Applied migrations are tracked in `d1_migrations` with the exact layout `wrangler d1 migrations`
 * uses (name = the file name, `0001_init.sql`), so a database migrated by wrangler and one migrated
 * by us agree on what has been applied and neither re-runs the other's work.
 */

/** One migration file: `name` is the file name (e.g. `0001_init.sql`), `sql` its content. */
export interface Migration {
  name: string;
  sql: string;
}

/** The table wrangler creates (same columns, types and defaults). */
export const MIGRATIONS_TABLE = 'd1_migrations';

/** Byte-for-byte the layout wrangler uses, so either tool can create the table first. */
export const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE}(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT UNIQUE,
  applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);`;

/** The SQL that lists applied migration names, oldest first. */
export const LIST_APPLIED = `SELECT name FROM ${MIGRATIONS_TABLE} ORDER BY id`;

/**
 * Migrations not yet applied, in name order (wrangler sorts by name too, and our names are
 * zero-padded numbers, so name order is number order).
 *
 * @example
 * pendingMigrations([{ name: '0001_init.sql', sql }], ['0001_init.sql']); // []
 */
export function pendingMigrations(all: readonly Migration[], applied: readonly string[]): Migration[] {
  const done = new Set(applied);
  return all
    .filter((m) => !done.has(m.name))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * One migration's SQL followed by the row that records it, as wrangler does, so running the
 * script in one transaction (SQLite) or one batch (D1) applies and records it together.
 *
 * @example
 * db.exec(migrationScript({ name: '0001_init.sql', sql: 'CREATE TABLE t (x);' }));
 */
export function migrationScript(m: Migration): string {
  const quoted = `'${m.name.replaceAll("'", "''")}'`;
  const body = m.sql.trimEnd();
  // Terminate the last statement only when needed: D1 may reject an empty statement.
  const end = body === '' || body.endsWith(';') ? '' : ';';
  return `${body}${end}\nINSERT INTO ${MIGRATIONS_TABLE} (name) VALUES (${quoted});\n`;
}

/** What the async runner needs from a database (D1 or anything with an async API). */
export interface MigrationExecutor {
  /** Runs a script of one or more statements; should be atomic where the driver allows it. */
  exec(sql: string): Promise<void>;
  /** Runs a query and returns its rows. */
  all(sql: string): Promise<Array<Record<string, unknown>>>;
}

/**
 * Applies every pending migration in order and returns the names applied (empty when up to date).
 * Safe to call on every start. The SQLite adapter uses the pure helpers above inside one
 * synchronous transaction instead, so two processes starting at once cannot both apply a file.
 *
 * @example
 * const applied = await runMigrations(executor, await loadMigrations());
 */
export async function runMigrations(
  db: MigrationExecutor,
  migrations: readonly Migration[],
): Promise<string[]> {
  await db.exec(CREATE_MIGRATIONS_TABLE);
  const rows = await db.all(LIST_APPLIED);
  const applied = rows.map((r) => String(r.name));
  const todo = pendingMigrations(migrations, applied);
  for (const m of todo) await db.exec(migrationScript(m));
  return todo.map((m) => m.name);
}
