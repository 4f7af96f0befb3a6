-- consent-sync schema v1. Shared by the SQLite (node:sqlite) and D1 adapters.
-- Personal data is never stored in clear: phone numbers and evidence are AES-GCM ciphertext
-- under a per-person data key (dek_wrapped); lookups go through a keyed HMAC (phone_hash).

CREATE TABLE subjects (
  id TEXT PRIMARY KEY,
  phone_hash TEXT NOT NULL UNIQUE,
  phone_enc TEXT,
  dek_wrapped TEXT,
  locale TEXT,
  privacy_notice_at TEXT,
  created_at TEXT NOT NULL
);

-- Append-only, hash-chained consent ledger. seq is dense from 1.
CREATE TABLE ledger (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  subject_id TEXT NOT NULL,
  purpose TEXT NOT NULL,
  action TEXT NOT NULL,
  source TEXT NOT NULL,
  occurred_at TEXT NOT NULL,
  recorded_at TEXT NOT NULL,
  text_version TEXT,
  text_sha256 TEXT,
  evidence_enc TEXT,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX ledger_subject ON ledger (subject_id, seq);

-- The last appended event, so a deleted tail is detected by verification.
CREATE TABLE ledger_head (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  seq INTEGER NOT NULL,
  hash TEXT NOT NULL
);

-- Current state per person and purpose, derived from the ledger in the same transaction.
CREATE TABLE consent_state (
  subject_id TEXT NOT NULL,
  purpose TEXT NOT NULL,
  status TEXT NOT NULL,
  changed_at TEXT NOT NULL,
  source TEXT NOT NULL,
  status_before_pending TEXT,
  pending_expires_at TEXT,
  double_opt_in_at TEXT,
  text_version TEXT,
  occurred_at TEXT NOT NULL,
  PRIMARY KEY (subject_id, purpose)
);
CREATE INDEX consent_state_pending ON consent_state (pending_expires_at) WHERE status = 'pending';

-- Consent wording as shown, per version. Not personal data. A used version never changes.
CREATE TABLE consent_texts (
  version TEXT PRIMARY KEY,
  purpose TEXT NOT NULL,
  locale TEXT NOT NULL,
  text TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  first_used_at TEXT NOT NULL
);

-- Inbound deduplication (WhatsApp wamids, status ids, webhook event ids).
CREATE TABLE inbound_dedupe (
  key TEXT PRIMARY KEY,
  received_at TEXT NOT NULL
);

-- Transactional outbox: committed with the ledger change that caused it.
CREATE TABLE outbox (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  subject_id TEXT,
  idempotency_key TEXT NOT NULL UNIQUE,
  payload TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TEXT NOT NULL,
  lease_until TEXT,
  last_error TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_subject ON outbox (subject_id);

-- Messages we sent (WhatsApp ids only), so status webhooks map back to a person and purpose.
CREATE TABLE sent_messages (
  wa_message_id TEXT PRIMARY KEY,
  subject_id TEXT NOT NULL,
  purpose TEXT,
  kind TEXT NOT NULL,
  sent_at TEXT NOT NULL
);
CREATE INDEX sent_messages_subject ON sent_messages (subject_id);

-- Audit log of admin and operator actions (Art. 32). No personal data in clear.
CREATE TABLE audit_log (
  id TEXT PRIMARY KEY,
  at TEXT NOT NULL,
  actor TEXT NOT NULL,
  role TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT,
  details TEXT NOT NULL
);
