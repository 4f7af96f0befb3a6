import type { SubjectRow } from '../core/types.ts';
import { newId } from '../crypto/encoding.ts';
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

/**
 * Finds people by phone number through the keyed hash and creates them with a fresh data key.
 * Phone numbers exist in clear only in memory, for the length of a request or a send.
 */
export class Subjects {
  private readonly store: Store;
  private readonly pii: PiiCrypto;

  constructor(store: Store, pii: PiiCrypto) {
    this.store = store;
    this.pii = pii;
  }

  hash(e164: string): Promise<string> {
    return this.pii.lookupHash(e164);
  }

  /** The person, or null when unknown or crypto-shredded. */
  async find(phoneHash: string): Promise<Subject | null> {
    const row = await this.store.findSubjectByHash(phoneHash);
    if (!row?.dekWrapped) return null;
    return { row, key: await this.pii.subjectKey(row.id, row.dekWrapped), isNew: false };
  }

  async byId(id: string): Promise<Subject | null> {
    const row = await this.store.getSubject(id);
    if (!row?.dekWrapped) return null;
    return { row, key: await this.pii.subjectKey(row.id, row.dekWrapped), isNew: false };
  }

  /** A new person (not yet stored: the caller commits `row` with its decision). */
  async create(e164: string, phoneHash: string, locale: string | null, now: string): Promise<Subject> {
    const id = newId();
    const { key, wrapped } = await this.pii.newSubjectKey(id);
    const row: SubjectRow = {
      id,
      phoneHash,
      phoneEnc: await this.pii.encrypt(key, e164, `phone:${id}`),
      dekWrapped: wrapped,
      locale,
      privacyNoticeAt: null,
      createdAt: now,
    };
    return { row, key, isNew: true };
  }

  /**
   * A person whose data retention shredded (an unconfirmed request long expired) comes back: the
   * same row gets a fresh key and their number again. Never used for erased people (tombstoned).
   */
  async rekey(row: SubjectRow, e164: string): Promise<Subject> {
    const { key, wrapped } = await this.pii.newSubjectKey(row.id);
    const phoneEnc = await this.pii.encrypt(key, e164, `phone:${row.id}`);
    return { row: { ...row, phoneEnc, dekWrapped: wrapped }, key, isNew: false, rekeyed: true };
  }

  /** The person's E.164 number, decrypted for sending. */
  async phone(s: Subject): Promise<string> {
    if (!s.row.phoneEnc) throw new Error('subject has no phone number');
    return this.pii.decrypt(s.key, s.row.phoneEnc, `phone:${s.row.id}`);
  }

  encryptEvidence(s: Subject, eventId: string, evidence: object): Promise<string> {
    return this.pii.encrypt(s.key, JSON.stringify(evidence), `evidence:${eventId}`);
  }

  async decryptEvidence(s: Subject, eventId: string, enc: string): Promise<Record<string, unknown>> {
    return JSON.parse(await this.pii.decrypt(s.key, enc, `evidence:${eventId}`)) as Record<string, unknown>;
  }
}
