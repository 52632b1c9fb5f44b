// The bench command's engine: llama-bench's pp/tg protocol on a Session, plus the achieved memory
// bandwidth (decode reads every weight once per token) and arithmetic rate (prefill).
#include "drawbridge/bench.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <random>

#include "backends/cpu/read_bandwidth.h"
#include "backends/cpu/simd.h"
#include "backends/virtual/sim_device.h"
#include "drawbridge/error.h"
#include "drawbridge/session.h"

namespace db {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// llama-bench's inputs: random ids (fixed seed), so no tokenizer and no special-token effects.
std::vector<Token> random_tokens(std::mt19937& rng, int n, int n_vocab) {
  std::uniform_int_distribution<Token> pick(0, n_vocab - 1);
  std::vector<Token> t(static_cast<size_t>(n));
  for (auto& id : t) id = pick(rng);
  return t;
}

// One timed pp run: the whole prompt in one batch from an empty context.
double time_prompt(Session& s, const std::vector<Token>& prompt) {
  s.reset();
  const auto t0 = Clock::now();
  s.eval(prompt);
  return seconds_since(t0);
}

// One timed tg run: n single-token steps from an empty context.
double time_gen(Session& s, const std::vector<Token>& tokens) {
  s.reset();
  std::vector<Token> one(1);
  const auto t0 = Clock::now();
  for (Token t : tokens) {
    one[0] = t;
    s.eval(one);
  }
  return seconds_since(t0);
}

void summarize(BenchTest& t, int tokens) {
  std::vector<double> tps;
  for (double s : t.seconds) tps.push_back(tokens / s);
  double mean = 0;
  for (double v : tps) mean += v;
  mean /= double(tps.size());
  double var = 0;
  for (double v : tps) var += (v - mean) * (v - mean);
  t.tps_mean = mean;
  t.tps_sd = tps.size() > 1 ? std::sqrt(var / double(tps.size() - 1)) : 0.0;
}

uint64_t peak_rss() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return uint64_t(ru.ru_maxrss) * 1024;  // Linux reports KiB
}

std::string upper(std::string_view s) {
  std::string u(s);
  for (char& c : u) c = char(std::toupper(static_cast<unsigned char>(c)));
  return u;
}

std::vector<std::string> collect_unknowns(const SimClock& clock, std::vector<std::string> into) {
  for (const auto& u : clock.unknowns())
    if (std::find(into.begin(), into.end(), u) == into.end()) into.push_back(u);
  return into;
}

}  // namespace

// A virtual device's clock is deterministic (the same graph costs the same modeled time), so each
// test runs once through the CPU kernels for its numerics and reports the modeled time; repeating
// it would only repeat the host's work.
static BenchReport run_modeled(Session& session, BenchReport r, const BenchOptions& o, std::mt19937& rng) {
  const int n_vocab = session.model().config().n_vocab;
  r.backend = o.device;
  r.modeled = fmt::format("t/s are modeled for {} by the cost model (src/perf), not measured: each test ran once "
                          "through the host's CPU kernels ({} threads) for its numerics",
                          o.device, o.n_threads);
  auto run_test = [&](BenchTest t, int tokens, const std::function<void()>& work) {
    reset_sim_clock(session.device());
    work();
    const SimClock& clock = *sim_clock(session.device());
    t.seconds.push_back(clock.seconds());
    summarize(t, tokens);
    if (o.profile) t.op_profile = format_op_profile(clock);
    r.unknowns = collect_unknowns(clock, r.unknowns);
    return t;
  };
  if (o.n_prompt > 0) {
    const auto prompt = random_tokens(rng, o.n_prompt, n_vocab);
    BenchTest t = run_test({fmt::format("pp{}", o.n_prompt), o.n_prompt, 0, {}}, o.n_prompt, [&] {
      session.reset();
      session.eval(prompt);
    });
    t.gflops = 2.0 * double(r.n_params) * t.tps_mean / 1e9;
    r.tests.push_back(std::move(t));
  }
  if (o.n_gen > 0) {
    const auto tokens = random_tokens(rng, o.n_gen, n_vocab);
    BenchTest t = run_test({fmt::format("tg{}", o.n_gen), 0, o.n_gen, {}}, o.n_gen, [&] { time_gen(session, tokens); });
    t.gbps = double(r.bytes_per_token) * t.tps_mean / 1e9;
    r.tests.push_back(std::move(t));
  }
  r.peak_rss_bytes = peak_rss();
  return r;
}

