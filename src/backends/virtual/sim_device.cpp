// A virtual accelerator: numerics through the CPU kernels, the chip's formats and memory enforced,
// time from the cost model.
#include "backends/virtual/sim_device.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/kernels.h"
#include "drawbridge/error.h"

namespace db {

size_t loaded_bytes(const Tensor& t, DType as) {
  Tensor out = t;
  out.dtype = as;
  return out.nbytes();
}

namespace {

std::string human_bytes(double b) {
  if (b >= double(1ull << 30)) return fmt::format("{:.2f} GiB", b / double(1ull << 30));
  if (b >= double(1ull << 20)) return fmt::format("{:.1f} MiB", b / double(1ull << 20));
  return fmt::format("{:.1f} KiB", b / 1024.0);
}

Support to_support(perf::PathKind k) {
  switch (k) {
    case perf::PathKind::Native: return Support::Native;
    case perf::PathKind::Emulated: return Support::Emulated;
    default: return Support::None;
  }
}

bool has_float_format(const perf::DeviceProfile& p) {
  for (const char* f : {"f32", "tf32", "hf32", "f16", "bf16"})
    if (p.native(f)) return true;
  return false;
}

// "l12.ffn_up" → "ffn_up": one profile row per op family rather than per layer.
std::string family_name(const std::string& name) {
  if (name.size() > 1 && name[0] == 'l' && std::isdigit(static_cast<unsigned char>(name[1]))) {
    const size_t dot = name.find('.');
    if (dot != std::string::npos) return name.substr(dot + 1);
  }
  return name;
}

int tokens_in(const Graph& g) {
  for (const Node& n : g.nodes())
    if (n.op == Op::Embed) return int(n.out.ne[1]);
  return 0;
}

class SimDevice final : public Device {
 public:
  SimDevice(const perf::DeviceProfile& profile, int n_threads) : model_(profile), backend_(n_threads) {
    props_.id = "sim:" + profile.id;
    props_.kind = "sim";
    props_.description = fmt::format("{} {} (virtual)", profile.vendor, profile.name);
    props_.memory_bytes = profile.memory_bytes();
    props_.memory_bandwidth = profile.bandwidth();
    const std::pair<DType, const char*> formats[] = {
        {DType::F32, "f32"}, {DType::F16, "f16"}, {DType::BF16, "bf16"}, {DType::I8, "int8"}};
    for (const auto& [dtype, format] : formats)
      if (auto peak = profile.peak_flops(format)) props_.peak_flops[dtype] = *peak;
  }

  const DeviceProps& props() const override { return props_; }
  int n_threads() const override { return backend_.n_threads(); }
  const SimClock& clock() const { return clock_; }
  void reset_clock() { clock_.reset(); }

  // A graph whose weights and KV cache exceed the chip's memory is refused outright (by throwing):
  // no placement of its ops can make it fit.
  Support supports(const Graph& g, const Node& n, std::string* why) const override {
    check_fits(g);
    std::string cpu_why;
    if (!cpu::cpu_supports(g, n, &cpu_why)) return none(why, "numerics run on the host kernels: " + cpu_why);
    const perf::DeviceProfile& p = model_.profile();
    switch (n.op) {
      case Op::Leaf:
      case Op::View:
      case Op::Embed:  // a row gather: the table is only read
        return Support::Native;
      case Op::MatMul:  // a block format the chip lacks: load_notes() states the memory it costs
        return from_path(perf::matmul_path(p, g.node(n.src[0]).out.dtype), why);
      case Op::KvStore:
      case Op::Attention:
        return from_path(perf::activation_path(p, g.node(n.src[1]).out.dtype), why);
      default:
        if (has_float_format(p)) return Support::Native;
        return from_path(perf::activation_path(p, DType::F32), why);
    }
  }

  void compute(Graph& g) override {
    check_fits(g);
    convert_weights(g);
    backend_.compute(g);
    clock_.charge(model_.estimate(g), tokens_in(g));
  }

 private:
  static Support none(std::string* why, std::string reason) {
    if (why) *why = std::move(reason);
    return Support::None;
  }
  static Support from_path(const perf::ComputePath& path, std::string* why) {
    if (why) *why = path.kind == perf::PathKind::Native ? "native " + path.used : path.why;
    return to_support(path.kind);
  }

