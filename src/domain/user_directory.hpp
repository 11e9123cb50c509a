#pragma once
// Provisions users from token claims: the first request of a `sub` creates its row, a changed
// email updates it. Remembers what it has written so steady traffic costs no write.

#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "domain/store.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace referrald::domain {

class UserDirectory {
 public:
  UserDirectory(Store& store, const Clock& clock, std::size_t max_cached = 100000);
  // Thread-safe.
  Status Ensure(const std::string& user_id, const std::optional<std::string>& email);

 private:
  Store& store_;
  const Clock& clock_;
  std::size_t max_cached_;
  std::mutex mu_;
  std::unordered_map<std::string, std::optional<std::string>> known_;
};

}  // namespace referrald::domain
