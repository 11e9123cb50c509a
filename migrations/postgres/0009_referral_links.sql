-- Referral links (contract section 12): GET /r/{code} counts a click at most once per code, per
-- visitor and per UTC day. A visitor is a keyed hash of the client's address and User-Agent
-- (HMAC-SHA256 truncated to 128 bits, base64url; src/http/links.hpp): the address itself is never
-- stored. The primary key is the dedup rule: a click is an INSERT … ON CONFLICT DO NOTHING, and
-- only an inserted row counts in the aggregates, in the same statement. No foreign key to
-- referral_codes: the redirect has already looked the code up, and a key check would lock the
-- code's row (FOR KEY SHARE) on every counted click of a popular link.
CREATE TABLE referral_clicks (
  code_id UUID NOT NULL,
  day     INTEGER NOT NULL,  -- UTC day number (days since 1970-01-01)
  visitor TEXT NOT NULL,
  PRIMARY KEY (code_id, day, visitor)
);

-- The counted clicks in the aggregates (migration 0002): per referrer (the code's owner),
-- program-wide per UTC day and in total, sharded like the other program-wide counts. No click
-- exists before this migration, so 0 is right (and ADD COLUMN with a constant default rewrites
-- no row).
ALTER TABLE referrer_totals ADD COLUMN clicks BIGINT NOT NULL DEFAULT 0;
ALTER TABLE program_daily ADD COLUMN clicks BIGINT NOT NULL DEFAULT 0;
ALTER TABLE program_totals ADD COLUMN clicks BIGINT NOT NULL DEFAULT 0;
