-- Idempotency-Key (contract section 10): one row per caller and key. A request reserves its key
-- (state in_progress, held by `owner` until `lease_until`), then stores its response (completed)
-- in the transaction of its change. A repeat within the TTL is answered from here. No foreign key
-- to users: a key is reserved before the caller's user row is created. WITHOUT ROWID: the rows
-- live in the primary key's tree, so a reservation writes one tree and the age index, not three. (0005 belongs to the
-- event outbox; migrations apply by version, whatever is missing.)
CREATE TABLE idempotency_keys (
  user_id          TEXT NOT NULL,
  idempotency_key  TEXT NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
  method           TEXT NOT NULL,
  path             TEXT NOT NULL,
  body_sha256      TEXT NOT NULL,
  state            TEXT NOT NULL CHECK (state IN ('in_progress', 'completed')),
  owner            TEXT NOT NULL,
  lease_until      TEXT NOT NULL,
  created_at       TEXT NOT NULL,
  completed_at     TEXT,
  response_status  INTEGER,
  response_headers TEXT,
  response_body    TEXT,
  PRIMARY KEY (user_id, idempotency_key),
  CHECK ((state = 'completed') = (response_status IS NOT NULL))
) WITHOUT ROWID;
-- The purge job walks keys by age.
CREATE INDEX idx_idempotency_keys_created_at ON idempotency_keys (created_at);
