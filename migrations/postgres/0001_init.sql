-- referrald schema, PostgreSQL dialect (15 or newer).
-- The seed's four tables with its column names, types and index names, plus users,
-- subscriptions and job_runs. Timestamps are TIMESTAMP (without time zone) holding UTC: the
-- service always sends UTC values and never uses now(), so the stored instants do not depend on
-- the server's TimeZone.
-- Exactly-once rules live here as constraints: one referrer per user, one active code per user,
-- one reward per converted referral, one badge per user, one active subscription per user, one
-- run per scheduled job slot.

CREATE TABLE users (
  id            UUID PRIMARY KEY,
  email         TEXT,
  created_at    TIMESTAMP NOT NULL,
  premium_until TIMESTAMP
);

CREATE TABLE referral_codes (
  id         UUID PRIMARY KEY,
  user_id    UUID NOT NULL REFERENCES users (id),
  code       VARCHAR(50) NOT NULL,
  is_active  BOOLEAN NOT NULL DEFAULT TRUE,
  created_at TIMESTAMP NOT NULL,
  expires_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX idx_referral_codes_code ON referral_codes (code);
-- (user_id, created_at): also serves "the user's newest code".
CREATE INDEX idx_referral_codes_user_id ON referral_codes (user_id, created_at);
-- One active code per user.
CREATE UNIQUE INDEX idx_referral_codes_active_user ON referral_codes (user_id) WHERE is_active;
-- Expiry sweeps and the active-code count.
CREATE INDEX idx_referral_codes_expires_at ON referral_codes (expires_at) WHERE is_active;

CREATE TABLE referrals (
  id               UUID PRIMARY KEY,
  referrer_user_id UUID NOT NULL REFERENCES users (id),
  referred_user_id UUID NOT NULL REFERENCES users (id),
  referral_code_id UUID NOT NULL REFERENCES referral_codes (id),
  status           VARCHAR(50) NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'converted', 'expired')),
  created_at       TIMESTAMP NOT NULL,
  converted_at     TIMESTAMP,
  CHECK (referrer_user_id <> referred_user_id)
);
CREATE INDEX idx_referrals_referrer_user_id ON referrals (referrer_user_id, status);
-- One referrer per user, for life.
CREATE UNIQUE INDEX idx_referrals_referred_user_id ON referrals (referred_user_id);
CREATE INDEX idx_referrals_status ON referrals (status);
CREATE INDEX idx_referrals_created_at ON referrals (created_at);
CREATE INDEX idx_referrals_converted_at ON referrals (converted_at);

CREATE TABLE user_rewards (
  id                 UUID PRIMARY KEY,
  user_id            UUID NOT NULL REFERENCES users (id),
  reward_type        VARCHAR(50) NOT NULL CHECK (reward_type IN ('free_premium', 'badge')),
  reward_value       JSONB NOT NULL CHECK (jsonb_typeof(reward_value) = 'object'),
  is_claimed         BOOLEAN NOT NULL DEFAULT FALSE,
  created_at         TIMESTAMP NOT NULL,
  claimed_at         TIMESTAMP,
  expires_at         TIMESTAMP,
  -- The converted referral that earned it (NULL for badges): one reward per conversion.
  source_referral_id UUID REFERENCES referrals (id)
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
  id            UUID PRIMARY KEY,
  service       VARCHAR(100) NOT NULL,
  action        VARCHAR(100) NOT NULL,
  status        VARCHAR(50) NOT NULL CHECK (status IN ('success', 'failed', 'pending')),
  user_id       UUID,
  details       JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
  error_message TEXT,
  created_at    TIMESTAMP NOT NULL
);
CREATE INDEX idx_automation_logs_service ON automation_logs (service, created_at, id);
CREATE INDEX idx_automation_logs_created_at ON automation_logs (created_at, id);

CREATE TABLE subscriptions (
  id           UUID PRIMARY KEY,
  user_id      UUID NOT NULL REFERENCES users (id),
  tier         VARCHAR(50) NOT NULL,
  status       VARCHAR(50) NOT NULL CHECK (status IN ('active', 'cancelled', 'expired')),
  provider     VARCHAR(100) NOT NULL,
  provider_ref VARCHAR(255) NOT NULL,
  created_at   TIMESTAMP NOT NULL
);
CREATE INDEX idx_subscriptions_user_id ON subscriptions (user_id);
-- One active subscription per user.
CREATE UNIQUE INDEX idx_subscriptions_active_user ON subscriptions (user_id)
  WHERE status = 'active';

-- One row per scheduled job slot: the instance that inserts it runs the job, every other instance
-- sharing the database skips that slot.
CREATE TABLE job_runs (
  job        VARCHAR(100) NOT NULL,
  slot       TIMESTAMP NOT NULL,
  claimed_at TIMESTAMP NOT NULL,
  PRIMARY KEY (job, slot)
);
