#pragma once
// Provisions users from token claims for routes whose use case writes nothing: the first request
// of a `sub` creates its row, a changed email updates it. Write use cases upsert their actor in
// their own transaction instead. Remembers what it has seen so steady traffic costs no write.

#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "domain/model.hpp"
#include "domain/store.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace referrald::domain {

class UserDirectory {
 public:
  UserDirectory(Store& store, const Clock& clock, std::size_t max_cached = 100000);
  // Thread-safe.
  Status Ensure(const Actor& actor);

 private:
  Store& store_;
  const Clock& clock_;
  std::size_t max_cached_;
  std::mutex mu_;
  std::unordered_map<std::string, std::optional<std::string>> known_;
};

}  // namespace referrald::domain
