/** A line diff (longest common subsequence) for showing a mapping change before it is saved. */

export interface DiffLine {
  op: 'add' | 'del' | 'same';
  line: string;
}

/**
 * @example lineDiff('a\nb', 'a\nc') // same a, del b, add c
 */
export function lineDiff(before: string, after: string): DiffLine[] {
  const a = before.split('\n');
  const b = after.split('\n');
  // lcs[i][j]: length of the common subsequence of a[i..] and b[j..]
  const lcs = Array.from({ length: a.length + 1 }, () => new Uint16Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push({ op: 'same', line: a[i]! });
      i++;
      j++;
    } else if (i < a.length && (j >= b.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      out.push({ op: 'del', line: a[i]! });
      i++;
    } else {
      out.push({ op: 'add', line: b[j]! });
      j++;
    }
  }
  return out;
}

/** Stable, readable JSON for diffs and the editor. */
export const pretty = (v: unknown): string => JSON.stringify(v, null, 2);
