/**
 * `npm run mappings:check`: validates `MAPPINGS_DIR/*.json` (default ./mappings) against the zod
 * schema and the catalog's purposes, printing each problem with its path; exits 1 on any.
 * `npm run mappings:schema`: regenerates `mappings/mapping.schema.json` from the same schema, so
 * editors autocomplete and check the files as they are typed.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTextCatalog } from '../src/core/catalog.ts';
import { mappingJsonSchema, validateMapping } from '../src/core/mapping.ts';

const command = process.argv[2] ?? 'check';
const dir = process.env.MAPPINGS_DIR ?? 'mappings';
const catalogDir = process.env.CATALOG_DIR ?? 'catalog';

if (command === 'schema') {
  const target = new URL('../mappings/mapping.schema.json', import.meta.url);
  writeFileSync(target, `${JSON.stringify(mappingJsonSchema(), null, 2)}\n`);
  console.log(`wrote ${target.pathname}`);
} else if (command === 'check') {
  const purposes = Object.keys(
    loadTextCatalog(JSON.parse(readFileSync(join(catalogDir, 'texts.json'), 'utf8'))).purposes,
  );
  let failed = 0;
  for (const connector of ['hubspot', 'salesforce']) {
    const file = join(dir, `${connector}.json`);
    if (!existsSync(file)) {
      console.log(`- ${file}: none (the built-in default applies)`);
      continue;
    }
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      failed++;
      console.error(`✖ ${file}: not valid JSON (${(e as Error).message})`);
      continue;
    }
    const r = validateMapping(json, purposes, connector);
    if (r.ok) {
      const push = r.mapping.fields.filter((f) => f.direction !== 'pull').length;
      const pull = r.mapping.fields.filter((f) => f.direction !== 'push').length;
      console.log(
        `✔ ${file}: ${r.mapping.fields.length} fields (${push} pushed, ${pull} pulled), match ${r.mapping.match.objects.join('+')}.${r.mapping.match.field}`,
      );
    } else {
      failed++;
      for (const i of r.issues) console.error(`✖ ${file}: ${i.path}: ${i.message}`);
    }
  }
  process.exitCode = failed ? 1 : 0;
} else {
  console.error(`unknown command ${command} (use check or schema)`);
  process.exitCode = 2;
}
