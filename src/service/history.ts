import { type ChainBreak, ChainVerifier } from '../core/ledger.ts';
import { sha256Hex } from '../crypto/encoding.ts';
import type { Store } from '../store/port.ts';
import type { Subject, Subjects } from './subjects.ts';

/** Reads the ledger for people (history, export) and for auditors (verification). */
export class History {
  private readonly store: Store;
  private readonly subjects: Subjects;

  constructor(store: Store, subjects: Subjects) {
    this.store = store;
    this.subjects = subjects;
  }

  /** A person's events with decrypted evidence and the exact wording of each text version. */
  async events(subject: Subject) {
    // Records merged into this person keep their own events, under their own keys.
    const owners = new Map<string, Subject>([[subject.row.id, subject]]);
    for (const row of await this.store.mergedInto(subject.row.id)) {
      const other = await this.subjects.fromRow(row);
      if (other) owners.set(row.id, other);
    }
    const events = (await Promise.all([...owners.keys()].map((id) => this.store.listEvents(id))))
      .flat()
      .sort((a, b) => a.seq - b.seq);
    const versions = [...new Set(events.map((e) => e.textVersion).filter((v): v is string => v !== null))];
    const texts = new Map((await this.store.getTexts(versions)).map((t) => [t.version, t.text]));
    return Promise.all(
      events.map(async (e) => ({
        seq: e.seq,
        id: e.id,
        purpose: e.purpose,
        action: e.action,
        source: e.source,
        occurredAt: e.occurredAt,
        recordedAt: e.recordedAt,
        textVersion: e.textVersion,
        textSha256: e.textSha256,
        text: e.textVersion ? (texts.get(e.textVersion) ?? null) : null,
        ...(e.subjectId !== subject.row.id ? { mergedFrom: e.subjectId } : {}),
        evidence:
          e.evidenceEnc && owners.has(e.subjectId)
            ? await this.subjects.decryptEvidence(owners.get(e.subjectId) as Subject, e.id, e.evidenceEnc)
            : null,
        hash: e.hash,
      })),
    );
  }

  /**
   * Walks the whole chain in pages; reports the first break. The head is read first and the walk
   * stops at it: events appended while the walk runs (webhooks decided meanwhile) are left for the
   * next verification instead of reading as a head that no longer matches the chain's end.
   */
  async verify(
    pageSize = 5_000,
  ): Promise<{ ok: true; events: number } | { ok: false; events: number; brokenAt: ChainBreak }> {
    const head = await this.store.ledgerHead();
    // no head: walk everything, so events without a head (a deleted head row) are reported
    const last = head?.seq ?? Number.POSITIVE_INFINITY;
    const verifier = new ChainVerifier(sha256Hex);
    let after = 0;
    while (after < last) {
      const page = await this.store.readLedger(after, pageSize);
      for (const r of page) if (r.seq > last || !(await verifier.add(r))) break;
      if (verifier.broken || page.length < pageSize) break;
      after = page[page.length - 1]!.seq;
    }
    const broken = verifier.finish(head);
    return broken
      ? { ok: false, events: verifier.count, brokenAt: broken }
      : { ok: true, events: verifier.count };
  }
}
