/**
 * An exported ledger (`consent-sync ledger export`) verified on its own, with no database and no
 * keys: every line is read as an event, the hash chain is walked from the first event, and the
 * export's end line (the number of events and the last hash) shows whether the file was cut short.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { type ChainBreak, ChainVerifier } from '../core/ledger.ts';
import type { LedgerRecord } from '../core/types.ts';
import { sha256Hex } from '../crypto/encoding.ts';

/** The chain format the export's end line names (the same tag the hashes are computed with). */
export const EXPORT_FORMAT = 'consent-sync/ledger/v1';

/** The export's last line: how many events it holds and where the chain ends. */
export const EndLine = z
  .object({
    end: z.literal(EXPORT_FORMAT),
    events: z.number().int().min(0),
    lastSeq: z.number().int().min(0),
    lastHash: z.string(),
  })
  .strict();
export type EndLine = z.infer<typeof EndLine>;

const nullable = z.string().nullable();
/** One exported event, exactly the fields the chain hashes (src/core/ledger.ts) plus its links. */
const EventLine = z
  .object({
    seq: z.number().int().min(1),
    id: z.string(),
    subjectId: z.string(),
    purpose: z.string(),
    action: z.string(),
    source: z.string(),
    occurredAt: z.string(),
    recordedAt: z.string(),
    textVersion: nullable,
    textSha256: nullable,
    evidenceEnc: nullable,
    prevHash: z.string(),
    hash: z.string(),
  })
  .strict();

export type FileVerdict =
  | { ok: true; events: number }
  | { ok: false; events: number; line: number; reason: string; message: string };

/**
 * Verifies an export file line by line (memory stays flat).
 *
 * @example
 * const v = await verifyExportFile('ledger.ndjson'); // { ok: true, events: 1200 }
 */
export async function verifyExportFile(path: string): Promise<FileVerdict> {
  const verifier = new ChainVerifier(sha256Hex);
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Number.POSITIVE_INFINITY });
  let n = 0;
  let end: EndLine | null = null;
  const fail = (reason: string, message: string): FileVerdict => {
    lines.close();
    return { ok: false, events: verifier.count, line: n, reason, message };
  };
  const broken = (b: ChainBreak) => fail(b.reason, b.message);
  for await (const text of lines) {
    n += 1;
    if (text.trim() === '') continue;
    if (end) return fail('after_end', 'there are lines after the end line');
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return fail('not_json', 'the line is not JSON');
    }
    if (typeof value === 'object' && value !== null && 'end' in value) {
      const parsed = EndLine.safeParse(value);
      if (!parsed.success) return fail('bad_end_line', 'the end line is not in the export format');
      end = parsed.data;
      continue;
    }
    const event = EventLine.safeParse(value);
    if (!event.success) {
      const fields = [...new Set(event.error.issues.map((i) => i.path.join('.') || '(line)'))];
      return fail('bad_event', `not a ledger event (fields: ${fields.join(', ')})`);
    }
    if (!(await verifier.add(event.data as LedgerRecord)) && verifier.broken) return broken(verifier.broken);
  }
  if (!end) {
    return fail('no_end_line', 'the file has no end line: it was cut short, or is not a complete export');
  }
  const cut = verifier.finish({ seq: end.lastSeq, hash: end.lastHash });
  if (cut) return broken(cut);
  if (end.events !== verifier.count) {
    return fail(
      'count_mismatch',
      `the end line counts ${end.events} event(s), the file holds ${verifier.count}`,
    );
  }
  return { ok: true, events: verifier.count };
}
