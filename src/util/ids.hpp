#pragma once
// Ids for the rows the service creates, read only through an injected IdGenerator so tests can
// control them and stores never make their own.

#include <string>

#include "util/clock.hpp"
#include "util/random.hpp"
#include "util/uuid.hpp"

namespace referrald {

class IdGenerator {
 public:
  virtual ~IdGenerator() = default;
  // A new unique id for a row created at `now`. Thread-safe.
  virtual std::string New(TimePoint now) = 0;
};

// Time-ordered UUIDv7s (see util/uuid.hpp) from `random`, which must outlive the generator.
class UuidV7Generator final : public IdGenerator {
 public:
  explicit UuidV7Generator(RandomSource& random) : random_(random) {}
  std::string New(TimePoint now) override { return NewUuidV7(now, random_); }

 private:
  RandomSource& random_;
};

}  // namespace referrald
