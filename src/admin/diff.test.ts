import { describe, expect, it } from 'vitest';
import { changedOnly, lineDiff } from './diff.ts';

const lines = (n: number) => Array.from({ length: n }, (_, i) => `line ${i}`);

describe('changedOnly', () => {
  it('keeps the changed lines and two lines of context, and says how many it left out', () => {
    const before = lines(40);
    const after = [...before];
    after[5] = 'changed 5';
    after[30] = 'changed 30';
    const rows = changedOnly(lineDiff(before.join('\n'), after.join('\n')));
    expect(rows).toEqual([
      { op: 'skip', count: 3 },
      { op: 'same', line: 'line 3' },
      { op: 'same', line: 'line 4' },
      { op: 'del', line: 'line 5' },
      { op: 'add', line: 'changed 5' },
      { op: 'same', line: 'line 6' },
      { op: 'same', line: 'line 7' },
      { op: 'skip', count: 20 },
      { op: 'same', line: 'line 28' },
      { op: 'same', line: 'line 29' },
      { op: 'del', line: 'line 30' },
      { op: 'add', line: 'changed 30' },
      { op: 'same', line: 'line 31' },
      { op: 'same', line: 'line 32' },
      { op: 'skip', count: 7 },
    ]);
  });

  it('joins changes closer than twice the context and gives nothing for no change', () => {
    const before = lines(10);
    const after = [...before];
    after[3] = 'x';
    after[6] = 'y';
    const rows = changedOnly(lineDiff(before.join('\n'), after.join('\n')), 1);
    expect(rows.filter((r) => r.op === 'skip')).toEqual([
      { op: 'skip', count: 2 },
      { op: 'skip', count: 2 },
    ]);
    expect(changedOnly(lineDiff('a\nb', 'a\nb'))).toEqual([]);
  });
});
