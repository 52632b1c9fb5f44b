// The cost model: how long one op of the graph takes on a device described by a profile. Shared by
// the virtual devices (which charge it to a modeled clock) and the planner (which sums it over a
// cluster). Per op:
//   compute = FLOPs × passes / (peak[format] × gemm_efficiency[format] × tile_fit(shape))
//   memory  = bytes / (bandwidth × memory_efficiency)
//   time    = max(compute, memory) + fixed overhead (matrix ops and other ops differ)
// Every efficiency and overhead comes from the profile's [calibration] table, which records where
// each value was measured; a profile without calibration is a plain roofline.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "drawbridge/graph.h"
#include "perf/device_profile.h"

namespace db::perf {

enum class PathKind { Native, Emulated, Refused };

// How a device computes a number format it is asked for.
struct ComputePath {
  PathKind kind = PathKind::Native;
  std::string requested;  // "f32", "f16", "bf16", "int8"
  std::string used;       // the format whose peak is charged; empty when none applies
  double passes = 1;      // > 1 when a wide format is emulated in narrower passes
  std::string why;        // for Emulated and Refused
  // Set when the chip has no kernel for a GGUF block format: the weights are dequantized to this
  // dtype when the model loads (more memory; the numbers are then this dtype's).
  std::optional<DType> load_as;
};

// Whether the path converts between f16 and bf16 (the one emulation that changes the numbers).
bool swaps_16bit(const ComputePath& path);
// The profile format a tensor dtype computes in: f32, f16, bf16; int8 for 8-bit and block-quantized.
std::string format_of(DType t);
// Matrix weights of this dtype: native, emulated (converted, widened, split, dequantized on load)
// or refused. A block format the profile does not list natively is dequantized on load to the
// chip's int8 (q8_0) or 16-bit float format, never computed as if it were native.
ComputePath matmul_path(const DeviceProfile& p, DType weight);
// Activation-side matrix math (attention over a KV cache of this dtype): never refused; with no
// matrix format for it, the work runs on the vector unit and its compute time is unknown.
ComputePath activation_path(const DeviceProfile& p, DType dtype);

struct OpEstimate {
  std::string op;      // "matmul"
  std::string name;    // node name
  std::string shape;   // output shape
  std::string format;  // format charged for compute ("" when not charged)
  double flops = 0;
  double bytes = 0;
  double compute_s = 0;
  double memory_s = 0;
  double overhead_s = 0;
  double seconds = 0;  // max(compute, memory) + overhead
  bool compute_bound = false;
  std::string unknown;  // what could not be modeled (the estimate is then a lower bound)
};

struct GraphEstimate {
  double seconds = 0;
  std::vector<OpEstimate> ops;  // one per executed node
  std::vector<std::string> unknowns;  // distinct reasons the total is a lower bound
};

class CostModel {
 public:
  explicit CostModel(DeviceProfile profile);
  const DeviceProfile& profile() const { return profile_; }
  OpEstimate estimate(const Graph& g, const Node& n) const;
  // As above, but matrix products compute in `matmul_format` ("fp8", "int8", "bf16"; empty: from
  // the weight dtype). The planner uses it for FP8 and W8A8/W4A8 weights, which the tensor dtypes
  // cannot express: the graph then carries a stand-in dtype of the same size.
  OpEstimate estimate(const Graph& g, const Node& n, std::string_view matmul_format) const;
  GraphEstimate estimate(const Graph& g) const;

  // Share of the format's peak that a large GEMM reaches (calibration.gemm_efficiency).
  double gemm_efficiency(const std::string& format) const;
  // The same for one m×n×k shape: the calibrated shape curve (calibration.gemm_shape_efficiency)
  // where the profile has one, else gemm_efficiency(format) × tile_fit(m, n, k).
  double gemm_efficiency(const std::string& format, int64_t m, int64_t n, int64_t k) const;
  // Share of the native matrix tile an m×n×k product fills (1 without a known tile).
  double tile_fit(int64_t m, int64_t n, int64_t k) const;
  // Share of peak bandwidth an op streaming `bytes` reaches: the calibrated curve
  // (calibration.memory_efficiency_by_bytes) where present, else calibration.memory_efficiency.
  double memory_efficiency(double bytes) const;

 private:
  struct Rate {
    double flops_per_s = 0;
    double passes = 1;
    std::string format;
    std::string unknown;
  };
  Rate compute_rate(const Graph& g, const Node& n, std::string_view matmul_format) const;
  double bytes_moved(const Graph& g, const Node& n) const;

  DeviceProfile profile_;
  double bandwidth_;
  double memory_efficiency_;
  double matmul_overhead_s_;
  double op_overhead_s_;
};

}  // namespace db::perf
