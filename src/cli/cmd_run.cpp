// drawbridge run: stream generated text to stdout, speeds to stderr (llama.cpp-compatible flags).
#include <cstdio>
#include <memory>

#include "backends/virtual/sim_device.h"
#include "cli/commands.h"
#include "drawbridge/device.h"
#include "drawbridge/error.h"
#include "drawbridge/generate.h"
#include "drawbridge/model.h"
#include "drawbridge/session.h"
#include "drawbridge/tokenizer.h"

namespace db::cli {

namespace {

struct RunArgs {
  std::string model;
  std::string prompt;
  int n_predict = 128;
  int n_ctx = 0;
  int n_threads = 0;
  int n_batch = 512;
  SamplerOptions sampler;
  bool print_ids = false;
  std::string device = "cpu";
  bool explain = false;
  bool no_fallback = false;
};

// Where each op of one decode step would go, and why, with the host as the fallback candidate.
// Execution itself never falls back: the session refuses an op its device lacks.
void print_placement(const Model& model, const RunArgs& a) {
  register_builtin_devices();
  std::vector<std::unique_ptr<Device>> owned;
  owned.push_back(Registry::global().create(a.device, DeviceOptions{1}));
  if (a.device != "cpu") owned.push_back(Registry::global().create("cpu", DeviceOptions{1}));
  std::vector<const Device*> devices;
  for (const auto& d : owned) devices.push_back(d.get());
  const int n_ctx = a.n_ctx > 0 ? a.n_ctx : std::min(model.config().n_ctx_train, 4096);
  KvCache cache(model.config(), n_ctx, SessionOptions().kv_dtype, /*allocate=*/false);
  ForwardGraph fg = build_forward(model, cache, 1, 0, true);
  const Placement p = schedule(fg.graph, devices, /*allow_fallback=*/!a.no_fallback);
  std::fputs(explain(fg.graph, p, devices).c_str(), stderr);
  if (a.device.starts_with("sim:"))
    if (const perf::DeviceProfile* profile = perf::find_profile(a.device.substr(4)))
      std::fputs(load_notes(*profile, fg.graph).c_str(), stderr);
}

void print_modeled_speed(Session& session, const GenerateStats& st, const std::string& id) {
  const SimClock* clock = sim_clock(session.device());
  if (!clock) return;
  const ModeledSpeed m = modeled_speed(*clock, st.n_prompt);
  std::fprintf(stderr, "modeled on %s: prompt %.2f t/s, generation %.2f t/s\n", id.c_str(), m.prompt_tps(),
               m.generation_tps());
  for (const auto& u : clock->unknowns()) std::fprintf(stderr, "  (an upper bound: not modeled: %s)\n", u.c_str());
}

void run(const RunArgs& a) {
  DB_CHECK(a.n_threads >= 0 && a.n_threads <= 1024, "[run] --threads {} must be in 1..1024", a.n_threads);
  DB_CHECK(a.n_ctx >= 0, "[run] --ctx-size {} must be positive", a.n_ctx);
  DB_CHECK(a.n_batch >= 1, "[run] --batch-size {} must be positive", a.n_batch);
  a.sampler.validate();
  auto model = Model::load(a.model);
  auto tokenizer = Tokenizer::create(*model->vocab());
  if (a.explain) print_placement(*model, a);
  SessionOptions so;
  so.device = a.device;
  so.n_ctx = a.n_ctx;
  so.n_threads = a.n_threads;
  so.n_batch = a.n_batch;
  Session session(*model, so);

  GenerateOptions go;
  go.prompt = a.prompt;
  go.n_predict = a.n_predict;
  go.sampler = a.sampler;
  const GenerateStats st = generate(session, *tokenizer, go, [](std::string_view piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
  });
  std::fputs("\n\n", stdout);  // as llama.cpp's completion tool ends its output
  if (a.print_ids) {  // prompt ids, then generated ids: one line each, for comparisons with peers
    for (int i = 0; i < int(st.tokens.size()); ++i)
      std::printf("%s%d", i == 0 ? "" : i == st.n_prompt ? "\n" : " ", st.tokens[size_t(i)]);
    std::printf("\n");
  }
  std::fflush(stdout);
  if (st.context_full) std::fprintf(stderr, "note: stopped because the context (%d tokens) is full\n", session.n_ctx());
  std::fprintf(stderr, "prompt:     %5d tokens in %8.3f s = %9.2f tokens/s\n", st.n_prompt, st.prompt_seconds,
               st.prompt_seconds > 0 ? st.n_prompt / st.prompt_seconds : 0.0);
  std::fprintf(stderr, "generation: %5d tokens in %8.3f s = %9.2f tokens/s (%d threads)\n", st.n_generated,
               st.generate_seconds, st.generate_seconds > 0 ? st.n_generated / st.generate_seconds : 0.0,
               session.n_threads());
  print_modeled_speed(session, st, a.device);
}

}  // namespace

void register_run(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand("run", "Generate text from a GGUF model");
  cmd->add_option("-m,--model", args->model, "GGUF model file")->required();
  cmd->add_option("-p,--prompt", args->prompt, "Prompt text")->required();
  cmd->add_option("-n,--n-predict", args->n_predict, "Tokens to generate (-1: until end of text)");
  cmd->add_option("-c,--ctx-size", args->n_ctx, "Context size (0: from the model, at most 4096)");
  add_threads_option(cmd, "-t,--threads", args->n_threads, "Threads, 1..1024 (default: all cores)");
  cmd->add_option("-b,--batch-size", args->n_batch, "Prompt tokens per forward pass");
  cmd->add_option("--temp", args->sampler.temperature, "Temperature (0: greedy)");
  cmd->add_option("--top-k", args->sampler.top_k, "Top-k (0: off)");
  cmd->add_option("--top-p", args->sampler.top_p, "Top-p (1: off)");
  cmd->add_option("--min-p", args->sampler.min_p, "Min-p (0: off)");
  cmd->add_option("--repeat-penalty", args->sampler.repeat_penalty, "Repetition penalty (1: off)");
  cmd->add_option("--repeat-last-n", args->sampler.repeat_last_n, "Tokens the penalty looks back on");
  cmd->add_option("-s,--seed", args->sampler.seed, "Random seed");
  cmd->add_option("--device", args->device, "Device: cpu or sim:<id> (see drawbridge devices)");
  cmd->add_flag("--explain", args->explain, "Print where each op runs and why (stderr)");
  cmd->add_flag("--no-fallback", args->no_fallback,
                "Make an op the device lacks an error naming the op and the device, also in --explain");
  cmd->add_flag("--print-ids", args->print_ids, "After the text, print the prompt and generated token ids");
  cmd->callback([args] { run(*args); });
}

}  // namespace db::cli
