import { Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { createLogger } from '../runtime/logger.ts';
import { lazyChild } from './log.ts';

const capture = () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, sink };
};

describe('lazyChild', () => {
  it('writes with the bindings at an enabled level, and makes the child once', () => {
    const { lines, sink } = capture();
    const base = createLogger('info', sink);
    const child = vi.spyOn(base, 'child');
    const log = lazyChild(base, { reqId: 'r-1' });
    log.info({ status: 200 }, 'request');
    log.warn({ n: 1 }, 'again');
    expect(child).toHaveBeenCalledTimes(1);
    expect(lines.map((l) => JSON.parse(l))).toMatchObject([
      { reqId: 'r-1', status: 200, msg: 'request' },
      { reqId: 'r-1', n: 1, msg: 'again' },
    ]);
  });

  it('makes no child and writes nothing below the configured level', () => {
    const { lines, sink } = capture();
    const base = createLogger('warn', sink);
    const child = vi.spyOn(base, 'child');
    const log = lazyChild(base, { reqId: 'r-2' });
    log.info({ status: 200 }, 'request');
    log.debug({}, 'detail');
    expect(child).not.toHaveBeenCalled();
    expect(lines).toEqual([]);
    log.error({ code: 'X' }, 'failed');
    expect(child).toHaveBeenCalledTimes(1);
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({ reqId: 'r-2', code: 'X' });
  });
});
