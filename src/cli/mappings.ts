/**
 * `consent-sync mappings check`: validates `MAPPINGS_DIR/*.json` (default ./mappings) against the
 * zod schema and the catalog's purposes, printing each problem with its path; exit 1 on any.
 * `consent-sync mappings schema`: regenerates `mappings/mapping.schema.json` from the same schema, so
 * editors autocomplete and check the files as they are typed.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTextCatalog } from '../core/catalog.ts';
import { mappingJsonSchema, validateMapping } from '../core/mapping.ts';
import { CONNECTORS } from '../sync/connectors.ts';
import type { Io } from './output.ts';

export const SCHEMA_FILE = fileURLToPath(new URL('../../mappings/mapping.schema.json', import.meta.url));

export function writeMappingSchema(io: Io, target = SCHEMA_FILE): number {
  writeFileSync(target, `${JSON.stringify(mappingJsonSchema(), null, 2)}\n`);
  io.out(`wrote ${target}`);
  return 0;
}

export function checkMappings(io: Io, env: Record<string, string | undefined>): number {
  const dir = env.MAPPINGS_DIR ?? 'mappings';
  const catalogDir = env.CATALOG_DIR ?? 'catalog';
  const purposes = Object.keys(
    loadTextCatalog(JSON.parse(readFileSync(join(catalogDir, 'texts.json'), 'utf8'))).purposes,
  );
  let failed = 0;
  for (const connector of CONNECTORS) {
    const file = join(dir, `${connector}.json`);
    if (!existsSync(file)) {
      io.out(`- ${file}: none (the built-in default applies)`);
      continue;
    }
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      failed++;
      io.err(`✗ ${file}: not valid JSON (${(e as Error).message})`);
      continue;
    }
    const r = validateMapping(json, purposes, connector);
    if (r.ok) {
      const push = r.mapping.fields.filter((f) => f.direction !== 'pull').length;
      const pull = r.mapping.fields.filter((f) => f.direction !== 'push').length;
      const n = r.mapping.native;
      const native = n
        ? `, native ${[n.messaging ? 'MessagingEndUser' : '', n.consent ? 'ContactPointTypeConsent' : ''].filter(Boolean).join('+')}`
        : '';
      io.out(
        `✓ ${file}: ${r.mapping.fields.length} fields (${push} pushed, ${pull} pulled), match ${r.mapping.match.objects.join('+')}.${r.mapping.match.field}${native}`,
      );
    } else {
      failed++;
      for (const i of r.issues) io.err(`✗ ${file}: ${i.path}: ${i.message}`);
    }
  }
  return failed ? 1 : 0;
}
