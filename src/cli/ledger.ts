/**
 * `consent-sync ledger export`: the whole ledger as NDJSON, one event per line in `seq` order, read
 * in pages so memory stays flat however long the ledger is. Each line is the event exactly as
 * stored and hashed (ids, purpose, action, source, times, text version and hash, the evidence as
 * its ciphertext, and the chain links), so the export can be verified on its own; nothing is
 * decrypted, and the people behind the pseudonymous subject ids stay unknown.
 *
 * The export ends with one more line, `{ "end": "consent-sync/ledger/v1", "events", "lastSeq",
 * "lastHash" }`, so a file cut short is recognised.
 *
 * `consent-sync ledger verify`: walks the hash chain like `GET /v1/ledger/verify`; exit code 1 and
 * where it breaks when it does. With `--file` it verifies an export instead (no database, no keys).
 */

import { once } from 'node:events';
import { accessSync, constants, createWriteStream, existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { GENESIS_HASH, ledgerFields } from '../core/ledger.ts';
import type { LedgerRecord } from '../core/types.ts';
import { DB_FILE, openSqliteStore } from '../store/sqlite.ts';
import type { Env } from './boot.ts';
import { EXPORT_FORMAT, verifyExportFile } from './ledger-file.ts';
import { CliError, type Io } from './output.ts';

export interface ExportArgs {
  /** a file to write; stdout when undefined */
  out: string | undefined;
  pageSize: number;
}

/** One exported line: the stored event, field by field, in a fixed order. */
export function exportLine(r: LedgerRecord): string {
  // ledgerFields: the hashed fields, in the chain's own order (src/core/ledger.ts)
  return JSON.stringify({ seq: r.seq, ...ledgerFields(r), prevHash: r.prevHash, hash: r.hash });
}

/**
 * Checks where `--out` would write before anything is read: a missing folder, a folder given as the
 * file, or a read-only place is named in a sentence (Node's own "ENOENT" says none of that).
 */
export function checkOutFile(path: string): string {
  const file = resolve(path);
  const dir = dirname(file);
  if (existsSync(file) && statSync(file).isDirectory())
    throw new CliError(`--out ${path} is a folder; name a file in it`);
  if (!existsSync(dir)) throw new CliError(`--out ${path}: the folder ${dir} does not exist`);
  if (!statSync(dir).isDirectory()) throw new CliError(`--out ${path}: ${dir} is not a folder`);
  try {
    accessSync(existsSync(file) ? file : dir, constants.W_OK);
  } catch {
    throw new CliError(
      `--out ${path}: ${existsSync(file) ? 'the file' : `the folder ${dir}`} is not writable`,
    );
  }
  return file;
}

/** Checks that `--file` names a readable file. */
export function checkInFile(path: string): string {
  const file = resolve(path);
  if (!existsSync(file)) throw new CliError(`--file ${path} does not exist`);
  if (statSync(file).isDirectory()) throw new CliError(`--file ${path} is a folder, not an export file`);
  try {
    accessSync(file, constants.R_OK);
  } catch {
    throw new CliError(`--file ${path} is not readable by this user`);
  }
  return file;
}

export async function ledgerExport(io: Io, env: Env, args: ExportArgs): Promise<number> {
  // Only the store: the export decrypts nothing, so it needs no secrets, connectors or SDKs, and
  // stays small in memory however long the ledger is.
  const path = join(resolve(env.DATA_DIR ?? './data'), DB_FILE);
  if (!existsSync(path)) {
    io.err(`no database at ${path}: set DATA_DIR to the server's data directory`);
    return 1;
  }
  const outFile = args.out ? checkOutFile(args.out) : undefined;
  const store = openSqliteStore({ path });
  const target = outFile ? createWriteStream(outFile) : process.stdout;
  // A write error (disk full, the folder removed meanwhile) ends the export with a sentence.
  let failed: Error | null = null;
  target.on('error', (e: Error) => {
    failed = e;
  });
  let count = 0;
  let last: { seq: number; hash: string } = { seq: 0, hash: GENESIS_HASH };
  try {
    let after = 0;
    for (;;) {
      const page = await store.readLedger(after, args.pageSize);
      if (page.length === 0) break;
      const chunk = `${page.map(exportLine).join('\n')}\n`;
      // Wait for the stream to take the page before reading the next one.
      if (!target.write(chunk)) await Promise.race([once(target, 'drain'), once(target, 'error')]);
      if (failed) break;
      count += page.length;
      const tail = page.at(-1);
      if (tail) last = { seq: tail.seq, hash: tail.hash };
      after = tail?.seq ?? after;
      if (page.length < args.pageSize) break;
    }
    // The end line lets `ledger verify --file` see that the file is complete.
    if (!failed) target.write(`${endLine(count, last)}\n`);
  } finally {
    if (outFile && !failed) {
      target.end();
      await Promise.race([once(target, 'finish'), once(target, 'error')]).catch(() => undefined);
    }
    await store.close();
  }
  if (failed) throw new CliError(`could not write ${args.out ?? 'stdout'}: ${(failed as Error).message}`);
  io.err(`exported ${count} ledger event(s)${args.out ? ` to ${args.out}` : ''}`);
  return 0;
}

/** The export's last line: count and last link, so a file cut short is recognised. */
export function endLine(events: number, last: { seq: number; hash: string }): string {
  return JSON.stringify({ end: EXPORT_FORMAT, events, lastSeq: last.seq, lastHash: last.hash });
}

export async function ledgerVerify(
  io: Io,
  env: Env,
  args: { file?: string | undefined } = {},
): Promise<number> {
  if (args.file) return verifyFile(io, checkInFile(args.file), args.file);
  // loaded here, not at the top: the export must not load the whole service graph
  const { bootCli } = await import('./boot.ts');
  const { services, close } = await bootCli(env, { existingData: true });
  try {
    const result = await services.history.verify();
    if (result.ok) {
      io.out(`✓ ledger intact: ${result.events} event(s), every hash and link checks out`);
      return 0;
    }
    const b = result.brokenAt;
    io.out(`✗ ledger chain broken at event #${b.seq}${b.id ? ` (id ${b.id})` : ''}: ${b.reason}`);
    io.out(`  ${b.message}`);
    io.out(`  ${result.events} event(s) before it verified.`);
    return 1;
  } finally {
    await close();
  }
}

async function verifyFile(io: Io, file: string, shown: string): Promise<number> {
  const v = await verifyExportFile(file);
  if (v.ok) {
    io.out(`✓ ${shown}: ${v.events} event(s), every hash and link checks out, and the file is complete`);
    return 0;
  }
  io.out(`✗ ${shown}, line ${v.line}: ${v.reason}`);
  io.out(`  ${v.message}`);
  io.out(`  ${v.events} event(s) before it verified.`);
  return 1;
}
