// Which type each tensor gets: llama-quantize's names and llama.cpp's per-tensor rules
// (llama_tensor_get_type in src/llama-quant.cpp at de3ff815) for the file types we write, on the
// llama and qwen2 architectures (dense, not Falcon, no experts), without an importance matrix.
#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "drawbridge/error.h"
#include "drawbridge/gguf.h"
#include "drawbridge/model.h"
#include "drawbridge/quantize.h"

namespace db {
namespace {

// llama_ftype values (llama.h).
enum FType : uint32_t {
  kAllF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ8_0 = 7, kQ5_0 = 8, kQ5_1 = 9, kQ2_K = 10,
  kQ3_K_S = 11, kQ3_K_M = 12, kQ3_K_L = 13, kQ4_K_S = 14, kQ4_K_M = 15, kQ5_K_S = 16, kQ5_K_M = 17,
  kQ6_K = 18, kIQ4_NL = 25, kBF16 = 32,
};

// llama-quantize's QUANT_OPTIONS that need no importance matrix and whose types we implement.
// Aliases (Q3_K, Q4_K, Q5_K) come after the names they stand for.
struct NamedType {
  std::string_view name;
  QuantType type;
};
constexpr NamedType kTypes[] = {
    {"Q4_0", {"Q4_0", kQ4_0, DType::Q4_0}},          {"Q4_1", {"Q4_1", kQ4_1, DType::Q4_1}},
    {"Q5_0", {"Q5_0", kQ5_0, DType::Q5_0}},          {"Q5_1", {"Q5_1", kQ5_1, DType::Q5_1}},
    {"Q2_K", {"Q2_K", kQ2_K, DType::Q2_K}},          {"Q3_K_S", {"Q3_K_S", kQ3_K_S, DType::Q3_K}},
    {"Q3_K_M", {"Q3_K_M", kQ3_K_M, DType::Q3_K}},    {"Q3_K_L", {"Q3_K_L", kQ3_K_L, DType::Q3_K}},
    {"IQ4_NL", {"IQ4_NL", kIQ4_NL, DType::IQ4_NL}},  {"Q4_K_S", {"Q4_K_S", kQ4_K_S, DType::Q4_K}},
    {"Q4_K_M", {"Q4_K_M", kQ4_K_M, DType::Q4_K}},    {"Q5_K_S", {"Q5_K_S", kQ5_K_S, DType::Q5_K}},
    {"Q5_K_M", {"Q5_K_M", kQ5_K_M, DType::Q5_K}},    {"Q6_K", {"Q6_K", kQ6_K, DType::Q6_K}},
    {"Q8_0", {"Q8_0", kQ8_0, DType::Q8_0}},          {"F16", {"F16", kF16, DType::F16}},
    {"BF16", {"BF16", kBF16, DType::BF16}},          {"F32", {"F32", kAllF32, DType::F32}},
    {"Q3_K", {"Q3_K_M", kQ3_K_M, DType::Q3_K}},      {"Q4_K", {"Q4_K_M", kQ4_K_M, DType::Q4_K}},
    {"Q5_K", {"Q5_K_M", kQ5_K_M, DType::Q5_K}},
};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) == std::toupper(static_cast<unsigned char>(y));
         });
}

enum class Category { Output, TokenEmbd, AttnQkv, AttnKvB, AttnV, AttnK, AttnQ, AttnOutput, FfnUp, FfnGate, FfnDown, Other };

// llama.cpp's tensor_get_category: broad roles by name, first match wins.
Category category_of(const std::string& name) {
  if (name == "output.weight") return Category::Output;
  if (name == "token_embd.weight" || name == "per_layer_token_embd.weight") return Category::TokenEmbd;
  const std::pair<const char*, Category> parts[] = {
      {"attn_qkv.weight", Category::AttnQkv}, {"attn_kv_b.weight", Category::AttnKvB},
      {"attn_v.weight", Category::AttnV},     {"attn_k.weight", Category::AttnK},
      {"attn_q.weight", Category::AttnQ},     {"attn_output.weight", Category::AttnOutput},
      {"ffn_up", Category::FfnUp},            {"ffn_gate", Category::FfnGate},
      {"ffn_down", Category::FfnDown},
  };
  for (const auto& [part, cat] : parts)
    if (name.find(part) != std::string::npos) return cat;
  return Category::Other;
}

