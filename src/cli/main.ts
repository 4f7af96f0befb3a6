/**
 * `consent-sync <command>`: the command line (bin/consent-sync.js, `npx consent-sync`). Every command
 * reads its configuration from the environment exactly like `npm start` (DATA_DIR, development
 * secrets, MAPPINGS_DIR, …) and prints counts, never personal data.
 *
 * Exit codes: 0 done, 1 a check or the work failed, 2 the command was called wrongly. Each command's
 * module is loaded only when it runs, so `--help` and usage errors answer at once.
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../config.ts';
import { MappingError } from '../sync/mappings.ts';
import type { Env } from './boot.ts';
import { CliError, type Io, UsageError } from './output.ts';

type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'];
type Values = Record<string, string | boolean | undefined>;

interface Command {
  summary: string;
  usage: string;
  /** `--help` text below the usage line */
  help: string;
  options: Options;
  run(io: Io, env: Env, values: Values): Promise<number> | number;
}

const HELP = { help: { type: 'boolean', short: 'h' } } as const;

const COMMANDS: Record<string, Command> = {
  doctor: {
    summary: 'check configuration, database, CRM access and mapped fields',
    usage: 'consent-sync doctor [--fix]',
    help: `Checks the installation the way \`npm start\` would run it and prints one line per check
(✓ passed, ! warning, ✗ failed, with a hint under each problem):
  configuration   the same schema as the server; problems by variable name, never a value
  data directory  DATA_DIR exists and is writable
  database        SQLite opens, migrations applied, integrity check
  catalog         texts load; used text versions are unchanged
  <crm> mapping   the mapping file is valid
  <crm> connection  credentials work; request headroom when the CRM reports it
  <crm> <object>  every mapped property/field exists with a fitting type

Options:
  --fix, --create-properties
                  apply pending migrations and create missing HubSpot properties
                  (boolean, dropdown, date or text, per the mapping's transform) in the
                  property group "consent_sync"

Exit code 1 when a check fails.`,
    options: { fix: { type: 'boolean' }, 'create-properties': { type: 'boolean' } },
    run: async (io, env, v) =>
      (await import('./doctor.ts')).doctorCommand(io, env, { fix: Boolean(v.fix || v['create-properties']) }),
  },
  reconcile: {
    summary: 'compare every CRM with the ledger and repair drift',
    usage: 'consent-sync reconcile [--connector hubspot|salesforce] [--no-send]',
    help: `Compares what each CRM holds in the mapped fields with the ledger, for every known person,
repairs drift under the sync rules (an opt-out found in a CRM applies everywhere; anything else is
overwritten with the ledger's values), sends the writes, and prints a table of counts.
Safe while the server runs: jobs are leased, so each is sent once.

Options:
  --connector <name>  only this CRM (default: every configured one)
  --no-send           queue the writes for the running server instead of sending them here

Exit code 1 when a CRM call failed for some people (the next run tries again).`,
    options: { connector: { type: 'string' }, 'no-send': { type: 'boolean' } },
    run: async (io, env, v) =>
      (await import('./reconcile.ts')).reconcileCommand(io, env, {
        connector: v.connector as string | undefined,
        send: !v['no-send'],
      }),
  },
  backfill: {
    summary: "push the ledger's current state to the CRMs for everyone",
    usage: 'consent-sync backfill [--connector hubspot|salesforce] [--unlinked] [--dry-run]',
    help: `Queues one sync job per person and CRM (the same outbox path as any consent change), sends
them in vendor-sized batches with a progress bar, and prints a summary table. People the CRM does
not have are left alone; erased people are skipped.

Options:
  --connector <name>  only this CRM (default: every configured one)
  --unlinked          only people not linked to a record in that CRM yet
  --dry-run           count what would be queued; queue and send nothing

Exit code 1 when some jobs failed or wait for a retry.`,
    options: {
      connector: { type: 'string' },
      unlinked: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
    },
    run: async (io, env, v) =>
      (await import('./backfill.ts')).backfillCommand(io, env, {
        connector: v.connector as string | undefined,
        dryRun: Boolean(v['dry-run']),
        unlinked: Boolean(v.unlinked),
      }),
  },
  'ledger export': {
    summary: 'write the ledger as NDJSON (stdout or --out)',
    usage: 'consent-sync ledger export [--out <file>] [--page-size <n>]',
    help: `Writes every ledger event, one JSON object per line in sequence order, read in pages so
memory stays flat. Each line holds the event as stored and hashed: ids, purpose, action, source,
times, text version and its SHA-256, the evidence as ciphertext, prevHash and hash; a last line
{"end": …, "events", "lastSeq", "lastHash"} closes the file (ledger verify --file checks it).
Nothing is decrypted; subject ids are pseudonyms. The count goes to stderr.

Options:
  --out <file>       write to this file instead of stdout
  --page-size <n>    events read per page (default 1000)`,
    options: { out: { type: 'string', short: 'o' }, 'page-size': { type: 'string' } },
    run: async (io, env, v) => {
      const size = pageSize(v);
      return (await import('./ledger.ts')).ledgerExport(io, env, {
        out: v.out as string | undefined,
        pageSize: size,
      });
    },
  },
  'ledger verify': {
    summary: 'verify the ledger hash chain (exit 1 where it breaks)',
    usage: 'consent-sync ledger verify [--file <export.ndjson>]',
    help: `Walks the hash chain like GET /v1/ledger/verify. Prints the number of events when it holds;
exit code 1 and the event where it breaks when it does not. Refuses a DATA_DIR without a database
(nothing is created).

Options:
  --file <file>   verify a file written by \`ledger export\` on its own (no database, no keys):
                  every line's hash and link, and the end line (event count and last hash), so a
                  file cut short or edited is found`,
    options: { file: { type: 'string', short: 'f' } },
    run: async (io, env, v) =>
      (await import('./ledger.ts')).ledgerVerify(io, env, { file: v.file as string | undefined }),
  },
  'mappings check': {
    summary: 'validate the mapping files in MAPPINGS_DIR',
    usage: 'consent-sync mappings check',
    help: `Validates MAPPINGS_DIR/<crm>.json (default ./mappings) against the schema and the catalog's
purposes and prints each problem with its path. Exit code 1 on any problem.`,
    options: {},
    run: async (io, env) => (await import('./mappings.ts')).checkMappings(io, env),
  },
  'keys rotate': {
    summary: "move every PII_KEYS_RETIRED key's data to PII_KEY (resumable)",
    usage: 'consent-sync keys rotate [--page-size <n>] [--max-pages <n>]',
    help: `Moves what the keys in PII_KEYS_RETIRED still protect to PII_KEY, page by page with a
progress bar: every person's data key is re-wrapped, every live lookup hash (numbers, BSUIDs,
open erasures) is recomputed, unreadable webhook events are sealed again. Then the retired keys'
lookup keys are stored, wrapped under PII_KEY, so erased people's tombstones keep matching, and it
says when PII_KEYS_RETIRED can be removed. Safe while the server runs (start it with the new
PII_KEY and PII_KEYS_RETIRED first). Resumable: a second run continues where the first stopped;
a finished rotation has nothing to do. Details: docs/key-rotation.md.

Options:
  --page-size <n>   people (or events) per page, one commit each (default 200)
  --max-pages <n>   stop after this many pages; the next run continues

Exit code 1 when PII_KEYS_RETIRED is not set or a data key opens under no configured key.`,
    options: { 'page-size': { type: 'string' }, 'max-pages': { type: 'string' } },
    run: async (io, env, v) =>
      (await import('./keys.ts')).keysRotate(io, env, {
        pageSize: v['page-size'] === undefined ? undefined : pageSize(v),
        maxPages: v['max-pages'] === undefined ? undefined : count(v, 'max-pages'),
      }),
  },
  'mappings schema': {
    summary: 'regenerate mappings/mapping.schema.json',
    usage: 'consent-sync mappings schema',
    help: 'Writes mappings/mapping.schema.json from the mapping schema, for editor autocompletion.',
    options: {},
    run: async (io) => (await import('./mappings.ts')).writeMappingSchema(io),
  },
};