uint64_t weight_bytes_per_token(const Model& model) {
  const ModelWeights& w = model.weights();
  uint64_t total = 0;
  auto add = [&](const Tensor* t) {
    if (t) total += t->nbytes();
  };
  for (const LayerWeights& L : w.layers)
    for (const Tensor* t : {L.attn_norm, L.wq, L.wk, L.wv, L.wo, L.bq, L.bk, L.bv, L.ffn_norm, L.ffn_gate,
                            L.ffn_up, L.ffn_down})
      add(t);
  add(w.output_norm);
  add(w.output);  // the embedding table itself when tied
  add(w.rope_freqs);
  return total;
}

std::string model_description(const Model& model) {
  // The dominant type by bytes of the 2-D weights (a Q4_0 file may keep its output in Q6_K).
  std::map<DType, uint64_t> bytes;
  const ModelWeights& w = model.weights();
  for (const LayerWeights& L : w.layers)
    for (const Tensor* t : {L.wq, L.wk, L.wv, L.wo, L.ffn_gate, L.ffn_up, L.ffn_down})
      if (t) bytes[t->dtype] += t->nbytes();
  DType main = DType::F32;
  uint64_t most = 0;
  for (auto [t, b] : bytes)
    if (b > most) most = b, main = t;
  const double p = double(model.n_params());
  const std::string size = p >= 1e9 ? fmt::format("{:.0f}B", p / 1e9) : fmt::format("{:.0f}M", p / 1e6);
  return fmt::format("{} {} {}", arch_name(model.config().arch), size, upper(dtype_name(main)));
}

BenchReport run_bench(const Model& model, const std::string& path, const BenchOptions& o) {
  DB_CHECK(o.n_prompt >= 0 && o.n_gen >= 0 && o.n_prompt + o.n_gen > 0,
           "[bench] need a prompt (-p) or generation (-n) length above 0");
  DB_CHECK(o.repetitions >= 1, "[bench] repetitions must be at least 1 (got {})", o.repetitions);
  DB_CHECK(o.n_threads >= 1 && o.n_threads <= 1024, "[bench] thread count {} must be in 1..1024", o.n_threads);
  BenchReport r;
  r.model_path = path;
  r.model_desc = model_description(model);
  r.model_bytes = model.weight_bytes();
  r.n_params = model.n_params();
  r.bytes_per_token = weight_bytes_per_token(model);
  r.kernels = cpu::cpu_isa_name();
  r.n_threads = o.n_threads;

  SessionOptions so;
  so.n_ctx = std::max(o.n_prompt, o.n_gen);
  so.n_threads = o.n_threads;
  so.n_batch = std::max(o.n_prompt, 1);
  so.device = o.device;
  Session session(model, so);
  std::mt19937 rng(1234);
  const int n_vocab = model.config().n_vocab;
  if (sim_clock(session.device())) return run_modeled(session, r, o, rng);

  if (o.n_prompt > 0) {
    BenchTest t{fmt::format("pp{}", o.n_prompt), o.n_prompt, 0, {}};
    const auto prompt = random_tokens(rng, o.n_prompt, n_vocab);
    time_prompt(session, prompt);  // warm-up: page in the weights, grow the arena
    for (int i = 0; i < o.repetitions; ++i) t.seconds.push_back(time_prompt(session, prompt));
    summarize(t, o.n_prompt);
    t.gflops = 2.0 * double(r.n_params) * t.tps_mean / 1e9;
    r.tests.push_back(std::move(t));
  }
  if (o.n_gen > 0) {
    BenchTest t{fmt::format("tg{}", o.n_gen), 0, o.n_gen, {}};
    const auto tokens = random_tokens(rng, o.n_gen, n_vocab);
    time_gen(session, {tokens[0]});  // warm-up
    for (int i = 0; i < o.repetitions; ++i) t.seconds.push_back(time_gen(session, tokens));
    summarize(t, o.n_gen);
    t.gbps = double(r.bytes_per_token) * t.tps_mean / 1e9;
    r.tests.push_back(std::move(t));
  }
  r.peak_rss_bytes = peak_rss();
  if (o.n_gen > 0) {
    // 256 MiB: several times any last-level cache, so the sum streams from memory as decode does.
    r.read_gbps = cpu::read_bandwidth(o.n_threads, size_t(256) << 20, 5).best / 1e9;
    for (BenchTest& t : r.tests)
      if (t.gbps > 0) t.bandwidth_share = t.gbps / r.read_gbps;
  }
  return r;
}