bool is_attn_v(Category c) { return c == Category::AttnV || c == Category::AttnQkv || c == Category::AttnKvB; }

// llama.cpp's tensor_allows_quantization, the clauses that can match a llama/qwen2 file: 2-D or
// larger weights, except norms, expert gates, positional and token-type embeddings.
bool allows_quantization(const Tensor& t) {
  const std::string& name = t.name;
  if (t.n_dims() < 2) return false;
  if (name.size() < 6 || name.compare(name.size() - 6, 6, "weight") != 0) return false;
  for (const char* part : {"_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight"})
    if (name.find(part) != std::string::npos) return false;
  return name != "position_embd.weight" && name != "token_types.weight";
}

// The counters llama.cpp threads through its per-tensor rules (tensors are visited in file order).
struct MixState {
  uint32_t ftype;
  int n_layer;
  int n_gqa;
  bool is_70b;
  bool tied_embeddings;  // no output.weight: token_embd doubles as the classifier
  int n_attn_v = 0, i_attn_v = 0, i_ffn_down = 0;
};

// Layers that get more bits in the _M mixes: the first and last eighth, and every third between.
bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

DType attn_v_type(MixState& s, DType t) {
  const uint32_t ft = s.ftype;
  if (ft == kQ2_K) t = s.n_gqa >= 4 ? DType::Q4_K : DType::Q3_K;
  else if (ft == kQ3_K_M) t = s.i_attn_v < 2 ? DType::Q5_K : DType::Q4_K;
  else if (ft == kQ3_K_L) t = DType::Q5_K;
  else if (ft == kIQ4_NL && s.n_gqa >= 4) t = DType::Q5_K;
  else if ((ft == kQ4_K_M || ft == kQ5_K_M) && use_more_bits(s.i_attn_v, s.n_attn_v)) t = DType::Q6_K;
  else if (ft == kQ4_K_S && s.i_attn_v < 4) t = DType::Q5_K;
  // 70B: eight heads share each attn_v, so it is small and worth more bits.
  if (s.is_70b && (t == DType::Q3_K || t == DType::Q4_K)) t = DType::Q5_K;
  ++s.i_attn_v;
  return t;
}

DType ffn_down_type(MixState& s, DType t) {
  const uint32_t ft = s.ftype;
  const int i = s.i_ffn_down++, n = s.n_layer;
  if (ft == kQ2_K) t = DType::Q3_K;
  else if (ft == kQ3_K_M) t = i < n / 16 ? DType::Q5_K : DType::Q4_K;
  else if (ft == kQ3_K_L) t = DType::Q5_K;
  else if (ft == kQ4_K_M) t = use_more_bits(i, n) ? DType::Q6_K : t;
  else if (ft == kIQ4_NL && i < n / 8) t = DType::Q5_K;
  else if (ft == kQ5_K_M && use_more_bits(i, n)) t = DType::Q6_K;
  else if (ft == kQ4_K_S && i < n / 8) t = DType::Q5_K;
  return t;
}

// llama_tensor_get_type_impl for a quantized base type.
DType mix_type(MixState& s, DType t, Category cat, int64_t ncols) {
  if (cat == Category::Output || (s.tied_embeddings && cat == Category::TokenEmbd)) {
    if (ncols % dtype_info(t).block_size != 0) return DType::Q8_0;
    return t == DType::Q8_0 ? t : DType::Q6_K;
  }
  if (is_attn_v(cat)) return attn_v_type(s, t);
  if (cat == Category::FfnDown) return ffn_down_type(s, t);
  if (cat == Category::AttnOutput) {
    if (s.ftype == kQ2_K) return DType::Q3_K;
    if (s.ftype == kQ3_K_M) return DType::Q4_K;
    if (s.ftype == kQ3_K_L) return DType::Q5_K;
  }
  return t;
}

