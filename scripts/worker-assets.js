// Workers static assets (wrangler.toml [assets], built by its [build] command before `wrangler
// deploy` and `wrangler dev`): the API reference's script for /docs, copied from the installed
// @scalar/api-reference package, so it is served by Cloudflare's asset store and not bundled into
// the Worker (1.4 MB gzip that would more than triple the Worker's size). Plain JavaScript: wrangler
// runs it with whatever `node` is on PATH.
import { copyFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(import.meta.resolve('@scalar/api-reference'));
const bundle = `${entry.slice(0, entry.lastIndexOf('/dist/') + 6)}browser/standalone.js`;
const target = fileURLToPath(new URL('../dist/worker-assets/docs/', import.meta.url));
mkdirSync(target, { recursive: true });
copyFileSync(bundle, `${target}scalar.js`);
