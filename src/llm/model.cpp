// Architecture hyperparameters, the tensor list per architecture, and GGUF model loading.
#include "drawbridge/model.h"

#include <fmt/format.h>

#include <cmath>
#include <unordered_map>

#include "drawbridge/error.h"
#include "drawbridge/gguf.h"

namespace db {

namespace {
constexpr std::pair<Arch, std::string_view> kArchNames[] = {
    {Arch::Llama, "llama"},         {Arch::Qwen2, "qwen2"}, {Arch::Qwen3, "qwen3"},
    {Arch::Qwen3Next, "qwen3next"}, {Arch::DeepSeek2, "deepseek2"}, {Arch::Gpt, "gpt"},
    {Arch::GptJ, "gptj"},
};
}  // namespace

std::string_view arch_name(Arch a) {
  for (const auto& [arch, name] : kArchNames)
    if (arch == a) return name;
  return "unknown";
}

std::optional<Arch> arch_from_name(std::string_view name) {
  for (const auto& [arch, n] : kArchNames)
    if (n == name) return arch;
  return std::nullopt;
}

bool arch_loads_from_gguf(Arch a) { return a == Arch::Llama || a == Arch::Qwen2; }

bool ModelConfig::layer_is_moe(int il) const {
  if (!moe.enabled() || il < moe.n_layer_dense_lead) return false;
  return (il - moe.n_layer_dense_lead) % moe.layer_step == 0;
}

bool ModelConfig::layer_has_attention(int il) const {
  return !linear_attn.enabled() || (il + 1) % linear_attn.full_attn_interval == 0;
}

int ModelConfig::layer_window(int il) const {
  if (!swa.enabled()) return 0;
  return swa.full_every > 0 && (il + 1) % swa.full_every == 0 ? 0 : swa.window;
}

uint64_t ModelConfig::kv_bytes_per_token(DType kv_dtype) const {
  uint64_t total = 0;
  for (int il = 0; il < n_layer; ++il) {
    if (!layer_has_attention(il)) continue;
    if (mla.enabled())
      total += row_bytes(kv_dtype, int64_t(mla.kv_lora_rank) + mla.qk_rope_head_dim);
    else
      total += 2 * row_bytes(kv_dtype, int64_t(head_dim) * n_head_kv);
    if (sparse_attn.enabled()) total += row_bytes(kv_dtype, sparse_attn.index_head_dim);  // indexer keys
  }
  return total;
}

uint64_t ModelConfig::state_bytes_per_sequence() const {
  uint64_t total = 0;
  for (int il = 0; il < n_layer; ++il)
    if (!layer_has_attention(il)) total += uint64_t(linear_attn.state_elements()) * sizeof(float);
  return total;
}

void ModelConfig::validate() const {
  auto positive = [](const char* what, int64_t v) {
    DB_CHECK(v > 0 && v < (int64_t(1) << 24), "[model] {} is {} (must be in 1..16777215)", what, v);
  };
  positive("block_count", n_layer);
  positive("embedding_length", n_embd);
  positive("feed_forward_length", n_ff);
  positive("attention.head_count", n_head);
  positive("attention.head_count_kv", n_head_kv);
  positive("head_dim", head_dim);
  positive("vocab size", n_vocab);
  DB_CHECK(n_head % n_head_kv == 0, "[model] head_count {} is not a multiple of head_count_kv {}",
           n_head, n_head_kv);
  if (pos_embd == PosEmbd::Rope)
    DB_CHECK(n_rot > 0 && n_rot <= head_dim && n_rot % 2 == 0,
             "[model] rope.dimension_count {} must be even and in 2..{}", n_rot, head_dim);
  DB_CHECK(std::isfinite(rope_freq_base) && rope_freq_base > 0, "[model] rope.freq_base {} is invalid",
           rope_freq_base);
  DB_CHECK(std::isfinite(rope_freq_scale) && rope_freq_scale > 0,
           "[model] rope scaling factor {} is invalid", 1.0f / rope_freq_scale);
  DB_CHECK(std::isfinite(norm_eps) && norm_eps >= 0, "[model] layer_norm_rms_epsilon {} is invalid",
           norm_eps);
  validate_features();
}

// The architecture features beyond Llama's: each must be complete and consistent when enabled.
void ModelConfig::validate_features() const {
  auto in_range = [](const char* what, int64_t v, int64_t lo, int64_t hi) {
    DB_CHECK(v >= lo && v <= hi, "[model] {} is {} (must be in {}..{})", what, v, lo, hi);
  };
  if (pos_embd == PosEmbd::Learned) in_range("n_ctx_train (learned positions)", n_ctx_train, 1, 1 << 24);
  if (moe.enabled()) {
    in_range("moe.n_expert_used", moe.n_expert_used, 1, moe.n_expert);
    in_range("moe.n_ff_expert", moe.n_ff_expert, 1, 1 << 24);
    in_range("moe.n_expert_shared", moe.n_expert_shared, 0, moe.n_expert);
    in_range("moe.n_ff_shared", moe.n_ff_shared, moe.n_expert_shared > 0 ? 1 : 0, 1 << 24);
    in_range("moe.n_layer_dense_lead", moe.n_layer_dense_lead, 0, n_layer - 1);
    in_range("moe.layer_step", moe.layer_step, 1, n_layer);
    DB_CHECK(ffn_type == FfnType::SwiGlu, "[model] mixture of experts needs SwiGLU experts");
  } else {
    DB_CHECK(moe.n_expert == 0 && moe.n_expert_used == 0 && moe.n_expert_shared == 0,
             "[model] moe.n_expert is {}: expert counts need n_expert > 0", moe.n_expert);
  }
  if (mla.enabled()) {
    in_range("mla.q_lora_rank", mla.q_lora_rank, 0, 1 << 20);
    in_range("mla.kv_lora_rank", mla.kv_lora_rank, 1, 1 << 20);
    in_range("mla.qk_nope_head_dim", mla.qk_nope_head_dim, 1, 1 << 16);
    in_range("mla.qk_rope_head_dim", mla.qk_rope_head_dim, 2, 1 << 16);
    in_range("mla.v_head_dim", mla.v_head_dim, 1, 1 << 16);
    DB_CHECK(mla.qk_rope_head_dim % 2 == 0, "[model] mla.qk_rope_head_dim {} must be even", mla.qk_rope_head_dim);
    DB_CHECK(arch == Arch::DeepSeek2, "[model] MLA needs arch deepseek2 (is {})", arch_name(arch));
  } else {
    DB_CHECK(arch != Arch::DeepSeek2, "[model] arch deepseek2 needs mla.kv_lora_rank > 0");
  }
  if (swa.enabled()) in_range("sliding_window.full_every", swa.full_every, 0, n_layer);
  if (linear_attn.enabled()) {
    in_range("linear_attn.full_attn_interval", linear_attn.full_attn_interval, 1, n_layer);
    in_range("linear_attn.n_head_k", linear_attn.n_head_k, 1, 1 << 16);
    in_range("linear_attn.n_head_v", linear_attn.n_head_v, 1, 1 << 16);
    in_range("linear_attn.head_dim_k", linear_attn.head_dim_k, 1, 1 << 16);
    in_range("linear_attn.head_dim_v", linear_attn.head_dim_v, 1, 1 << 16);
    in_range("linear_attn.conv_kernel", linear_attn.conv_kernel, 1, 64);
    DB_CHECK(linear_attn.n_head_v % linear_attn.n_head_k == 0,
             "[model] linear_attn.n_head_v {} is not a multiple of n_head_k {}", linear_attn.n_head_v,
             linear_attn.n_head_k);
    DB_CHECK(arch == Arch::Qwen3Next, "[model] linear attention needs arch qwen3next (is {})", arch_name(arch));
  }
  if (sparse_attn.enabled()) {
    in_range("sparse_attn.index_n_heads", sparse_attn.index_n_heads, 1, 1 << 16);
    in_range("sparse_attn.index_head_dim", sparse_attn.index_head_dim, 2, 1 << 16);
    DB_CHECK(mla.enabled() && mla.q_lora_rank > 0, "[model] sparse attention (DeepSeek V3.2) needs MLA with q_lora_rank");
  }
  if (parallel_block)
    DB_CHECK(!moe.enabled() && !mla.enabled(), "[model] parallel_block is modelled for dense GPT-J blocks only");
}

ModelConfig read_config(const gguf::File& f) {
  const auto arch_str = f.get_string("general.architecture");
  DB_CHECK(arch_str.has_value(), "[model] {}: general.architecture is missing", f.path());
  const auto arch = arch_from_name(*arch_str);
  DB_CHECK(arch.has_value() && arch_loads_from_gguf(*arch),
           "[model] {}: unknown architecture '{}' (supported: llama, qwen2)", f.path(), *arch_str);
  const std::string p = *arch_str + ".";
  auto req_int = [&](const std::string& key) {
    auto v = f.get_int(p + key);
    DB_CHECK(v.has_value(), "[model] {}: {}{} is missing", f.path(), p, key);
    DB_CHECK(*v > 0 && *v < (int64_t(1) << 31), "[model] {}: {}{} = {} is out of range", f.path(), p,
             key, *v);
    return int(*v);
  };
  ModelConfig c;
  c.arch = *arch;
  c.n_layer = req_int("block_count");
  c.n_embd = req_int("embedding_length");
  c.n_ff = req_int("feed_forward_length");
  c.n_head = req_int("attention.head_count");
  c.n_head_kv = f.get_int(p + "attention.head_count_kv") ? req_int("attention.head_count_kv") : c.n_head;
  c.n_ctx_train = f.get_int(p + "context_length") ? req_int("context_length") : 2048;
  c.head_dim = f.get_int(p + "attention.key_length") ? req_int("attention.key_length")
                                                      : (c.n_embd % c.n_head == 0 ? c.n_embd / c.n_head : 0);
  c.n_rot = f.get_int(p + "rope.dimension_count") ? req_int("rope.dimension_count") : c.head_dim;
  c.rope_freq_base = float(f.get_float(p + "rope.freq_base").value_or(10000.0));
  if (f.get_string(p + "rope.scaling.type").value_or("none") == "linear")
    c.rope_freq_scale = float(1.0 / f.get_float(p + "rope.scaling.factor").value_or(1.0));
  c.norm_eps = float(f.get_float(p + "attention.layer_norm_rms_epsilon").value_or(1e-5));
  c.has_qkv_bias = c.arch == Arch::Qwen2;
  c.rope_type = c.arch == Arch::Qwen2 ? RopeType::Neox : RopeType::Normal;
  if (auto v = f.get_int(p + "vocab_size")) c.n_vocab = int(*v);
  if (const auto* tok = f.find_tensor("token_embd.weight"))
    c.n_vocab = int(std::min<int64_t>(tok->tensor.ne[1], int64_t(1) << 30));
  DB_CHECK(c.n_vocab > 0, "[model] {}: token_embd.weight is missing", f.path());
  c.validate();
  // Every block has its own tensors, so the file bounds block_count; checked here because the
  // tensor list (and everything per layer) is sized from it (a 65 KiB file claiming 16 million
  // blocks made the loader allocate gigabytes).
  const uint64_t per_block = c.has_qkv_bias ? 12 : 9;
  DB_CHECK(uint64_t(c.n_layer) * per_block <= f.tensors().size(),
           "[model] {}: {}block_count = {} needs at least {} tensors, the file has {}", f.path(), p, c.n_layer,
           uint64_t(c.n_layer) * per_block, f.tensors().size());
  return c;
}

void write_config(gguf::Writer& w, const ModelConfig& c, const std::string& name) {
  const std::string a(arch_name(c.arch));
  w.set("general.architecture", gguf::Value::str(a));
  w.set("general.name", gguf::Value::str(name));
  w.set(a + ".context_length", gguf::Value::u32(uint32_t(c.n_ctx_train)));
  w.set(a + ".embedding_length", gguf::Value::u32(uint32_t(c.n_embd)));
  w.set(a + ".block_count", gguf::Value::u32(uint32_t(c.n_layer)));
  w.set(a + ".feed_forward_length", gguf::Value::u32(uint32_t(c.n_ff)));
  w.set(a + ".attention.head_count", gguf::Value::u32(uint32_t(c.n_head)));
  w.set(a + ".attention.head_count_kv", gguf::Value::u32(uint32_t(c.n_head_kv)));
  w.set(a + ".rope.dimension_count", gguf::Value::u32(uint32_t(c.n_rot)));
  w.set(a + ".rope.freq_base", gguf::Value::f32(c.rope_freq_base));
  w.set(a + ".attention.layer_norm_rms_epsilon", gguf::Value::f32(c.norm_eps));
  if (c.head_dim * c.n_head != c.n_embd) {
    w.set(a + ".attention.key_length", gguf::Value::u32(uint32_t(c.head_dim)));
    w.set(a + ".attention.value_length", gguf::Value::u32(uint32_t(c.head_dim)));
  }
}

namespace {

// Appends the tensors of one architecture piece; `b` is the "blk.<i>." prefix.
struct SpecList {
  std::vector<TensorSpec>& s;
  void add(std::string name, std::array<int64_t, kMaxDims> ne, bool matrix, bool optional = false) {
    s.push_back({std::move(name), ne, matrix, optional});
  }
  void vec(std::string name, int64_t n) { add(std::move(name), {n, 1, 1, 1}, false); }
  void mat(std::string name, int64_t in, int64_t out, int64_t n = 1) { add(std::move(name), {in, out, n, 1}, true); }
};

void norm_specs(SpecList& l, const ModelConfig& c, const std::string& name) {
  l.vec(name + ".weight", c.n_embd);
  if (c.norm_type == NormType::Layer) l.vec(name + ".bias", c.n_embd);
}

void attention_specs(SpecList& l, const ModelConfig& c, const std::string& b) {
  const int64_t E = c.n_embd, H = c.n_head, D = c.head_dim, Q = D * H, KV = c.n_embd_kv();
  if (c.mla.enabled()) {
    const MlaConfig& m = c.mla;
    if (m.q_lora_rank > 0) {
      l.mat(b + "attn_q_a.weight", E, m.q_lora_rank);
      l.vec(b + "attn_q_a_norm.weight", m.q_lora_rank);
      l.mat(b + "attn_q_b.weight", m.q_lora_rank, Q);
    } else {
      l.mat(b + "attn_q.weight", E, Q);
    }
    l.mat(b + "attn_kv_a_mqa.weight", E, int64_t(m.kv_lora_rank) + m.qk_rope_head_dim);
    l.vec(b + "attn_kv_a_norm.weight", m.kv_lora_rank);
    l.mat(b + "attn_k_b.weight", m.qk_nope_head_dim, m.kv_lora_rank, H);
    l.mat(b + "attn_v_b.weight", m.kv_lora_rank, m.v_head_dim, H);
    l.mat(b + "attn_output.weight", H * m.v_head_dim, E);
    if (c.sparse_attn.enabled()) {
      const SparseAttnConfig& x = c.sparse_attn;
      l.mat(b + "indexer.attn_q_b.weight", m.q_lora_rank, int64_t(x.index_n_heads) * x.index_head_dim);
      l.mat(b + "indexer.attn_k.weight", E, x.index_head_dim);
      l.vec(b + "indexer.k_norm.weight", x.index_head_dim);
      l.vec(b + "indexer.k_norm.bias", x.index_head_dim);
      l.mat(b + "indexer.proj.weight", E, x.index_n_heads);
    }
    return;
  }
  l.mat(b + "attn_q.weight", E, c.attn_output_gate ? 2 * Q : Q);
  l.mat(b + "attn_k.weight", E, KV);
  l.mat(b + "attn_v.weight", E, KV);
  l.mat(b + "attn_output.weight", Q, E);
  if (c.has_qkv_bias) {
    l.vec(b + "attn_q.bias", Q);
    l.vec(b + "attn_k.bias", KV);
    l.vec(b + "attn_v.bias", KV);
  }
  if (c.has_attn_out_bias) l.vec(b + "attn_output.bias", E);
  if (c.qk_norm) {
    l.vec(b + "attn_q_norm.weight", D);
    l.vec(b + "attn_k_norm.weight", D);
  }
}

void delta_net_specs(SpecList& l, const ModelConfig& c, const std::string& b) {
  const LinearAttnConfig& a = c.linear_attn;
  l.mat(b + "ssm_in.weight", c.n_embd, 2 * a.key_dim() + 2 * a.value_dim());
  l.mat(b + "ssm_ba.weight", c.n_embd, 2 * int64_t(a.n_head_v));
  l.add(b + "ssm_conv1d.weight", {a.conv_kernel, a.conv_dim(), 1, 1}, false);
  l.vec(b + "ssm_dt.bias", a.n_head_v);
  l.vec(b + "ssm_a", a.n_head_v);
  l.vec(b + "ssm_norm.weight", a.head_dim_v);
  l.mat(b + "ssm_out.weight", a.value_dim(), c.n_embd);
}

void ffn_specs(SpecList& l, const ModelConfig& c, const std::string& b, bool moe) {
  const int64_t E = c.n_embd;
  if (moe) {
    const MoeConfig& m = c.moe;
    l.mat(b + "ffn_gate_inp.weight", E, m.n_expert);
    l.mat(b + "ffn_gate_exps.weight", E, m.n_ff_expert, m.n_expert);
    l.mat(b + "ffn_up_exps.weight", E, m.n_ff_expert, m.n_expert);
    l.mat(b + "ffn_down_exps.weight", m.n_ff_expert, E, m.n_expert);
    if (m.n_ff_shared > 0) {
      l.mat(b + "ffn_gate_shexp.weight", E, m.n_ff_shared);
      l.mat(b + "ffn_up_shexp.weight", E, m.n_ff_shared);
      l.mat(b + "ffn_down_shexp.weight", m.n_ff_shared, E);
    }
    return;
  }
  const int64_t F = c.n_ff;
  if (c.ffn_type == FfnType::SwiGlu) l.mat(b + "ffn_gate.weight", E, F);
  l.mat(b + "ffn_up.weight", E, F);
  l.mat(b + "ffn_down.weight", F, E);
  if (c.has_ffn_bias) {
    l.vec(b + "ffn_up.bias", F);
    l.vec(b + "ffn_down.bias", E);
  }
}

}  // namespace

std::vector<TensorSpec> tensor_specs(const ModelConfig& c) {
  const int64_t E = c.n_embd, V = c.n_vocab;
  std::vector<TensorSpec> s;
  SpecList l{s};
  l.mat("token_embd.weight", E, V);
  if (c.pos_embd == PosEmbd::Learned) l.mat("position_embd.weight", E, c.n_ctx_train);
  norm_specs(l, c, "output_norm");
  // Llama/Qwen2 from GGUF: output.weight is optional (tied when absent); profiles say which.
  l.add("output.weight", {E, V, 1, 1}, true, /*optional=*/c.tied_output);
  if (c.has_output_bias) l.vec("output.bias", V);
  if (c.pos_embd == PosEmbd::Rope && c.n_rot >= 2)
    l.add("rope_freqs.weight", {c.n_rot / 2, 1, 1, 1}, false, /*optional=*/true);
  for (int i = 0; i < c.n_layer; ++i) {
    const std::string b = fmt::format("blk.{}.", i);
    norm_specs(l, c, b + "attn_norm");
    if (c.layer_has_attention(i))
      attention_specs(l, c, b);
    else
      delta_net_specs(l, c, b);
    if (!c.parallel_block) norm_specs(l, c, b + "ffn_norm");
    ffn_specs(l, c, b, c.layer_is_moe(i));
  }
  return s;
}

Model::~Model() = default;

// Binds spec-ordered tensor pointers (null for absent optional ones) to the named weight slots.
void Model::bind_weights(const std::vector<TensorSpec>& specs, const std::vector<const Tensor*>& t) {
  std::unordered_map<std::string_view, const Tensor*> by_name;
  by_name.reserve(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) by_name.emplace(specs[i].name, t[i]);
  auto get = [&](const std::string& name) -> const Tensor* {
    const auto it = by_name.find(name);
    return it == by_name.end() ? nullptr : it->second;
  };
  weights_.token_embd = get("token_embd.weight");
  weights_.position_embd = get("position_embd.weight");
  weights_.output_norm = get("output_norm.weight");
  weights_.output_norm_b = get("output_norm.bias");
  weights_.output = get("output.weight");
  if (!weights_.output) weights_.output = weights_.token_embd;  // tied classifier
  weights_.output_b = get("output.bias");
  weights_.rope_freqs = get("rope_freqs.weight");
  weights_.layers.resize(size_t(config_.n_layer));
  for (int i = 0; i < config_.n_layer; ++i) {
    LayerWeights& L = weights_.layers[size_t(i)];
    const std::string b = fmt::format("blk.{}.", i);
    auto w = [&](const char* name) { return get(b + name); };
    L.attn_norm = w("attn_norm.weight");
    L.attn_norm_b = w("attn_norm.bias");
    L.wq = w("attn_q.weight");
    L.wk = w("attn_k.weight");
    L.wv = w("attn_v.weight");
    L.wo = w("attn_output.weight");
    L.bq = w("attn_q.bias");
    L.bk = w("attn_k.bias");
    L.bv = w("attn_v.bias");
    L.bo = w("attn_output.bias");
    L.q_norm = w("attn_q_norm.weight");
    L.k_norm = w("attn_k_norm.weight");
    L.wq_a = w("attn_q_a.weight");
    L.q_a_norm = w("attn_q_a_norm.weight");
    L.wq_b = w("attn_q_b.weight");
    L.wkv_a = w("attn_kv_a_mqa.weight");
    L.kv_a_norm = w("attn_kv_a_norm.weight");
    L.wk_b = w("attn_k_b.weight");
    L.wv_b = w("attn_v_b.weight");
    L.idx_wq_b = w("indexer.attn_q_b.weight");
    L.idx_wk = w("indexer.attn_k.weight");
    L.idx_k_norm = w("indexer.k_norm.weight");
    L.idx_k_norm_b = w("indexer.k_norm.bias");
    L.idx_proj = w("indexer.proj.weight");
    L.ssm_in = w("ssm_in.weight");
    L.ssm_ba = w("ssm_ba.weight");
    L.ssm_conv = w("ssm_conv1d.weight");
    L.ssm_dt = w("ssm_dt.bias");
    L.ssm_a = w("ssm_a");
    L.ssm_norm = w("ssm_norm.weight");
    L.ssm_out = w("ssm_out.weight");
    L.ffn_norm = w("ffn_norm.weight");
    L.ffn_norm_b = w("ffn_norm.bias");
    L.ffn_gate = w("ffn_gate.weight");
    L.ffn_up = w("ffn_up.weight");
    L.ffn_down = w("ffn_down.weight");
    L.ffn_up_b = w("ffn_up.bias");
    L.ffn_down_b = w("ffn_down.bias");
    L.ffn_gate_inp = w("ffn_gate_inp.weight");
    L.ffn_gate_exps = w("ffn_gate_exps.weight");
    L.ffn_up_exps = w("ffn_up_exps.weight");
    L.ffn_down_exps = w("ffn_down_exps.weight");
    L.ffn_gate_shexp = w("ffn_gate_shexp.weight");
    L.ffn_up_shexp = w("ffn_up_shexp.weight");
    L.ffn_down_shexp = w("ffn_down_shexp.weight");
  }
}

std::unique_ptr<Model> Model::load(const std::string& path) {
  std::unique_ptr<Model> m(new Model());
  m->file_ = gguf::File::open(path);
  m->config_ = read_config(*m->file_);
  m->vocab_ = std::make_unique<Vocab>(read_vocab(*m->file_));
  DB_CHECK(int(m->vocab_->tokens.size()) == m->config_.n_vocab,
           "[model] {}: the vocabulary has {} tokens but token_embd.weight has {} rows", path,
           m->vocab_->tokens.size(), m->config_.n_vocab);
  std::vector<const Tensor*> bound;
  const auto specs = tensor_specs(m->config_);
  for (const TensorSpec& spec : specs) {
    const gguf::TensorInfo* ti = m->file_->find_tensor(spec.name);
    if (!ti) {
      DB_CHECK(spec.optional, "[model] {}: tensor '{}' is missing", path, spec.name);
      bound.push_back(nullptr);
      continue;
    }
    const Tensor& t = ti->tensor;
    DB_CHECK(t.ne == spec.ne, "[model] {}: tensor '{}' has shape {} but the architecture needs {}",
             path, spec.name, t.shape_str(), make_tensor(spec.name, DType::F32, spec.ne).shape_str());
    DB_CHECK(spec.is_matrix || t.dtype == DType::F32 || t.dtype == DType::F16,
             "[model] {}: tensor '{}' is {}, but norms and biases must be f32 or f16", path, spec.name,
             dtype_name(t.dtype));
    bound.push_back(&t);
  }
  m->bind_weights(specs, bound);
  return m;
}

std::unique_ptr<Model> Model::meta(const ModelConfig& config, DType weight_dtype) {
  config.validate();
  std::unique_ptr<Model> m(new Model());
  m->config_ = config;
  const auto specs = tensor_specs(config);
  m->owned_.reserve(specs.size());
  std::vector<const Tensor*> bound;
  for (const TensorSpec& spec : specs) {
    if (spec.optional) {
      bound.push_back(nullptr);
      continue;
    }
    m->owned_.push_back(make_tensor(spec.name, spec.is_matrix ? weight_dtype : DType::F32, spec.ne));
    bound.push_back(&m->owned_.back());
  }
  m->bind_weights(specs, bound);
  return m;
}

uint64_t Model::weight_bytes() const {
  if (file_) {
    uint64_t total = 0;
    for (const auto& ti : file_->tensors()) total += ti.tensor.nbytes();
    return total;
  }
  uint64_t total = 0;
  for (const auto& t : owned_) total += t.nbytes();
  return total;
}

uint64_t Model::n_params_active() const {
  const MoeConfig& moe = config_.moe;
  auto active = [&](const Tensor& t) {
    const uint64_t n = uint64_t(t.nelements());
    const bool routed = t.name.ends_with("_exps.weight");
    return routed && moe.enabled() ? n / uint64_t(moe.n_expert) * uint64_t(moe.n_expert_used) : n;
  };
  uint64_t total = 0;
  if (file_) {
    for (const auto& ti : file_->tensors()) total += active(ti.tensor);
  } else {
    for (const auto& t : owned_) total += active(t);
  }
  return total;
}

uint64_t Model::n_params() const {
  uint64_t total = 0;
  if (file_) {
    for (const auto& ti : file_->tensors()) total += uint64_t(ti.tensor.nelements());
  } else {
    for (const auto& t : owned_) total += uint64_t(t.nelements());
  }
  return total;
}

}  // namespace db
