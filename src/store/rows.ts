/**
 * Row and statement types shared by the store port and its SQL helpers. Types only, importing
 * nothing of the store, so port.ts and the *-sql.ts files never import each other in a circle.
 */

/** A stored API key. `digest` is the SHA-256 (hex) of the token; the token itself is never kept. */
export interface ApiKeyRow {
  /** short public id (the first 12 hex digits of the digest, like the ids of `API_KEYS` keys) */
  id: string;
  digest: string;
  role: string;
  label: string;
  createdAt: string;
  /** key id of the admin who made it */
  createdBy: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  revokedBy: string | null;
}

/** One undecided webhook event: encrypted, with its identifiers' lookup hashes for the send guard. */
export interface InboxRow {
  id: string;
  receivedAt: string;
  /** purposes an undecided opt-out withdraws (`*` = all, else comma-separated), else null */
  optOut: string | null;
  /** keyed lookup hashes of the event's identifiers (at most three: number, BSUID, parent BSUID) */
  hashes: string[];
  payloadEnc: string;
}

/** A retired key's lookup key, wrapped under the KEK of the key in force (`pii_lookup_keys`). */
export interface LookupKeyRow {
  id: string;
  wrapped: string;
  /** id of the PII key whose KEK wraps it */
  wrappedBy: string;
  createdAt: string;
  updatedAt: string;
}

export type RotationPhase = 'subjects' | 'dead_events' | 'done';

/** Progress of a rotation towards one key (`key_rotations`). */
export interface KeyRotationRow {
  keyId: string;
  /** the retired key ids it moves data from (comma-separated, sorted) */
  fromKeys: string;
  phase: RotationPhase;
  /** the last id done in the phase ('' at its start) */
  cursor: string;
  subjects: number;
  rewrapped: number;
  rehashed: number;
  resealed: number;
  startedAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

/** One statement of a unit: its SQL and its parameters. */
export type UnitStatement = [sql: string, args: Array<string | number | null>];
