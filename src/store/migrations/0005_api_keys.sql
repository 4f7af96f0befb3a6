-- API keys created through the API (issue 7), alongside the API_KEYS configuration. Only the SHA-256
-- of the token is kept (it is shown once, when the key is made); the unique index finds a key by it.
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  digest TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL,
  label TEXT NOT NULL,
  created_at TEXT NOT NULL,
  created_by TEXT NOT NULL,
  last_used_at TEXT,
  revoked_at TEXT,
  revoked_by TEXT
);
