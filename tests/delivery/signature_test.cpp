// Standard Webhooks signatures: the specification's own example, and a receiver's check.

#include "delivery/signature.hpp"

#include <gtest/gtest.h>

#include "domain/webhooks.hpp"

namespace referrald::delivery {
namespace {

// The example of the Standard Webhooks specification (and of its reference libraries).
TEST(SignatureTest, MatchesTheStandardWebhooksExample) {
  const auto key = domain::WebhookSecretKey("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(
      SignatureV1(*key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, R"({"test": 2432232314})"),
      "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

TEST(SignatureTest, CoversTheIdTheTimestampAndEveryByteOfTheBody) {
  const std::string key = "0123456789abcdef0123456789abcdef";
  const std::string base = SignatureV1(key, "id", 1, "{}");
  EXPECT_EQ(base.rfind("v1,", 0), 0U);
  EXPECT_EQ(base.size(), 3U + 44U);
  EXPECT_EQ(SignatureV1(key, "id", 1, "{}"), base);
  EXPECT_NE(SignatureV1(key, "id2", 1, "{}"), base);
  EXPECT_NE(SignatureV1(key, "id", 2, "{}"), base);
  EXPECT_NE(SignatureV1(key, "id", 1, "{ }"), base);
  EXPECT_NE(SignatureV1("another key", "id", 1, "{}"), base);
}

}  // namespace
}  // namespace referrald::delivery
