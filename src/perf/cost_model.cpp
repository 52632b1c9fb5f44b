#include "perf/cost_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>

namespace db::perf {

namespace {

struct Alternative {
  const char* format;
  double passes;
  const char* how;  // "{0}" = requested format, "{1}" = used format
};

// What a chip without the requested format does instead, in order of preference.
std::vector<Alternative> alternatives(const std::string& requested) {
  if (requested == "f32")
    return {{"tf32", 1, "{0} runs as {1}"},
            {"hf32", 1, "{0} runs as {1}"},
            {"bf16", 3, "{0} split into 3 {1} passes"},
            {"f16", 3, "{0} split into 3 {1} passes"}};
  if (requested == "f16") return {{"bf16", 1, "{0} converted to {1}"}, {"f32", 1, "{0} widened to {1}"}};
  if (requested == "bf16")
    return {{"f16", 1, "{0} converted to {1}, FP32 accumulation"}, {"f32", 1, "{0} widened to {1}"}};
  if (requested == "int8")
    return {{"f16", 1, "dequantized to {1}"}, {"bf16", 1, "dequantized to {1}"}, {"f32", 1, "dequantized to {1}"}};
  if (requested == "fp8")
    return {{"bf16", 1, "{0} dequantized to {1}"}, {"f16", 1, "{0} dequantized to {1}"}};
  if (requested == "int4")
    return {{"int8", 1, "{0} widened to {1}"}, {"f16", 1, "{0} dequantized to {1}"}, {"bf16", 1, "{0} dequantized to {1}"}};
  return {};
}

// Ops that run on the matrix unit: weight products (dense and expert-indexed) and attention.
bool is_matrix_op(Op op) { return op == Op::MatMul || op == Op::MatMulId || op == Op::Attention; }

bool is_16bit(std::string_view f) { return f == "f16" || f == "bf16"; }

bool is_float_format(std::string_view f) { return f == "f32" || f == "tf32" || f == "hf32" || f == "f16" || f == "bf16"; }

// The native path, or the first alternative the chip runs natively.
ComputePath find_path(const DeviceProfile& p, const std::string& requested) {
  ComputePath path;
  path.requested = requested;
  if (p.native(requested)) {
    path.used = requested;
    return path;
  }
  for (const Alternative& a : alternatives(requested)) {
    if (!p.native(a.format)) continue;
    path.kind = PathKind::Emulated;
    path.used = a.format;
    path.passes = a.passes;
    path.why = fmt::format(fmt::runtime(a.how), requested, a.format);
    return path;
  }
  path.kind = PathKind::Refused;
  return path;
}

}  // namespace

bool swaps_16bit(const ComputePath& path) {
  return is_16bit(path.requested) && is_16bit(path.used) && path.used != path.requested;
}

std::string format_of(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::BF16: return "bf16";
    case DType::I8: return "int8";
    case DType::I16: return "int16";
    default: return dtype_info(t).quantized ? "int8" : std::string(dtype_name(t));
  }
}

namespace {

// Where a block format the chip cannot compute goes at load: int8 blocks (q8_0) on an int8 matrix
// unit, else the chip's 16-bit float format, else f32.
std::optional<DType> dequantize_target(const DeviceProfile& p) {
  if (p.native("int8")) return DType::Q8_0;
  if (p.native("f16")) return DType::F16;
  if (p.native("bf16")) return DType::BF16;
  if (p.native("f32") || p.native("tf32") || p.native("hf32")) return DType::F32;
  return std::nullopt;
}

double bits_per_weight(DType t) {
  const DTypeInfo& i = dtype_info(t);
  return 8.0 * double(i.block_bytes) / double(i.block_size);
}

ComputePath block_format_path(const DeviceProfile& p, DType weight) {
  const std::string name(dtype_name(weight));
  ComputePath path;
  path.requested = name;
  if (p.native(name)) {  // a stack with kernels for this very format (the host's CPU kernels)
    path.used = name;
    return path;
  }
  // q8_0 is int8 codes with one scale per 32: an int8 matrix unit takes it as it is.
  if (weight == DType::Q8_0 && p.native("int8")) {
    path.used = "int8";
    return path;
  }
  const auto target = dequantize_target(p);
  if (!target) {
    path.kind = PathKind::Refused;
    path.why = fmt::format("the {} has no matrix format to unpack {} blocks into (native formats: {})", p.name, name,
                           fmt::join(p.native_dtypes(), ", "));
    return path;
  }
  path = find_path(p, format_of(*target));
  path.requested = name;
  path.kind = PathKind::Emulated;
  path.load_as = *target;
  path.why = fmt::format("block format not native on the {}: dequantized on load to {} ({:.1f} bits per weight)", p.name,
                         dtype_name(*target), bits_per_weight(*target));
  return path;
}

}  // namespace

