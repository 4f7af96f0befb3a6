/**
 * What the CLI commands print: plain tables of counts and check lists. Runtime-free: a command
 * writes through an `Io`, so tests and the demo can capture it and nothing here touches a terminal.
 */

/** Where a command writes: results to `out`, progress and problems to `err`. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** a writable stream for long outputs (progress bars), when there is one */
  errStream?: NodeJS.WritableStream;
}

/** The process's own stdout/stderr. */
export const processIo: Io = {
  out: (text) => {
    process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  },
  err: (text) => {
    process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  },
  errStream: process.stderr,
};

/** A problem with how the command was called: printed with a pointer to `--help`, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The command could not do its work (configuration, a missing file): printed as is, exit code 1. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}

type Cell = string | number | boolean | null | undefined;

/**
 * A plain-text table with a header row and a rule; numbers are right-aligned.
 *
 * @example
 * table([{ connector: 'hubspot', queued: 3 }]);
 * // connector  queued
 * // ---------  ------
 * // hubspot          3
 */
export function table(rows: Array<Record<string, Cell>>): string {
  if (rows.length === 0) return '(nothing)';
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const text = (v: Cell) => (v === null || v === undefined ? '' : String(v));
  const width = columns.map((c) => Math.max(c.length, ...rows.map((r) => text(r[c]).length)));
  const numeric = columns.map((c) => rows.every((r) => typeof r[c] === 'number' || r[c] == null));
  const line = (cells: string[], alignRight: boolean[]) =>
    cells
      .map((cell, i) => (alignRight[i] ? cell.padStart(width[i] ?? 0) : cell.padEnd(width[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [
    line(columns, numeric),
    line(
      width.map((w) => '-'.repeat(w)),
      numeric,
    ),
    ...rows.map((r) =>
      line(
        columns.map((c) => text(r[c])),
        numeric,
      ),
    ),
  ].join('\n');
}

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

/** One line of `doctor`'s report. */
export interface Check {
  name: string;
  status: CheckStatus;
  detail: string;
  /** what to do about a failure or warning */
  hint?: string;
}

const MARK: Record<CheckStatus, string> = { ok: '✓', warn: '!', fail: '✗', skip: '-' };

/**
 * The check list with ✓ / ! / ✗ / - and a hint under each problem, then a count line.
 *
 * @example
 * checkList([{ name: 'database', status: 'ok', detail: '2 of 2 migrations applied' }]);
 */
export function checkList(checks: Check[]): string {
  const width = Math.max(...checks.map((c) => c.name.length));
  const lines = checks.flatMap((c) => [
    `${MARK[c.status]} ${c.name.padEnd(width)}  ${c.detail}`,
    ...(c.hint && c.status !== 'ok' ? [`  ${' '.repeat(width)}  → ${c.hint}`] : []),
  ]);
  const count = (s: CheckStatus) => checks.filter((c) => c.status === s).length;
  const parts = [`${count('ok')} passed`, `${count('fail')} failed`];
  if (count('warn')) parts.push(`${count('warn')} warning${count('warn') === 1 ? '' : 's'}`);
  if (count('skip')) parts.push(`${count('skip')} skipped`);
  return `${lines.join('\n')}\n\n${parts.join(', ')}.`;
}
