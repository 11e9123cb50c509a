-- Webhooks (contract §10 "Webhooks"): the endpoints admins register and one delivery row per
-- event and endpoint. (0005 is taken by another branch; versions are applied by number, gaps and
-- all.)
--
-- Fan-out: (cursor_tx, cursor_seq) is the feed position (0004_events.sql) up to which this
-- endpoint's events were copied into deliveries. A fan-out step locks the endpoint's row (FOR
-- UPDATE SKIP LOCKED: an instance already at it is left alone), copies the events after the
-- cursor that the feed lists — only those of transactions below the snapshot's xmin, so none is
-- ever passed over — and moves the cursor, in one transaction. The primary key (endpoint_id,
-- event_id) makes a second copy of a delivery a no-op whatever the code around it does.
CREATE TABLE webhook_endpoints (
  id          UUID PRIMARY KEY,
  url         TEXT NOT NULL,
  event_types JSONB,  -- an array of type names; NULL: every type
  description TEXT,
  secret      TEXT NOT NULL,
  created_at  TIMESTAMP NOT NULL,
  cursor_tx   xid8 NOT NULL DEFAULT '0',
  cursor_seq  BIGINT NOT NULL DEFAULT 0,
  -- The snapshot of the registration: the cursor starts at the last event the feed listed then,
  -- but events of transactions that had committed by then (visible in this snapshot) are passed
  -- over, so that an endpoint gets exactly the events committed after it was registered.
  start_snapshot pg_snapshot
);

-- attempt counts the attempts made; status pending|succeeded|failed; next_attempt_at is set
-- while pending. lease_owner/lease_until: the claim of the sender making the current attempt
-- (claimed with FOR UPDATE SKIP LOCKED, so one instance per attempt); a result is recorded only
-- while its claim still holds, and an expired claim may be taken over.
CREATE TABLE webhook_deliveries (
  endpoint_id     UUID NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
  event_id        UUID NOT NULL,
  event_seq       BIGINT NOT NULL,
  event_type      VARCHAR(50) NOT NULL,
  attempt         INTEGER NOT NULL DEFAULT 0,
  status          VARCHAR(20) NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  response_status INTEGER,
  last_attempt_at TIMESTAMP,
  next_attempt_at TIMESTAMP,
  lease_owner     TEXT,
  lease_until     TIMESTAMP,
  created_at      TIMESTAMP NOT NULL,
  PRIMARY KEY (endpoint_id, event_id)
);
-- The sender's scan: pending deliveries by due time.
CREATE INDEX idx_webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
  WHERE status = 'pending';
-- The listing: an endpoint's deliveries, newest first.
CREATE INDEX idx_webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at,
                                                                     event_seq);
