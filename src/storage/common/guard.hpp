#pragma once
// The port boundary of a store: runs a store method's body and turns every exception (a
// StorageError from a driver, or anything unexpected) into the domain's storage errors, logged
// once with the operation's name and never with SQL text or values.

#include <spdlog/spdlog.h>

#include <exception>
#include <optional>
#include <string_view>
#include <type_traits>

#include "domain/errors.hpp"
#include "storage/common/storage_error.hpp"

namespace referrald::storage {

// The domain error a StorageError stands for (logged at error level as `backend op: message`).
Error ToDomainError(std::string_view backend, std::string_view op, const StorageError& e);

template <typename F>
auto Guarded(std::string_view backend, std::string_view op, F&& f) -> std::invoke_result_t<F&> {
  try {
    return f();
  } catch (const StorageError& e) {
    return ToDomainError(backend, op, e);
  } catch (const std::exception& e) {
    spdlog::error("{} {}: unexpected exception: {}", backend, op, e.what());
    return domain::errors::StorageFailure();
  } catch (...) {
    spdlog::error("{} {}: unexpected exception", backend, op);
    return domain::errors::StorageFailure();
  }
}

// Guards the steps of one write transaction: each step answers an Error instead of throwing (so
// no exception crosses into the domain), and the kind of the first failure is remembered so that
// the store can tell a retryable failure from the domain's own refusal.
class StepGuard {
 public:
  explicit StepGuard(std::string_view backend) : backend_(backend) {}

  template <typename F>
  auto operator()(std::string_view op, F&& f) -> std::invoke_result_t<F&> {
    try {
      return f();
    } catch (const StorageError& e) {
      if (!failure_) failure_ = e.kind();
      return ToDomainError(backend_, op, e);
    } catch (const std::exception& e) {
      if (!failure_) failure_ = StorageError::Kind::kFailure;
      spdlog::error("{} {}: unexpected exception: {}", backend_, op, e.what());
      return domain::errors::StorageFailure();
    }
  }

  // The kind of the first step that failed, if any did.
  [[nodiscard]] std::optional<StorageError::Kind> failure() const { return failure_; }

 private:
  std::string_view backend_;
  std::optional<StorageError::Kind> failure_;
};

}  // namespace referrald::storage
