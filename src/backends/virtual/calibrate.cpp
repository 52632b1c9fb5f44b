// Host calibration: streaming-read bandwidth by transfer size, GEMM throughput per weight format
// and shape through the CPU backend (the kernels `drawbridge run` uses), attention, and per-op
// overheads. Decode-shaped GEMMs (m = 1) rotate over enough weight copies to stream from DRAM, as
// a real decode step does; numbers are medians over repetitions, since the machine may be shared.
#include "backends/virtual/calibrate.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <random>
#include <thread>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/read_bandwidth.h"
#include "backends/cpu/kernels.h"
#include "backends/cpu/simd.h"
#include "backends/cpu/thread_pool.h"
#include "drawbridge/error.h"
#include "drawbridge/graph.h"
#include "perf/device_profile.h"

namespace db {

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median seconds of `reps` runs of f after one warm-up run (one run when the warm-up took over
// half a second: long runs are steady, and the budget is about a minute).
template <typename F>
double time_median(int reps, F&& f) {
  const auto w0 = Clock::now();
  f();
  if (std::chrono::duration<double>(Clock::now() - w0).count() > 0.5) reps = 1;
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = Clock::now();
    f();
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return median(t);
}

std::string cpu_flags() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("flags")) return line + " ";
  return "";
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one;
  in >> one;
  return one.empty() ? "n/a" : one;
}

struct Plan {
  size_t stream_bytes;                             // read-bandwidth buffer
  size_t rotate_bytes;                             // weight bytes a decode GEMM rotates over
  std::vector<size_t> chunks;                      // transfer sizes of the bandwidth curve
  std::vector<std::pair<int64_t, int64_t>> nk;     // GEMM (n outputs, k depth)
  std::vector<int64_t> ms;                         // GEMM token counts
  int reps;
  int attention_tokens;
};

Plan make_plan(bool quick) {
  if (quick) return {16u << 20, 4u << 20, {64u << 10, 1u << 20, 16u << 20}, {{256, 256}}, {1, 32}, 1, 32};
  // The (n, k) pairs are the matrices of 1B–7B llama-shaped models (q/o, grouped k/v, ffn up and
  // down); other shapes take the nearest pair.
  return {256u << 20, 96u << 20, {64u << 10, 1u << 20, 16u << 20, 256u << 20},
          {{2048, 2048}, {256, 2048}, {5632, 2048}, {2048, 5632}}, {1, 16, 64, 512}, 3, 512};
}

// ---- GEMM and op timings -------------------------------------------------------------------

struct Weights {
  Tensor t;
  std::vector<char> bytes;
};

// `copies` copies of one random weight matrix at distinct addresses, so a rotation over them
// streams from memory as a decode step does.
std::vector<Weights> weight_copies(DType dtype, const std::vector<float>& values, int64_t n, int64_t k, size_t copies) {
  Weights first;
  first.t = make_tensor("w", dtype, {k, n, 1, 1});
  first.bytes.resize(first.t.nbytes());
  dtype_info(dtype).from_float(values.data(), first.bytes.data(), n * k);
  std::vector<Weights> all(copies, first);
  for (auto& w : all) w.t.data = w.bytes.data();
  return all;
}

// Median seconds of one m×n×k matmul, rotating over (a prefix of) the weight copies.
double time_matmul(cpu::CpuBackend& backend, const std::vector<Weights>& w, int64_t m, int reps, std::mt19937& rng) {
  const int64_t k = w[0].t.ne[0], n = w[0].t.ne[1];
  const double flops = 2.0 * double(m) * double(n) * double(k);
  const size_t copies = std::min(w.size(), std::max<size_t>(1, size_t(2e9 / flops)));  // bound the work per run
  std::vector<float> xv(size_t(m * k));
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (auto& x : xv) x = dist(rng);
  Tensor xt = make_tensor("x", DType::F32, {k, m, 1, 1});
  xt.data = xv.data();
  Graph g;
  const int x = g.leaf(xt);
  for (size_t i = 0; i < copies; ++i)
    g.set_output(g.add(Op::MatMul, make_tensor(fmt::format("y{}", i), DType::F32, {n, m, 1, 1}), {g.leaf(w[i].t), x, -1}));
  backend.pack_weights(g);  // as a session does at load: time the layout decode really reads
  const double s = time_median(reps, [&] { backend.compute(g); }) / double(copies);
  backend.drop_packed_weights();
  return s;
}

