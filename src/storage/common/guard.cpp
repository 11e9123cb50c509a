#include "storage/common/guard.hpp"

namespace referrald::storage {

Error ToDomainError(std::string_view backend, std::string_view op, const StorageError& e) {
  const std::string code = e.code().empty() ? "" : " (code " + e.code() + ")";
  switch (e.kind()) {
    case StorageError::Kind::kUnavailable:
    case StorageError::Kind::kRetry:  // retries ran out: still a passing condition
      spdlog::warn("{} {}: database unavailable: {}{}", backend, op, e.what(), code);
      return domain::errors::StorageUnavailable();
    case StorageError::Kind::kUniqueViolation:
    case StorageError::Kind::kCorrupt:
    case StorageError::Kind::kFailure:
      break;
  }
  spdlog::error("{} {}: {}{}", backend, op, e.what(), code);
  return domain::errors::StorageFailure();
}

}  // namespace referrald::storage
