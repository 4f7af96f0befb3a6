/**
 * The Node-only outgoing transport (src/runtime/node-http-fetch.ts, `node:http`/`node:https`) stays
 * out of the Worker: no file the Worker entry point imports, directly or through others, imports it
 * or `node:http`/`node:https`. The walk follows the project's own relative imports (type imports
 * included, which is stricter than the bundler); the same walk from the Node entry point finds the
 * transport, so the walker itself is checked.
 */
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const SPECIFIER =
  /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|import\s+['"]([^'"]+)['"]/g;

/** Every project file reachable from `entry`, and the `node:` modules each imports. */
function importGraph(entry: string): { files: Set<string>; builtins: Map<string, string[]> } {
  const files = new Set<string>();
  const builtins = new Map<string, string[]>();
  const queue = [resolve(ROOT, entry)];
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    if (files.has(file)) continue;
    files.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(SPECIFIER)) {
      const spec = m[1] ?? m[2] ?? m[3] ?? '';
      if (spec.startsWith('.') && spec.endsWith('.ts')) queue.push(resolve(dirname(file), spec));
      else if (spec.startsWith('node:'))
        builtins.set(spec, [...(builtins.get(spec) ?? []), relative(ROOT, file)]);
    }
  }
  return { files: new Set([...files].map((f) => relative(ROOT, f))), builtins };
}

describe('the Worker import graph', () => {
  it('does not reach the Node HTTP transport nor node:http / node:https', () => {
    const worker = importGraph('src/runtime/worker.ts');
    expect(worker.files.size).toBeGreaterThan(50);
    expect(worker.files.has('src/app/services.ts')).toBe(true);
    expect(worker.files.has('src/runtime/node-http-fetch.ts')).toBe(false);
    expect(worker.files.has('src/runtime/node.ts')).toBe(false);
    expect(worker.builtins.get('node:http')).toBeUndefined();
    expect(worker.builtins.get('node:https')).toBeUndefined();
  });

  it('the same walk from the Node entry point finds the transport', () => {
    const node = importGraph('src/runtime/node.ts');
    expect(node.files.has('src/runtime/node-http-fetch.ts')).toBe(true);
    expect(node.builtins.get('node:https')).toContain('src/runtime/node-http-fetch.ts');
  });
});