// Median seconds per op of a chain of tiny ops: what one dispatch costs beyond its work.
double time_tiny_ops(cpu::CpuBackend& backend, Op op, int reps) {
  constexpr int kOps = 64, kN = 32;
  std::vector<float> a(kN * kN, 0.5f), b(kN, 0.25f);
  Tensor at = make_tensor("a", op == Op::MatMul ? DType::F32 : DType::F32, {kN, op == Op::MatMul ? kN : 1, 1, 1});
  at.data = a.data();
  Tensor bt = make_tensor("b", DType::F32, {kN, 1, 1, 1});
  bt.data = b.data();
  Graph g;
  const int ai = g.leaf(at);
  int x = g.leaf(bt);
  for (int i = 0; i < kOps; ++i) {
    const auto name = fmt::format("t{}", i);
    x = op == Op::MatMul ? g.add(Op::MatMul, make_tensor(name, DType::F32, {kN, 1, 1, 1}), {ai, x, -1})
                         : g.add(Op::Add, make_tensor(name, DType::F32, {kN, 1, 1, 1}), {x, x, -1});
  }
  g.set_output(x);
  return time_median(reps * 5, [&] { backend.compute(g); }) / kOps;
}

// Seconds and FLOPs of causal attention over `tokens` new tokens (TinyLlama heads: 32 × 64, 4 kv).
std::pair<double, double> time_attention(cpu::CpuBackend& backend, int tokens, int reps) {
  const int64_t D = 64, H = 32, Hkv = 4, T = tokens;
  std::vector<float> q(size_t(D * H * T), 0.01f);
  Tensor qt = make_tensor("q", DType::F32, {D, H, T, 1});
  qt.data = q.data();
  Tensor kt = make_tensor("k", DType::F16, {D, Hkv, T, 1});
  std::vector<char> kb(kt.nbytes()), vb(kt.nbytes());
  std::vector<float> ones(size_t(D * Hkv * T), 0.02f);
  dtype_info(DType::F16).from_float(ones.data(), kb.data(), D * Hkv * T);
  std::memcpy(vb.data(), kb.data(), kb.size());
  kt.data = kb.data();
  Tensor vt = kt;
  vt.name = "v";
  vt.data = vb.data();
  Graph g;
  OpParams p;
  p.f[0] = 0.125f;
  const int a = g.add(Op::Attention, make_tensor("attn", DType::F32, {D, H, T, 1}), {g.leaf(qt), g.leaf(kt), g.leaf(vt)}, p);
  g.set_output(a);
  const double flops = op_cost(g, g.node(a)).flops;
  return {time_median(reps, [&] { backend.compute(g); }), flops};
}

// Block formats the CPU backend multiplies directly (asked of cpu_supports, not listed by hand).
std::vector<std::string> cpu_native_formats() {
  std::vector<std::string> out = {"f32", "f16", "bf16"};
  for (const auto& name : perf::profile_block_formats()) {
    const auto dtype = dtype_from_name(name);
    if (!dtype) continue;
    const int64_t k = dtype_info(*dtype).block_size;
    Graph g;
    const int w = g.leaf(make_tensor("w", *dtype, {k, 1, 1, 1}));
    const int x = g.leaf(make_tensor("x", DType::F32, {k, 1, 1, 1}));
    const int y = g.add(Op::MatMul, make_tensor("y", DType::F32, {1, 1, 1, 1}), {w, x, -1});
    if (cpu::cpu_supports(g, g.node(y), nullptr)) out.push_back(name);
  }
  return out;
}

// ---- TOML output ---------------------------------------------------------------------------

std::string toml_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

class TomlOut {
 public:
  explicit TomlOut(std::string source) : source_(std::move(source)) {}
  void table(const std::string& name) { text_ += "\n[" + name + "]\n"; }
  void field(const std::string& key, const std::string& value, const std::string& note = "") {
    text_ += fmt::format("{} = {{ value = {}, source = {}, confidence = \"high\"{} }}\n", key, value, toml_string(source_),
                         note.empty() ? "" : ", note = " + toml_string(note));
  }
  void number(const std::string& key, double v, const std::string& note = "") { field(key, fmt::format("{:.6g}", v), note); }
  std::string& text() { return text_; }

 private:
  std::string source_;
  std::string text_;
};

std::string points(const std::vector<std::vector<double>>& rows) {
  std::vector<std::string> r;
  for (const auto& row : rows) {
    std::vector<std::string> cells;
    for (double c : row) cells.push_back(fmt::format("{:.6g}", c));
    r.push_back(fmt::format("[{}]", fmt::join(cells, ", ")));
  }
  return fmt::format("[{}]", fmt::join(r, ", "));
}

}  // namespace

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("model name")) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(colon + 1);
        name.erase(0, name.find_first_not_of(' '));
        if (!name.empty()) return name;
      }
    }
  return "unknown CPU";
}

