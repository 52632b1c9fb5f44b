// The host CPU as a Device: properties, support query and execution through CpuBackend.
#include <thread>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/kernels.h"
#include "drawbridge/device.h"
#include "drawbridge/error.h"

namespace db {

namespace {

class CpuDevice final : public Device {
 public:
  explicit CpuDevice(int n_threads) : backend_(n_threads) {
    props_.id = "cpu";
    props_.kind = "cpu";
    props_.description = fmt::format("host CPU, {} threads", n_threads);
  }
  const DeviceProps& props() const override { return props_; }
  Support supports(const Graph& g, const Node& n, std::string* why) const override {
    return cpu::cpu_supports(g, n, why) ? Support::Native : Support::None;
  }
  void compute(Graph& g) override { backend_.compute(g); }
  size_t pack_weights(const Graph& g) override { return backend_.pack_weights(g); }
  int n_threads() const override { return backend_.n_threads(); }

 private:
  DeviceProps props_;
  cpu::CpuBackend backend_;
};

}  // namespace

// Adds the "cpu" kind; register_builtin_devices (backends/virtual/registry.cpp) calls it.
void register_cpu_device() {
  static const bool once = [] {
    Registry::global().add_kind("cpu", [](const std::string& id, const DeviceOptions& o) -> std::unique_ptr<Device> {
      DB_CHECK(id == "cpu", "[device] unknown device '{}' (the host CPU is 'cpu')", id);
      const int n = o.n_threads > 0 ? o.n_threads : int(std::max(1u, std::thread::hardware_concurrency()));
      return std::make_unique<CpuDevice>(n);
    });
    return true;
  }();
  (void)once;
}

}  // namespace db
