#include "support/seeder.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "util/uuid.hpp"

namespace referrald::testing {
namespace {

template <typename T>
T Must(Result<T> result, const char* what) {
  if (!result) {
    ADD_FAILURE() << what << " failed: " << result.error().machine();
    throw std::runtime_error(std::string(what) + " failed");
  }
  return std::move(*result);
}

}  // namespace

Seeder::Seeder(domain::Store& store, domain::ReferralSettings settings)
    : referrals_(store, clock_, random_, ids_, settings) {}

domain::Actor Seeder::NewUser(const std::string& email_prefix) {
  std::string id = NewUuidV7(clock_.Now(), random_);
  return domain::Actor{id, email_prefix + "." + id.substr(24) + "@example.com"};
}

domain::ReferralCode Seeder::Code(const domain::Actor& owner, TimePoint at, std::int64_t days) {
  clock_.Set(at);
  return Must(referrals_.GenerateCode(owner, days), "GenerateCode");
}

domain::Referral Seeder::Track(const domain::Actor& referred, const std::string& code,
                               TimePoint at) {
  clock_.Set(at);
  return Must(referrals_.Track(referred, code), "Track");
}

domain::Conversion Seeder::Convert(const std::string& referred_user_id, TimePoint at) {
  clock_.Set(at);
  return Must(referrals_.Convert(NewUser("admin"), referred_user_id), "Convert");
}

}  // namespace referrald::testing
