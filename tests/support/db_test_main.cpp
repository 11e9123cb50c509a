// main() of the database tests: they run against the backend REFERRALD_TEST_BACKEND names. When
// that is PostgreSQL and no server is given (REFERRALD_TEST_POSTGRES_URL), nothing runs: the run
// succeeds with a note, or fails when REFERRALD_REQUIRE_POSTGRES=1 (as scripts/test.sh sets).

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "support/test_database.hpp"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  spdlog::set_level(spdlog::level::warn);
  using referrald::testing::BackendAvailability;
  switch (referrald::testing::CheckBackend()) {
    case BackendAvailability::kAvailable:
      break;
    case BackendAvailability::kMissing:
      std::fprintf(stderr, "postgres: REFERRALD_TEST_POSTGRES_URL is not set; not run\n");
      return 0;
    case BackendAvailability::kRequiredButMissing:
      std::fprintf(stderr,
                   "postgres: REFERRALD_REQUIRE_POSTGRES=1 but REFERRALD_TEST_POSTGRES_URL is not "
                   "set\n");
      return 1;
  }
  return RUN_ALL_TESTS();
}
