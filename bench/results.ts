import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Writes a benchmark result as `bench/results/<name>-<time>.json` and `<name>-latest.json`. */
export function writeResult(name: string, result: { at: string }): void {
  const dir = join(resolve(import.meta.dirname), 'results');
  mkdirSync(dir, { recursive: true });
  const json = `${JSON.stringify(result, null, 2)}\n`;
  writeFileSync(join(dir, `${name}-${result.at.replaceAll(':', '-')}.json`), json);
  writeFileSync(join(dir, `${name}-latest.json`), json);
}