  void check_fits(const Graph& g) const;
  void convert_weights(Graph& g);
  DType load_dtype(const Graph& g, int leaf) const;
  const void* converted(const Tensor& t, DType to);

  DeviceProps props_;
  perf::CostModel model_;
  cpu::CpuBackend backend_;
  SimClock clock_;
  std::map<std::pair<const void*, DType>, std::vector<char>> converted_;  // weights in the chip's format
  mutable std::pair<size_t, double> fits_checked_{0, 0};  // the last graph that fits
};

void SimDevice::check_fits(const Graph& g) const {
  // supports() runs once per node: check a graph once, recognised by its size and leaf bytes.
  double leaf_bytes = 0;
  for (const Node& n : g.nodes())
    if (n.op == Op::Leaf) leaf_bytes += double(n.out.nbytes());
  if (fits_checked_ == std::make_pair(g.nodes().size(), leaf_bytes)) return;
  const uint64_t capacity = model_.profile().memory_bytes();
  if (capacity == 0) return;  // unknown memory: nothing to enforce
  const LoadFootprint f = load_footprint(model_.profile(), g);
  const std::string dequantized =
      f.dequantized_extra > 0 ? fmt::format(" (of which {} from dequantizing block formats the chip lacks on load)",
                                            human_bytes(f.dequantized_extra))
                              : "";
  DB_CHECK(f.weights + f.cache <= double(capacity),
           "[{}] the model does not fit: weights {} + KV cache {} = {} > {} of device memory ({}){}", props_.id,
           human_bytes(f.weights), human_bytes(f.cache), human_bytes(f.weights + f.cache), human_bytes(double(capacity)),
           model_.profile().name, dequantized);
  fits_checked_ = {g.nodes().size(), leaf_bytes};
}

// A chip without the weights' 16-bit format computes in its other one: convert once, as its
// runtime would when loading, so the numbers are the chip's.
void SimDevice::convert_weights(Graph& g) {
  for (Node& n : g.nodes()) {
    if (n.op != Op::MatMul && n.op != Op::Embed) continue;
    Node& w = g.node(n.src[0]);
    const perf::ComputePath path = perf::matmul_path(model_.profile(), w.out.dtype);
    if (w.op != Op::Leaf || !w.out.is_contiguous() || w.out.is_meta()) continue;
    if (n.op == Op::Embed && !perf::swaps_16bit(path)) continue;  // a row gather reads blocks as stored
    if (!perf::swaps_16bit(path) && !path.load_as) continue;
    const DType to = path.load_as ? *path.load_as : path.used == "f16" ? DType::F16 : DType::BF16;
    w.out.data = const_cast<void*>(converted(w.out, to));
    w.out.dtype = to;
    set_contiguous_strides(w.out);
  }
}

const void* SimDevice::converted(const Tensor& t, DType to) {
  auto& buf = converted_[{t.data, to}];
  if (buf.empty()) {
    const int64_t n = t.nelements();
    std::vector<float> floats(static_cast<size_t>(n));
    dtype_info(t.dtype).to_float(t.data, floats.data(), n);
    Tensor out = t;
    out.dtype = to;
    buf.resize(out.nbytes());
    dtype_info(to).from_float(floats.data(), buf.data(), n);
  }
  return buf.data();
}

}  // namespace

LoadFootprint load_footprint(const perf::DeviceProfile& profile, const Graph& g) {
  std::set<int> kv;
  for (const Node& n : g.nodes())
    if (n.op == Op::KvStore || n.op == Op::Attention) kv.insert(n.src[1]);
  // The dtype each weight has once loaded: a block format the chip lacks is dequantized.
  std::map<int, DType> load_as;
  for (const Node& n : g.nodes())
    if (n.op == Op::MatMul)
      if (const auto path = perf::matmul_path(profile, g.node(n.src[0]).out.dtype); path.load_as)
        load_as[n.src[0]] = *path.load_as;
  LoadFootprint f;
  // Leaves are deduplicated by name: a tied embedding appears twice but is stored once.
  std::set<std::string> seen;
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    const Node& n = g.nodes()[i];
    if (n.op != Op::Leaf || !seen.insert(n.out.name).second) continue;
    const double stored = double(n.out.nbytes());
    if (kv.count(int(i))) {
      f.cache += stored;
      continue;
    }
    const auto it = load_as.find(int(i));
    const double loaded = it == load_as.end() ? stored : double(loaded_bytes(n.out, it->second));
    f.weights += loaded;
    f.dequantized_extra += loaded - stored;
    if (it != load_as.end()) f.dequantized_tensors += 1;
  }
  return f;
}

