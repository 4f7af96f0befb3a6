import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { JSONFilePreset } from 'lowdb/node';
import { toBase64 } from '../crypto/encoding.ts';

/** The secrets development mode generates when they are not in the environment. */
const GENERATED = ['PII_KEY', 'API_KEYS', 'WHATSAPP_APP_SECRET', 'WHATSAPP_VERIFY_TOKEN'] as const;
type DevSecrets = Partial<Record<(typeof GENERATED)[number], string>>;

const random = (bytes: number) => toBase64(crypto.getRandomValues(new Uint8Array(bytes)));
const token = () => random(24).replace(/[+/=]/g, '');

function generate(name: (typeof GENERATED)[number]): string {
  switch (name) {
    case 'PII_KEY':
      return random(32);
    case 'API_KEYS':
      return ['admin', 'editor', 'operator', 'auditor', 'intake']
        .map((r) => `${r}:dev-${r}-${token()}`)
        .join(',');
    default:
      return token();
  }
}

/**
 * Development mode: fills missing secrets from `DATA_DIR/dev-secrets.json`, generating and keeping
 * them there (a small human-editable JSON file, so lowdb). Returns the environment to parse and the
 * names that came from the file, for a loud warning.
 */
export async function withDevSecrets(
  env: Record<string, string | undefined>,
  dataDir: string,
): Promise<{ env: Record<string, string | undefined>; fromFile: string[]; file: string }> {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'dev-secrets.json');
  const db = await JSONFilePreset<DevSecrets>(file, {});
  const out = { ...env };
  const fromFile: string[] = [];
  for (const name of GENERATED) {
    if (out[name]?.trim()) continue;
    db.data[name] ??= generate(name);
    out[name] = db.data[name];
    fromFile.push(name);
  }
  await db.write();
  return { env: out, fromFile, file };
}
