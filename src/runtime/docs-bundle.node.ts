/**
 * Node: the API reference's script (`/docs/scalar.js`) read from the installed `@scalar/api-reference`
 * package (its standalone browser bundle), never from a CDN. Read once, kept in memory, served with
 * a long cache lifetime tagged by the package version.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

let cached: Promise<Uint8Array> | undefined;

/** The bundle's file: the package's `dist/browser/standalone.js` (not in its `exports` map). */
export function scalarBundlePath(): string {
  const entry = fileURLToPath(import.meta.resolve('@scalar/api-reference'));
  return `${entry.slice(0, entry.lastIndexOf('/dist/') + 6)}browser/standalone.js`;
}

/**
 * Answers `GET /docs/scalar.js`.
 *
 * @example
 * createApp(services, { docsScript: serveScalarBundle });
 */
export async function serveScalarBundle(): Promise<Response> {
  cached ??= readFile(scalarBundlePath());
  const body = await cached;
  return new Response(body as Uint8Array<ArrayBuffer>, {
    headers: {
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': 'public, max-age=3600',
      'x-content-type-options': 'nosniff',
    },
  });
}
