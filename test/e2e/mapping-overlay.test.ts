/**
 * Where mapping saves go on Node (issue 16): the shipped `mappings/` (or `MAPPINGS_DIR`) are the
 * defaults and are never rewritten; a save from the console or the API is written under
 * `DATA_DIR/mappings/` and wins over the default, also after a restart. Booted as `npm start` boots
 * (`bootNode`), against the HubSpot simulator.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/http/app.ts';
import { createLogger } from '../../src/runtime/logger.ts';
import { bootNode } from '../../src/runtime/node.ts';
import { signIn } from '../helpers/console.ts';
import { HUBSPOT } from '../helpers/crm.ts';
import { TOKENS } from '../helpers/harness.ts';
import { secretsEnv } from '../helpers/node-server.ts';
import { ROOT } from '../helpers/process.ts';
import { type HubSpotSimulator, startHubSpotSimulator } from '../sim/hubspot.ts';

const SHIPPED = join(ROOT, 'mappings');
let hubspot: HubSpotSimulator;
const dirs: string[] = [];
const temp = () => {
  const d = mkdtempSync(join(tmpdir(), 'consent-sync-overlay-'));
  dirs.push(d);
  return d;
};

beforeAll(async () => {
  hubspot = await startHubSpotSimulator({ accessToken: HUBSPOT.token, clientSecret: HUBSPOT.secret });
});
afterAll(async () => {
  await hubspot?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const env = (extra: Record<string, string>) => ({
  NODE_ENV: 'test',
  ...secretsEnv(),
  HUBSPOT_ACCESS_TOKEN: HUBSPOT.token,
  HUBSPOT_CLIENT_SECRET: HUBSPOT.secret,
  HUBSPOT_BASE_URL: hubspot.url,
  ...extra,
});

async function boot(e: Record<string, string>) {
  const node = await bootNode({ env: e, log: createLogger('silent') });
  const app = createApp(node.services);
  return {
    ...node,
    app,
    async close() {
      await node.services.dispatcher.stop();
      await node.store.close();
    },
  };
}

/** Every file of a folder and its subfolders (mappings/examples/), byte for byte. */
const snapshot = (dir: string) =>
  Object.fromEntries(
    readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => {
        const path = join(e.parentPath, e.name);
        return [path, readFileSync(path)];
      }),
  );

describe('mapping saves on Node', () => {
  it('a console save goes to DATA_DIR/mappings; the shipped mappings/*.json stay byte-identical; a restart keeps it', async () => {
    const before = snapshot(SHIPPED);
    const dataDir = temp();
    // MAPPINGS_DIR unset: the default ./mappings is the repository's folder (vitest runs in ROOT).
    expect(process.cwd()).toBe(ROOT.replace(/\/$/, ''));
    const first = await boot(env({ DATA_DIR: dataDir }));
    try {
      const view = (await (
        await first.app.request('/v1/mappings/hubspot', {
          headers: { authorization: `Bearer ${TOKENS.editor}` },
        })
      ).json()) as { storedIn: string; mapping: { fields: Array<Record<string, unknown>> } };
      expect(view.storedIn).toContain(`an edit is saved as ${join(dataDir, 'mappings', 'hubspot.json')}`);
      const draft = structuredClone(view.mapping);
      draft.fields[3] = { ...draft.fields[3], description: 'edited in the console' };
      const s = await signIn((p, i) => Promise.resolve(first.app.request(p, i)), TOKENS.editor);
      const saved = await s.post('/admin/mappings/hubspot/save', { mapping: JSON.stringify(draft) });
      expect(saved.status).toBe(303);
      expect(first.services.mappings.get('hubspot').fields[3]?.description).toBe('edited in the console');
    } finally {
      await first.close();
    }
    const edit = JSON.parse(readFileSync(join(dataDir, 'mappings', 'hubspot.json'), 'utf8'));
    expect(edit.fields[3].description).toBe('edited in the console');
    expect(snapshot(SHIPPED)).toEqual(before);

    const second = await boot(env({ DATA_DIR: dataDir }));
    try {
      expect(second.services.mappings.get('hubspot').fields[3]?.description).toBe('edited in the console');
      expect(second.services.mappings.storedIn('hubspot')).toBe(join(dataDir, 'mappings', 'hubspot.json'));
    } finally {
      await second.close();
    }
  });

  it('MAPPINGS_DIR set by the operator: its file is the default and is never rewritten; the edit goes to DATA_DIR', async () => {
    const dataDir = temp();
    const own = temp();
    const mine = JSON.parse(readFileSync(join(SHIPPED, 'hubspot.json'), 'utf8'));
    mine.fields[0].description = 'kept in our own repository';
    const text = `${JSON.stringify(mine, null, 4)}\n`;
    writeFileSync(join(own, 'hubspot.json'), text);
    const node = await boot(env({ DATA_DIR: dataDir, MAPPINGS_DIR: own }));
    try {
      expect(node.services.mappings.get('hubspot').fields[0]?.description).toBe('kept in our own repository');
      const draft = structuredClone(node.services.mappings.get('hubspot'));
      draft.fields[0] = { ...draft.fields[0]!, description: 'edited through the API' };
      const res = await node.app.request('/v1/mappings/hubspot', {
        method: 'PUT',
        headers: { authorization: `Bearer ${TOKENS.editor}`, 'content-type': 'application/json' },
        body: JSON.stringify(draft),
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { storedIn: string }).storedIn).toBe(
        join(dataDir, 'mappings', 'hubspot.json'),
      );
    } finally {
      await node.close();
    }
    expect(readFileSync(join(own, 'hubspot.json'), 'utf8')).toBe(text);
    expect(existsSync(join(own, 'salesforce.json'))).toBe(false);
    expect(
      JSON.parse(readFileSync(join(dataDir, 'mappings', 'hubspot.json'), 'utf8')).fields[0].description,
    ).toBe('edited through the API');
  });
});
