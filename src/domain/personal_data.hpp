#pragma once
// Personal data (contract §13): an administrator's look-up of one user, the export of every row
// that concerns a user, and the erasure of a user's personal data.
//
// What erasure erases and keeps: the email — the only personal datum the service stores — is set
// to NULL in users and replaced by kErasedPlaceholder wherever free text holds it (audit details
// and messages, event data and so the payloads of webhook deliveries not yet sent, remembered
// Idempotency-Key answers); the user's codes are deactivated and its Idempotency-Keys dropped;
// users.erased_at is set, and every request with a token for that `sub` is refused
// (USER_ERASED). Ids, referrals, rewards, subscriptions and the aggregates stay, so that nobody
// else's stats, the leaderboards' counts and the analytics change (but for the deactivated code,
// which now counts as expired).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/model.hpp"
#include "domain/store.hpp"
#include "domain/subscription_service.hpp"
#include "domain/user_export.hpp"
#include "util/clock.hpp"
#include "util/ids.hpp"
#include "util/result.hpp"

namespace referrald::domain {

// What replaces an erased email in stored free text.
inline constexpr std::string_view kErasedPlaceholder = "[erased]";

// GET /api/admin/users/{id}.
struct UserLookup {
  User user;
  std::optional<ReferralCode> code;  // the newest, active or not
  std::optional<Referral> referred_by;
  ReferrerStats stats;
  std::vector<Reward> rewards;  // the newest kUserLookupRewards
  PremiumStatus subscription;
};

// Thread-safe (holds nothing mutable of its own).
class PersonalDataService {
 public:
  PersonalDataService(Store& store, const Clock& clock, IdGenerator& ids,
                      SubscriptionService& subscriptions);

  // Errors: InvalidUserId (not a UUID), UserNotFound.
  Result<UserLookup> Lookup(std::string_view user_id);
  // Every row that concerns the user. Errors: InvalidUserId, UserNotFound.
  Result<UserExport> Export(std::string_view user_id);
  // Erases the user's personal data (see above) in one transaction and records it in
  // automation_logs (service personal_data, action user_erased, with the user's id and the
  // administrator's, never the email). Erasing an erased user again succeeds and changes nothing
  // but the log. Returns the erased user's id. Errors: InvalidUserId, UserNotFound.
  Result<std::string> Erase(const Actor& admin, std::string_view user_id);

 private:
  Store& store_;
  const Clock& clock_;
  IdGenerator& ids_;
  SubscriptionService& subscriptions_;
};

}  // namespace referrald::domain
