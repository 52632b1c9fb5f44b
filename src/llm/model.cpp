// Architecture hyperparameters, the tensor list per architecture, and GGUF model loading.
#include "drawbridge/model.h"

#include <fmt/format.h>

#include <cmath>

#include "drawbridge/error.h"
#include "drawbridge/gguf.h"

namespace db {

std::string_view arch_name(Arch a) { return a == Arch::Llama ? "llama" : "qwen2"; }

std::optional<Arch> arch_from_name(std::string_view name) {
  if (name == "llama") return Arch::Llama;
  if (name == "qwen2") return Arch::Qwen2;
  return std::nullopt;
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
  DB_CHECK(n_rot > 0 && n_rot <= head_dim && n_rot % 2 == 0,
           "[model] rope.dimension_count {} must be even and in 2..{}", n_rot, head_dim);
  DB_CHECK(std::isfinite(rope_freq_base) && rope_freq_base > 0, "[model] rope.freq_base {} is invalid",
           rope_freq_base);
  DB_CHECK(std::isfinite(rope_freq_scale) && rope_freq_scale > 0,
           "[model] rope scaling factor {} is invalid", 1.0f / rope_freq_scale);
  DB_CHECK(std::isfinite(norm_eps) && norm_eps >= 0, "[model] layer_norm_rms_epsilon {} is invalid",
           norm_eps);
}

ModelConfig read_config(const gguf::File& f) {
  const auto arch_str = f.get_string("general.architecture");
  DB_CHECK(arch_str.has_value(), "[model] {}: general.architecture is missing", f.path());
  const auto arch = arch_from_name(*arch_str);
  DB_CHECK(arch.has_value(), "[model] {}: unknown architecture '{}' (supported: llama, qwen2)",
           f.path(), *arch_str);
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

std::vector<TensorSpec> tensor_specs(const ModelConfig& c) {
  const int64_t E = c.n_embd, F = c.n_ff, V = c.n_vocab;
  const int64_t Q = int64_t(c.head_dim) * c.n_head, KV = c.n_embd_kv();
  std::vector<TensorSpec> s;
  auto add = [&](std::string name, std::array<int64_t, kMaxDims> ne, bool matrix, bool optional = false) {
    s.push_back({std::move(name), ne, matrix, optional});
  };
  add("token_embd.weight", {E, V, 1, 1}, true);
  add("output_norm.weight", {E, 1, 1, 1}, false);
  add("output.weight", {E, V, 1, 1}, true, /*optional=*/true);
  add("rope_freqs.weight", {c.n_rot / 2, 1, 1, 1}, false, /*optional=*/true);
  for (int i = 0; i < c.n_layer; ++i) {
    const std::string b = fmt::format("blk.{}.", i);
    add(b + "attn_norm.weight", {E, 1, 1, 1}, false);
    add(b + "attn_q.weight", {E, Q, 1, 1}, true);
    add(b + "attn_k.weight", {E, KV, 1, 1}, true);
    add(b + "attn_v.weight", {E, KV, 1, 1}, true);
    add(b + "attn_output.weight", {Q, E, 1, 1}, true);
    if (c.has_qkv_bias) {
      add(b + "attn_q.bias", {Q, 1, 1, 1}, false);
      add(b + "attn_k.bias", {KV, 1, 1, 1}, false);
      add(b + "attn_v.bias", {KV, 1, 1, 1}, false);
    }
    add(b + "ffn_norm.weight", {E, 1, 1, 1}, false);
    add(b + "ffn_gate.weight", {E, F, 1, 1}, true);
    add(b + "ffn_up.weight", {E, F, 1, 1}, true);
    add(b + "ffn_down.weight", {F, E, 1, 1}, true);
  }
  return s;
}

Model::~Model() = default;

// Binds spec-ordered tensor pointers (null for absent optional ones) to the named weight slots.
void Model::bind_weights(const std::vector<const Tensor*>& t) {
  size_t i = 0;
  weights_.token_embd = t[i++];
  weights_.output_norm = t[i++];
  weights_.output = t[i++];
  if (!weights_.output) weights_.output = weights_.token_embd;  // tied classifier
  weights_.rope_freqs = t[i++];
  weights_.layers.resize(size_t(config_.n_layer));
  for (auto& L : weights_.layers) {
    L.attn_norm = t[i++];
    L.wq = t[i++];
    L.wk = t[i++];
    L.wv = t[i++];
    L.wo = t[i++];
    if (config_.has_qkv_bias) {
      L.bq = t[i++];
      L.bk = t[i++];
      L.bv = t[i++];
    }
    L.ffn_norm = t[i++];
    L.ffn_gate = t[i++];
    L.ffn_up = t[i++];
    L.ffn_down = t[i++];
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
  for (const TensorSpec& spec : tensor_specs(m->config_)) {
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
  m->bind_weights(bound);
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
  m->bind_weights(bound);
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
