#pragma once
// Provisions users from token claims for routes whose use case writes nothing: the first request
// of a `sub` creates its row, a changed email updates it. Write use cases upsert their actor in
// their own transaction instead (WriteTx::UpsertUser), which also refuses an erased user.
//
// Erased users (DELETE /api/admin/users/{id}) are refused with USER_ERASED. Each instance keeps
// the set of users it knows to be erased — those it erased and those a refusal revealed — and
// refuses them without asking the database; a user erased by another instance is found by the
// one primary-key read Ensure makes, or by the write's own upsert.

#include <mutex>
#include <string>
#include <unordered_set>

#include "domain/model.hpp"
#include "domain/store.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace referrald::domain {

class UserDirectory {
 public:
  // `max_known_erased` bounds the in-memory set (forgetting costs one read, never correctness).
  UserDirectory(Store& store, const Clock& clock, std::size_t max_known_erased = 100000);
  // Reads the actor's row (one primary-key read) and creates or updates it when it differs from
  // the claims. Errors: UserErased, storage errors. Thread-safe.
  Status Ensure(const Actor& actor);
  // UserErased when this instance knows `user_id` to be erased; no database access. Thread-safe.
  [[nodiscard]] Status CheckNotKnownErased(const std::string& user_id);
  // Remembers that `user_id` is erased (after erasing it, or after a refusal said so).
  void RememberErased(const std::string& user_id);

 private:
  Store& store_;
  const Clock& clock_;
  std::size_t max_known_erased_;
  std::mutex mu_;
  std::unordered_set<std::string> erased_;
};

}  // namespace referrald::domain
