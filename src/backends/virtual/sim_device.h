// Virtual accelerators: "sim:<id>" devices that compute real numbers with the CPU kernels, within
// the chip's number formats and memory, and advance a modeled clock by the cost model's time.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "drawbridge/device.h"
#include "perf/cost_model.h"
#include "perf/device_profile.h"

namespace db {

struct SimStep {
  int n_tokens = 0;  // tokens the graph processed
  double seconds = 0;
};

// Modeled time of one op family (layers folded together: "l3.q" and "l7.q" are one row).
struct SimOpTotals {
  std::string op, name, shape, format;
  double flops = 0, bytes = 0, seconds = 0;
  int count = 0, compute_bound = 0;
};

class SimClock {
 public:
  void charge(const perf::GraphEstimate& estimate, int n_tokens);
  void reset() { *this = SimClock(); }
  double seconds() const { return seconds_; }
  const std::vector<SimStep>& steps() const { return steps_; }
  const std::vector<SimOpTotals>& ops() const { return ops_; }
  // Why the modeled time is a lower bound (unknown rates), empty when complete.
  const std::vector<std::string>& unknowns() const { return unknowns_; }

 private:
  double seconds_ = 0;
  std::vector<SimStep> steps_;
  std::vector<SimOpTotals> ops_;
  std::vector<std::string> unknowns_;
};

// Modeled speed of a generation: the first steps that cover n_prompt tokens are the prompt.
struct ModeledSpeed {
  double prompt_seconds = 0, generation_seconds = 0;
  int prompt_tokens = 0, generation_steps = 0;
  double prompt_tps() const { return prompt_seconds > 0 ? prompt_tokens / prompt_seconds : 0; }
  double generation_tps() const { return generation_seconds > 0 ? generation_steps / generation_seconds : 0; }
};
ModeledSpeed modeled_speed(const SimClock& clock, int n_prompt);

// What a graph's leaves occupy on the chip once loaded (bytes).
struct LoadFootprint {
  double weights = 0;            // after dequantizing block formats the chip lacks
  double cache = 0;              // KV cache
  double dequantized_extra = 0;  // of `weights`, what dequantizing on load added
  int dequantized_tensors = 0;
};
LoadFootprint load_footprint(const perf::DeviceProfile& profile, const Graph& g);
// Bytes of tensor t once converted to dtype `as`.
size_t loaded_bytes(const Tensor& t, DType as);
// One line for --explain when weights are dequantized on load (their memory cost), else "".
std::string load_notes(const perf::DeviceProfile& profile, const Graph& g);
// Clears the modeled clock of a virtual device (no-op for other devices).
void reset_sim_clock(Device& device);

// A virtual device for a profile (the registry creates them as "sim:<profile id>").
std::unique_ptr<Device> make_sim_device(const perf::DeviceProfile& profile, const DeviceOptions& options);
// The modeled clock of a virtual device; null for any other device.
const SimClock* sim_clock(const Device& device);
// Per-op breakdown of the modeled time: op, shape, format, FLOPs, bytes, bound, µs, share.
std::string format_op_profile(const SimClock& clock);

// Adds the "sim" kind to Registry::global().
void register_virtual_devices();

// docs/ops.md: op × dtype rows, one column per device (cpu and every catalogue profile).
std::string ops_matrix_markdown();

}  // namespace db
