// `drawbridge quantize IN OUT --type T`: llama-quantize's types and mixes, importance-free.
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "drawbridge/error.h"
#include "drawbridge/quantize.h"
#include "llm/quantize_for.h"

namespace db::cli {
namespace {

struct QuantizeArgs {
  std::string input, output, type, device;
  QuantizeOptions options;
};

// One stderr line, rewritten in place with \r: tensor count, name, conversion, overall bar.
class ProgressLine {
 public:
  void update(const QuantizeProgress& p) {
    const int percent = p.bytes_total ? int(100 * p.bytes_done / p.bytes_total) : 100;
    if (p.tensor == last_tensor_ && percent == last_percent_) return;
    last_tensor_ = p.tensor;
    last_percent_ = percent;
    constexpr int kBar = 24;
    const int filled = percent * kBar / 100;
    std::string name = p.plan->name;
    if (name.size() > 28) name = name.substr(0, 25) + "...";
    const std::string conv = p.plan->from == p.plan->to
                                 ? std::string(dtype_name(p.plan->to))
                                 : std::string(dtype_name(p.plan->from)) + " -> " + std::string(dtype_name(p.plan->to));
    std::fprintf(stderr, "\r[%4zu/%4zu] %-28s %-16s [%s%s] %3d%%", p.tensor + 1, p.n_tensors, name.c_str(),
                 conv.c_str(), std::string(size_t(filled), '#').c_str(), std::string(size_t(kBar - filled), '.').c_str(),
                 percent);
    std::fflush(stderr);
  }
  void finish() {
    if (last_percent_ >= 0) std::fputc('\n', stderr);
  }

 private:
  size_t last_tensor_ = size_t(-1);
  int last_percent_ = -1;
};

// "q4_K 14, q6_K 3, f32 5": how many tensors got each type, for comparing with llama-quantize.
std::string type_counts(const std::vector<TensorPlan>& plan) {
  std::map<std::string, int> counts;
  for (const TensorPlan& p : plan) ++counts[std::string(dtype_name(p.to))];
  std::string out;
  for (const auto& [name, n] : counts) out += (out.empty() ? "" : ", ") + name + " " + std::to_string(n);
  return out;
}

void run_quantize(QuantizeArgs& args) {
  DB_CHECK(!args.type.empty() || !args.device.empty(), "[quantize] --type is required (or --for <device>)");
  DB_CHECK(args.type.empty() || args.device.empty(), "[quantize] give either --type or --for <device>, not both");
  if (!args.device.empty()) {
    const WeightFormatChoice choice = preferred_weight_format(profile_for_device(args.device));
    std::printf("--for %s: %s, because %s\n", args.device.c_str(), std::string(choice.type.name).c_str(),
                choice.why.c_str());
    std::fflush(stdout);
    args.type = std::string(choice.type.name);
  }
  const auto type = quant_type_from_name(args.type);
  DB_CHECK(type.has_value(), "[quantize] unknown type '{}' (valid: {})", args.type, quant_type_names());
  args.options.type = *type;
  ProgressLine line;
  QuantizeResult r;
  try {
    r = quantize_model(args.input, args.output, args.options, [&](const QuantizeProgress& p) { line.update(p); });
  } catch (...) {
    line.finish();
    throw;
  }
  line.finish();
  int fallbacks = 0;
  for (const TensorPlan& p : r.plan) fallbacks += p.fallback;
  const double mib = 1024.0 * 1024.0;
  std::printf("wrote %s (%s%s): %zu tensors, %.2f MiB -> %.2f MiB (%.2f bits per weight) in %.2f s\n",
              args.output.c_str(), std::string(type->name).c_str(), args.options.pure ? ", pure" : "", r.plan.size(),
              double(r.bytes_in) / mib, double(r.bytes_out) / mib,
              r.n_elements ? 8.0 * double(r.bytes_out) / double(r.n_elements) : 0.0, r.seconds);
  std::printf("types: %s\n", type_counts(r.plan).c_str());
  if (fallbacks)
    std::printf("%d tensor(s) had rows the type's block does not divide and fell back (as llama.cpp does)\n",
                fallbacks);
}

}  // namespace

void register_quantize(CLI::App& app) {
  auto args = std::make_shared<QuantizeArgs>();
  auto* cmd = app.add_subcommand("quantize", "Quantize a GGUF model (llama-quantize's types and mixes, no imatrix)");
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  cmd->add_option("input", args->input, "Input GGUF model")->required();
  cmd->add_option("output", args->output, "Output GGUF file")->required();
  cmd->add_option("--type", args->type,
                  "Target, case-insensitive: " + quant_type_names() +
                      " (as llama-quantize: Q3_K/Q4_K/Q5_K mean the _M mixes; output.weight gets Q6_K unless Q8_0)");
  cmd->add_option("--for", args->device,
                  "Instead of --type: the format this device computes best (sim:<id>, <id> or host), with the reason");
  cmd->add_flag("--pure", args->options.pure, "Give every quantizable matrix the base type (no mix rules)");
  cmd->add_flag("--allow-requantize", args->options.allow_requantize, "Accept already-quantized input tensors");
  add_threads_option(cmd, "-t,--threads", args->options.n_threads, "Threads, 1..1024 (default: all cores)");
  cmd->callback([args] { run_quantize(*args); });
}

}  // namespace db::cli
