/**
 * Every example mapping in mappings/examples/ passes `consent-sync mappings check` as the
 * connector it names (issue 15).
 */
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkMappings } from '../src/cli/mappings.ts';

const DIR = new URL('../mappings/examples/', import.meta.url);
const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));

describe('mappings/examples', () => {
  it('holds the three Salesforce examples', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'salesforce-both.json',
        'salesforce-consent-model.json',
        'salesforce-messaging.json',
      ]),
    );
  });

  it.each(files)('%s passes mappings check', (file) => {
    const json = JSON.parse(readFileSync(new URL(file, DIR), 'utf8')) as { connector: string };
    const dir = mkdtempSync(join(tmpdir(), 'cs-example-'));
    try {
      copyFileSync(new URL(file, DIR), join(dir, `${json.connector}.json`));
      const out: string[] = [];
      const err: string[] = [];
      const code = checkMappings(
        { out: (s: string) => out.push(s), err: (s: string) => err.push(s) } as Parameters<
          typeof checkMappings
        >[0],
        { MAPPINGS_DIR: dir },
      );
      expect(err).toEqual([]);
      expect(code).toBe(0);
      expect(out.join('\n')).toContain(`✓ ${join(dir, `${json.connector}.json`)}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
