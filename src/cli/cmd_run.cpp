// drawbridge run: stream generated text to stdout, speeds to stderr (llama.cpp-compatible flags).
#include <cstdio>
#include <memory>

#include "cli/commands.h"
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
};

void run(const RunArgs& a) {
  DB_CHECK(a.n_threads >= 0 && a.n_threads <= 1024, "[run] --threads {} must be in 1..1024", a.n_threads);
  DB_CHECK(a.n_ctx >= 0, "[run] --ctx-size {} must be positive", a.n_ctx);
  DB_CHECK(a.n_batch >= 1, "[run] --batch-size {} must be positive", a.n_batch);
  a.sampler.validate();
  auto model = Model::load(a.model);
  auto tokenizer = Tokenizer::create(*model->vocab());
  SessionOptions so;
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
}

}  // namespace

void register_run(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand("run", "Generate text from a GGUF model");
  cmd->add_option("-m,--model", args->model, "GGUF model file")->required();
  cmd->add_option("-p,--prompt", args->prompt, "Prompt text")->required();
  cmd->add_option("-n,--n-predict", args->n_predict, "Tokens to generate (-1: until end of text)");
  cmd->add_option("-c,--ctx-size", args->n_ctx, "Context size (0: from the model, at most 4096)");
  cmd->add_option("-t,--threads", args->n_threads, "Threads (0: all cores)");
  cmd->add_option("-b,--batch-size", args->n_batch, "Prompt tokens per forward pass");
  cmd->add_option("--temp", args->sampler.temperature, "Temperature (0: greedy)");
  cmd->add_option("--top-k", args->sampler.top_k, "Top-k (0: off)");
  cmd->add_option("--top-p", args->sampler.top_p, "Top-p (1: off)");
  cmd->add_option("--min-p", args->sampler.min_p, "Min-p (0: off)");
  cmd->add_option("--repeat-penalty", args->sampler.repeat_penalty, "Repetition penalty (1: off)");
  cmd->add_option("--repeat-last-n", args->sampler.repeat_last_n, "Tokens the penalty looks back on");
  cmd->add_option("-s,--seed", args->sampler.seed, "Random seed");
  cmd->add_flag("--print-ids", args->print_ids, "After the text, print the prompt and generated token ids");
  cmd->callback([args] { run(*args); });
}

}  // namespace db::cli
