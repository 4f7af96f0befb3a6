/**
 * thread-os.ts on Linux (these machines): the id is this thread's entry under /proc, the name and the
 * nice value land on the calling thread only (a worker's, never the main thread's).
 */
import { readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { isMainThread, Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { osThreadId } from './thread-os.ts';

const statOf = (tid: number) => {
  const stat = readFileSync(`/proc/${process.pid}/task/${tid}/stat`, 'utf8');
  return {
    name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
    nice: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]),
  };
};

describe('thread-os', () => {
  it("gives this thread's id: the main thread's is the process id", () => {
    const tid = osThreadId();
    if (isMainThread) expect(tid).toBe(process.pid);
    else expect(tid).not.toBe(process.pid);
    expect(statOf(tid as number).name.length).toBeGreaterThan(0);
  });

  it('names and nices a worker thread, leaving the main thread alone', async () => {
    const url = new URL('./thread-os.ts', import.meta.url).href;
    const worker = new Worker(
      `import(${JSON.stringify(url)}).then((t) => {
        const { parentPort } = require('node:worker_threads');
        const named = t.nameThread('cs-test-thread');
        const niced = t.niceThread(9);
        parentPort.postMessage({ tid: t.osThreadId(), named, niced });
        parentPort.once('message', () => process.exit(0));
      });`,
      { eval: true, execArgv: ['--disable-warning=ExperimentalWarning'] },
    );
    const seen = await new Promise<{ tid: number; named: boolean; niced: boolean }>((ok, fail) => {
      worker.once('message', ok);
      worker.once('error', fail);
    });
    try {
      expect(seen.named).toBe(true);
      expect(seen.niced).toBe(true);
      expect(seen.tid).not.toBe(process.pid);
      expect(statOf(seen.tid)).toEqual({ name: 'cs-test-thread', nice: 9 });
      expect(getPriority(process.pid)).toBe(0);
      expect(statOf(process.pid).nice).toBe(0);
    } finally {
      worker.postMessage('done');
      await new Promise((ok) => worker.once('exit', ok));
    }
  });
});
