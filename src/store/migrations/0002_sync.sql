-- Sync with CRMs (issue 3).

-- Jobs that carry a coalesce key collapse: while one job for (connector, person) is still pending,
-- a new one is not added, because the pending job reads the person's latest state when it runs.
ALTER TABLE outbox ADD COLUMN coalesce_key TEXT;
CREATE INDEX outbox_coalesce ON outbox (coalesce_key, status) WHERE coalesce_key IS NOT NULL;
-- Expired leases are found without scanning finished jobs.
CREATE INDEX outbox_lease ON outbox (status, lease_until);

-- Which CRM records belong to which person (found by phone once, then addressed by id).
-- A CRM record id is a pseudonymous reference, not contact data; links go with the person on erasure.
CREATE TABLE crm_links (
  connector TEXT NOT NULL,
  object_type TEXT NOT NULL,
  remote_id TEXT NOT NULL,
  subject_id TEXT NOT NULL,
  linked_at TEXT NOT NULL,
  PRIMARY KEY (connector, object_type, remote_id)
);
CREATE INDEX crm_links_subject ON crm_links (subject_id);

-- The last value we wrote to each CRM property, so our own write coming back as a webhook is
-- recognised and dropped (echo suppression). Values are consent values, never personal data.
CREATE TABLE sync_writes (
  connector TEXT NOT NULL,
  object_type TEXT NOT NULL,
  remote_id TEXT NOT NULL,
  property TEXT NOT NULL,
  value TEXT NOT NULL,
  written_at TEXT NOT NULL,
  PRIMARY KEY (connector, object_type, remote_id, property)
);
