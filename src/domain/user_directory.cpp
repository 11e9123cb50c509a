#include "domain/user_directory.hpp"

namespace referrald::domain {

UserDirectory::UserDirectory(Store& store, const Clock& clock, std::size_t max_cached)
    : store_(store), clock_(clock), max_cached_(max_cached) {}

Status UserDirectory::Ensure(const Actor& actor) {
  {
    std::lock_guard lock(mu_);
    auto it = known_.find(actor.id);
    if (it != known_.end() && it->second == actor.email) return {};
  }
  // Most users are already stored as they are: a read answers that without a write transaction.
  auto stored = store_.FindUser(actor.id);
  if (!stored) return stored.error();
  const bool current = *stored && (!actor.email || (*stored)->email == actor.email);
  if (!current) {
    const TimePoint now = clock_.Now();
    auto upserted = Transact(store_, [&](WriteTx& tx) { return tx.UpsertUser(actor, now); });
    if (!upserted) return upserted;
  }
  std::lock_guard lock(mu_);
  // A bounded memo, not a cache of truth: forgetting everything only costs one read.
  if (known_.size() >= max_cached_) known_.clear();
  known_[actor.id] = actor.email;
  return {};
}

}  // namespace referrald::domain
