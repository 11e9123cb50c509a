-- Window totals: one row per referrer and window length, counted as of a day (see
-- src/storage/common/aggregates.hpp), instead of one row per end day. With a row per end day a
-- referral touched every end day of every window (37 rows, most of them moving in the rank
-- index: 58 pages written per track at 1,000,000 referrals) and a read walked the rows of every
-- live end day to find today's (43 ms at 1,000,000, see docs/performance.md). Now a write touches
-- one row per window and a read walks the rank index from the top.
-- referrald:rebuild-aggregates
DROP TABLE referrer_windows;
CREATE TABLE referrer_windows (
  window_days INTEGER NOT NULL,
  user_id     UUID NOT NULL,
  as_of_day   INTEGER NOT NULL,  -- the UTC day whose window the counts are of
  total       BIGINT NOT NULL,
  converted   BIGINT NOT NULL,
  PRIMARY KEY (window_days, user_id)
);
CREATE INDEX idx_referrer_windows_rank
  ON referrer_windows (window_days, converted DESC, total DESC, user_id);
