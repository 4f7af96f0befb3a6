-- Data subject requests (issue 4): erasure requests, one task per system, suppression tombstones.

CREATE TABLE erasures (
  id TEXT PRIMARY KEY,
  -- keyed hash (HMAC under the lookup key) of the person's number: no personal data
  subject_hash TEXT NOT NULL,
  subject_id TEXT,
  status TEXT NOT NULL,            -- open | completed
  source TEXT NOT NULL,            -- api | whatsapp | hubspot | salesforce
  received_at TEXT NOT NULL,
  due_at TEXT NOT NULL,
  completed_at TEXT,
  receipt TEXT                     -- JSON receipt once every task has ended
);
-- One open request per person: a second request returns the open one.
CREATE UNIQUE INDEX erasures_open ON erasures (subject_hash) WHERE status = 'open';
CREATE INDEX erasures_due ON erasures (status, due_at);

CREATE TABLE erasure_tasks (
  erasure_id TEXT NOT NULL,
  system TEXT NOT NULL,            -- local | hubspot | salesforce | …
  status TEXT NOT NULL,            -- pending | done | not_found | failed
  attempts INTEGER NOT NULL DEFAULT 0,
  records INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  updated_at TEXT NOT NULL,
  finished_at TEXT,
  PRIMARY KEY (erasure_id, system)
);

-- Keeps an erased person from being re-created by a webhook, import or reconciliation, and blocks
-- every send to them. Only the keyed hash of the number is kept.
CREATE TABLE tombstones (
  subject_hash TEXT PRIMARY KEY,
  erasure_id TEXT NOT NULL,
  created_at TEXT NOT NULL
);

-- CRM records we erased, so the deletion webhooks our own erasure causes open no new request.
CREATE TABLE erased_records (
  connector TEXT NOT NULL,
  object_type TEXT NOT NULL,
  remote_id TEXT NOT NULL,
  erasure_id TEXT NOT NULL,
  erased_at TEXT NOT NULL,
  PRIMARY KEY (connector, object_type, remote_id)
);
