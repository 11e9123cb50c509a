#pragma once
// Row → domain struct, written once for both backends. Each reader documents the columns it
// expects, in order; every backend's SELECTs list them that way. A malformed value throws
// StorageError{kCorrupt}.

#include "domain/events.hpp"
#include "domain/model.hpp"
#include "domain/webhooks.hpp"
#include "storage/common/row.hpp"

namespace referrald::storage {

// id, email, created_at, premium_until, erased_at
domain::User ReadUser(const Row& row);
// id, user_id, code, is_active, created_at, expires_at
domain::ReferralCode ReadCode(const Row& row);
// id, referrer_user_id, referred_user_id, referral_code_id, status, created_at, converted_at
domain::Referral ReadReferral(const Row& row);
// id, user_id, reward_type, reward_value, is_claimed, created_at, claimed_at, expires_at,
// source_referral_id, claimable_at (never NULL: coalesce it with created_at), revoked_at
domain::Reward ReadReward(const Row& row);
// the referral's columns (as ReadReferral), then the code's text and the referred user's email
domain::ReferralListing ReadReferralListing(const Row& row);
// id, user_id, tier, status, provider, provider_ref, created_at
domain::Subscription ReadSubscription(const Row& row);
// id, service, action, status, user_id, details, error_message, created_at
domain::AuditEntry ReadAudit(const Row& row);
// id, type, occurred_at, data
domain::Event ReadEvent(const Row& row);
// id, url, event_types, description, secret, created_at
domain::WebhookEndpoint ReadWebhook(const Row& row);
// endpoint_id, event_id, event_type, attempt, status, response_status, last_attempt_at,
// next_attempt_at, created_at, event_seq
domain::WebhookDelivery ReadDelivery(const Row& row);
// the event's id, type, occurred_at, data, then endpoint_id, url, secret, attempt; `lease` is the
// claim's token
domain::ClaimedDelivery ReadClaimedDelivery(const Row& row, const std::string& lease);
// user_id, email, total, converted
domain::LeaderboardEntry ReadLeaderboardEntry(const Row& row);
// user_id, idempotency_key, method, path, body_sha256, state, owner, lease_until, created_at,
// response_status, response_headers, response_body
domain::IdempotencyRecord ReadIdempotencyRecord(const Row& row);

// The idempotency_keys columns a record's response fills (completed_at, response_status,
// response_headers, response_body): NULL without a response. Bound by both backends' writes.
struct IdempotencyResponseColumns {
  std::optional<TimePoint> completed_at;
  std::optional<int> status;
  std::optional<std::string> headers;
  std::optional<std::string> body;
};
IdempotencyResponseColumns ResponseColumnsOf(const domain::IdempotencyRecord& record);

}  // namespace referrald::storage
