// Codes and identifiers from outside: domain::NormalizeCode (what /track looks up), code
// generation from arbitrary random bytes, util's UUID check and canonical form (sub claims and
// every id in a body), and the leaderboard's email masking.
// Invariants: normalising is idempotent, trims exactly the ASCII whitespace at both ends, and
// uppercases only a-z; a generated code has the asked length, is in kCodeAlphabet and is its own
// normal form; a UUID's canonical form is a lowercase UUID equal to it ignoring case; a masked
// email never shows more of the local part than its first character.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "domain/limits.hpp"
#include "domain/rules.hpp"
#include "fuzz_support.hpp"
#include "util/random.hpp"
#include "util/uuid.hpp"

namespace {

namespace fuzz = referrald::fuzz;
namespace domain = referrald::domain;

// Replays the input's bytes, then zeros.
class BytesRandom final : public referrald::RandomSource {
 public:
  explicit BytesRandom(std::string_view bytes) : bytes_(bytes) {}
  void Fill(std::span<std::uint8_t> out) override {
    for (std::uint8_t& b : out) {
      b = next_ < bytes_.size() ? static_cast<std::uint8_t>(bytes_[next_++]) : 0;
    }
  }

 private:
  std::string_view bytes_;
  std::size_t next_ = 0;
};

bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

char Upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

void CheckNormalize(std::string_view input) {
  const std::string normal = domain::NormalizeCode(input);
  if (domain::NormalizeCode(normal) != normal) fuzz::Fail("NormalizeCode is not idempotent");
  std::string_view trimmed = input;
  while (!trimmed.empty() && IsAsciiSpace(trimmed.front())) trimmed.remove_prefix(1);
  while (!trimmed.empty() && IsAsciiSpace(trimmed.back())) trimmed.remove_suffix(1);
  if (normal.size() != trimmed.size()) fuzz::Fail("NormalizeCode trimmed something else");
  for (std::size_t i = 0; i < normal.size(); ++i) {
    if (normal[i] != Upper(trimmed[i])) fuzz::Fail("NormalizeCode changed more than a-z");
  }
}

void CheckGenerate(std::string_view bytes) {
  if (bytes.empty()) return;
  const int span = domain::kMaxCodeLength - domain::kMinCodeLength + 1;
  const int length = domain::kMinCodeLength + static_cast<unsigned char>(bytes[0]) % span;
  BytesRandom random(bytes.substr(1));
  const std::string code = domain::GenerateCodeText(random, length);
  if (code.size() != static_cast<std::size_t>(length)) fuzz::Fail("a code of the wrong length");
  if (code.find_first_not_of(domain::kCodeAlphabet) != std::string::npos) {
    fuzz::Fail("a code outside kCodeAlphabet: " + code);
  }
  if (domain::NormalizeCode(code) != code) fuzz::Fail("a generated code is not normal: " + code);
}

void CheckUuid(std::string_view input) {
  if (!referrald::IsUuid(input)) return;
  const std::string canonical = referrald::CanonicalUuid(input);
  if (canonical.size() != 36 || !referrald::IsUuid(canonical) ||
      referrald::CanonicalUuid(canonical) != canonical) {
    fuzz::Fail("CanonicalUuid is not a stable UUID: " + canonical);
  }
  for (std::size_t i = 0; i < canonical.size(); ++i) {
    const char c = input[i];
    const char lower = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    if (canonical[i] != lower) fuzz::Fail("CanonicalUuid changed more than case: " + canonical);
  }
}

void CheckMask(std::string_view email) {
  const std::string masked = domain::MaskEmail(email);
  const std::size_t at = email.find('@');
  if (at == std::string_view::npos || at == 0) {
    if (masked != "***") fuzz::Fail("MaskEmail showed an email without a local part");
    return;
  }
  const std::string expected =
      std::string(1, email.front()) + "***" + std::string(email.substr(at));
  if (masked != expected) fuzz::Fail("MaskEmail is not first character + *** + @domain");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckNormalize(input);
  CheckGenerate(input);
  CheckUuid(input);
  CheckMask(input);
  return 0;
}