ComputePath matmul_path(const DeviceProfile& p, DType weight) {
  if (dtype_info(weight).quantized) return block_format_path(p, weight);
  ComputePath path = find_path(p, format_of(weight));
  if (path.kind == PathKind::Refused) {
    const std::vector<std::string> native = p.native_dtypes();
    const auto natives = fmt::format("{}", fmt::join(native, ", "));
    const bool integer_only = std::none_of(native.begin(), native.end(), is_float_format);
    path.why = integer_only && p.native("int8")
                   ? fmt::format("the {} computes {} only and these weights are {}: quantize the model first "
                                 "(drawbridge quantize IN.gguf OUT.gguf --type q8_0, or --for {})",
                                 p.name, natives, dtype_name(weight), p.id)
                   : fmt::format("the {} has no path for {} weights (native formats: {})", p.name,
                                 dtype_name(weight), natives);
    return path;
  }
  // Only a swap between the 16-bit formats changes the numbers (the virtual device converts the
  // weights); other emulations change the modeled time alone.
  if (path.kind == PathKind::Emulated && !swaps_16bit(path))
    path.why += fmt::format(" (time only: the host computes {})", path.requested);
  return path;
}

ComputePath activation_path(const DeviceProfile& p, DType dtype) {
  ComputePath path = find_path(p, format_of(dtype));
  if (path.kind == PathKind::Emulated) path.why += fmt::format(" (time only: the host computes {})", path.requested);
  if (path.kind != PathKind::Refused) return path;
  path.kind = PathKind::Emulated;
  const auto* natives = p.find("compute.native_dtypes");
  path.why = fmt::format("no matrix format for {} activations: vector unit{}", dtype_name(dtype),
                         natives && !natives->note.empty() ? " (" + natives->note + ")" : "");
  return path;
}

CostModel::CostModel(DeviceProfile profile)
    : profile_(std::move(profile)),
      bandwidth_(profile_.bandwidth()),
      // Absent calibration means a plain roofline: full efficiency, no overhead.
      memory_efficiency_(profile_.number("calibration.memory_efficiency").value_or(1.0)),
      matmul_overhead_s_(profile_.number("calibration.matmul_overhead_us").value_or(0) * 1e-6),
      op_overhead_s_(profile_.number("calibration.op_overhead_us").value_or(0) * 1e-6) {}

double CostModel::gemm_efficiency(const std::string& format) const {
  if (auto e = profile_.number("calibration.gemm_efficiency." + format)) return *e;
  return profile_.number("calibration.gemm_efficiency.default").value_or(1.0);
}

namespace {

// Linear interpolation of y over x in log space; clamped at both ends.
double interpolate_log(const std::vector<std::pair<double, double>>& xy, double x) {
  if (x <= xy.front().first) return xy.front().second;
  if (x >= xy.back().first) return xy.back().second;
  for (size_t i = 1; i < xy.size(); ++i) {
    if (x > xy[i].first) continue;
    const double t = std::log(x / xy[i - 1].first) / std::log(xy[i].first / xy[i - 1].first);
    return xy[i - 1].second + t * (xy[i].second - xy[i - 1].second);
  }
  return xy.back().second;
}

}  // namespace

