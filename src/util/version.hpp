#pragma once
// The service's version: CMake's project(VERSION), compiled into version.cpp alone so that a new
// version rebuilds one file. `referrald --version`, /health and /metrics report it.

#include <string_view>

namespace referrald {

// "0.1.0".
std::string_view Version();

}  // namespace referrald
