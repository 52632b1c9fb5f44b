// `drawbridge devices --calibrate`: measures this machine through Drawbridge's own CPU kernels and
// writes the `host` profile (a device profile like data/devices/*.toml whose every number says it
// was measured, when and on which CPU), so sim:host and the cost model describe this host.
#pragma once
#include <functional>
#include <string>

namespace db {

struct CalibrationOptions {
  int n_threads = 0;   // 0: all cores
  bool quick = false;  // small buffers, 2 GEMM shapes, 1 repetition: seconds, for tests
  std::function<void(const std::string&)> progress;  // one line per measurement (optional)
};

// Runs the measurements and returns the host profile as TOML text (id = "host").
std::string calibrate_host(const CalibrationOptions& options);

// The CPU model name from /proc/cpuinfo ("unknown CPU" when not readable).
std::string cpu_model_name();

}  // namespace db
