/**
 * `consent-sync keys rotate`: moves everything `PII_KEYS_RETIRED` still protects to `PII_KEY` (data
 * keys re-wrapped, live lookup hashes recomputed, dead events re-sealed), page by page with a
 * progress bar, then stores the retired keys' lookup keys so erased people's tombstones keep
 * matching. Resumable: a second run continues where the first stopped; a finished one has nothing
 * to do. The logic is `src/service/key-rotation.ts` (the Workers cron runs the same). Counts only.
 */
import { DEFAULT_PAGE_SIZE, RotationError, rotateKeys, rotationState } from '../service/key-rotation.ts';
import { bootCli, type Env } from './boot.ts';
import { CliError, type Io, table } from './output.ts';
import { progressBar } from './progress.ts';

export interface RotateArgs {
  pageSize: number | undefined;
  /** stop after this many pages (the next run continues) */
  maxPages: number | undefined;
}

const REMOVE =
  'PII_KEYS_RETIRED can now be removed: restart (or redeploy) without it. Keep a backup of the retired ' +
  'keys until the database backups made before the rotation have expired.';

export async function keysRotate(io: Io, env: Env, args: RotateArgs): Promise<number> {
  const { services, close } = await bootCli(env, { existingData: true });
  try {
    const { store, pii, clock } = services;
    if (pii.retiredKeyIds.length === 0) {
      throw new CliError(
        'PII_KEYS_RETIRED is not set: set PII_KEY to the new key and PII_KEYS_RETIRED to the old one(s), then run again',
      );
    }
    const before = await rotationState(services);
    if (before?.phase === 'done') {
      io.out(`Nothing to do: every data key and lookup hash moved to PII_KEY on ${before.finishedAt}.`);
      io.out(REMOVE);
      return 0;
    }
    // People left from where an earlier run stopped (a first run: everyone).
    const total = await store.countSubjects(before?.phase === 'subjects' ? before.cursor : '');
    const bar = progressBar(io, 'rotating', 'people', total);
    let people = 0;
    let result: Awaited<ReturnType<typeof rotateKeys>>;
    try {
      result = await rotateKeys(
        { store, pii, clock },
        {
          pageSize: args.pageSize ?? DEFAULT_PAGE_SIZE,
          ...(args.maxPages !== undefined ? { maxPages: args.maxPages } : {}),
          onPage: (step) => {
            people += step.subjects;
            bar.update(people);
          },
        },
      );
    } catch (e) {
      if (e instanceof RotationError) throw new CliError(e.message);
      throw e;
    } finally {
      bar.stop();
    }
    io.out(
      table([
        {
          'people (this run)': result.subjects,
          'data keys re-wrapped': result.rewrapped,
          'lookup hashes moved': result.rehashed,
          'dead events re-sealed': result.resealed,
          'unreadable dead events': result.unreadable,
          'retired lookup keys stored': pii.matchingKeyIds().length,
        },
      ]),
    );
    if (!result.done) {
      const left = await store.countSubjects(
        result.state.phase === 'subjects' ? result.state.cursor : '\uffff',
      );
      io.out(
        `Stopped after ${result.pages} page(s), ${left} people left: run consent-sync keys rotate again to continue.`,
      );
      return 0;
    }
    io.out(
      `Key rotation complete (${result.state.subjects} people in all since ${result.state.startedAt}): ` +
        "every data key, lookup hash and dead event is under PII_KEY, and the retired keys' lookup keys " +
        'are stored wrapped under it, so erased people stay suppressed.',
    );
    io.out(REMOVE);
    return 0;
  } finally {
    await close();
  }
}