function pageSize(v: Values): number {
  if (v['page-size'] === undefined) return 1_000;
  const n = Number(v['page-size']);
  if (!Number.isInteger(n) || n < 1 || n > 10_000)
    throw new UsageError('--page-size must be a whole number from 1 to 10000');
  return n;
}

function count(v: Values, name: string): number {
  const n = Number(v[name]);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a whole number of at least 1`);
  return n;
}

function overview(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return [
    'Usage: consent-sync <command> [options]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'Run consent-sync <command> --help for its options. Configuration comes from the environment,',
    'as for npm start (DATA_DIR, MAPPINGS_DIR, HUBSPOT_*, SALESFORCE_*, …).',
  ].join('\n');
}

/** The command named by the first one or two words, and the arguments after it. */
function resolveCommand(argv: string[]): { name: string; command: Command; rest: string[] } | null {
  const two = `${argv[0]} ${argv[1]}`;
  if (COMMANDS[two]) return { name: two, command: COMMANDS[two], rest: argv.slice(2) };
  const one = argv[0] ?? '';
  if (COMMANDS[one]) return { name: one, command: COMMANDS[one], rest: argv.slice(1) };
  return null;
}

/**
 * Runs one command line; returns the exit code.
 *
 * @example
 * process.exitCode = await main(['ledger', 'verify'], processIo, process.env);
 */
export async function main(argv: string[], io: Io, env: Env): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    io.out(overview());
    return argv.length === 0 ? 2 : 0;
  }
  const found = resolveCommand(argv);
  if (!found) {
    const group = ['ledger', 'mappings', 'keys'].includes(argv[0] ?? '') ? argv[0] : null;
    io.err(
      group
        ? `consent-sync ${group}: unknown or missing subcommand${argv[1] ? ` "${argv[1]}"` : ''}`
        : `consent-sync: unknown command "${argv[0]}"`,
    );
    io.err(overview());
    return 2;
  }
  const { name, command, rest } = found;
  try {
    let values: Values;
    try {
      ({ values } = parseArgs({
        args: rest,
        options: { ...command.options, ...HELP },
        strict: true,
        allowPositionals: false,
      }));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (values.help) {
      io.out(`Usage: ${command.usage}\n\n${command.help}`);
      return 0;
    }
    return await command.run(io, env, values);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`consent-sync ${name}: ${e.message}\nUsage: ${command.usage} (see --help)`);
      return 2;
    }
    if (e instanceof CliError || e instanceof ConfigError || e instanceof MappingError) {
      io.err(`consent-sync ${name}: ${e.message}`);
      return 1;
    }
    throw e;
  }
}
