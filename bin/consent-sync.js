#!/usr/bin/env node
// The `consent-sync` command (package.json "bin"; `npx consent-sync <command>`). Plain JavaScript so
// it runs from a node_modules/.bin link; the commands themselves are TypeScript run by Node 22's type
// stripping (src/cli/main.ts).

// node:sqlite still announces itself as experimental on every start; other warnings pass through.
process.removeAllListeners('warning');
process.on('warning', (w) => {
  if (w.name !== 'ExperimentalWarning') process.stderr.write(`${w.name}: ${w.message}\n`);
});

const { main } = await import('../src/cli/main.ts');
const { processIo } = await import('../src/cli/output.ts');
let code = 1;
try {
  code = await main(process.argv.slice(2), processIo, process.env);
} catch (err) {
  // Name and message only: a stack adds nothing for an operator and paths leak layout.
  process.stderr.write(`consent-sync: unexpected ${err?.name ?? 'error'}: ${err?.message ?? err}\n`);
}
// Connector clients and the outbox keep timers; the command is done, so the process ends here.
process.exit(code);
