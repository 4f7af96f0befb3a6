/**
 * The Node inbox in a database file of its own (`DATA_DIR/inbox.db`, issue 17): only migration
 * 0009's `inbox` table and indexes, on a connection with the main store's pragmas, group commit,
 * fdatasync and busy handling, and a small page cache. The main thread appends (the webhook's
 * acknowledgement) and asks the send guard's question; the decider reads and deletes decided rows.
 *
 * Acknowledgement commits go to this small file only, so they no longer invalidate the decider's
 * page cache of the main database (SQLite drops a connection's cache when another connection
 * committed to the same file). There is no commit across both files: a row is deleted here after
 * the main database's commit that applied it, and a row decided again is a no-op by its dedupe key.
 */
import type { InboxRow } from './inbox-sql.ts';
import { loadMigrations } from './migrations.node.ts';
import type { Store } from './port.ts';
import { openSqliteStore } from './sqlite.ts';

/** The inbox file's name inside `DATA_DIR`, next to `consent-sync.db`. */
export const INBOX_FILE = 'inbox.db';

/** The only migration the inbox file gets: the `inbox` table and its opt-out indexes. */
export const INBOX_MIGRATION = '0009';

/** What `DurableInbox` needs of the inbox file. */
export interface InboxStore {
  /** Appends rows (an existing id is kept); resolves once the commit is durable. */
  append(rows: InboxRow[]): Promise<void>;
  /** Up to `limit` undecided rows, oldest first. */
  read(limit: number): Promise<InboxRow[]>;
  /** How many rows wait to be decided. */
  depth(): Promise<number>;
  /** The opt-out scopes (`*` or comma-separated purposes) of undecided rows naming any of these hashes. */
  optOuts(hashes: string[]): Promise<string[]>;
  /** Deletes decided rows (after the commit that applied them). */
  delete(ids: string[]): Promise<void>;
  /** Copies the WAL back into the file and empties it (after an erasure); false when it could not. */
  scrub(): Promise<boolean>;
  close(): Promise<void>;
}

/** Page cache of the inbox connection: the table holds what waits to be decided, nothing more. */
const INBOX_CACHE_KIB = 2048;

/**
 * Opens (and, with `migrate`, creates) the inbox file. Both threads open it; only the first opener
 * (the server, before the decider starts) migrates.
 */
export async function openInboxStore(path: string, options: { migrate?: boolean } = {}): Promise<InboxStore> {
  const migrations = loadMigrations().filter((m) => m.name.startsWith(INBOX_MIGRATION));
  if (migrations.length !== 1) throw new Error(`inbox migration ${INBOX_MIGRATION} not found`);
  const s = openSqliteStore({ path, migrations, cacheKib: INBOX_CACHE_KIB, ledger: false });
  if (options.migrate !== false) await s.migrate();
  const write = async (unit: { inbox?: InboxRow[]; inboxDone?: string[] }) => {
    const r = await s.commit(unit);
    if (r.status !== 'committed') throw new Error(`inbox write not stored: ${r.status}`);
  };
  return {
    append: (rows) => (rows.length ? write({ inbox: rows }) : Promise.resolve()),
    read: (limit) => s.readInbox(limit),
    depth: () => s.inboxDepth(),
    optOuts: (hashes) => s.inboxOptOuts(hashes),
    delete: (ids) => (ids.length ? write({ inboxDone: ids }) : Promise.resolve()),
    scrub: () => s.scrub?.() ?? Promise.resolve(true),
    close: () => s.close(),
  };
}

/**
 * Upgrade: rows a previous version left in the main database's `inbox` table are moved to the inbox
 * file before the decider starts: appended there (durable), then deleted from the main database. A
 * crash between the two leaves a row in both; it is moved again (same id: kept once) or, when decided
 * meanwhile, decided again as a no-op by its dedupe key. The old table stays (migrations are
 * append-only). Returns how many rows were moved.
 */
export async function moveLegacyInbox(main: Store, inbox: InboxStore, batch = 1_000): Promise<number> {
  let moved = 0;
  for (;;) {
    const rows = await main.readInbox(batch);
    if (rows.length === 0) return moved;
    await inbox.append(rows);
    const r = await main.commit({ inboxDone: rows.map((row) => row.id) });
    if (r.status !== 'committed') throw new Error(`legacy inbox rows not deleted: ${r.status}`);
    moved += rows.length;
  }
}
