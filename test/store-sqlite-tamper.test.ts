/**
 * Tamper evidence: events written through the store, then edited, deleted or reordered with raw
 * SQL on the file (as someone with disk access could), must fail verification at the right place.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import type { ChainBreak } from '../src/core/ledger.ts';
import { openSqliteStore } from '../src/store/sqlite.ts';
import { LEDGER_CONTENT, swapLedgerRows } from './helpers/ledger-tamper.ts';
import { verifyChain } from './store-contract.ts';
import { event, subject } from './store-fixtures.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** A file with five chained events written by the store (three units), closed. */
async function seeded(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'consent-sync-tamper-'));
  dirs.push(dir);
  const path = join(dir, 'consent.db');
  const store = openSqliteStore({ path });
  await store.migrate();
  await store.commit({ newSubject: subject(1), events: [event('ev-1', 'sub-1'), event('ev-2', 'sub-1')] });
  await store.commit({ events: [event('ev-3', 'sub-1', { action: 'confirmed' })] });
  await store.commit({ events: [event('ev-4', 'sub-1', { action: 'opted_out' }), event('ev-5', 'sub-1')] });
  await store.close();
  return path;
}

/** Applies `edit` to the raw file, then verifies through a freshly opened store. */
async function tamperAndVerify(edit: (db: DatabaseSync) => void): Promise<ChainBreak | null> {
  const path = await seeded();
  const raw = new DatabaseSync(path);
  edit(raw);
  raw.close();
  const store = openSqliteStore({ path });
  const { broken } = await verifyChain(store);
  await store.close();
  return broken;
}

describe('ledger tamper evidence (SQLite file)', () => {
  it('an untouched file verifies', async () => {
    expect(await tamperAndVerify(() => {})).toBeNull();
  });

  it('detects an edited event (hash_mismatch)', async () => {
    const broken = await tamperAndVerify((db) =>
      db.exec("UPDATE ledger SET action = 'opted_in' WHERE seq = 3"),
    );
    expect(broken).toMatchObject({ reason: 'hash_mismatch', seq: 3 });
  });

  it('detects an edited event whose hash was recomputed naively (the next link breaks)', async () => {
    const broken = await tamperAndVerify((db) =>
      db.exec("UPDATE ledger SET hash = 'f' || substr(hash, 2) WHERE seq = 3"),
    );
    expect(broken).toMatchObject({ seq: 3, reason: 'hash_mismatch' });
  });

  it('detects a deleted middle event (gap)', async () => {
    const broken = await tamperAndVerify((db) => db.exec('DELETE FROM ledger WHERE seq = 3'));
    expect(broken).toMatchObject({ reason: 'gap', seq: 3 });
  });

  it('detects a deleted middle event with the rest renumbered (prev_hash_mismatch)', async () => {
    const broken = await tamperAndVerify((db) =>
      db.exec(`DELETE FROM ledger WHERE seq = 3;
        UPDATE ledger SET seq = -(seq - 1) WHERE seq > 3;
        UPDATE ledger SET seq = -seq WHERE seq < 0;
        UPDATE ledger_head SET seq = seq - 1;`),
    );
    expect(broken).toMatchObject({ reason: 'prev_hash_mismatch', seq: 3 });
  });

  it('detects a deleted last event (head_mismatch)', async () => {
    const broken = await tamperAndVerify((db) => db.exec('DELETE FROM ledger WHERE seq = 5'));
    expect(broken).toMatchObject({ reason: 'head_mismatch' });
  });

  it('detects a deleted head row (head_mismatch), though verification stops at the head it reads', async () => {
    const broken = await tamperAndVerify((db) => db.exec('DELETE FROM ledger_head'));
    expect(broken).toMatchObject({ reason: 'head_mismatch' });
  });

  it('detects a deleted tail with the head moved back to the last kept event (head hash differs)', async () => {
    const broken = await tamperAndVerify((db) =>
      db.exec('DELETE FROM ledger WHERE seq = 5; UPDATE ledger_head SET seq = 4'),
    );
    expect(broken).toMatchObject({ reason: 'head_mismatch' });
  });

  it('detects two rows swapped whole (prev_hash_mismatch)', async () => {
    const broken = await tamperAndVerify((db) =>
      swapLedgerRows(db, 2, 3, [...LEDGER_CONTENT, 'prev_hash', 'hash']),
    );
    expect(broken).toMatchObject({ reason: 'prev_hash_mismatch', seq: 2 });
  });

  it('detects two rows with their contents swapped but links kept (hash_mismatch)', async () => {
    const broken = await tamperAndVerify((db) => swapLedgerRows(db, 2, 3, LEDGER_CONTENT));
    expect(broken).toMatchObject({ reason: 'hash_mismatch', seq: 2 });
  });
});
