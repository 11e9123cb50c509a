#pragma once
// One result row as both backends present it, so that row readers (row → domain struct) are
// written once. Column indexes are 0-based. An accessor that meets a malformed value throws
// StorageError{kCorrupt}; the backend's guard turns it into an error, so it never leaves storage.

#include <cstdint>
#include <optional>
#include <string>

#include "util/clock.hpp"

namespace referrald::storage {

class Row {
 public:
  virtual ~Row() = default;

  [[nodiscard]] virtual bool IsNull(int col) const = 0;
  [[nodiscard]] virtual std::string Text(int col) const = 0;
  [[nodiscard]] virtual std::int64_t Int(int col) const = 0;
  [[nodiscard]] virtual bool Bool(int col) const = 0;
  [[nodiscard]] virtual TimePoint Time(int col) const = 0;

  [[nodiscard]] std::optional<std::string> OptText(int col) const {
    if (IsNull(col)) return std::nullopt;
    return Text(col);
  }
  [[nodiscard]] std::optional<TimePoint> OptTime(int col) const {
    if (IsNull(col)) return std::nullopt;
    return Time(col);
  }
};

}  // namespace referrald::storage
