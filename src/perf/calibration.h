// Planner calibration (data/calibration/planner.toml): link classes for the collective models and
// fixed per-step costs of serving and training frameworks. Like the device profiles, every value
// carries its source and confidence; the file is compiled into the binary and may be replaced with
// $DRAWBRIDGE_CALIBRATION (a path to another planner.toml).
#pragma once
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "perf/device_profile.h"

namespace db::perf {

struct Sourced {
  double value = 0;
  std::string source;
  Confidence confidence = Confidence::Low;
  std::string note;
};

// Chip-to-chip links inside a node.
enum class LinkTopology { Switch, FullMesh };

struct LinkClass {
  std::string id;                  // "nvlink"
  std::vector<std::string> match;  // words looked for in a profile's link.type
  LinkTopology topology = LinkTopology::Switch;
  Sourced node_size;               // accelerators per node on this link
  Sourced direction_share;         // share of the profile's link.bandwidth_gbps usable one way
  Sourced efficiency;              // share of the one-way rate a collective reaches (busbw / rate)
  Sourced latency_us;              // alpha: fixed cost per collective step
  Sourced bandwidth_gbps;          // only for classes with a fixed rate (PCIe); 0 otherwise
};

struct NetworkClass {
  std::string id;
  std::vector<std::string> match;
  Sourced bandwidth_gbps;  // per accelerator, one way
  Sourced efficiency;
  Sourced latency_us;
};

struct FrameworkClass {
  std::string id;  // "sglang"
  std::vector<std::string> match;
  Sourced decode_step_ms;
  Sourced prefill_ms;
  Sourced prefill_efficiency;  // share of the cost model's prefill speed the engine reaches (absent: 1)
};

struct Calibration {
  std::string origin;
  std::vector<LinkClass> links;
  std::vector<NetworkClass> networks;
  std::vector<FrameworkClass> frameworks;

  // The class for this device: first whose match word occurs in link.type, else "pcie".
  const LinkClass& link_for(const DeviceProfile& p) const;
  const NetworkClass& network_for(const DeviceProfile& p) const;
  // The framework named in free text (a row's source notes), else "default".
  const FrameworkClass& framework_in(std::string_view text) const;
  const FrameworkClass& framework(std::string_view id) const;  // throws "[calibration] ..."
};

// Parses and checks a calibration file; errors read "[calibration] <origin>: ...".
Calibration parse_calibration(std::string_view toml_text, const std::string& origin);
// The built-in calibration, or $DRAWBRIDGE_CALIBRATION when set.
const Calibration& calibration();

extern const char* const kEmbeddedCalibration;

}  // namespace db::perf
