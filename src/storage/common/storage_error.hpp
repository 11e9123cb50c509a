#pragma once
// The one exception type inside the storage layer. Drivers throw it; the store's guard catches
// it at the port boundary and answers an Error, so it never crosses a layer. `what()` is the
// driver's primary message for the log only: it may name tables or constraints, never SQL text,
// parameter values or connection strings.

#include <stdexcept>
#include <string>

namespace referrald::storage {

class StorageError : public std::runtime_error {
 public:
  enum class Kind {
    kUnavailable,      // cannot connect, connection lost, timed out, database shutting down
    kUniqueViolation,  // a unique constraint refused a row
    kRetry,            // serialization failure or deadlock: the transaction may be run again
    kCorrupt,          // a stored value the service cannot read
    kFailure,          // anything else: a bug or an unexpected database state
  };

  StorageError(Kind kind, const std::string& message, std::string code = {})
      : std::runtime_error(message), kind_(kind), code_(std::move(code)) {}

  [[nodiscard]] Kind kind() const { return kind_; }
  // The driver's own code (SQLSTATE on PostgreSQL, the extended result code on SQLite), for logs.
  [[nodiscard]] const std::string& code() const { return code_; }

 private:
  Kind kind_;
  std::string code_;
};

}  // namespace referrald::storage
