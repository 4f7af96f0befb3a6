/**
 * `doctor`'s PII key check (docs/key-rotation.md): whether the configured keys open the stored data
 * keys (a sample of people), where a rotation stands, and whether every stored lookup key of a
 * retired key still opens. Reads only.
 */
import type { Config } from '../config.ts';
import { fromBase64 } from '../crypto/encoding.ts';
import { createPiiCrypto } from '../crypto/pii.ts';
import { rotationState } from '../service/key-rotation.ts';
import { openSqliteStore } from '../store/sqlite.ts';
import type { Check } from './output.ts';

/** People whose data keys are tried: enough to notice a wrong key, cheap on any database. */
const SAMPLE = 50;

export async function checkPiiKeys(config: Config, dbPath: string): Promise<Check[]> {
  const store = openSqliteStore({ path: dbPath });
  try {
    const pii = await createPiiCrypto(fromBase64(config.PII_KEY), {
      retired: config.PII_KEYS_RETIRED.map(fromBase64),
    });
    const checks: Check[] = [];
    const sample = (await store.listSubjects('', SAMPLE)).filter((r) => r.dekWrapped !== null);
    let retired = 0;
    let none = 0;
    for (const row of sample) {
      try {
        if ((await pii.rewrap(row.id, row.dekWrapped as string)) !== null) retired++;
      } catch {
        none++;
      }
    }
    if (none > 0) {
      checks.push({
        name: 'pii keys',
        status: 'fail',
        detail: `${none} of ${sample.length} sampled data keys open under neither PII_KEY nor PII_KEYS_RETIRED`,
        hint: 'PII_KEY was replaced without a rotation: set PII_KEYS_RETIRED to the old key (docs/key-rotation.md)',
      });
    }
    const rows = await store.listLookupKeys();
    const unopened = await pii.loadLookupKeys(rows);
    if (unopened.length > 0) {
      checks.push({
        name: 'pii lookup keys',
        status: 'fail',
        detail: `${unopened.length} stored lookup key(s) open under no configured key: tombstones made under them no longer match`,
        hint: 'put the PII key they were stored under back into PII_KEYS_RETIRED and run consent-sync keys rotate',
      });
    }
    const archive = rows.length > 0 ? `; ${rows.length} retired lookup key(s) stored for tombstones` : '';
    if (pii.retiredKeyIds.length === 0) {
      if (none === 0) checks.push({ name: 'pii keys', status: 'ok', detail: `PII_KEY only${archive}` });
      return checks;
    }
    const state = await rotationState({ store, pii });
    if (state?.phase === 'done') {
      checks.push({
        name: 'pii key rotation',
        status: 'warn',
        detail: `finished ${state.finishedAt}: nothing is left under PII_KEYS_RETIRED`,
        hint: "remove PII_KEYS_RETIRED and restart (the retired keys' lookup keys are stored)",
      });
    } else {
      const left = await store.countSubjects(state?.phase === 'subjects' ? state.cursor : '');
      checks.push({
        name: 'pii key rotation',
        status: 'warn',
        detail: state
          ? `pending: ${state.phase === 'subjects' ? `${left} people left` : 'dead events left'}`
          : `pending: ${pii.retiredKeyIds.length} retired key(s), ${retired} of ${sample.length} sampled data keys still under one`,
        hint: 'run consent-sync keys rotate (on Workers the every-minute cron moves a batch per run)',
      });
    }
    return checks;
  } finally {
    await store.close();
  }
}
