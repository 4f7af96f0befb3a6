import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { toBase64 } from '../crypto/encoding.ts';

/** The secrets development mode generates when they are not in the environment. */
const GENERATED = ['PII_KEY', 'API_KEYS', 'WHATSAPP_APP_SECRET', 'WHATSAPP_VERIFY_TOKEN'] as const;
type DevSecrets = Partial<Record<(typeof GENERATED)[number], string>>;

/** Owner read and write only: the file holds the PII key and every role's API key. */
const MODE = 0o600;

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
 * Writes the file atomically (a temporary file renamed over it), created with mode 0600 so the
 * secrets are never readable by others, not even for a moment.
 */
function writeSecrets(file: string, data: DevSecrets): void {
  const tmp = `${file}.tmp`;
  rmSync(tmp, { force: true }); // a leftover from a crash may have another mode; `mode` applies only on create
  writeFileSync(tmp, `${JSON.stringify(data, null, 2)}\n`, { mode: MODE, flag: 'wx' });
  renameSync(tmp, file);
}

/**
 * Development mode: fills missing secrets from `DATA_DIR/dev-secrets.json`, generating and keeping
 * them there (a small human-editable JSON file, mode 0600; a file found with a wider mode is narrowed
 * to 0600). Returns the environment to parse, the names that came from the file (for a loud
 * warning) and the mode the file had when it was wider than 0600.
 *
 * @example
 * const { env, fromFile } = await withDevSecrets(process.env, './data'); // fromFile: ['PII_KEY', …]
 */
export async function withDevSecrets(
  env: Record<string, string | undefined>,
  dataDir: string,
): Promise<{
  env: Record<string, string | undefined>;
  fromFile: string[];
  file: string;
  narrowedFrom?: number;
}> {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'dev-secrets.json');
  let narrowedFrom: number | undefined;
  let data: DevSecrets = {};
  if (existsSync(file)) {
    const mode = statSync(file).mode & 0o777;
    if (mode & 0o077) {
      chmodSync(file, MODE);
      narrowedFrom = mode;
    }
    data = JSON.parse(readFileSync(file, 'utf8')) as DevSecrets;
  }
  const out = { ...env };
  const fromFile: string[] = [];
  let generated = false;
  for (const name of GENERATED) {
    if (out[name]?.trim()) continue;
    if (!data[name]) {
      data[name] = generate(name);
      generated = true;
    }
    out[name] = data[name];
    fromFile.push(name);
  }
  if (generated) writeSecrets(file, data);
  return { env: out, fromFile, file, ...(narrowedFrom !== undefined ? { narrowedFrom } : {}) };
}
