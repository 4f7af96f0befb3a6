-- Mapping edits made through the admin API on Workers (on Node they are the files in MAPPINGS_DIR).
CREATE TABLE mapping_overrides (
  connector TEXT PRIMARY KEY,
  mapping TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
