-- Idempotency-Key (contract section 10): one row per caller and key. A request reserves its key
-- (state in_progress, held by `owner` until `lease_until`), then stores its response (completed)
-- in the transaction of its change. A repeat within the TTL is answered from here. No foreign key
-- to users: a key is reserved before the caller's user row is created. (0004 belongs to the
-- event outbox; migrations apply by version, whatever is missing.)
CREATE TABLE idempotency_keys (
  user_id          UUID NOT NULL,
  idempotency_key  VARCHAR(255) NOT NULL CHECK (length(idempotency_key) >= 1),
  method           VARCHAR(10) NOT NULL,
  path             TEXT NOT NULL,
  body_sha256      CHAR(64) NOT NULL,
  state            VARCHAR(20) NOT NULL CHECK (state IN ('in_progress', 'completed')),
  owner            UUID NOT NULL,
  lease_until      TIMESTAMP NOT NULL,
  created_at       TIMESTAMP NOT NULL,
  completed_at     TIMESTAMP,
  response_status  INTEGER,
  response_headers TEXT,
  response_body    TEXT,
  PRIMARY KEY (user_id, idempotency_key),
  CHECK ((state = 'completed') = (response_status IS NOT NULL))
);
-- The purge job walks keys by age.
CREATE INDEX idx_idempotency_keys_created_at ON idempotency_keys (created_at);
