-- The event outbox (contract §10 "Events"): one row per change of state, written in the same
-- transaction as the change. Rows are never updated or deleted by the service.
--
-- Feed order is seq. SQLite has one writer at a time (every write transaction starts with BEGIN
-- IMMEDIATE, in this process or another), so seq is assigned in commit order and a reader's
-- snapshot (WAL) always holds a prefix of it: paging by seq can neither skip nor repeat an event.
-- AUTOINCREMENT never hands out a number again, even one whose row is gone, so a cursor stays a
-- place in the feed forever.
CREATE TABLE events (
  seq         INTEGER PRIMARY KEY AUTOINCREMENT,
  id          TEXT NOT NULL UNIQUE,
  type        TEXT NOT NULL,
  occurred_at TEXT NOT NULL,
  data        TEXT NOT NULL
);
-- The feed filtered by type (?type=) walks only that type's events.
CREATE INDEX idx_events_type ON events (type, seq);
