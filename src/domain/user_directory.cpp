#include "domain/user_directory.hpp"

#include "domain/errors.hpp"

namespace referrald::domain {

UserDirectory::UserDirectory(Store& store, const Clock& clock, std::size_t max_known_erased)
    : store_(store), clock_(clock), max_known_erased_(max_known_erased) {}

Status UserDirectory::CheckNotKnownErased(const std::string& user_id) {
  std::lock_guard lock(mu_);
  if (erased_.contains(user_id)) return errors::UserErased();
  return {};
}

void UserDirectory::RememberErased(const std::string& user_id) {
  std::lock_guard lock(mu_);
  if (erased_.size() >= max_known_erased_) erased_.clear();
  erased_.insert(user_id);
}

Status UserDirectory::Ensure(const Actor& actor) {
  if (Status known = CheckNotKnownErased(actor.id); !known) return known;
  // Most users are already stored as they are: a read answers that without a write transaction,
  // and tells whether the user was erased (by any instance).
  auto stored = store_.FindUser(actor.id);
  if (!stored) return stored.error();
  if (*stored && (*stored)->erased_at) {
    RememberErased(actor.id);
    return errors::UserErased();
  }
  const bool current = *stored && (!actor.email || (*stored)->email == actor.email);
  if (current) return {};
  const TimePoint now = clock_.Now();
  Status upserted = Transact(store_, [&](WriteTx& tx) { return tx.UpsertUser(actor, now); });
  if (!upserted && upserted.error().reason == Reason::kUserErased) RememberErased(actor.id);
  return upserted;
}

}  // namespace referrald::domain
