-- One row per scheduled job slot: the instance that inserts it runs the job, every other instance
-- sharing the database skips that slot. Makes each scheduled run happen once in all.
CREATE TABLE job_runs (
  job        TEXT NOT NULL,
  slot       TEXT NOT NULL,
  claimed_at TEXT NOT NULL,
  PRIMARY KEY (job, slot)
);
