// `drawbridge info`: what is inside a GGUF file, and what running it would take.
#include <fmt/format.h>

#include <algorithm>
#include <memory>

#include "cli/commands.h"
#include "drawbridge/error.h"
#include "drawbridge/gguf.h"
#include "drawbridge/model.h"

namespace db::cli {
namespace {

struct InfoArgs {
  std::string path;
  int64_t ctx = 0;  // 0: the model's training context
  bool all_metadata = false;
};

constexpr size_t kShownArrayItems = 3;

std::string human_bytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(n);
  int u = 0;
  for (; v >= 1024 && u < 4; ++u) v /= 1024;
  return u == 0 ? fmt::format("{} B", n) : fmt::format("{:.2f} {}", v, units[u]);
}

std::string human_count(uint64_t n) {
  if (n >= 1000000000ull) return fmt::format("{:.2f} B", double(n) / 1e9);
  if (n >= 1000000ull) return fmt::format("{:.2f} M", double(n) / 1e6);
  if (n >= 1000ull) return fmt::format("{:.2f} K", double(n) / 1e3);
  return fmt::format("{}", n);
}

// One array element, formatted as the scalar Value of the array's element type would be.
template <typename T>
std::string element_string(const gguf::Value& array, const T& x) {
  gguf::Value scalar;
  scalar.type = array.elem_type;
  scalar.v = x;
  return scalar.to_string();
}

// Arrays show their length and element type, then the first few elements unless `all`:
// [32000 strings: "<unk>", "<s>", "</s>", ...]
std::string value_string(const gguf::Value& value, bool all) {
  if (value.type != gguf::ValueType::ARRAY) return value.to_string();
  return std::visit(
      [&](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (!std::is_same_v<T, std::vector<std::string>> && !std::is_same_v<T, std::vector<int64_t>> &&
                      !std::is_same_v<T, std::vector<double>> && !std::is_same_v<T, std::vector<bool>>) {
          return value.to_string();
        } else {
          const std::string_view type_name = value_type_name(value.elem_type);
          std::string out = fmt::format("[{} {}{}", x.size(), type_name, type_name == "string" ? "s" : "");
          const size_t shown = all ? x.size() : std::min(x.size(), kShownArrayItems);
          for (size_t i = 0; i < shown; ++i) {
            out += i == 0 ? ": " : ", ";
            if constexpr (std::is_same_v<T, std::vector<bool>>) out += element_string(value, bool(x[i]));
            else out += element_string(value, x[i]);
          }
          if (shown < x.size()) out += shown == 0 ? ": ..." : ", ...";
          return out + "]";
        }
      },
      value.v);
}

void print_metadata(const gguf::File& f, bool all) {
  fmt::print("\nmetadata ({} keys):\n", f.metadata().size());
  for (const gguf::KeyValue& kv : f.metadata()) fmt::print("  {} = {}\n", kv.key, value_string(kv.value, all));
}

void print_tensors(const gguf::File& f) {
  size_t w_name = 4, w_shape = 5, w_type = 4, w_bytes = 5;
  for (const gguf::TensorInfo& ti : f.tensors()) {
    w_name = std::max(w_name, ti.tensor.name.size());
    w_shape = std::max(w_shape, ti.tensor.shape_str().size());
    w_type = std::max(w_type, dtype_name(ti.tensor.dtype).size());
    w_bytes = std::max(w_bytes, fmt::format("{}", ti.tensor.nbytes()).size());
  }
  fmt::print("\ntensors ({}):\n", f.tensors().size());
  fmt::print("  {:<{}}  {:<{}}  {:<{}}  {:>{}}\n", "name", w_name, "shape", w_shape, "type", w_type, "bytes",
             w_bytes);
  for (const gguf::TensorInfo& ti : f.tensors()) {
    const Tensor& t = ti.tensor;
    fmt::print("  {:<{}}  {:<{}}  {:<{}}  {:>{}}\n", t.name, w_name, t.shape_str(), w_shape, dtype_name(t.dtype),
               w_type, t.nbytes(), w_bytes);
  }
}

void print_summary(const gguf::File& f, int64_t ctx) {
  ModelConfig c;
  try {
    c = read_config(f);
  } catch (const Error& e) {
    fmt::print("\nno model summary: {}\n", e.what());
    return;
  }
  uint64_t params = 0, weight_bytes = 0;
  for (const gguf::TensorInfo& ti : f.tensors()) {
    params += uint64_t(ti.tensor.nelements());
    weight_bytes += ti.tensor.nbytes();
  }
  const int64_t n_ctx = ctx > 0 ? ctx : c.n_ctx_train;
  const uint64_t kv_bytes = 2ull * uint64_t(c.n_layer) * uint64_t(n_ctx) * uint64_t(c.n_embd_kv()) * 2ull;
  fmt::print("\nmodel:\n");
  fmt::print("  architecture    {}\n", arch_name(c.arch));
  fmt::print("  layers          {}\n", c.n_layer);
  fmt::print("  embedding       {}\n", c.n_embd);
  fmt::print("  feed-forward    {}\n", c.n_ff);
  fmt::print("  heads           {} (kv {}, head dim {})\n", c.n_head, c.n_head_kv, c.head_dim);
  fmt::print("  vocab           {}\n", c.n_vocab);
  fmt::print("  context         {} (training)\n", c.n_ctx_train);
  fmt::print("  rope            base {}, {} dims{}\n", c.rope_freq_base, c.n_rot,
             c.rope_freq_scale != 1.0f ? fmt::format(", linear scale {}", 1.0f / c.rope_freq_scale) : "");
  fmt::print("  norm eps        {}\n", c.norm_eps);
  fmt::print("  parameters      {} ({})\n", human_count(params), params);
  fmt::print("  weights         {} ({} bytes)\n", human_bytes(weight_bytes), weight_bytes);
  fmt::print("  KV cache        {} at {} tokens (f16)\n", human_bytes(kv_bytes), n_ctx);
  fmt::print("  total memory    {}\n", human_bytes(weight_bytes + kv_bytes));
}

void run_info(const InfoArgs& a) {
  DB_CHECK(!a.path.empty(), "[info] a model file is required: drawbridge info MODEL.gguf");
  // The largest context a session accepts; also keeps the KV-cache estimate from overflowing.
  DB_CHECK(a.ctx >= 0 && a.ctx <= (1 << 24), "[info] --ctx {} must be in 0..16777216", a.ctx);
  const auto file = gguf::File::open(a.path);
  fmt::print("{}: GGUF v{}, {}, {} tensors, {} metadata keys, alignment {}\n", a.path, file->version(),
             human_bytes(file->file_size()), file->tensors().size(), file->metadata().size(),
             file->alignment());
  print_metadata(*file, a.all_metadata);
  print_tensors(*file);
  print_summary(*file, a.ctx);
}

}  // namespace

void register_info(CLI::App& app) {
  auto args = std::make_shared<InfoArgs>();
  auto* cmd = app.add_subcommand("info", "Show a GGUF file's metadata, tensors and memory needs");
  cmd->add_option("model", args->path, "GGUF file");
  cmd->add_option("--ctx", args->ctx, "Context length for the KV-cache estimate (default: training context)");
  cmd->add_flag("--all-metadata", args->all_metadata, "Print arrays in full");
  cmd->callback([args] { run_info(*args); });
}

}  // namespace db::cli
