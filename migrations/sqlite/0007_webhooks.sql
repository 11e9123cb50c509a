-- Webhooks (contract §10 "Webhooks"): the endpoints admins register and one delivery row per
-- event and endpoint. (0006 is taken by another branch; versions are applied by number, gaps and
-- all.)
--
-- Fan-out: cursor_seq is the last events.seq whose events were copied into deliveries for this
-- endpoint. A registration starts it at the end of the feed; a fan-out step, in one BEGIN
-- IMMEDIATE transaction (SQLite's one writer, whichever process), copies the events after it and
-- moves it. The primary key (endpoint_id, event_id) makes a second copy of a delivery a no-op
-- whatever the code around it does.
CREATE TABLE webhook_endpoints (
  id          TEXT PRIMARY KEY,
  url         TEXT NOT NULL,
  event_types TEXT,  -- a JSON array of type names; NULL: every type
  description TEXT,
  secret      TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  cursor_seq  INTEGER NOT NULL DEFAULT 0
);

-- attempt counts the attempts made; status pending|succeeded|failed; next_attempt_at is set
-- while pending. lease_owner/lease_until: the claim of the sender making the current attempt; a
-- result is recorded only while its claim still holds, and an expired claim may be taken over.
CREATE TABLE webhook_deliveries (
  endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
  event_id        TEXT NOT NULL,
  event_seq       INTEGER NOT NULL,
  event_type      TEXT NOT NULL,
  attempt         INTEGER NOT NULL DEFAULT 0,
  status          TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  response_status INTEGER,
  last_attempt_at TEXT,
  next_attempt_at TEXT,
  lease_owner     TEXT,
  lease_until     TEXT,
  created_at      TEXT NOT NULL,
  PRIMARY KEY (endpoint_id, event_id)
);
-- The sender's scan: pending deliveries by due time.
CREATE INDEX idx_webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
  WHERE status = 'pending';
-- The listing: an endpoint's deliveries, newest first.
CREATE INDEX idx_webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at,
                                                                     event_seq);
