/**
 * DATA_DIR checked before anything is opened in it, so a typo gives a sentence naming the problem
 * instead of SQLite's "unable to open database file" with a stack trace. The server may create the
 * folder when its parent exists (and says so); read commands never create anything.
 */
import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConfigError } from '../config.ts';
import { DB_FILE } from '../store/sqlite.ts';

/** What `prepareDataDir` found: `created` when the folder did not exist and was made now. */
export interface DataDir {
  path: string;
  created: boolean;
}

const problem = (message: string) =>
  new ConfigError(['DATA_DIR'], `Configuration error: DATA_DIR ${message}`);

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks that `dir` is a writable folder, creating it when only the last part is missing.
 *
 * @example
 * const { created } = prepareDataDir('/srv/consent-sync/data'); // throws ConfigError('DATA_DIR …')
 */
export function prepareDataDir(dir: string): DataDir {
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw problem(`${dir} is a file, not a folder`);
    if (!writable(dir)) throw problem(`${dir} is not writable by this user`);
    return { path: dir, created: false };
  }
  const parent = dirname(dir);
  if (!existsSync(parent)) {
    throw problem(
      `${dir} does not exist, nor does its parent folder ${parent}: create it (mkdir -p) or fix the path`,
    );
  }
  if (!statSync(parent).isDirectory()) throw problem(`${dir} cannot be created: ${parent} is a file`);
  if (!writable(parent)) {
    throw problem(`${dir} does not exist and cannot be created: ${parent} is not writable by this user`);
  }
  mkdirSync(dir);
  return { path: dir, created: true };
}

/**
 * For commands that read what a server wrote: the database must be there already. Nothing is
 * created (no folder, no secrets, no empty database that would "verify" as intact).
 *
 * @example
 * requireDatabase('/srv/consent-sync/data'); // throws ConfigError when consent-sync.db is missing
 */
export function requireDatabase(dir: string): string {
  const file = join(dir, DB_FILE);
  if (!existsSync(dir)) {
    throw problem(`${dir} does not exist: point DATA_DIR at the server's data folder (nothing was created)`);
  }
  if (!existsSync(file)) {
    throw problem(
      `${dir} holds no database (${DB_FILE}): point DATA_DIR at the server's data folder (nothing was created)`,
    );
  }
  return file;
}
