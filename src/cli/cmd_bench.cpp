// drawbridge bench: llama-bench's pp/tg table for one model, with achieved GB/s and GFLOP/s.
#include <cstdio>
#include <map>
#include <memory>

#include "cli/commands.h"
#include "drawbridge/bench.h"
#include "drawbridge/error.h"

namespace db::cli {

namespace {

struct BenchArgs {
  std::string model;
  std::string output = "md";
  BenchOptions options;
};

void bench(const BenchArgs& a) {
  static const std::map<std::string, BenchFormat> formats{
      {"md", BenchFormat::Markdown}, {"json", BenchFormat::Json}, {"csv", BenchFormat::Csv}};
  const auto format = formats.find(a.output);
  DB_CHECK(format != formats.end(), "[bench] unknown output format '{}' (use md, json or csv)", a.output);
  DB_CHECK(!a.options.profile || a.options.device.starts_with("sim:"),
           "[bench] --profile breaks down modeled time: use it with --device sim:<id>");
  auto model = Model::load(a.model);
  const BenchReport report = run_bench(*model, a.model, a.options);
  const std::string text = format_bench(report, format->second);
  std::fwrite(text.data(), 1, text.size(), stdout);
}

}  // namespace

void register_bench(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  BenchOptions& o = args->options;
  CLI::App* cmd = app.add_subcommand("bench", "Measure prompt (pp) and generation (tg) speed, as llama-bench does");
  cmd->add_option("-m,--model", args->model, "GGUF model file")->required();
  cmd->add_option("-p,--n-prompt", o.n_prompt, "Prompt tokens processed in one batch (0: skip pp)")->capture_default_str();
  cmd->add_option("-n,--n-gen", o.n_gen, "Tokens generated one at a time (0: skip tg)")->capture_default_str();
  add_threads_option(cmd, "-t,--threads", o.n_threads, "Threads, 1..1024")->capture_default_str();
  cmd->add_option("-r,--repetitions", o.repetitions, "Timed runs per test (after one warm-up)")->capture_default_str();
  cmd->add_option("-o,--output", args->output, "Output format: md, json or csv")->capture_default_str();
  cmd->add_option("--device", o.device,
                  "Device: cpu, or sim:<id> for a chip's modeled speed (see drawbridge devices)")->capture_default_str();
  cmd->add_flag("--profile", o.profile,
                "With --device sim:<id>: per-op breakdown of the modeled time (op, shape, format, FLOPs, bytes, bound, µs, share)");
  cmd->callback([args] { bench(*args); });
}

}  // namespace db::cli
