-- Personal data and paged lists (contract §13). (0008 is this branch's; versions are applied by
-- number, gaps and all.)
--
-- users.erased_at: when an administrator erased the user (DELETE /api/admin/users/{id}). The
-- email is set to NULL with it and scrubbed from free text; ids and counts stay, so the
-- aggregates and every referrer's stats are unchanged. Tokens of an erased user are refused.
-- Erasure is the one change the service makes to an events row: the email, wherever the data
-- holds it, is replaced in place (the row keeps its id and its place in the feed).
ALTER TABLE users ADD COLUMN erased_at TEXT;

-- Keyset paging, newest first by (created_at, id): a referrer's referrals
-- (GET /api/referral/referrals, GET /api/admin/referrals?referrerUserId=) and every referral
-- (GET /api/admin/referrals). Same names and leading columns as before, so no write maintains an
-- index more than it did; nothing read (referrer_user_id, status) in order.
DROP INDEX idx_referrals_referrer_user_id;
CREATE INDEX idx_referrals_referrer_user_id ON referrals (referrer_user_id, created_at, id);
DROP INDEX idx_referrals_created_at;
CREATE INDEX idx_referrals_created_at ON referrals (created_at, id);