// llama.cpp's tensor_type_fallback: a row length the type's block does not divide gets the
// nearest type with 32-element blocks, or F16 when even that does not fit.
DType fallback_type(DType t, int64_t ncols, bool* fell_back) {
  if (ncols % dtype_info(t).block_size == 0) return t;
  *fell_back = true;
  switch (t) {
    case DType::Q2_K: case DType::Q3_K: t = DType::Q4_0; break;
    case DType::Q4_K: t = DType::Q5_0; break;
    case DType::Q5_K: t = DType::Q5_1; break;
    case DType::Q6_K: t = DType::Q8_0; break;
    default: break;  // already a 32-block type
  }
  return ncols % dtype_info(t).block_size == 0 ? t : DType::F16;
}

// llama.cpp's weight_name_comparer: by layer number (-1 for non-layer tensors), then by name.
int layer_of(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return -1;
  char* end = nullptr;
  const long v = std::strtol(name.c_str() + 4, &end, 10);
  return end == name.c_str() + 4 ? -1 : int(v);
}

MixState mix_state(const gguf::File& file, uint32_t ftype, const std::vector<const gguf::TensorInfo*>& tensors) {
  const ModelConfig c = read_config(file);  // llama or qwen2, else a clear error
  MixState s{ftype, c.n_layer, c.n_head_kv > 0 ? c.n_head / c.n_head_kv : 0, false, true};
  // LLM_TYPE_70B: 80 layers (with grouped-query attention for llama).
  s.is_70b = c.n_layer == 80 && (c.arch == Arch::Qwen2 || c.n_head != c.n_head_kv);
  for (const gguf::TensorInfo* t : tensors) {
    const Category cat = category_of(t->tensor.name);
    if (is_attn_v(cat)) ++s.n_attn_v;
    if (cat == Category::Output) s.tied_embeddings = false;
  }
  return s;
}

}  // namespace

std::optional<QuantType> quant_type_from_name(std::string_view name) {
  for (const NamedType& t : kTypes)
    if (iequals(t.name, name)) return t.type;
  // llama-quantize also takes the numeric file type.
  if (!name.empty() && name.size() < 4 && std::all_of(name.begin(), name.end(), ::isdigit)) {
    const uint32_t ft = uint32_t(std::atoi(std::string(name).c_str()));
    for (const NamedType& t : kTypes)
      if (t.type.ftype == ft) return t.type;
  }
  return std::nullopt;
}

std::string quant_type_names() {
  std::string out;
  for (const NamedType& t : kTypes) out += (out.empty() ? "" : ", ") + std::string(t.name);
  return out;
}

std::vector<TensorPlan> plan_quantization(const gguf::File& file, const QuantizeOptions& o) {
  std::vector<const gguf::TensorInfo*> order;
  for (const gguf::TensorInfo& t : file.tensors()) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const gguf::TensorInfo* a, const gguf::TensorInfo* b) {
    const int la = layer_of(a->tensor.name), lb = layer_of(b->tensor.name);
    return la != lb ? la < lb : a->tensor.name < b->tensor.name;
  });
  MixState state = mix_state(file, o.type.ftype, order);
  const bool quantized_base = dtype_info(o.type.base).quantized;

  std::vector<TensorPlan> plan;
  for (const gguf::TensorInfo* info : order) {
    const Tensor& t = info->tensor;
    TensorPlan p{t.name, t.dtype, t.dtype};
    if (allows_quantization(t)) {
      p.to = o.type.base;
      if (quantized_base) {
        if (!o.pure) p.to = mix_type(state, p.to, category_of(t.name), t.ne[0]);
        p.to = fallback_type(p.to, t.ne[0], &p.fallback);
      }
    }
    if (p.to != p.from) {
      DB_CHECK(!dtype_info(p.from).quantized || o.allow_requantize,
               "[quantize] tensor '{}' is already {}: requantizing loses quality (use --allow-requantize)", t.name,
               dtype_name(p.from));
      DB_CHECK(dtype_info(p.from).to_float != nullptr && dtype_info(p.to).from_float != nullptr,
               "[quantize] tensor '{}': cannot convert {} to {}", t.name, dtype_name(p.from), dtype_name(p.to));
    }
    plan.push_back(std::move(p));
  }
  return plan;
}

}  // namespace db
