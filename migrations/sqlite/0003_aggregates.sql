-- Aggregates kept in the same transaction as the writes, so that every read route answers in a
-- time that does not grow with the number of referrals. Days are UTC day numbers (days since
-- 1970-01-01). The store rebuilds them from the base tables right after this migration, in its
-- transaction (the marker below), and `referrald verify-aggregates --repair` does the same.
-- referrald:rebuild-aggregates

-- Per referrer: what /stats shows, and the all-time leaderboard as an index range scan.
CREATE TABLE referrer_totals (
  user_id             TEXT PRIMARY KEY NOT NULL,
  total_referrals     INTEGER NOT NULL DEFAULT 0,
  converted_referrals INTEGER NOT NULL DEFAULT 0,
  pending_referrals   INTEGER NOT NULL DEFAULT 0,
  rewards_earned      INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX idx_referrer_totals_rank
  ON referrer_totals (converted_referrals DESC, total_referrals DESC, user_id)
  WHERE total_referrals > 0;

-- Per referrer and UTC day of the referrals' creation: referrals, and how many of them converted.
CREATE TABLE referrer_daily (
  user_id     TEXT NOT NULL,
  day         INTEGER NOT NULL,
  referrals   INTEGER NOT NULL DEFAULT 0,
  conversions INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, day)
) WITHOUT ROWID;

-- Per referrer, the totals of each windowed period (window_days UTC days ending on end_day), kept
-- for every end_day a referral can still count on: the week and month leaderboards read the rows
-- of today's end_day in index order. Rows whose end_day has passed are pruned by expire-codes.
-- The rank index files a row under (converted, bucket, user_id, end_day), the bucket being its
-- total rounded down to a coarse step (exact below 16): most increments of a total leave the
-- index alone, and a referrer's rows for consecutive end days, which mostly share a bucket, sit
-- side by side, so that a referral moves a few index pages rather than one per end day. A read
-- walks the index in rank order keeping today's end_day and sorts the one bucket it cuts
-- through exactly.
CREATE TABLE referrer_windows (
  window_days INTEGER NOT NULL,
  end_day     INTEGER NOT NULL,
  user_id     TEXT NOT NULL,
  total       INTEGER NOT NULL DEFAULT 0,
  converted   INTEGER NOT NULL DEFAULT 0,
  bucket      INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (window_days, user_id, end_day)
) WITHOUT ROWID;
CREATE INDEX idx_referrer_windows_rank
  ON referrer_windows (window_days, converted DESC, bucket DESC, user_id, end_day);

-- Program-wide, per UTC day: signups and cohort conversions by the referral's created day,
-- conversions by converted_at day, rewards by their created day. Split into shards (summed on
-- read) so that concurrent writers of different referrers do not update one hot row.
CREATE TABLE program_daily (
  day                INTEGER NOT NULL,
  shard              INTEGER NOT NULL,
  signups            INTEGER NOT NULL DEFAULT 0,
  cohort_conversions INTEGER NOT NULL DEFAULT 0,
  conversions        INTEGER NOT NULL DEFAULT 0,
  rewards            INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (day, shard)
) WITHOUT ROWID;

-- Program-wide totals, sharded the same way; only the sum over shards has a meaning.
CREATE TABLE program_totals (
  shard        INTEGER PRIMARY KEY NOT NULL,
  referrals    INTEGER NOT NULL DEFAULT 0,
  converted    INTEGER NOT NULL DEFAULT 0,
  rewards      INTEGER NOT NULL DEFAULT 0,
  codes        INTEGER NOT NULL DEFAULT 0,
  active_codes INTEGER NOT NULL DEFAULT 0
);
