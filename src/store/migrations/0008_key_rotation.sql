-- PII key rotation (issue 14). See docs/key-rotation.md.

-- Lookup keys of retired PII keys: the HKDF output that keys lookup hashes, never a PII key itself,
-- AES-GCM wrapped under the key-encryption key of the PII key in force (AAD `lookup-key:<id>`).
-- They only let the service match hashes made under a retired key: the tombstones and erasure
-- requests of erased people, whose identifiers are gone and can never be hashed again.
CREATE TABLE pii_lookup_keys (
  -- 16 hex of an HMAC of a fixed label under the lookup key (no secret)
  id TEXT PRIMARY KEY,
  wrapped TEXT NOT NULL,
  -- id of the PII key whose KEK wraps it
  wrapped_by TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

-- Progress of `consent-sync keys rotate` (or the Workers cron) towards one PII key, so a stopped
-- run continues where it stopped and a finished one finds nothing to do.
CREATE TABLE key_rotations (
  -- the PII key data moves to
  key_id TEXT PRIMARY KEY,
  -- the retired key ids it moves data from (comma-separated, sorted)
  from_keys TEXT NOT NULL,
  -- subjects | dead_events | done
  phase TEXT NOT NULL,
  -- the last id done in the phase
  cursor TEXT NOT NULL,
  subjects INTEGER NOT NULL DEFAULT 0,
  rewrapped INTEGER NOT NULL DEFAULT 0,
  rehashed INTEGER NOT NULL DEFAULT 0,
  resealed INTEGER NOT NULL DEFAULT 0,
  started_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  finished_at TEXT
);
