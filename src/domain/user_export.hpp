#pragma once
// Every row that concerns one user, as GET /api/admin/users/{id}/export hands it out (contract §13
// "Personal data"). Plain data.

#include <optional>
#include <vector>

#include "domain/events.hpp"
#include "domain/model.hpp"

namespace referrald::domain {

// Each list oldest first.
struct UserExport {
  User user;
  std::vector<ReferralCode> codes;
  std::vector<Referral> referrals_made;  // as referrer
  std::optional<Referral> referred_by;   // as referred (a user has at most one referrer)
  std::vector<Reward> rewards;
  std::vector<Subscription> subscriptions;
  // automation_logs about the user: its user_id column, or its id anywhere in the details.
  std::vector<AuditEntry> automation_logs;
  // Events whose data names the user's id.
  std::vector<Event> events;
};

}  // namespace referrald::domain
