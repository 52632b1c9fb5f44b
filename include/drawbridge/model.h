// Model architectures: hyperparameters, the tensors each architecture needs, and loading them
// from GGUF. Weights may be real (memory-mapped from a file) or meta (shapes only, for planning):
// the same graph builder serves both.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "drawbridge/tensor.h"
#include "drawbridge/tokenizer.h"

namespace db {
namespace gguf {
class File;
class Writer;
}  // namespace gguf

enum class Arch { Llama, Qwen2 };
std::string_view arch_name(Arch a);
std::optional<Arch> arch_from_name(std::string_view name);

enum class RopeType { Normal, Neox };  // Normal rotates pairs (2i, 2i+1); Neox (i, i + d/2)

struct ModelConfig {
  Arch arch = Arch::Llama;
  int n_layer = 0;
  int n_embd = 0;
  int n_ff = 0;
  int n_head = 0;
  int n_head_kv = 0;
  int head_dim = 0;       // n_embd / n_head unless the file says otherwise
  int n_vocab = 0;
  int n_ctx_train = 0;
  int n_rot = 0;          // rotary dims per head (rope.dimension_count)
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;
  float norm_eps = 1e-5f;
  bool has_qkv_bias = false;  // qwen2
  RopeType rope_type = RopeType::Normal;

  int n_embd_kv() const { return head_dim * n_head_kv; }
  // Throws db::Error("[model] ...") for inconsistent hyperparameters.
  void validate() const;
};

// Reads the architecture hyperparameters from GGUF metadata (general.architecture, <arch>.*).
ModelConfig read_config(const gguf::File& file);
// Writes general.architecture and the <arch>.* keys for this config.
void write_config(gguf::Writer& writer, const ModelConfig& config, const std::string& name);

// Every weight the architecture needs, with its GGUF name, shape and (given) dtype: what a
// loader checks a file against and what `synth` writes. Norms and biases are always F32.
struct TensorSpec {
  std::string name;
  std::array<int64_t, kMaxDims> ne;
  bool is_matrix;   // a 2-D weight that may be quantized
  bool optional;    // e.g. output.weight (tied to token_embd when absent)
};
std::vector<TensorSpec> tensor_specs(const ModelConfig& config);

struct LayerWeights {
  const Tensor* attn_norm = nullptr;
  const Tensor* wq = nullptr;
  const Tensor* wk = nullptr;
  const Tensor* wv = nullptr;
  const Tensor* wo = nullptr;
  const Tensor* bq = nullptr;  // qwen2 only
  const Tensor* bk = nullptr;
  const Tensor* bv = nullptr;
  const Tensor* ffn_norm = nullptr;
  const Tensor* ffn_gate = nullptr;
  const Tensor* ffn_up = nullptr;
  const Tensor* ffn_down = nullptr;
};

struct ModelWeights {
  const Tensor* token_embd = nullptr;
  const Tensor* output_norm = nullptr;
  const Tensor* output = nullptr;  // == token_embd when the classifier is tied
  const Tensor* rope_freqs = nullptr;  // Llama-3 rope scaling factors, optional
  std::vector<LayerWeights> layers;
};

// A loaded model: config, tokenizer vocabulary, and weights that point into a mapped file (or
// are meta tensors owned here).
class Model {
 public:
  // Opens a GGUF model; validates architecture, hyperparameters and every tensor's shape.
  static std::unique_ptr<Model> load(const std::string& path);
  // A model with meta weights of the given dtype (no data): for graph building without a file.
  static std::unique_ptr<Model> meta(const ModelConfig& config, DType weight_dtype);
  ~Model();

  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  const Vocab* vocab() const { return vocab_.get(); }  // null for meta models
  const gguf::File* file() const { return file_.get(); }
  uint64_t weight_bytes() const;  // bytes of all weights
  uint64_t n_params() const;

 private:
  Model() = default;
  void bind_weights(const std::vector<const Tensor*>& by_spec);
  ModelConfig config_;
  ModelWeights weights_;
  std::unique_ptr<Vocab> vocab_;
  std::unique_ptr<gguf::File> file_;
  std::vector<Tensor> owned_;  // meta tensors
};

}  // namespace db
