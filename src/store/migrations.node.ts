/**
 * Reads the migration files on Node. Kept apart from `migrate.ts` so the runner stays free of
 * `node:fs` and can be bundled for Workers (where D1 migrations are applied by wrangler or passed in).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Migration } from './migrate.ts';

/** The folder `wrangler d1 migrations` also reads (`migrations_dir` in wrangler config). */
export const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

/**
 * Every `.sql` file in the folder, sorted by name (the order wrangler applies them in).
 *
 * @example
 * const migrations = loadMigrations(); // [{ name: '0001_init.sql', sql: 'CREATE TABLE …' }]
 */
export function loadMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.sql'))
    .sort()
    .map((name) => ({ name, sql: readFileSync(join(dir, name), 'utf8') }));
}