double CostModel::gemm_efficiency(const std::string& format, int64_t m, int64_t n, int64_t k) const {
  const Field* curve = profile_.find("calibration.gemm_shape_efficiency." + format);
  if (!curve) return gemm_efficiency(format) * tile_fit(m, n, k);
  // The measured (n, k) nearest in log distance, then interpolation over m: the token count is
  // what moves an op from streaming weights (m = 1) to saturating the arithmetic units.
  const auto& rows = curve->points();  // [m, n, k, efficiency], sorted
  auto distance = [&](const std::vector<double>& r) {
    return std::fabs(std::log(r[1] / double(n))) + std::fabs(std::log(r[2] / double(k)));
  };
  const std::vector<double>* nearest = &rows.front();
  for (const auto& r : rows)
    if (distance(r) < distance(*nearest)) nearest = &r;
  std::vector<std::pair<double, double>> by_m;
  for (const auto& r : rows)
    if (r[1] == (*nearest)[1] && r[2] == (*nearest)[2]) by_m.emplace_back(r[0], r[3]);
  return interpolate_log(by_m, double(std::max<int64_t>(m, 1)));
}

double CostModel::memory_efficiency(double bytes) const {
  const Field* curve = profile_.find("calibration.memory_efficiency_by_bytes");
  if (!curve || bytes <= 0) return memory_efficiency_;
  std::vector<std::pair<double, double>> xy;
  for (const auto& r : curve->points()) xy.emplace_back(r[0], r[1]);
  return interpolate_log(xy, bytes);
}

double CostModel::tile_fit(int64_t m, int64_t n, int64_t k) const {
  // A dimension that is not a multiple of the native tile pads the last tile with zeros.
  auto fit = [&](int64_t x, const char* path) {
    const auto t = profile_.number(path);
    if (!t || *t < 1 || x < 1) return 1.0;
    const double tile = *t;
    return double(x) / (std::ceil(double(x) / tile) * tile);
  };
  return fit(m, "compute.tile_m") * fit(n, "compute.tile_n") * fit(k, "compute.tile_k");
}

CostModel::Rate CostModel::compute_rate(const Graph& g, const Node& n, std::string_view matmul_format) const {
  Rate r;
  if (!is_matrix_op(n.op)) {
    // Elementwise ops do ≤ 1 FLOP per byte, far below every catalogued chip's ridge point (≥ 37
    // FLOP/B matrix, ≈ 14 vector on the 910B): without a vector rate they are charged as memory-bound.
    if (const auto v = profile_.number("compute.vector_tflops"); v && *v > 0) r.flops_per_s = *v * 1e12;
    r.format = "vector";
    return r;
  }
  const bool weights = n.op == Op::MatMul || n.op == Op::MatMulId;
  const ComputePath path = !weights                ? activation_path(profile_, g.node(n.src[1]).out.dtype)
                           : matmul_format.empty() ? matmul_path(profile_, g.node(n.src[0]).out.dtype)
                                                   : find_path(profile_, std::string(matmul_format));
  if (path.kind == PathKind::Refused || path.used.empty()) {
    r.unknown = fmt::format("{} compute: refused ({})", op_name(n.op), path.why);
    return r;
  }
  const auto peak = profile_.peak_flops(path.used);
  if (!peak) {
    r.unknown = fmt::format("{} peak rate unknown", path.used);
    return r;
  }
  double efficiency = gemm_efficiency(path.used);
  if (n.op == Op::MatMul) {
    const Tensor& w = g.node(n.src[0]).out;  // [K, N]
    efficiency = gemm_efficiency(path.used, n.out.ne[1] * n.out.ne[2], w.ne[1], w.ne[0]);
  } else if (n.op == Op::MatMulId) {
    // One GEMM per expert over the rows routed to it: the tile is filled by rows per expert.
    const Tensor& w = g.node(n.src[0]).out;  // [K, N, X] (or [N, K, X] transposed)
    const bool tr = n.params.i[0] != 0;
    const double pairs = double(n.out.ne[1]) * double(n.out.ne[2]);
    const double touched = n.src[2] >= 0 ? expected_experts_touched(double(w.ne[2]), double(n.out.ne[1]), double(n.out.ne[2]))
                                         : double(w.ne[2]);
    const int64_t rows = std::max<int64_t>(1, int64_t(std::ceil(pairs / std::max(1.0, touched))));
    efficiency = gemm_efficiency(path.used, rows, tr ? w.ne[0] : w.ne[1], tr ? w.ne[1] : w.ne[0]);
  } else if (const auto a = profile_.number("calibration.attention_efficiency")) {
    efficiency = *a;  // attention is no plain GEMM: softmax and masking between two products
  }
  r.flops_per_s = *peak * efficiency;
  r.passes = path.passes;
  r.format = path.used;
  return r;
}

