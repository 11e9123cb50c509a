-- The event outbox (contract §10 "Events"): one row per change of state, written in the same
-- transaction as the change. Rows are never updated or deleted by the service.
--
-- Why not order by seq alone: a bigserial is drawn when a row is inserted, not when its
-- transaction commits, so a reader could list seq 8 (committed) while seq 7 (drawn earlier by a
-- transaction still running) is invisible, move its cursor past 7, and never see it. Instead each
-- row carries the id of the transaction that wrote it (tx_id, pg_current_xact_id()), and the feed
-- is ordered by (tx_id, seq) and lists only rows with tx_id below the reading statement's
-- snapshot xmin, the oldest transaction id still running when the snapshot was taken:
--   * every transaction with an id below xmin has ended, so the set of rows with tx_id < xmin is
--     final: the statement sees all of those that committed, and no row with such a tx_id can
--     appear later (a transaction gets its id at its first write, and a new id is above every id
--     handed out before, so above xmin);
--   * a later statement's xmin is never below an earlier one's, and every row it newly lists has
--     tx_id >= the earlier xmin, so it sorts after every cursor the earlier read handed out;
--   * a transaction T1 that committed before T2 began has the smaller id (T2 draws its id after
--     it began), so T1's events come first, as the contract asks. Events of one transaction keep
--     their insertion order (seq).
-- A transaction still running (or not yet visible) holds back its own events and every event
-- ordered after it — it delays the feed, by at most the longest write transaction
-- (DATABASE_TIMEOUT_MS bounds ours) — but it is never skipped. See PostgresStore::ListEvents.
CREATE TABLE events (
  tx_id       xid8 NOT NULL DEFAULT pg_current_xact_id(),
  seq         BIGSERIAL NOT NULL,
  id          UUID NOT NULL UNIQUE,
  type        VARCHAR(50) NOT NULL,
  occurred_at TIMESTAMP NOT NULL,
  data        JSONB NOT NULL,
  -- The feed's range scan: (tx_id, seq) after the cursor, below xmin.
  PRIMARY KEY (tx_id, seq)
);
-- The same scan within one type (?type=).
CREATE INDEX idx_events_type ON events (type, tx_id, seq);
