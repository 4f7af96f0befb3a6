-- Durable inbox of WhatsApp webhook events (issue 17). A signed delivery is acknowledged once its
-- minimised events are here; the decider applies them in batches and deletes each row in the
-- transaction that applies it. See docs/operations.md "Consistency".
CREATE TABLE inbox (
  id TEXT PRIMARY KEY,
  received_at TEXT NOT NULL,
  -- the purposes an undecided opt-out withdraws ('*' = all, else comma-separated), NULL otherwise
  opt_out TEXT,
  -- keyed lookup hashes of the event's identifiers (current PII key), for the send guard
  hash1 TEXT,
  hash2 TEXT,
  hash3 TEXT,
  -- the minimised event (JSON), AES-GCM under the service key, AAD `inbox:<id>`
  payload_enc TEXT NOT NULL
);
-- Only undecided opt-outs are looked up by hash (the send guard); other rows cost no index.
CREATE INDEX inbox_opt_out_hash1 ON inbox (hash1) WHERE opt_out IS NOT NULL;
CREATE INDEX inbox_opt_out_hash2 ON inbox (hash2) WHERE opt_out IS NOT NULL;
CREATE INDEX inbox_opt_out_hash3 ON inbox (hash3) WHERE opt_out IS NOT NULL;