std::string load_notes(const perf::DeviceProfile& profile, const Graph& g) {
  const LoadFootprint f = load_footprint(profile, g);
  if (f.dequantized_tensors == 0) return "";
  return fmt::format("sim:{}: {} weight tensor(s) in block formats the {} lacks are dequantized on load: "
                     "weights {} instead of {} (+{})\n",
                     profile.id, f.dequantized_tensors, profile.name, human_bytes(f.weights),
                     human_bytes(f.weights - f.dequantized_extra), human_bytes(f.dequantized_extra));
}

void SimClock::charge(const perf::GraphEstimate& e, int n_tokens) {
  seconds_ += e.seconds;
  steps_.push_back({n_tokens, e.seconds});
  for (const auto& u : e.unknowns)
    if (std::find(unknowns_.begin(), unknowns_.end(), u) == unknowns_.end()) unknowns_.push_back(u);
  for (const perf::OpEstimate& op : e.ops) {
    const std::string name = family_name(op.name);
    auto it = std::find_if(ops_.begin(), ops_.end(), [&](const SimOpTotals& t) {
      return t.op == op.op && t.name == name && t.format == op.format;
    });
    if (it == ops_.end()) it = ops_.insert(ops_.end(), SimOpTotals{op.op, name, "", op.format});
    it->shape = op.shape;
    it->flops += op.flops;
    it->bytes += op.bytes;
    it->seconds += op.seconds;
    it->count += 1;
    it->compute_bound += op.compute_bound ? 1 : 0;
  }
}

ModeledSpeed modeled_speed(const SimClock& clock, int n_prompt) {
  ModeledSpeed s;
  for (const SimStep& step : clock.steps()) {
    if (s.prompt_tokens < n_prompt) {
      s.prompt_tokens += step.n_tokens;
      s.prompt_seconds += step.seconds;
    } else {
      s.generation_steps += 1;
      s.generation_seconds += step.seconds;
    }
  }
  return s;
}

std::unique_ptr<Device> make_sim_device(const perf::DeviceProfile& profile, const DeviceOptions& options) {
  return std::make_unique<SimDevice>(profile, std::max(1, options.n_threads));
}

void reset_sim_clock(Device& device) {
  if (auto* sim = dynamic_cast<SimDevice*>(&device)) sim->reset_clock();
}

const SimClock* sim_clock(const Device& device) {
  const auto* sim = dynamic_cast<const SimDevice*>(&device);
  return sim ? &sim->clock() : nullptr;
}

std::string format_op_profile(const SimClock& clock) {
  std::vector<SimOpTotals> rows = clock.ops();
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.seconds > b.seconds; });
  std::string out = fmt::format("{:<10} {:<16} {:<16} {:<7} {:>12} {:>12} {:<8} {:>12} {:>6}\n", "op", "name",
                                "shape", "dtype", "FLOPs", "bytes", "bound", "modeled µs", "share");
  const double total = clock.seconds() > 0 ? clock.seconds() : 1;
  for (const auto& r : rows)
    out += fmt::format("{:<10} {:<16} {:<16} {:<7} {:>12.4g} {:>12.4g} {:<8} {:>12.1f} {:>5.1f}%\n", r.op, r.name,
                       r.shape, r.format.empty() ? "-" : r.format, r.flops, r.bytes,
                       2 * r.compute_bound >= r.count ? "compute" : "memory", r.seconds * 1e6,
                       100.0 * r.seconds / total);
  return out;
}

}  // namespace db
