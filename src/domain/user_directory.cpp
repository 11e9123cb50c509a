#include "domain/user_directory.hpp"

namespace referrald::domain {

UserDirectory::UserDirectory(Store& store, const Clock& clock, std::size_t max_cached)
    : store_(store), clock_(clock), max_cached_(max_cached) {}

Status UserDirectory::Ensure(const std::string& user_id, const std::optional<std::string>& email) {
  {
    std::lock_guard lock(mu_);
    auto it = known_.find(user_id);
    if (it != known_.end() && it->second == email) return {};
  }
  auto upserted = store_.UpsertUser(user_id, email, clock_.Now());
  if (!upserted) return upserted;
  std::lock_guard lock(mu_);
  // A bounded memo, not a cache of truth: forgetting everything only costs one idempotent write.
  if (known_.size() >= max_cached_) known_.clear();
  known_[user_id] = email;
  return {};
}

}  // namespace referrald::domain
