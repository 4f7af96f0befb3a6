/** A line diff (longest common subsequence) for showing a mapping change before it is saved. */

export interface DiffLine {
  op: 'add' | 'del' | 'same';
  line: string;
}

/** A diff line, or a run of unchanged lines left out (`count` of them). */
export type DiffRow = DiffLine | { op: 'skip'; count: number };

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

/**
 * The changed lines with `context` unchanged lines around each change; every longer unchanged run
 * becomes one `skip` row. No change: no rows.
 *
 * @example changedOnly(lineDiff('a\nb\nc\nd\ne', 'a\nb\nc\nd\nE'), 1)
 * // [{ op: 'skip', count: 3 }, same d, del e, add E]
 */
export function changedOnly(lines: DiffLine[], context = 2): DiffRow[] {
  const keep = new Array<boolean>(lines.length).fill(false);
  lines.forEach((l, i) => {
    if (l.op === 'same') return;
    for (let k = Math.max(0, i - context); k <= Math.min(lines.length - 1, i + context); k++) keep[k] = true;
  });
  if (!keep.some((k, i) => k && lines[i]!.op !== 'same')) return [];
  const out: DiffRow[] = [];
  let skipped = 0;
  lines.forEach((l, i) => {
    if (keep[i]) {
      if (skipped) out.push({ op: 'skip', count: skipped });
      skipped = 0;
      out.push(l);
    } else skipped++;
  });
  if (skipped) out.push({ op: 'skip', count: skipped });
  return out;
}

/** Stable, readable JSON for diffs and the editor. */
export const pretty = (v: unknown): string => JSON.stringify(v, null, 2);
