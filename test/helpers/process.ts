/** Runs a Node script as a child process with this process's Node (22), collecting its output. */
import { spawn } from 'node:child_process';

export const ROOT = new URL('../../', import.meta.url).pathname;

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Never blocks this process (simulators running in it keep answering the child).
 *
 * @example
 * const r = await runNode(['bin/consent-sync.js', 'ledger', 'verify'], { DATA_DIR: dir });
 */
export function runNode(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
