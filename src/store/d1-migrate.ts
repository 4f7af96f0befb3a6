/**
 * Migrations on D1 through the shared runner (`migrate.ts`): each migration script is split into
 * statements and run as one `db.batch`, so a migration and its `d1_migrations` row are applied
 * together or not at all, as `wrangler d1 migrations apply` does.
 */
import type { D1Database } from '@cloudflare/workers-types/index.ts';
import { LIST_APPLIED, type Migration, type MigrationExecutor, runMigrations } from './migrate.ts';

/**
 * Splits a SQL script into statements at top-level semicolons: not inside quotes, identifiers or
 * comments, nor inside a trigger's BEGIN … END. Drops pieces with nothing but whitespace and comments.
 *
 * @example
 * splitSql('CREATE TABLE a (x); -- done\nINSERT INTO a VALUES (\';\');'); // two statements
 */
export function splitSql(script: string): string[] {
  const out: string[] = [];
  let start = 0;
  let code = ''; // the current statement without comments and quoted text, to spot BEGIN … END
  let i = 0;
  const push = (end: number) => {
    const stmt = script.slice(start, end).trim();
    if (code.trim() !== '') out.push(stmt);
    start = end + 1;
    code = '';
  };
  while (i < script.length) {
    const c = script[i] as string;
    const next = script[i + 1];
    if (c === '-' && next === '-') {
      const nl = script.indexOf('\n', i);
      i = nl === -1 ? script.length : nl;
    } else if (c === '/' && next === '*') {
      const close = script.indexOf('*/', i + 2);
      i = close === -1 ? script.length : close + 2;
      code += ' ';
    } else if (c === "'" || c === '"' || c === '`' || c === '[') {
      const closer = c === '[' ? ']' : c;
      let j = i + 1;
      for (;;) {
        const k = script.indexOf(closer, j);
        if (k === -1) {
          j = script.length;
          break;
        }
        // A doubled quote is an escaped quote inside the literal.
        if (closer !== ']' && script[k + 1] === closer) {
          j = k + 2;
          continue;
        }
        j = k + 1;
        break;
      }
      code += ' x ';
      i = j;
    } else if (c === ';') {
      const inTrigger =
        /^\s*CREATE\s+(TEMP\s+|TEMPORARY\s+)?TRIGGER\b/i.test(code) && !/\bEND\s*$/i.test(code);
      if (inTrigger) code += c;
      else push(i);
      i += 1;
    } else {
      code += c;
      i += 1;
    }
  }
  push(script.length);
  return out;
}

/** The runner's executor over D1: a script is one batch (atomic), a query one statement. */
export function d1Executor(db: D1Database): MigrationExecutor {
  return {
    async exec(sql) {
      const statements = splitSql(sql).map((s) => db.prepare(s));
      if (statements.length > 0) await db.batch(statements);
    },
    async all(sql) {
      return (await db.prepare(sql).all<Record<string, unknown>>()).results;
    },
  };
}

/** Attempts of `migrateD1` while another migrator keeps making progress. */
const MAX_MIGRATE_ATTEMPTS = 5;

/**
 * Applies pending migrations; returns the names applied by its last (successful) run. Two
 * isolates migrating at once: the loser's batch fails (its tables or its `d1_migrations` row exist
 * already) and rolls back; it then starts over from the applied list, for as long as that list
 * keeps moving. A failure with no progress since the previous attempt is the migration's own and
 * is thrown.
 *
 * @example
 * await migrateD1(env.DB, migrations);
 */
export async function migrateD1(db: D1Database, migrations: readonly Migration[]): Promise<string[]> {
  const executor = d1Executor(db);
  const appliedList = async () => JSON.stringify(await executor.all(LIST_APPLIED).catch(() => []));
  let before = await appliedList();
  for (let attempt = 1; ; attempt++) {
    try {
      return await runMigrations(executor, migrations);
    } catch (err) {
      const after = await appliedList();
      if (after === before || attempt >= MAX_MIGRATE_ATTEMPTS) throw err;
      before = after;
    }
  }
}

/**
 * Without bundled migrations the schema is applied at deploy time (`wrangler d1 migrations apply`):
 * fail early and clearly when that has not happened.
 */
export async function assertMigrated(db: D1Database): Promise<void> {
  let applied: unknown[] = [];
  try {
    applied = (await db.prepare(LIST_APPLIED).all()).results;
  } catch {
    // no d1_migrations table
  }
  if (applied.length === 0) {
    throw new Error(
      'D1 database has no applied migrations: run `wrangler d1 migrations apply` or pass `migrations` to openD1Store',
    );
  }
}
