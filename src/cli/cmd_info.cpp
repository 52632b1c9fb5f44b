// `drawbridge info`: what is inside a GGUF file, and what running it would take.
#include <fmt/format.h>

#include <algorithm>
#include <memory>

#include "cli/commands.h"
#include "drawbridge/error.h"
#include "drawbridge/gguf.h"
#include "drawbridge/builder.h"
#include "drawbridge/model.h"

namespace db::cli {
namespace {

struct InfoArgs {
  std::string path;
  std::string model;  // a model profile id or .toml path (instead of a GGUF file)
  bool list_models = false;
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

// Weight bytes when every matrix is stored as `dtype` and vectors (norms, biases) as f32.
// Weight bytes when every matrix has `bits_per_weight` and vectors (norms, biases) are f32: the
// hardware formats of the measurements (fp8, int8, int4) have no block structure to round to.
uint64_t weight_bytes_as(const ModelConfig& c, double bits_per_weight) {
  double total = 0;
  for (const TensorSpec& s : tensor_specs(c)) {
    if (s.optional) continue;
    const double n = double(s.ne[0]) * double(s.ne[1]) * double(s.ne[2]) * double(s.ne[3]);
    total += s.is_matrix ? n * bits_per_weight / 8.0 : n * 4.0;
  }
  return uint64_t(total);
}

std::string features(const ModelConfig& c) {
  std::vector<std::string> f;
  f.push_back(c.norm_type == NormType::Layer ? "LayerNorm" : "RMSNorm");
  f.push_back(c.ffn_type == FfnType::Gelu ? "GELU MLP" : "SwiGLU");
  f.push_back(c.pos_embd == PosEmbd::Learned ? "learned positions" : fmt::format("RoPE ({} dims, base {})", c.n_rot, c.rope_freq_base));
  if (c.parallel_block) f.push_back("parallel attention + MLP");
  if (c.has_qkv_bias) f.push_back("QKV bias");
  if (c.qk_norm) f.push_back("QK-norm");
  if (c.attn_output_gate) f.push_back("gated attention output");
  f.push_back(c.tied_output ? "tied classifier" : "separate classifier");
  return fmt::format("{}", fmt::join(f, ", "));
}

void print_model_profile(const InfoArgs& a) {
  const ModelProfile p = load_model_profile_full(a.model);
  const ModelConfig& c = p.config;
  auto meta = Model::meta(c, DType::BF16);
  const int64_t n_ctx = a.ctx > 0 ? a.ctx : c.n_ctx_train;
  fmt::print("{} ({}): {}\n", p.id, p.name, p.origin);
  fmt::print("  source          {}\n", p.source);
  if (!p.note.empty()) fmt::print("  note            {}\n", p.note);
  fmt::print("\nmodel:\n");
  fmt::print("  architecture    {}\n", arch_name(c.arch));
  fmt::print("  layers          {}\n", c.n_layer);
  fmt::print("  embedding       {}\n", c.n_embd);
  fmt::print("  feed-forward    {}{}\n", c.n_ff, c.moe.enabled() && c.moe.n_layer_dense_lead == 0 ? " (unused: every layer is MoE)" : "");
  if (c.mla.enabled())
    fmt::print("  attention       MLA, {} heads: q_lora {}, kv_lora {}, qk {} + {} rope, v {}\n", c.n_head,
               c.mla.q_lora_rank, c.mla.kv_lora_rank, c.mla.qk_nope_head_dim, c.mla.qk_rope_head_dim, c.mla.v_head_dim);
  else
    fmt::print("  heads           {} (kv {}, head dim {})\n", c.n_head, c.n_head_kv, c.head_dim);
  fmt::print("  blocks          {}\n", features(c));
  if (c.moe.enabled())
    fmt::print("  experts         {} routed (top-{}) of {} wide, {} shared ({} wide); {} leading dense layers, MoE every {} layer(s)\n",
               c.moe.n_expert, c.moe.n_expert_used, c.moe.n_ff_expert, c.moe.n_expert_shared, c.moe.n_ff_shared,
               c.moe.n_layer_dense_lead, c.moe.layer_step);
  if (c.swa.enabled()) fmt::print("  sliding window  {} (full attention every {} layers)\n", c.swa.window, c.swa.full_every);
  if (c.linear_attn.enabled())
    fmt::print("  linear attn     gated DeltaNet, full attention every {} layers; {} key heads x {}, {} value heads x {}, conv {}\n",
               c.linear_attn.full_attn_interval, c.linear_attn.n_head_k, c.linear_attn.head_dim_k, c.linear_attn.n_head_v,
               c.linear_attn.head_dim_v, c.linear_attn.conv_kernel);
  if (c.sparse_attn.enabled())
    fmt::print("  sparse attn     indexer {} heads x {}, top {} keys per query\n", c.sparse_attn.index_n_heads,
               c.sparse_attn.index_head_dim, c.sparse_attn.top_k);
  fmt::print("  vocab           {}\n", c.n_vocab);
  fmt::print("  context         {} (training)\n", c.n_ctx_train);
  fmt::print("\nsize:\n");
  auto public_str = [](double v) { return v > 0 ? fmt::format("{:.1f} B published", v / 1e9) : std::string("not published"); };
  fmt::print("  parameters      {} ({}; {})\n", human_count(meta->n_params()), meta->n_params(), public_str(p.public_params_total));
  fmt::print("  active / token  {} ({}; {})\n", human_count(meta->n_params_active()), meta->n_params_active(),
             public_str(p.public_params_active > 0 ? p.public_params_active : (c.moe.enabled() ? 0 : p.public_params_total)));
  for (const auto& [name, bits] : {std::pair{"f32", 32.0}, std::pair{"bf16/f16", 16.0}, std::pair{"fp8/int8", 8.0},
                                    std::pair{"q8_0", 8.5}, std::pair{"int4", 4.0}, std::pair{"q4_0", 4.5}})
    fmt::print("  weights {:<9} {}\n", name, human_bytes(weight_bytes_as(c, bits)));
  fmt::print("  KV / token      {} (f16), {} (q8_0)\n", human_bytes(c.kv_bytes_per_token(DType::F16)),
             human_bytes(c.kv_bytes_per_token(DType::Q8_0)));
  if (c.linear_attn.enabled())
    fmt::print("  state / seq     {} (f32 DeltaNet states, independent of context)\n", human_bytes(c.state_bytes_per_sequence()));
  fmt::print("  KV cache        {} at {} tokens (f16)\n", human_bytes(KvCache::bytes_needed(c, int(n_ctx), DType::F16)), n_ctx);
  if (!p.params_source.empty()) fmt::print("  published from  {}\n", p.params_source);
  if (!p.field_notes.empty()) {
    fmt::print("\nnotes:\n");
    for (const auto& [field, note] : p.field_notes) fmt::print("  {:<15} {}\n", field, note);
  }
}

void run_info(const InfoArgs& a) {
  // The largest context a session accepts; also keeps the KV-cache estimate from overflowing.
  DB_CHECK(a.ctx >= 0 && a.ctx <= (1 << 24), "[info] --ctx {} must be in 0..16777216", a.ctx);
  if (a.list_models) {
    for (const auto& id : model_profile_ids()) fmt::print("{}\n", id);
    return;
  }
  if (!a.model.empty()) {
    DB_CHECK(a.path.empty(), "[info] give a GGUF file or --model, not both");
    print_model_profile(a);
    return;
  }
  DB_CHECK(!a.path.empty(), "[info] a model file is required: drawbridge info MODEL.gguf (or --model ID)");
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
  auto* cmd = app.add_subcommand("info", "Show a GGUF file's or a model profile's architecture, tensors and memory needs");
  cmd->add_option("model", args->path, "GGUF file");
  cmd->add_option("--model", args->model, "A model profile id (data/models/<id>.toml) or .toml path: its architecture, sizes and KV bytes");
  cmd->add_flag("--list-models", args->list_models, "List the model profile ids");
  cmd->add_option("--ctx", args->ctx, "Context length for the KV-cache estimate (default: training context)");
  cmd->add_flag("--all-metadata", args->all_metadata, "Print arrays in full");
  cmd->callback([args] { run_info(*args); });
}

}  // namespace db::cli
