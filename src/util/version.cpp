#include "util/version.hpp"

#ifndef REFERRALD_VERSION
#error "REFERRALD_VERSION must be defined by the build (CMake's project version)"
#endif

namespace referrald {

std::string_view Version() { return REFERRALD_VERSION; }

}  // namespace referrald