double CostModel::bytes_moved(const Graph& g, const Node& n) const {
  if (n.op == Op::KvStore) {
    // Only the new rows are written; the rest of the cache is untouched.
    const Tensor& x = g.node(n.src[0]).out;
    const Tensor& cache = g.node(n.src[1]).out;
    return double(x.nbytes()) + double(row_bytes(cache.dtype, x.ne[0])) * double(x.ne[1] * x.ne[2]);
  }
  const OpCost c = op_cost(g, n);
  double bytes = c.bytes_read + c.bytes_written;
  if (n.op == Op::MatMul) {
    // Weights in a block format the chip lacks are read as what they were dequantized into at load
    // (a graph costed without running it, as the planner does, still has the file's dtype).
    const Tensor& w = g.node(n.src[0]).out;
    if (const ComputePath path = matmul_path(profile_, w.dtype); path.load_as) {
      Tensor loaded = w;
      loaded.dtype = *path.load_as;
      bytes += double(loaded.nbytes()) - double(w.nbytes());
    }
  }
  return bytes;
}

OpEstimate CostModel::estimate(const Graph& g, const Node& n) const { return estimate(g, n, {}); }

OpEstimate CostModel::estimate(const Graph& g, const Node& n, std::string_view matmul_format) const {
  OpEstimate e;
  e.op = op_name(n.op);
  e.name = n.out.name;
  e.shape = n.out.shape_str();
  if (n.op == Op::Leaf || n.op == Op::View) return e;
  e.flops = op_cost(g, n).flops;
  e.bytes = bytes_moved(g, n);
  if (bandwidth_ > 0)
    e.memory_s = e.bytes / (bandwidth_ * memory_efficiency(e.bytes));
  else
    e.unknown = "memory bandwidth unknown";
  const Rate r = compute_rate(g, n, matmul_format);
  if (r.flops_per_s > 0) {
    e.compute_s = e.flops * r.passes / r.flops_per_s;
    e.format = r.format;
  } else if (!r.unknown.empty()) {
    e.unknown = e.unknown.empty() ? r.unknown : e.unknown + "; " + r.unknown;
  }
  e.overhead_s = is_matrix_op(n.op) ? matmul_overhead_s_ : op_overhead_s_;
  e.compute_bound = e.compute_s > e.memory_s;
  e.seconds = std::max(e.compute_s, e.memory_s) + e.overhead_s;
  return e;
}

GraphEstimate CostModel::estimate(const Graph& g) const {
  GraphEstimate total;
  for (const Node& n : g.nodes()) {
    if (n.op == Op::Leaf || n.op == Op::View) continue;
    OpEstimate e = estimate(g, n);
    total.seconds += e.seconds;
    if (!e.unknown.empty() &&
        std::find(total.unknowns.begin(), total.unknowns.end(), e.unknown) == total.unknowns.end())
      total.unknowns.push_back(e.unknown);
    total.ops.push_back(std::move(e));
  }
  return total;
}

}  // namespace db::perf
