// The pieces of referral links that need no server: visitor hashes, locations, escaping.

#include "http/links.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace referrald::http {
namespace {

TEST(LinksTest, VisitorHashesAreKeyedShortAndDistinct) {
  const std::string key = DeriveVisitorKey("a-jwt-secret-of-enough-length");
  EXPECT_EQ(key.size(), 32U);
  EXPECT_NE(key, DeriveVisitorKey("another-jwt-secret-of-enough-length"));
  const std::string hash = VisitorHash(key, "192.0.2.1", "Mozilla/5.0");
  EXPECT_EQ(hash.size(), 22U);
  EXPECT_EQ(
      hash.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
      std::string::npos);
  EXPECT_EQ(hash, VisitorHash(key, "192.0.2.1", "Mozilla/5.0"));
  EXPECT_EQ(hash.find("192"), std::string::npos);
  std::set<std::string> distinct{
      hash, VisitorHash(key, "192.0.2.2", "Mozilla/5.0"), VisitorHash(key, "192.0.2.1", "curl/8"),
      VisitorHash(DeriveVisitorKey("x-other-secret-0123456789"), "192.0.2.1", "Mozilla/5.0"),
      // the separator keeps address and agent apart
      VisitorHash(key, "192.0.2.1\nMozilla", "/5.0")};
  EXPECT_EQ(distinct.size(), 5U);
}

TEST(LinksTest, LandingLocationAddsRefToTheQuery) {
  EXPECT_EQ(LandingLocation(std::nullopt, "ABCD2345"), "/join?ref=ABCD2345");
  EXPECT_EQ(LandingLocation("https://app.example.com/signup", "ABCD2345"),
            "https://app.example.com/signup?ref=ABCD2345");
  EXPECT_EQ(LandingLocation("https://app.example.com/signup?src=x", "ABCD2345"),
            "https://app.example.com/signup?src=x&ref=ABCD2345");
  EXPECT_EQ(LandingLocation("https://app.example.com/?", "ABCD2345"),
            "https://app.example.com/?ref=ABCD2345");
  EXPECT_EQ(LandingLocation("https://app.example.com/?a=1&", "ABCD2345"),
            "https://app.example.com/?a=1&ref=ABCD2345");
  EXPECT_EQ(ShareUrl("https://ref.example.com", "ABCD2345"), "https://ref.example.com/r/ABCD2345");
}

TEST(LinksTest, PercentDecodeAndHtmlEscape) {
  EXPECT_EQ(PercentDecode("%20ab%2fC%09"), std::optional<std::string>(" ab/C\t"));
  EXPECT_EQ(PercentDecode("plain"), std::optional<std::string>("plain"));
  EXPECT_FALSE(PercentDecode("%"));
  EXPECT_FALSE(PercentDecode("%2"));
  EXPECT_FALSE(PercentDecode("%zz"));
  EXPECT_EQ(HtmlEscape(R"(<a href="x">'&'</a>)"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
}

TEST(LinksTest, PagesCarryTheStrictPolicy) {
  const Response page = HtmlPage(404, "T<", "<p>x</p>");
  EXPECT_EQ(page.status, 404);
  EXPECT_EQ(page.Header("Content-Security-Policy"),
            std::optional<std::string_view>(kPageContentSecurityPolicy));
  EXPECT_EQ(page.Header("Content-Type"),
            std::optional<std::string_view>("text/html; charset=utf-8"));
  EXPECT_NE(page.body.find("<title>T&lt;</title>"), std::string::npos);
}

}  // namespace
}  // namespace referrald::http
