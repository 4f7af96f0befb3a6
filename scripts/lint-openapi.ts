/**
 * `npm run lint:openapi` (part of `npm test`): writes `/openapi.json` exactly as the app serves it
 * (a throwaway DATA_DIR, test mode, nothing listens) and runs Redocly CLI's `recommended` rules over
 * it (redocly.yaml). Any error or warning fails the run. `--out <file>` keeps the description.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createApp } from '../src/http/app.ts';
import { createLogger } from '../src/runtime/logger.ts';
import { bootNode } from '../src/runtime/node.ts';

const { values } = parseArgs({ options: { out: { type: 'string' } } });
const dir = mkdtempSync(join(tmpdir(), 'consent-sync-openapi-'));
let code = 1;
try {
  const { services, store } = await bootNode({
    // servers[0] is PUBLIC_URL when set (else the request's origin, which would be localhost here)
    env: {
      NODE_ENV: 'test',
      DATA_DIR: dir,
      LOG_LEVEL: 'silent',
      PUBLIC_URL: 'https://consent-sync.company.invalid',
    },
    log: createLogger('silent'),
  });
  const res = await createApp(services).request('http://localhost:8787/openapi.json');
  const doc = await res.text();
  await services.dispatcher.stop();
  await store.close();
  const file = values.out ?? join(dir, 'openapi.json');
  writeFileSync(file, `${JSON.stringify(JSON.parse(doc), null, 2)}\n`);
  const root = new URL('../', import.meta.url).pathname;
  const run = spawnSync(
    join(root, 'node_modules/.bin/redocly'),
    ['lint', file, '--config', join(root, 'redocly.yaml'), '--max-problems', '200', '--format', 'stylish'],
    {
      encoding: 'utf8',
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
    },
  );
  const output = `${run.stdout ?? ''}${run.stderr ?? ''}`;
  process.stdout.write(output);
  // Redocly exits 0 on warnings; here a warning fails the run as an error does.
  const warned = /\swarning\s|You have \d+ warning/.test(output);
  code = run.status !== 0 ? (run.status ?? 1) : warned ? 1 : 0;
  if (code === 0) process.stdout.write('openapi: 0 errors, 0 warnings\n');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(code);
