// Checks on TOML text before toml++ 3.3 parses it: a size bound, no control bytes, and a lexical
// pass that refuses the constructs toml++ cannot be trusted with (stack overflow on deep keys,
// undefined behaviour on some non-ASCII and malformed headers/arrays; see toml_screen.cpp). Each
// refusal is a db::Error "[<area>] <origin>: line N: ...".
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace db::perf {

void screen_toml(std::string_view text, const std::string& origin, std::string_view area, size_t max_bytes);

// The bound for profile-sized TOML files (device and model profiles, calibration).
constexpr size_t kMaxTomlBytes = size_t(1) << 20;

}  // namespace db::perf
