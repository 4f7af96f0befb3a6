/**
 * The shared Store contract against the D1 adapter, inside workerd (vitest project `workers`).
 * Every test starts from an empty database: `reset()` deletes the D1 storage, `migrate()` rebuilds it.
 */
import { reset } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { openD1Store } from '../../src/store/d1.ts';
import { storeContract } from '../store-contract.ts';

storeContract('d1', async () => {
  await reset();
  return openD1Store({ db: env.DB, migrations: env.TEST_MIGRATIONS });
});
