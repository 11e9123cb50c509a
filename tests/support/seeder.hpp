#pragma once
// Test data made the way the service makes it: through the domain's use cases, on a store of the
// test's backend, at instants a FakeClock chooses. Data made so keeps every invariant a direct
// INSERT could break (aggregates, audit rows, constraints).

#include <memory>
#include <string>

#include "domain/model.hpp"
#include "domain/referral_service.hpp"
#include "domain/settings.hpp"
#include "domain/store.hpp"
#include "support/fake_clock.hpp"
#include "util/ids.hpp"
#include "util/random.hpp"

namespace referrald::testing {

class Seeder {
 public:
  explicit Seeder(domain::Store& store, domain::ReferralSettings settings = {});

  // A new user (not yet stored: the first use case that names them stores them).
  domain::Actor NewUser(const std::string& email_prefix = "user");
  // A code for `owner` generated at `at`, valid for `days`. Fails the test when refused.
  domain::ReferralCode Code(const domain::Actor& owner, TimePoint at, std::int64_t days = 365);
  domain::Referral Track(const domain::Actor& referred, const std::string& code, TimePoint at);
  domain::Conversion Convert(const std::string& referred_user_id, TimePoint at);

 private:
  FakeClock clock_;
  SystemRandom random_;
  UuidV7Generator ids_{random_};
  domain::ReferralService referrals_;
};

}  // namespace referrald::testing
