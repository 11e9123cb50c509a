-- The reward lifecycle (contract §11): the hold, cancellation and clawback. (0008 is taken by
-- another branch; versions are applied by number, gaps and all.)
--
-- A reward's status is derived at read time from these columns and the clock, never stored:
-- revoked (revoked_at set), claimed (is_claimed), on_hold (now < claimable_at), expired
-- (expires_at <= now), else claimable. claimable_at is the end of the hold; a row without one
-- (granted before this migration, or written by another tool) reads as claimable from created_at,
-- which is what it always was. expires_at is written as claimable_at + REFERRAL_REWARD_CLAIM_DAYS:
-- the claim window starts when the hold ends.
ALTER TABLE user_rewards ADD COLUMN claimable_at TEXT;
ALTER TABLE user_rewards ADD COLUMN revoked_at TEXT;

-- A cancelled subscription keeps its row (status 'cancelled'); the partial unique index on active
-- subscriptions lets the user subscribe again.
ALTER TABLE subscriptions ADD COLUMN cancelled_at TEXT;
ALTER TABLE subscriptions ADD COLUMN refunded INTEGER NOT NULL DEFAULT 0 CHECK (refunded IN (0, 1));
ALTER TABLE subscriptions ADD COLUMN cancel_reason TEXT;

-- Per referrer: converted referrals whose reward a refund revoked. They stay converted (stats,
-- leaderboards), but the Referral Master badge counts converted_referrals - revoked_conversions.
-- Kept by the revoking statement's transaction; nothing is revoked before this migration, so 0 is
-- right for every existing row.
ALTER TABLE referrer_totals ADD COLUMN revoked_conversions INTEGER NOT NULL DEFAULT 0;
