// `drawbridge synth`: write a GGUF model of a given shape with random weights.
#include <chrono>
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "drawbridge/error.h"
#include "drawbridge/gguf.h"
#include "drawbridge/synth.h"

namespace db::cli {
namespace {

struct SynthArgs {
  std::string arch, type = "f16", vocab_from, output;
  double rope_base = 0;  // 0: the architecture's default
  SynthOptions options;
};

// Required flags are checked here rather than by CLI11 so that a missing one is reported like
// every other error: one line, "error: ...".
void require(bool given, const char* flag) { DB_CHECK(given, "[synth] {} is required", flag); }

SynthOptions resolve(const SynthArgs& a) {
  SynthOptions o = a.options;
  require(!a.arch.empty(), "--arch");
  require(!a.output.empty(), "-o/--output");
  require(o.n_layer != 0, "--n-layer");
  require(o.n_embd != 0, "--n-embd");
  require(o.n_ff != 0, "--n-ff");
  require(o.n_head != 0, "--n-head");
  require(o.n_head_kv != 0, "--n-head-kv");
  require(o.n_vocab != 0 || !a.vocab_from.empty(), "--n-vocab (or --vocab-from)");
  const auto arch = arch_from_name(a.arch);
  DB_CHECK(arch.has_value(), "[synth] unknown --arch '{}' (use llama or qwen2)", a.arch);
  o.arch = *arch;
  const auto type = dtype_from_name(a.type);
  DB_CHECK(type.has_value(), "[synth] unknown --type '{}' (use f32, f16, bf16, q8_0 or q4_0)", a.type);
  o.weight_type = *type;
  if (a.rope_base != 0) {
    DB_CHECK(a.rope_base > 0, "[synth] --rope-base must be positive (got {})", a.rope_base);
    o.rope_base = float(a.rope_base);
  }
  if (!a.vocab_from.empty()) o.vocab = read_vocab(*gguf::File::open(a.vocab_from));
  return o;
}

void run_synth(const SynthArgs& args) {
  const SynthOptions o = resolve(args);
  const auto start = std::chrono::steady_clock::now();
  synth_model(o, args.output);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("wrote %s (%s, %s weights, seed %llu) in %.2f s\n", args.output.c_str(),
              std::string(arch_name(o.arch)).c_str(), std::string(dtype_name(o.weight_type)).c_str(),
              static_cast<unsigned long long>(o.seed), seconds);
}

}  // namespace

void register_synth(CLI::App& app) {
  auto args = std::make_shared<SynthArgs>();
  auto* cmd = app.add_subcommand("synth", "Write a GGUF model with random weights and a working tokenizer");
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // later flags win
  SynthOptions& o = args->options;
  cmd->add_option("--arch", args->arch, "Architecture: llama or qwen2");
  cmd->add_option("--n-layer", o.n_layer, "Number of transformer blocks");
  cmd->add_option("--n-embd", o.n_embd, "Embedding width");
  cmd->add_option("--n-ff", o.n_ff, "Feed-forward width");
  cmd->add_option("--n-head", o.n_head, "Attention heads");
  cmd->add_option("--n-head-kv", o.n_head_kv, "Key/value heads (grouped-query attention)");
  cmd->add_option("--n-vocab", o.n_vocab, "Vocabulary size (default with --vocab-from: its size)");
  cmd->add_option("--n-ctx", o.n_ctx, "Training context length")->capture_default_str();
  cmd->add_option("--rope-base", args->rope_base, "RoPE frequency base (default 10000; qwen2 1000000)");
  cmd->add_option("--type", args->type, "Type of the 2-D weights: f32, f16, bf16, q8_0, q4_0")
      ->capture_default_str();
  cmd->add_option("--seed", o.seed, "Random seed")->capture_default_str();
  cmd->add_option("--vocab-from", args->vocab_from, "Take the tokenizer vocabulary from this GGUF");
  cmd->add_option("--name", o.name, "general.name (default synth-<arch>)");
  add_threads_option(cmd, "--threads", o.n_threads, "Generator threads, 1..1024 (default: all cores; output is the same)");
  cmd->add_option("-o,--output", args->output, "Output GGUF file");
  cmd->callback([args] { run_synth(*args); });
}

}  // namespace db::cli
