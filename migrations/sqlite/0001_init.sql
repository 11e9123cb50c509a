-- referrald schema, SQLite dialect.
-- Ids are TEXT (36-char lowercase UUIDs). Timestamps are TEXT in exactly the FormatIso8601 form
-- (YYYY-MM-DDTHH:MM:SS.mmmZ, UTC), so text order is time order and substr(x, 1, 10) is the UTC
-- day. Booleans are INTEGER 0/1. JSON is TEXT.
-- Exactly-once rules live here as constraints: one referrer per user, one active code per user,
-- one reward per converted referral, one badge per user, one active subscription per user.

CREATE TABLE users (
  id            TEXT PRIMARY KEY NOT NULL,
  email         TEXT,
  created_at    TEXT NOT NULL,
  premium_until TEXT
);

CREATE TABLE referral_codes (
  id         TEXT PRIMARY KEY NOT NULL,
  user_id    TEXT NOT NULL REFERENCES users (id),
  code       TEXT NOT NULL CHECK (length(code) BETWEEN 1 AND 50),
  is_active  INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL
);
CREATE UNIQUE INDEX idx_referral_codes_code ON referral_codes (code);
-- (user_id, created_at): also serves "the user's newest code".
CREATE INDEX idx_referral_codes_user_id ON referral_codes (user_id, created_at);
-- One active code per user.
CREATE UNIQUE INDEX idx_referral_codes_active_user ON referral_codes (user_id) WHERE is_active = 1;
-- Expiry sweeps and the active-code count.
CREATE INDEX idx_referral_codes_expires_at ON referral_codes (expires_at) WHERE is_active = 1;

CREATE TABLE referrals (
  id               TEXT PRIMARY KEY NOT NULL,
  referrer_user_id TEXT NOT NULL REFERENCES users (id),
  referred_user_id TEXT NOT NULL REFERENCES users (id),
  referral_code_id TEXT NOT NULL REFERENCES referral_codes (id),
  status           TEXT NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'converted', 'expired')),
  created_at       TEXT NOT NULL,
  converted_at     TEXT,
  CHECK (referrer_user_id <> referred_user_id)
);
CREATE INDEX idx_referrals_referrer_user_id ON referrals (referrer_user_id, status);
-- One referrer per user, for life.
CREATE UNIQUE INDEX idx_referrals_referred_user_id ON referrals (referred_user_id);
CREATE INDEX idx_referrals_status ON referrals (status);
CREATE INDEX idx_referrals_created_at ON referrals (created_at);
CREATE INDEX idx_referrals_converted_at ON referrals (converted_at);

CREATE TABLE user_rewards (
  id                 TEXT PRIMARY KEY NOT NULL,
  user_id            TEXT NOT NULL REFERENCES users (id),
  reward_type        TEXT NOT NULL CHECK (reward_type IN ('free_premium', 'badge')),
  reward_value       TEXT NOT NULL CHECK (json_valid(reward_value)),
  is_claimed         INTEGER NOT NULL DEFAULT 0 CHECK (is_claimed IN (0, 1)),
  created_at         TEXT NOT NULL,
  claimed_at         TEXT,
  expires_at         TEXT,
  -- The converted referral that earned it (NULL for badges): one reward per conversion.
  source_referral_id TEXT REFERENCES referrals (id)
);
-- (user_id, created_at, id): also serves "the user's rewards, newest first".
CREATE INDEX idx_user_rewards_user_id ON user_rewards (user_id, created_at, id);
CREATE INDEX idx_user_rewards_is_claimed ON user_rewards (is_claimed);
CREATE UNIQUE INDEX idx_user_rewards_source_referral_id ON user_rewards (source_referral_id);
-- One badge per user.
CREATE UNIQUE INDEX idx_user_rewards_one_badge ON user_rewards (user_id)
  WHERE reward_type = 'badge';
CREATE INDEX idx_user_rewards_created_at ON user_rewards (created_at);

-- user_id has no foreign key on purpose: refusals are audited for ids that may not exist.
CREATE TABLE automation_logs (
  id            TEXT PRIMARY KEY NOT NULL,
  service       TEXT NOT NULL,
  action        TEXT NOT NULL,
  status        TEXT NOT NULL CHECK (status IN ('success', 'failed', 'pending')),
  user_id       TEXT,
  details       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(details)),
  error_message TEXT,
  created_at    TEXT NOT NULL
);
CREATE INDEX idx_automation_logs_service ON automation_logs (service, created_at, id);
CREATE INDEX idx_automation_logs_created_at ON automation_logs (created_at, id);

CREATE TABLE subscriptions (
  id           TEXT PRIMARY KEY NOT NULL,
  user_id      TEXT NOT NULL REFERENCES users (id),
  tier         TEXT NOT NULL,
  status       TEXT NOT NULL CHECK (status IN ('active', 'cancelled', 'expired')),
  provider     TEXT NOT NULL,
  provider_ref TEXT NOT NULL,
  created_at   TEXT NOT NULL
);
CREATE INDEX idx_subscriptions_user_id ON subscriptions (user_id);
-- One active subscription per user.
CREATE UNIQUE INDEX idx_subscriptions_active_user ON subscriptions (user_id)
  WHERE status = 'active';
