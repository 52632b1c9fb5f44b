// libFuzzer entry point for the device-profile loader (TOML via toml++, then schema validation):
// any text must give a valid profile or a db::Error, never a crash, hang, toml++ exception or
// out-of-bounds read. Built by tools/fuzz.sh.
#include <cmath>
#include <cstdlib>
#include <string_view>

#include "drawbridge/error.h"
#include "perf/device_profile.h"

namespace db::perf {
// device_profile.cpp refers to the built-in catalogue that CMake generates; this target exercises
// only parse_profile, so it links an empty catalogue instead of the generated file.
const EmbeddedProfile kEmbeddedProfiles[] = {{nullptr, nullptr}};
const size_t kEmbeddedProfileCount = 0;
}  // namespace db::perf

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const db::perf::DeviceProfile p = db::perf::parse_profile(text, "fuzz.toml");
    // What callers rely on: every number is finite and non-negative, every field has a source.
    for (const auto& [path, field] : p.fields) {
      if (field.source.empty()) std::abort();
      if (const double* d = std::get_if<double>(&field.value); d && !(std::isfinite(*d) && *d >= 0)) std::abort();
      (void)field.value_str();
    }
    (void)p.memory_bytes();
    (void)p.bandwidth();
    for (const auto& d : db::perf::profile_dtypes()) (void)p.peak_flops(d);
    if (p.id.empty() || p.name.empty() || p.vendor.empty()) std::abort();
  } catch (const db::Error&) {
    // Rejected cleanly.
  }
  return 0;
}