std::string calibrate_host(const CalibrationOptions& o) {
  const int nth = o.n_threads > 0 ? o.n_threads : int(std::max(1u, std::thread::hardware_concurrency()));
  DB_CHECK(nth <= 1024, "[calibrate] thread count {} must be in 1..1024", nth);
  auto say = [&](const std::string& line) {
    if (o.progress) o.progress(line);
  };
  const Plan plan = make_plan(o.quick);
  const std::string cpu = cpu_model_name();
  const std::string date = fmt::format("{:%Y-%m-%d %H:%M} UTC", fmt::gmtime(std::time(nullptr)));
  const std::string load = load_average();
  const std::string conditions = fmt::format("{} threads, load average {} at the start{}", nth, load,
                                             o.quick ? ", --quick (small buffers, one repetition)" : "");
  TomlOut t(fmt::format("measured by drawbridge devices --calibrate on {}, {}", date, cpu));

  // Bandwidth by transfer size; the largest transfer is the streaming peak.
  cpu::ThreadPool pool(nth);
  std::vector<uint64_t> buf(plan.stream_bytes / 8);
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = i;
  std::vector<std::pair<double, double>> rates;
  for (size_t chunk : plan.chunks) {
    rates.emplace_back(double(chunk), cpu::read_bandwidth(pool, buf.data(), buf.size(), chunk, cpu::Streams::One, plan.reps).median);
    say(fmt::format("read bandwidth, {} KiB transfers: {:.2f} GB/s", chunk >> 10, rates.back().second / 1e9));
  }
  buf = {};
  const double peak_bw = std::max_element(rates.begin(), rates.end(), [](auto& a, auto& b) { return a.second < b.second; })->second;

  cpu::CpuBackend backend(nth);
  std::mt19937 rng(42);
  const double mm_overhead = time_tiny_ops(backend, Op::MatMul, plan.reps);
  const double op_overhead = time_tiny_ops(backend, Op::Add, plan.reps);
  say(fmt::format("dispatch overhead: matmul {:.2f} µs, other ops {:.2f} µs", mm_overhead * 1e6, op_overhead * 1e6));

  // GEMM grid per format; the best rate of the grid is the format's peak through these kernels.
  const std::vector<DType> formats = {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K};
  struct Grid {
    DType dtype;
    std::vector<std::vector<double>> rows;  // m, n, k, FLOP/s
    double decode_bytes_per_s = 0;          // m = 1, largest matrix
  };
  std::vector<Grid> grids;
  std::vector<std::vector<float>> values;  // one random matrix per (n, k), quantized per format
  for (auto [n, k] : plan.nk) {
    std::normal_distribution<float> dist(0.0f, 0.02f);
    values.emplace_back(size_t(n * k));
    for (auto& v : values.back()) v = dist(rng);
  }
  for (DType d : formats) {
    Grid grid{d, {}, 0};
    // The K-quants (beyond the f32/f16/bf16/q8_0/q4_0 the bench uses) get the first two shapes
    // only: their kernels are slow enough here to dominate the minute otherwise.
    const bool secondary = d == DType::Q4_K || d == DType::Q6_K;
    const size_t n_shapes = secondary ? std::min<size_t>(2, plan.nk.size()) : plan.nk.size();
    for (size_t s_i = 0; s_i < n_shapes; ++s_i) {
      const auto [n, k] = plan.nk[s_i];
      const size_t wbytes = make_tensor("w", d, {k, n, 1, 1}).nbytes();
      const auto w = weight_copies(d, values[s_i], n, k, std::max<size_t>(1, (plan.rotate_bytes + wbytes - 1) / wbytes));
      for (int64_t m : plan.ms) {
        const double s = time_matmul(backend, w, m, plan.reps, rng);
        const double work = std::max(s - mm_overhead, s / 2);  // the dispatch cost is charged apart
        grid.rows.push_back({double(m), double(n), double(k), 2.0 * double(m * n * k) / work});
        if (m == 1) grid.decode_bytes_per_s = std::max(grid.decode_bytes_per_s, double(wbytes) / s);
        // A format this slow here (no tiled kernel for it yet) would take minutes at larger m; the
        // curve is clamped beyond its last point, which is what such a kernel does anyway.
        if (s > 0.5) break;
      }
    }
    const double best = std::max_element(grid.rows.begin(), grid.rows.end(), [](auto& a, auto& b) { return a[3] < b[3]; })->at(3);
    say(fmt::format("{:>5} GEMM: peak {:.1f} GFLOP/s, decode (m = 1) streams weights at {:.2f} GB/s",
                    dtype_name(d), best / 1e9, grid.decode_bytes_per_s / 1e9));
    grids.push_back(std::move(grid));
  }
  const auto [attn_s, attn_flops] = time_attention(backend, plan.attention_tokens, plan.reps);

  // ---- the profile ----
  const std::string flags = cpu_flags();
  auto has = [&](const char* f) { return flags.find(std::string(" ") + f + " ") != std::string::npos; };
  const std::string units = fmt::format("kernels in use: {}; CPU units: avx2 {}, avx512f {}, avx512_bf16 {}, amx_tile {}, f16c {} "
                                        "(absent units are not used or modeled)",
                                        cpu::cpu_isa_name(), has("avx2") ? "yes" : "absent", has("avx512f") ? "yes" : "absent",
                                        has("avx512_bf16") ? "yes" : "absent", has("amx_tile") ? "yes" : "absent",
                                        has("f16c") ? "yes" : "absent");
  std::string& out = t.text();
  out = fmt::format("# The host profile: measured by `drawbridge devices --calibrate` ({}).\n# Re-run it after a hardware change; "
                    "delete this file to forget the calibration.\nid = \"host\"\nname = {}\nvendor = \"host CPU\"\n",
                    conditions, toml_string(cpu));
  t.table("compute");
  std::vector<std::string> native;
  for (const auto& f : cpu_native_formats()) native.push_back(toml_string(f));
  t.field("native_dtypes", fmt::format("[{}]", fmt::join(native, ", ")), "formats the CPU backend multiplies directly; " + units);
  t.number("threads", nth, conditions);
  t.table("compute.peak_tflops");
  for (const Grid& g : grids) {
    double best = 0;
    for (const auto& r : g.rows) best = std::max(best, r[3]);
    t.number(std::string(dtype_name(g.dtype)), best / 1e12, "best GEMM rate of the calibration grid through Drawbridge's kernels");
  }
  t.table("memory");
  t.number("bandwidth_gbps", peak_bw / 1e9, fmt::format("multi-threaded streaming read of {} MiB", plan.stream_bytes >> 20));
  const double ram = double(sysconf(_SC_PHYS_PAGES)) * double(sysconf(_SC_PAGE_SIZE));
  if (ram > 0) t.number("capacity_gib", ram / double(1ull << 30), "physical memory (sysconf)");
  t.table("calibration");
  t.number("memory_efficiency", 1.0, "the curve below by transfer size; 1 = the streaming peak");
  std::vector<std::vector<double>> bw_rows;
  for (auto [bytes, rate] : rates) bw_rows.push_back({bytes, std::min(1.0, rate / peak_bw)});
  t.field("memory_efficiency_by_bytes", points(bw_rows), "[bytes per op, share of the streaming peak]");
  t.number("matmul_overhead_us", mm_overhead * 1e6, "64 chained 32×32 matmuls, per op");
  t.number("op_overhead_us", op_overhead * 1e6, "64 chained 32-element adds, per op");
  double f16_peak = 0;
  for (const Grid& g : grids)
    if (g.dtype == DType::F16)
      for (const auto& r : g.rows) f16_peak = std::max(f16_peak, r[3]);
  t.number("attention_efficiency", std::min(1.0, attn_flops / attn_s / f16_peak),
           fmt::format("causal attention, {} tokens, 32 heads × 64, 4 kv heads, f16 cache: {:.1f} GFLOP/s of the f16 peak",
                       plan.attention_tokens, attn_flops / attn_s / 1e9));
  t.table("calibration.gemm_efficiency");
  for (const Grid& g : grids) {
    double best = 0;
    for (const auto& r : g.rows) best = std::max(best, r[3]);
    const auto& largest = *std::max_element(g.rows.begin(), g.rows.end(), [](auto& a, auto& b) {
      return a[0] * a[1] * a[2] < b[0] * b[1] * b[2];
    });
    t.number(std::string(dtype_name(g.dtype)), std::min(1.0, largest[3] / best), "largest GEMM of the grid");
  }
  t.table("calibration.gemm_shape_efficiency");
  for (const Grid& g : grids) {
    double best = 0;
    for (const auto& r : g.rows) best = std::max(best, r[3]);
    std::vector<std::vector<double>> rows;
    for (const auto& r : g.rows) rows.push_back({r[0], r[1], r[2], std::max(1e-6, r[3] / best)});
    t.field(std::string(dtype_name(g.dtype)), points(rows),
            fmt::format("[m, n, k, share of the {} peak]; per-token decode efficiency: m = 1 streams weights at {:.2f} GB/s, "
                        "{:.0f}% of the measured read bandwidth",
                        dtype_name(g.dtype), g.decode_bytes_per_s / 1e9, 100.0 * g.decode_bytes_per_s / peak_bw));
  }
  return out;
}

}  // namespace db
