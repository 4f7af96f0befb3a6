/**
 * Storage limitation (GDPR Art. 5(1)(e)): what is kept only as long as it serves a purpose,
 * purged by a periodic job (Node timer; Cron on Workers) that reports counts, never people.
 *
 * - Unconfirmed people: a double opt-in that expired and was never confirmed, with no opt-out, holds
 *   a number that proves nothing. After `RETENTION_UNCONFIRMED_DAYS` the person is crypto-shredded
 *   (their ledger events stay chained, unreadable); no tombstone, so they may be asked again.
 * - WhatsApp message metadata (ids of messages we sent, which map status webhooks to a person):
 *   `RETENTION_MESSAGES_DAYS`.
 * - Finished sync jobs: `RETENTION_JOBS_DAYS`; dead letters: `RETENTION_DEAD_LETTERS_DAYS`.
 * - Inbound webhook dedupe keys and last-written CRM values (echo suppression):
 *   `RETENTION_DEDUPE_DAYS` (at least 7: Meta redelivers for up to 7 days).
 * - The audit log (admin actions; failed sign-ins counted per client network and hour):
 *   `RETENTION_AUDIT_DAYS` (default a year; 0 keeps it for ever).
 * Consent and opt-out evidence is not purged: it is what proves consent (Art. 7(1)) and what keeps an
 * opt-out honoured; it goes with the person's erasure.
 */
import type { Config } from '../config.ts';
import type { PiiCrypto } from '../crypto/pii.ts';
import type { Log } from '../service/log.ts';
import type { RetentionCutoffs, Store } from '../store/port.ts';

export type RetentionReport = Record<keyof RetentionCutoffs | 'unconfirmedPeople', number>;

type RetentionConfig = Pick<
  Config,
  | 'RETENTION_UNCONFIRMED_DAYS'
  | 'RETENTION_MESSAGES_DAYS'
  | 'RETENTION_JOBS_DAYS'
  | 'RETENTION_DEAD_LETTERS_DAYS'
  | 'RETENTION_DEDUPE_DAYS'
  | 'RETENTION_AUDIT_DAYS'
>;

/**
 * @example
 * const report = await purgeExpired({ store, pii, clock, log, config }); // { finishedJobs: 120, … }
 */
export async function purgeExpired(deps: {
  store: Store;
  pii: PiiCrypto;
  clock: () => Date;
  log: Log;
  config: RetentionConfig;
}): Promise<RetentionReport> {
  const { store, config } = deps;
  const now = deps.clock().getTime();
  const cutoff = (days: number) => (days > 0 ? new Date(now - days * 86_400_000).toISOString() : null);
  const counts = await store.purge({
    finishedJobs: cutoff(config.RETENTION_JOBS_DAYS),
    deadLetters: cutoff(config.RETENTION_DEAD_LETTERS_DAYS),
    inboundDedupe: cutoff(config.RETENTION_DEDUPE_DAYS),
    sentMessages: cutoff(config.RETENTION_MESSAGES_DAYS),
    syncWrites: cutoff(config.RETENTION_DEDUPE_DAYS),
    // Unreadable webhook events are kept as long as dead letters: both wait for an operator.
    deadEvents: cutoff(config.RETENTION_DEAD_LETTERS_DAYS),
    audit: cutoff(config.RETENTION_AUDIT_DAYS),
  });
  let unconfirmedPeople = 0;
  const before = cutoff(config.RETENTION_UNCONFIRMED_DAYS);
  if (before) {
    for (;;) {
      const ids = await store.findUnconfirmed(before, 500);
      if (ids.length === 0) break;
      await store.commit({ shred: ids });
      for (const id of ids) deps.pii.forget(id);
      unconfirmedPeople += ids.length;
      if (ids.length < 500) break;
    }
  }
  // What the deletes and shreds left in the store's files (SQLite's WAL), and any an erasure could not remove.
  if ((await store.scrub?.().catch(() => false)) === false)
    deps.log.warn({}, 'retention: the database WAL could not be emptied yet');
  const report = { ...counts, unconfirmedPeople };
  deps.log.info(report, 'retention purge');
  return report;
}
