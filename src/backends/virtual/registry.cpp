// The devices built into this binary. It lives here, above both backends, so that the CPU
// backend does not depend on the virtual devices that wrap it.
#include <fmt/format.h>

#include "backends/virtual/sim_device.h"
#include "drawbridge/error.h"

namespace db {

void register_cpu_device();  // backends/cpu/cpu_device.cpp

void register_virtual_devices() {
  Registry::global().add_kind("sim", [](const std::string& id, const DeviceOptions& o) -> std::unique_ptr<Device> {
    const std::string chip = id.size() > 4 ? id.substr(4) : "";
    if (const perf::DeviceProfile* p = perf::find_profile(chip)) return make_sim_device(*p, o);
    std::vector<std::string> ids;
    for (const auto& q : perf::catalogue()) ids.push_back(q.id);
    fail("[device] unknown virtual device '{}': use sim:<id> with one of {} (see drawbridge devices)", id,
         fmt::join(ids, ", "));
  });
}

void register_builtin_devices() {
  static const bool once = [] {
    register_cpu_device();
    register_virtual_devices();
    return true;
  }();
  (void)once;
}

}  // namespace db
