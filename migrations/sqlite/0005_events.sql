-- The event outbox (contract §10 "Events"): one row per change of state, written in the same
-- transaction as the change. Rows are never updated or deleted by the service.
--
-- Feed order is seq. SQLite has one writer at a time (every write transaction starts with BEGIN
-- IMMEDIATE, in this process or another), so seq is assigned in commit order and a reader's
-- snapshot (WAL) always holds a prefix of it: paging by seq can neither skip nor repeat an event.
-- A new row's seq is one more than the largest, so a cursor stays a place in the feed forever as
-- long as the newest event is never deleted (nothing deletes events; a retention job must keep
-- the newest row). Every page a write transaction changes is written to the WAL, which is most
-- of a SQLite write's cost: so no AUTOINCREMENT (its sqlite_sequence row would be one more page).
-- The id stays unique in the database: receivers deduplicate webhooks on it.
CREATE TABLE events (
  seq         INTEGER PRIMARY KEY,
  id          TEXT NOT NULL UNIQUE,
  type        TEXT NOT NULL,
  occurred_at TEXT NOT NULL,
  data        TEXT NOT NULL
);
-- The feed filtered by type (?type=) walks only that type's events.
CREATE INDEX idx_events_type ON events (type, seq);
