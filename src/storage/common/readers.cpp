#include "storage/common/readers.hpp"

#include "codec/json_codec.hpp"
#include "storage/common/storage_error.hpp"

namespace referrald::storage {
namespace {

[[noreturn]] void Corrupt(const char* what) {
  throw StorageError(StorageError::Kind::kCorrupt, what);
}

}  // namespace

domain::User ReadUser(const Row& row) {
  return domain::User{row.Text(0), row.OptText(1), row.Time(2), row.OptTime(3), row.OptTime(4)};
}

domain::ReferralCode ReadCode(const Row& row) {
  return domain::ReferralCode{row.Text(0), row.Text(1), row.Text(2),
                              row.Bool(3), row.Time(4), row.Time(5)};
}

domain::Referral ReadReferral(const Row& row) {
  const auto status = domain::ParseReferralStatus(row.Text(4));
  if (!status) Corrupt("unknown referral status in a row");
  return domain::Referral{row.Text(0), row.Text(1), row.Text(2),   row.Text(3),
                          *status,     row.Time(5), row.OptTime(6)};
}

domain::ReferralListing ReadReferralListing(const Row& row) {
  return domain::ReferralListing{ReadReferral(row), row.Text(7), row.OptText(8)};
}

domain::Reward ReadReward(const Row& row) {
  domain::Reward reward;
  reward.id = row.Text(0);
  reward.user_id = row.Text(1);
  const auto type = domain::ParseRewardType(row.Text(2));
  if (!type) Corrupt("unknown reward_type in a row");
  reward.type = *type;
  auto value = codec::DecodeRewardValue(row.Text(3));
  if (!value) Corrupt("malformed reward_value in a row");
  reward.value = std::move(*value);
  reward.is_claimed = row.Bool(4);
  reward.created_at = row.Time(5);
  reward.claimed_at = row.OptTime(6);
  reward.expires_at = row.OptTime(7);
  reward.source_referral_id = row.OptText(8);
  reward.claimable_at = row.Time(9);
  reward.revoked_at = row.OptTime(10);
  return reward;
}

domain::Subscription ReadSubscription(const Row& row) {
  return domain::Subscription{row.Text(0), row.Text(1), row.Text(2), row.Text(3),
                              row.Text(4), row.Text(5), row.Time(6)};
}

domain::AuditEntry ReadAudit(const Row& row) {
  domain::AuditEntry entry;
  entry.id = row.Text(0);
  entry.service = row.Text(1);
  entry.action = row.Text(2);
  const auto status = domain::ParseAuditStatus(row.Text(3));
  if (!status) Corrupt("unknown automation_logs status in a row");
  entry.status = *status;
  entry.user_id = row.OptText(4);
  auto details = codec::DecodeDetails(row.Text(5));
  if (!details) Corrupt("malformed details in a row");
  entry.details = std::move(*details);
  entry.error_message = row.OptText(6);
  entry.created_at = row.Time(7);
  return entry;
}

domain::Event ReadEvent(const Row& row) {
  const auto type = domain::ParseEventType(row.Text(1));
  if (!type) Corrupt("unknown event type in a row");
  auto data = codec::DecodeEventData(*type, row.Text(3));
  if (!data) Corrupt("malformed event data in a row");
  return domain::Event{row.Text(0), row.Time(2), std::move(*data)};
}

domain::WebhookEndpoint ReadWebhook(const Row& row) {
  domain::WebhookEndpoint endpoint;
  endpoint.id = row.Text(0);
  endpoint.url = row.Text(1);
  if (!row.IsNull(2)) {
    auto types = codec::DecodeEventTypes(row.Text(2));
    if (!types) Corrupt("malformed event_types in a webhook_endpoints row");
    endpoint.event_types = std::move(*types);
  }
  endpoint.description = row.OptText(3);
  endpoint.secret = row.Text(4);
  endpoint.created_at = row.Time(5);
  return endpoint;
}

domain::WebhookDelivery ReadDelivery(const Row& row) {
  domain::WebhookDelivery delivery;
  delivery.endpoint_id = row.Text(0);
  delivery.event_id = row.Text(1);
  const auto type = domain::ParseEventType(row.Text(2));
  if (!type) Corrupt("unknown event type in a webhook_deliveries row");
  delivery.type = *type;
  delivery.attempt = static_cast<int>(row.Int(3));
  const auto status = domain::ParseDeliveryStatus(row.Text(4));
  if (!status) Corrupt("unknown status in a webhook_deliveries row");
  delivery.status = *status;
  if (!row.IsNull(5)) delivery.response_status = static_cast<int>(row.Int(5));
  delivery.last_attempt_at = row.OptTime(6);
  delivery.next_attempt_at = row.OptTime(7);
  delivery.created_at = row.Time(8);
  delivery.event_seq = row.Int(9);
  return delivery;
}

domain::ClaimedDelivery ReadClaimedDelivery(const Row& row, const std::string& lease) {
  domain::ClaimedDelivery claimed;
  claimed.event = ReadEvent(row);
  claimed.endpoint_id = row.Text(4);
  claimed.url = row.Text(5);
  claimed.secret = row.Text(6);
  claimed.attempts_made = static_cast<int>(row.Int(7));
  claimed.lease = lease;
  return claimed;
}

domain::LeaderboardEntry ReadLeaderboardEntry(const Row& row) {
  domain::LeaderboardEntry entry;
  entry.user_id = row.Text(0);
  entry.email = row.OptText(1);
  entry.total_referrals = row.Int(2);
  entry.converted_referrals = row.Int(3);
  return entry;
}

domain::IdempotencyRecord ReadIdempotencyRecord(const Row& row) {
  domain::IdempotencyRecord record;
  record.user_id = row.Text(0);
  record.key = row.Text(1);
  record.method = row.Text(2);
  record.path = row.Text(3);
  record.body_sha256 = row.Text(4);
  const auto state = domain::ParseIdempotencyState(row.Text(5));
  if (!state) Corrupt("unknown idempotency_keys state in a row");
  record.state = *state;
  record.owner = row.Text(6);
  record.lease_until = row.Time(7);
  record.created_at = row.Time(8);
  if (record.state == domain::IdempotencyState::kCompleted) {
    record.response = domain::StoredResponse{
        static_cast<int>(row.Int(9)), row.OptText(10).value_or(""), row.OptText(11).value_or("")};
  }
  return record;
}

IdempotencyResponseColumns ResponseColumnsOf(const domain::IdempotencyRecord& record) {
  if (!record.response) return {};
  // A record is stored with its response, so it completed when it was created.
  return {record.created_at, record.response->status, record.response->headers,
          record.response->body};
}

}  // namespace referrald::storage