namespace {

std::string size_str(uint64_t bytes) {
  const double b = double(bytes);
  return b >= 1024.0 * 1024 * 1024 ? fmt::format("{:.2f} GiB", b / (1024.0 * 1024 * 1024))
                                   : fmt::format("{:.2f} MiB", b / (1024.0 * 1024));
}

std::string params_str(uint64_t n) {
  const double p = double(n);
  return p >= 1e9 ? fmt::format("{:.2f} B", p / 1e9) : fmt::format("{:.2f} M", p / 1e6);
}

// Columns as llama-bench lays them out (width, right-aligned), plus GB/s, its share of the read
// bandwidth measured in the same run, and GFLOP/s.
struct Column {
  const char* title;
  int width;
  bool right;
};
constexpr Column kColumns[] = {{"model", 30, false}, {"size", 10, true},   {"params", 10, true},
                               {"backend", 10, false}, {"threads", 7, true}, {"test", 15, true},
                               {"t/s", 20, true},      {"GB/s", 8, true},    {"BW %", 5, true},
                               {"GFLOP/s", 9, true}};

// Columns widen to their longest cell, as llama-bench's do ("sim:cambricon-mlu370-x8").
std::string table_row(const std::vector<std::string>& cells, const std::vector<int>& widths) {
  std::string s = "|";
  for (size_t i = 0; i < cells.size(); ++i) {
    const Column& c = kColumns[i];
    s += c.right ? fmt::format(" {:>{}} |", cells[i], widths[i]) : fmt::format(" {:<{}} |", cells[i], widths[i]);
  }
  return s + "\n";
}

std::string markdown(const BenchReport& r) {
  std::vector<std::vector<std::string>> rows;
  for (const BenchTest& t : r.tests)
    rows.push_back({r.model_desc, size_str(r.model_bytes), params_str(r.n_params), r.backend,
                    std::to_string(r.n_threads), t.name, fmt::format("{:.2f} ± {:.2f}", t.tps_mean, t.tps_sd),
                    t.gbps > 0 ? fmt::format("{:.2f}", t.gbps) : "",
                    t.bandwidth_share > 0 ? fmt::format("{:.0f}", 100 * t.bandwidth_share) : "",
                    t.gflops > 0 ? fmt::format("{:.1f}", t.gflops) : ""});
  std::vector<int> widths;
  for (const Column& c : kColumns) widths.push_back(c.width);
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], int(row[i].size()));
  std::vector<std::string> titles, rule;
  for (size_t i = 0; i < std::size(kColumns); ++i) {
    titles.emplace_back(kColumns[i].title);
    rule.push_back(kColumns[i].right ? std::string(size_t(widths[i] - 1), '-') + ":" : std::string(size_t(widths[i]), '-'));
  }
  std::string s = table_row(titles, widths) + table_row(rule, widths);
  for (const auto& row : rows) s += table_row(row, widths);
  s += fmt::format("\nbuild: drawbridge 0.1.0 (cpu kernels: {}), peak RSS {}, weights read per token {}\n",
                   r.kernels, size_str(r.peak_rss_bytes), size_str(r.bytes_per_token));
  if (r.read_gbps > 0)
    s += fmt::format("read bandwidth measured after the tests: {:.2f} GB/s (best of 5 passes over 256 MiB, {} threads, 4 streams each); BW % = GB/s of tg ÷ it\n",
                     r.read_gbps, r.n_threads);
  if (!r.modeled.empty()) s += "modeled: " + r.modeled + "\n";
  for (const auto& u : r.unknowns) s += "  (t/s are upper bounds: not modeled: " + u + ")\n";
  for (const BenchTest& t : r.tests)
    if (!t.op_profile.empty()) s += fmt::format("\nper-op modeled time, {} on {}:\n{}", t.name, r.backend, t.op_profile);
  return s;
}

