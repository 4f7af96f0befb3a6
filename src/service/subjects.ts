import {
  type Identifier,
  type IdentifierKind,
  type Identity,
  identifiersOf,
  maskIdentifier,
} from '../core/identity.ts';
import type { IdentifierRow, SubjectRow } from '../core/types.ts';
import { newRandomId } from '../crypto/encoding.ts';
import type { DataKey, PiiCrypto } from '../crypto/pii.ts';
import type { Store } from '../store/port.ts';

/** A person as the services see them: the row plus their (unwrapped) data key. */
export interface Subject {
  row: SubjectRow;
  key: DataKey;
  /** true when the row is new and must be inserted by the same commit */
  isNew: boolean;
  /** true when a shredded row got a new key and number that the same commit must store */
  rekeyed?: boolean;
}

/** One of a person's identifiers, decrypted (in memory only, for the length of a request). */
export interface KnownIdentifier extends Identifier {
  hash: string;
  status: 'active' | 'former';
}

/** Where a message to the person goes: their active number, else their BSUID. */
export type Address = { phone: string } | { bsuid: string };

/** The AES-GCM context of an identifier value: `phone:<id>` is the one numbers always had. */
const context = (kind: IdentifierKind, subjectId: string) => `${kind}:${subjectId}`;

/**
 * Finds people by any identifier (numbers, BSUIDs, parent BSUIDs) through keyed hashes and
 * creates them with a fresh data key. Identifier values exist in clear only in memory, for the
 * length of a request or a send.
 */
export class Subjects {
  private readonly store: Store;
  private readonly pii: PiiCrypto;

  constructor(store: Store, pii: PiiCrypto) {
    this.store = store;
    this.pii = pii;
  }

  /**
   * The keyed lookup hash of an identifier value under the current PII key (the same function for
   * every kind): what is stored for new data.
   */
  hash(value: string): Promise<string> {
    return this.pii.lookupHash(value);
  }

  /**
   * Every lookup hash of an identifier value: the current key's first, then each retired key's
   * (`PII_KEYS_RETIRED`) and each archived one's (`keys rotate`). The one rule of key rotation:
   * whatever *finds* something by hash (a person, a tombstone, an erasure, a dedupe key, a sent
   * message) matches under all of them; whatever is *stored* uses `hash`.
   */
  hashesOf(value: string): Promise<string[]> {
    return this.pii.lookupHashes(value);
  }

  /** Every lookup hash of every identifier of an identity (`hashesOf` each, in `identifiersOf` order). */
  async hashes(identity: Identity): Promise<string[]> {
    const each = await Promise.all(identifiersOf(identity).map((i) => this.hashesOf(i.value)));
    return each.flat();
  }

  /** The person one of these hashes names (the first found, in order), or null when unknown or crypto-shredded. */
  async find(hashes: string | readonly string[]): Promise<Subject | null> {
    const row = await this.store.findSubjectByHash(hashes);
    if (!row?.dekWrapped) return null;
    return { row, key: await this.pii.subjectKey(row.id, row.dekWrapped), isNew: false };
  }

  /** The person an identifier value names, found under every key (`hashesOf`). */
  async findValue(value: string): Promise<Subject | null> {
    return this.find(await this.hashesOf(value));
  }

  /** The first live person any of the identity's identifiers belongs to. */
  async findIdentity(identity: Identity): Promise<Subject | null> {
    for (const i of identifiersOf(identity)) {
      const s = await this.findValue(i.value);
      if (s) return s;
    }
    return null;
  }

  async byId(id: string): Promise<Subject | null> {
    const row = await this.store.getSubject(id);
    if (!row?.dekWrapped) return null;
    return { row, key: await this.pii.subjectKey(row.id, row.dekWrapped), isNew: false };
  }

  /** A subject for a row already read (null when shredded). */
  async fromRow(row: SubjectRow): Promise<Subject | null> {
    if (!row.dekWrapped) return null;
    return { row, key: await this.pii.subjectKey(row.id, row.dekWrapped), isNew: false };
  }

  /**
   * A new person (not yet stored: the caller commits `row` and `identifiers` with its decision).
   * `first` is the identifier whose hash the row carries (the strongest one the event had).
   */
  async create(first: Identifier, firstHash: string, locale: string | null, now: string): Promise<Subject> {
    const id = newRandomId();
    const { key, wrapped } = await this.pii.newSubjectKey(id);
    const row: SubjectRow = {
      id,
      phoneHash: firstHash,
      // Numbers keep their historical column too (older readers); identifiers hold every value.
      phoneEnc:
        first.kind === 'phone' ? await this.pii.encrypt(key, first.value, context('phone', id)) : null,
      dekWrapped: wrapped,
      locale,
      privacyNoticeAt: null,
      createdAt: now,
    };
    return { row, key, isNew: true };
  }

