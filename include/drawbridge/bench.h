// Throughput benchmark in llama-bench's terms, so the two tables can be read side by side:
// pp<N> = one forward pass over N prompt tokens, tg<N> = N single-token decode steps from an empty
// context; t/s is the mean over repetitions (after one warm-up run) ± the sample standard deviation.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "drawbridge/model.h"

namespace db {

struct BenchOptions {
  int n_prompt = 512;  // pp test size; 0 skips it
  int n_gen = 128;     // tg test size; 0 skips it
  int n_threads = 2;
  int repetitions = 5;
  std::string device = "cpu";  // "sim:<id>": t/s are the chip's modeled speed (see BenchReport::modeled)
  bool profile = false;         // sim devices: per-op breakdown of the modeled time per test
};

struct BenchTest {
  std::string name;              // "pp512", "tg128"
  int n_prompt = 0;
  int n_gen = 0;
  std::vector<double> seconds;   // one per repetition
  double tps_mean = 0;
  double tps_sd = 0;
  double gbps = 0;    // tg: weight bytes read per token × t/s
  double bandwidth_share = 0;  // tg: gbps ÷ BenchReport::read_gbps (0: not measured)
  double gflops = 0;  // pp: 2 × params × tokens / s
  std::string op_profile;  // sim devices with BenchOptions::profile: the per-op table of this test
};

struct BenchReport {
  std::string model_path;
  std::string model_desc;        // "llama 1B Q4_0", as llama-bench names it
  uint64_t model_bytes = 0;      // bytes of all weights
  uint64_t n_params = 0;
  uint64_t bytes_per_token = 0;  // weight bytes one decode step reads (all but the embedding table)
  std::string backend = "CPU";
  std::string kernels;           // CPU kernel family in use: avx512, avx2, ref
  int n_threads = 0;
  uint64_t peak_rss_bytes = 0;   // of this process, after the runs
  // Streaming read bandwidth of this machine measured right after the tests, same threads (real
  // devices with a tg test; the best of 5 passes, 4 streams per thread): tg's yardstick. Its
  // buffer is not counted in peak_rss_bytes.
  double read_gbps = 0;
  std::vector<BenchTest> tests;
  // Virtual devices: t/s come from the cost model's clock for the chip, not from the host's wall
  // clock; the numerics still ran once through the CPU kernels. Empty for real devices.
  std::string modeled;
  std::vector<std::string> unknowns;  // what the cost model could not charge (t/s are then upper bounds)
};

enum class BenchFormat { Markdown, Json, Csv };

// Runs the pp and tg tests on `model` (loaded from `path`, named in the report).
BenchReport run_bench(const Model& model, const std::string& path, const BenchOptions& options);
// Weight bytes read per decoded token: every weight except the token-embedding table (of which one
// row is read), which still counts when it doubles as the output matrix.
uint64_t weight_bytes_per_token(const Model& model);
// "llama 1B Q4_0": architecture, size class, dominant weight type.
std::string model_description(const Model& model);
// The report as llama-bench prints it (markdown table + build line), or as JSON / CSV rows.
std::string format_bench(const BenchReport& report, BenchFormat format);

}  // namespace db
