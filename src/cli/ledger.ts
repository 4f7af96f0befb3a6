/**
 * `consent-sync ledger export`: the whole ledger as NDJSON, one event per line in `seq` order, read
 * in pages so memory stays flat however long the ledger is. Each line is the event exactly as
 * stored and hashed (ids, purpose, action, source, times, text version and hash, the evidence as
 * its ciphertext, and the chain links), so the export can be verified on its own; nothing is
 * decrypted, and the people behind the pseudonymous subject ids stay unknown.
 *
 * `consent-sync ledger verify`: walks the hash chain like `GET /v1/ledger/verify`; exit code 1 and
 * where it breaks when it does.
 */

import { once } from 'node:events';
import { createWriteStream, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ledgerFields } from '../core/ledger.ts';
import type { LedgerRecord } from '../core/types.ts';
import { DB_FILE, openSqliteStore } from '../store/sqlite.ts';
import type { Env } from './boot.ts';
import type { Io } from './output.ts';

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

export async function ledgerExport(io: Io, env: Env, args: ExportArgs): Promise<number> {
  // Only the store: the export decrypts nothing, so it needs no secrets, connectors or SDKs, and
  // stays small in memory however long the ledger is.
  const path = join(resolve(env.DATA_DIR ?? './data'), DB_FILE);
  if (!existsSync(path)) {
    io.err(`no database at ${path}: set DATA_DIR to the server's data directory`);
    return 1;
  }
  const store = openSqliteStore({ path });
  const target = args.out ? createWriteStream(args.out) : process.stdout;
  let count = 0;
  try {
    let after = 0;
    for (;;) {
      const page = await store.readLedger(after, args.pageSize);
      if (page.length === 0) break;
      const chunk = `${page.map(exportLine).join('\n')}\n`;
      // Wait for the stream to take the page before reading the next one.
      if (!target.write(chunk)) await once(target, 'drain');
      count += page.length;
      after = page.at(-1)?.seq ?? after;
      if (page.length < args.pageSize) break;
    }
  } finally {
    if (args.out) {
      target.end();
      await once(target, 'finish');
    }
    await store.close();
  }
  io.err(`exported ${count} ledger event(s)${args.out ? ` to ${args.out}` : ''}`);
  return 0;
}

export async function ledgerVerify(io: Io, env: Env): Promise<number> {
  // loaded here, not at the top: the export must not load the whole service graph
  const { bootCli } = await import('./boot.ts');
  const { services, close } = await bootCli(env);
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
