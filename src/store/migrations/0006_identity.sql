-- Identity (issue 13): a person is one subject with any number of identifiers: E.164 numbers,
-- WhatsApp business-scoped user ids (BSUIDs) and parent BSUIDs. Each identifier is found by its
-- keyed hash and kept encrypted under the person's data key, like phone numbers before; so
-- crypto-shredding and tombstones cover every one of them.
CREATE TABLE subject_identifiers (
  hash TEXT PRIMARY KEY,
  subject_id TEXT NOT NULL,
  -- phone | bsuid | parent_bsuid
  kind TEXT NOT NULL,
  -- AES-GCM ciphertext under the subject's data key; NULL once shredded
  value_enc TEXT,
  -- active | former (a number the person changed away from: kept as history, never messaged)
  status TEXT NOT NULL DEFAULT 'active',
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX subject_identifiers_subject ON subject_identifiers (subject_id);

-- Every person known so far is known by their number.
INSERT INTO subject_identifiers (hash, subject_id, kind, value_enc, status, created_at, updated_at)
  SELECT phone_hash, id, 'phone', phone_enc, 'active', created_at, created_at FROM subjects;

-- Two subjects found to be one person: the one merged away points at the one that stays. Its
-- ledger events keep their subject id (the chain stays verifiable) and its data key (its
-- evidence stays readable); its identifiers, links and states move to the one that stays.
ALTER TABLE subjects ADD COLUMN merged_into TEXT;
CREATE INDEX subjects_merged_into ON subjects (merged_into) WHERE merged_into IS NOT NULL;

-- Events of signed deliveries that could not be read (readers skip, never drop): kept encrypted
-- for an operator to inspect, bounded in number, purged by retention.
CREATE TABLE dead_events (
  id TEXT PRIMARY KEY,
  -- whatsapp | hubspot | salesforce
  source TEXT NOT NULL,
  kind TEXT NOT NULL,
  -- JSON path and what was expected; never a value
  reason TEXT NOT NULL,
  -- the raw event, AES-GCM under the service's dead-event key
  payload_enc TEXT NOT NULL,
  received_at TEXT NOT NULL
);
CREATE INDEX dead_events_received ON dead_events (received_at, id);
