#include "storage/common/guard.hpp"

namespace referrald::storage {

Error ToDomainError(std::string_view backend, std::string_view op, const StorageError& e) {
  switch (e.kind()) {
    case StorageError::Kind::kUnavailable:
    case StorageError::Kind::kRetry:  // retries ran out: still a passing condition
      spdlog::warn("{} {}: database unavailable: {} (code {})", backend, op, e.what(), e.code());
      return domain::errors::StorageUnavailable();
    case StorageError::Kind::kUniqueViolation:
    case StorageError::Kind::kCorrupt:
    case StorageError::Kind::kFailure:
      break;
  }
  spdlog::error("{} {}: {} (code {})", backend, op, e.what(), e.code());
  return domain::errors::StorageFailure();
}

}  // namespace referrald::storage