  /**
   * A person whose data retention shredded (an unconfirmed request long expired) comes back: the
   * same row gets a fresh key (the caller re-encrypts their identifiers). Never used for erased
   * people (tombstoned).
   */
  async rekey(row: SubjectRow, first: Identifier): Promise<Subject> {
    const { key, wrapped } = await this.pii.newSubjectKey(row.id);
    const phoneEnc =
      first.kind === 'phone' ? await this.pii.encrypt(key, first.value, context('phone', row.id)) : null;
    return { row: { ...row, phoneEnc, dekWrapped: wrapped }, key, isNew: false, rekeyed: true };
  }

  /** Identifier rows for a person, encrypted under their key (to insert or to re-encrypt). */
  async identifierRows(
    s: Subject,
    ids: Array<Identifier & { hash: string; status?: 'active' | 'former'; createdAt?: string }>,
    now: string,
  ): Promise<IdentifierRow[]> {
    return Promise.all(
      ids.map(async (i) => ({
        hash: i.hash,
        subjectId: s.row.id,
        kind: i.kind,
        valueEnc: await this.pii.encrypt(s.key, i.value, context(i.kind, s.row.id)),
        status: i.status ?? 'active',
        createdAt: i.createdAt ?? now,
        updatedAt: now,
      })),
    );
  }

  /**
   * Every identifier of the person, decrypted, oldest first (shredded values are left out); `rows`:
   * the person's identifier rows when the caller has just read them.
   */
  async identifiers(s: Subject, rows?: IdentifierRow[]): Promise<KnownIdentifier[]> {
    return this.decryptRows(s, rows ?? (await this.store.identifiersOf([s.row.id])));
  }

  /** Decrypts identifier rows of the person `s` (rows of other people are left out). */
  async decryptRows(s: Subject, rows: IdentifierRow[]): Promise<KnownIdentifier[]> {
    const out: KnownIdentifier[] = [];
    for (const r of rows) {
      if (r.subjectId !== s.row.id || !r.valueEnc) continue;
      const value = await this.pii.decrypt(s.key, r.valueEnc, context(r.kind, s.row.id));
      out.push({ kind: r.kind, value, hash: r.hash, status: r.status });
    }
    return out;
  }

  /** The kinds and masked values of the person's identifiers (for views that may not show values). */
  async masked(
    s: Subject,
  ): Promise<Array<{ kind: IdentifierKind; masked: string; status: 'active' | 'former' }>> {
    return (await this.identifiers(s)).map((i) => ({
      kind: i.kind,
      masked: maskIdentifier(i),
      status: i.status,
    }));
  }

  /** The person's active E.164 number, or null when they are known only by BSUID. */
  async phoneOrNull(s: Subject): Promise<string | null> {
    const ids = await this.identifiers(s);
    return ids.find((i) => i.kind === 'phone' && i.status === 'active')?.value ?? null;
  }

  /** The person's active E.164 number (for CRM matching by number). */
  async phone(s: Subject): Promise<string> {
    const phone = await this.phoneOrNull(s);
    if (!phone) throw new Error('subject has no phone number');
    return phone;
  }

  /** The person's active BSUID, or null. */
  async bsuid(s: Subject): Promise<string | null> {
    const ids = await this.identifiers(s);
    return ids.find((i) => i.kind === 'bsuid' && i.status === 'active')?.value ?? null;
  }

  /**
   * Where a WhatsApp message to the person goes: the active number when there is one, else the
   * active BSUID; null when neither (a former number is never messaged).
   */
  async address(s: Subject, rows?: IdentifierRow[]): Promise<Address | null> {
    const ids = (await this.identifiers(s, rows)).filter((i) => i.status === 'active');
    const phone = ids.find((i) => i.kind === 'phone');
    if (phone) return { phone: phone.value };
    const bsuid = ids.find((i) => i.kind === 'bsuid');
    return bsuid ? { bsuid: bsuid.value } : null;
  }

  /**
   * Whether any identifier of the person has a suppression tombstone (an erasure was requested).
   * The stored hashes suffice: a rotation that moves an identifier's hash copies its tombstone.
   */
  async tombstoned(s: Subject, rows?: IdentifierRow[]): Promise<boolean> {
    const ids = rows ?? (await this.store.identifiersOf([s.row.id]));
    const hashes = [...new Set([s.row.phoneHash, ...ids.map((i) => i.hash)])];
    return (await this.store.tombstonesFor(hashes)).length > 0;
  }

  encryptEvidence(s: Subject, eventId: string, evidence: object): Promise<string> {
    return this.pii.encrypt(s.key, JSON.stringify(evidence), `evidence:${eventId}`);
  }

  async decryptEvidence(s: Subject, eventId: string, enc: string): Promise<Record<string, unknown>> {
    return JSON.parse(await this.pii.decrypt(s.key, enc, `evidence:${eventId}`)) as Record<string, unknown>;
  }
}