std::string json_escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", int(c));
    else out += c;
  }
  return out;
}

std::string json(const BenchReport& r) {
  std::string s = "[\n";
  for (size_t i = 0; i < r.tests.size(); ++i) {
    const BenchTest& t = r.tests[i];
    std::string samples;
    for (size_t j = 0; j < t.seconds.size(); ++j)
      samples += fmt::format("{}{:.6f}", j ? ", " : "", (t.n_prompt + t.n_gen) / t.seconds[j]);
    s += fmt::format(
        "  {{\"model_filename\": \"{}\", \"model_type\": \"{}\", \"model_size\": {}, \"model_n_params\": {}, "
        "\"backends\": \"{}\", \"cpu_kernels\": \"{}\", \"n_threads\": {}, \"n_prompt\": {}, \"n_gen\": {}, "
        "\"avg_ts\": {:.6f}, \"stddev_ts\": {:.6f}, \"samples_ts\": [{}], \"gbps\": {:.3f}, \"read_gbps\": {:.3f}, "
        "\"bandwidth_share\": {:.4f}, \"gflops\": {:.3f}, \"bytes_per_token\": {}, \"peak_rss\": {}, \"modeled\": {}}}{}\n",
        json_escape(r.model_path), json_escape(r.model_desc), r.model_bytes, r.n_params, r.backend, r.kernels,
        r.n_threads, t.n_prompt, t.n_gen, t.tps_mean, t.tps_sd, samples, t.gbps, r.read_gbps, t.bandwidth_share, t.gflops, r.bytes_per_token,
        r.peak_rss_bytes, r.modeled.empty() ? "false" : "true", i + 1 < r.tests.size() ? "," : "");
  }
  return s + "]\n";
}

std::string csv(const BenchReport& r) {
  std::string s = "model_filename,model_type,model_size,model_n_params,backends,cpu_kernels,n_threads,n_prompt,n_gen,"
                  "avg_ts,stddev_ts,gbps,read_gbps,bandwidth_share,gflops,bytes_per_token,peak_rss\n";
  for (const BenchTest& t : r.tests)
    s += fmt::format("\"{}\",\"{}\",{},{},{},{},{},{},{},{:.6f},{:.6f},{:.3f},{:.3f},{:.4f},{:.3f},{},{}\n", r.model_path,
                     r.model_desc, r.model_bytes, r.n_params, r.backend, r.kernels, r.n_threads, t.n_prompt,
                     t.n_gen, t.tps_mean, t.tps_sd, t.gbps, r.read_gbps, t.bandwidth_share, t.gflops, r.bytes_per_token,
                     r.peak_rss_bytes);
  return s;
}

}  // namespace

std::string format_bench(const BenchReport& r, BenchFormat f) {
  switch (f) {
    case BenchFormat::Json: return json(r);
    case BenchFormat::Csv: return csv(r);
    default: return markdown(r);
  }
}

}  // namespace db
