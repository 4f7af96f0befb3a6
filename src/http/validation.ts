/**
 * Validation failures in plain words, each with the field's path (`purposes[0]`, `evidence.formUrl`),
 * never the value that was sent: "phone is required", "purposes must have at least 1 item".
 */
import type { z } from '@hono/zod-openapi';

type Issue = z.core.$ZodIssue;

/** `['evidence', 'formUrl']` → `evidence.formUrl`; `['purposes', 0]` → `purposes[0]`. */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || 'the body';
}

const plural = (n: number | bigint, word: string) => `${n} ${word}${Number(n) === 1 ? '' : 's'}`;

const TYPE_WORDS: Record<string, string> = {
  string: 'text',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'an object',
  array: 'a list',
};

function size(issue: Issue & { code: 'too_small' | 'too_big' }): string {
  const least = issue.code === 'too_small';
  const n = least ? issue.minimum : issue.maximum;
  const bound = least
    ? issue.inclusive === false
      ? 'more than'
      : 'at least'
    : issue.inclusive === false
      ? 'less than'
      : 'at most';
  switch (issue.origin) {
    case 'string':
      return Number(n) === 1 && least
        ? 'must not be empty'
        : `must be ${bound} ${plural(n, 'character')} long`;
    case 'array':
    case 'set':
      return `must have ${bound} ${plural(n, 'item')}`;
    default:
      return `must be ${bound} ${n}`;
  }
}

/** One issue as "<path> <what is wrong>". */
export function plainIssue(issue: Issue, input?: unknown): string {
  const at = fieldPath(issue.path);
  switch (issue.code) {
    case 'invalid_type': {
      // zod's own message says whether the field was absent; `input`, when given, says it too
      const missing =
        issue.message.includes('received undefined') ||
        (input !== undefined && valueAt(input, issue.path) === undefined);
      return missing && issue.path.length > 0
        ? `${at} is required`
        : `${at} must be ${TYPE_WORDS[issue.expected] ?? issue.expected}`;
    }
    case 'too_small':
    case 'too_big':
      return `${at} ${size(issue)}`;
    case 'invalid_format':
      if (issue.format === 'url') return `${at} must be a URL (http or https)`;
      if (issue.format === 'regex') return `${at} is not in the expected format`;
      return `${at} must be a valid ${issue.format}`;
    case 'invalid_value':
      return `${at} must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'unrecognized_keys':
      return `${at} has unknown field${issue.keys.length === 1 ? '' : 's'} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    case 'invalid_union':
      return `${at} does not match any of the accepted shapes`;
    case 'not_multiple_of':
      return `${at} must be a multiple of ${issue.divisor}`;
    default:
      // custom refinements carry their own sentence, written without values
      return `${at}: ${issue.message}`;
  }
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

/**
 * All issues as one message.
 *
 * @example
 * plainIssues(result.error.issues, body); // 'phone is required; purposes must have at least 1 item'
 */
export function plainIssues(issues: readonly Issue[], input?: unknown): string {
  return [...new Set(issues.map((i) => plainIssue(i, input)))].join('; ');
}
