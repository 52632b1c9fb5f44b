// Model architectures: hyperparameters, the tensors each architecture needs, and loading them
// from GGUF. Weights may be real (memory-mapped from a file) or meta (shapes only, for planning):
// the same graph builder serves both.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "drawbridge/tensor.h"
#include "drawbridge/tokenizer.h"

namespace db {
namespace gguf {
class File;
class Writer;
}  // namespace gguf

// The block family. Llama and Qwen2 load from GGUF and run; the others are described by model
// profiles (data/models/*.toml) and built with meta weights for planning.
enum class Arch {
  Llama,      // RMSNorm, SwiGLU, RoPE (also Mixtral: Llama + MoE)
  Qwen2,      // Llama + q/k/v biases (Qwen1.5, Qwen2, Qwen2.5)
  Qwen3,      // Llama + RMSNorm of q and k per head (QK-norm); Qwen3 MoE too
  Qwen3Next,  // Qwen3 MoE with gated DeltaNet layers, full (gated) attention every Nth layer
  DeepSeek2,  // multi-head latent attention (MLA) + DeepSeekMoE (V2, V3, R1, V3.2)
  Gpt,        // GPT-2/3 and Megatron GPT: LayerNorm, GELU MLP, learned positions, biases
  GptJ,       // GPT-J: GPT with rotary positions and attention parallel to the MLP
};
std::string_view arch_name(Arch a);
std::optional<Arch> arch_from_name(std::string_view name);
// Architectures a GGUF file may declare (the ones with a loader and a tokenizer here).
bool arch_loads_from_gguf(Arch a);

enum class RopeType { Normal, Neox };  // Normal rotates pairs (2i, 2i+1); Neox (i, i + d/2)
enum class NormType { Rms, Layer };    // RMSNorm · g, or LayerNorm · g + b
enum class FfnType { SwiGlu, Gelu };   // down(silu(gate·x) ⊙ up·x), or down(gelu(up·x + b) + b)
enum class PosEmbd { Rope, Learned };  // rotary q/k, or a learned [n_embd, n_ctx] table added to x

// Mixture of experts (DeepSeekMoE, Qwen3-MoE, Mixtral). n_expert == 0: every FFN is dense.
struct MoeConfig {
  int n_expert = 0;            // routed experts per MoE layer
  int n_expert_used = 0;       // routed experts per token (top-k)
  int n_expert_shared = 0;     // always-on shared experts (count, for display)
  int n_ff_expert = 0;         // hidden size of one routed expert
  int n_ff_shared = 0;         // hidden size of the shared-expert MLP (all shared experts together)
  int n_layer_dense_lead = 0;  // the first layers keep a dense FFN of n_ff (DeepSeek first_k_dense)
  int layer_step = 1;          // after those, every layer_step-th layer is MoE, the rest dense
  bool enabled() const { return n_expert > 0; }
};

// Multi-head latent attention (DeepSeek-V2/V3): keys and values are cached as one compressed
// latent of kv_lora_rank plus a shared rotary key of qk_rope_head_dim per token.
struct MlaConfig {
  int q_lora_rank = 0;  // 0: queries are projected directly from x
  int kv_lora_rank = 0;
  int qk_nope_head_dim = 0;
  int qk_rope_head_dim = 0;
  int v_head_dim = 0;
  bool enabled() const { return kv_lora_rank > 0; }
};

// Sliding-window attention: a windowed layer attends to the last `window` positions only.
struct SlidingWindowConfig {
  int window = 0;      // 0: no sliding window anywhere
  int full_every = 0;  // 0: every layer is windowed; N: layers N-1, 2N-1, ... attend fully
  bool enabled() const { return window > 0; }
};

// Hybrid linear attention (Qwen3-Next): gated DeltaNet layers, with full attention in every
// full_attn_interval-th layer. A DeltaNet layer keeps a fixed-size state per sequence instead of
// a KV cache: n_head_v × head_dim_k × head_dim_v values plus a conv_kernel-1 row convolution tail.
struct LinearAttnConfig {
  int full_attn_interval = 0;  // 0: no linear-attention layers
  int n_head_k = 0;            // key/query heads
  int n_head_v = 0;            // value heads (the state has one matrix per value head)
  int head_dim_k = 0;
  int head_dim_v = 0;
  int conv_kernel = 0;         // causal depthwise convolution width over q, k, v
  bool enabled() const { return full_attn_interval > 0; }
  int64_t key_dim() const { return int64_t(n_head_k) * head_dim_k; }
  int64_t value_dim() const { return int64_t(n_head_v) * head_dim_v; }
  int64_t conv_dim() const { return 2 * key_dim() + value_dim(); }
  // Recurrent state values per sequence and layer (delta-rule matrices + convolution tail).
  int64_t state_elements() const {
    return int64_t(n_head_v) * head_dim_k * head_dim_v + conv_dim() * (conv_kernel - 1);
  }
};

// DeepSeek sparse attention (V3.2): a lightning indexer scores cached keys and each query attends
// to its top_k keys only.
struct SparseAttnConfig {
  int index_n_heads = 0;
  int index_head_dim = 0;
  int top_k = 0;  // 0: dense attention
  bool enabled() const { return top_k > 0; }
};

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

  // Block details beyond Llama's (defaults are Llama's, so GGUF models are unchanged).
  NormType norm_type = NormType::Rms;
  FfnType ffn_type = FfnType::SwiGlu;
  PosEmbd pos_embd = PosEmbd::Rope;
  bool parallel_block = false;     // GPT-J: x + attn(ln(x)) + mlp(ln(x)), one norm per layer
  bool has_attn_out_bias = false;  // bias on the attention output projection (GPT)
  bool has_ffn_bias = false;       // biases on the MLP projections (GPT, GPT-J)
  bool has_output_bias = false;    // bias on the classifier (GPT-J lm_head)
  bool qk_norm = false;            // RMSNorm of each q and k head (Qwen3)
  bool attn_output_gate = false;   // sigmoid gate on the attention output (Qwen3-Next)
  bool tied_output = true;         // the classifier reuses token_embd (meta models; GGUF: by file)
  MoeConfig moe;
  MlaConfig mla;
  SlidingWindowConfig swa;
  LinearAttnConfig linear_attn;
  SparseAttnConfig sparse_attn;

  int n_embd_kv() const { return head_dim * n_head_kv; }
  // Whether layer `il` has a routed-expert FFN, full softmax attention (vs. DeltaNet), a window.
  bool layer_is_moe(int il) const;
  bool layer_has_attention(int il) const;
  int layer_window(int il) const;  // 0: attends to the whole context
  // KV-cache bytes one token adds over all layers (MLA: the latent; DeltaNet layers: none).
  uint64_t kv_bytes_per_token(DType kv_dtype) const;
  // Fixed recurrent-state bytes per sequence (DeltaNet layers, f32), 0 for pure attention models.
  uint64_t state_bytes_per_sequence() const;
  // Throws db::Error("[model] ...") for inconsistent hyperparameters.
  void validate() const;

 private:
  void validate_features() const;
};

// A model profile: public hyperparameters of a model, where they come from, and the public
// parameter counts to check them against (data/models/<id>.toml).
struct ModelProfile {
  std::string id;      // "llama-2-70b"
  std::string name;    // "Llama 2 70B"
  std::string source;  // where the hyperparameters come from (URL / paper and table)
  std::string origin;  // the file it was read from, or "built-in data/models/<id>.toml"
  std::string note;    // caveats (training benchmark, unsourced values, what the graph leaves out)
  double public_params_total = 0;   // as published, in parameters (0: not published)
  double public_params_active = 0;  // MoE: activated per token as published (0: not published)
  std::string params_source;
  double public_tolerance = 0;  // relative; set where the published figure leaves out known parts
  std::vector<std::pair<std::string, std::string>> field_notes;  // [notes] field -> remark
  ModelConfig config;
};

// Loads data/models/<id>.toml (built into the binary, or from $DRAWBRIDGE_MODELS_DIR) or a .toml
// path. Every field is validated; errors read "[model] <file>: <field> ...".
ModelProfile load_model_profile_full(const std::string& id_or_path);
ModelConfig load_model_profile(const std::string& id_or_path);
ModelProfile parse_model_profile(std::string_view toml_text, const std::string& origin);
// Ids of the available profiles, sorted.
std::vector<std::string> model_profile_ids();

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

// Weights of one block; a pointer is null where the architecture has no such tensor.
struct LayerWeights {
  const Tensor* attn_norm = nullptr;
  const Tensor* attn_norm_b = nullptr;  // LayerNorm bias (GPT)
  const Tensor* wq = nullptr;           // Qwen3-Next: query and output gate, [E, 2·H·D]
  const Tensor* wk = nullptr;
  const Tensor* wv = nullptr;
  const Tensor* wo = nullptr;
  const Tensor* bq = nullptr;  // qwen2, GPT
  const Tensor* bk = nullptr;
  const Tensor* bv = nullptr;
  const Tensor* bo = nullptr;      // GPT
  const Tensor* q_norm = nullptr;  // QK-norm, [head_dim]
  const Tensor* k_norm = nullptr;
  // MLA (DeepSeek): q = Wq_b · norm(Wq_a · x); latent = Wkv_a · x; per-head Wk_b / Wv_b
  const Tensor* wq_a = nullptr;
  const Tensor* q_a_norm = nullptr;
  const Tensor* wq_b = nullptr;
  const Tensor* wkv_a = nullptr;
  const Tensor* kv_a_norm = nullptr;
  const Tensor* wk_b = nullptr;  // [qk_nope, kv_lora, H]
  const Tensor* wv_b = nullptr;  // [kv_lora, v_head, H]
  // DeepSeek sparse attention indexer
  const Tensor* idx_wq_b = nullptr;
  const Tensor* idx_wk = nullptr;
  const Tensor* idx_k_norm = nullptr;
  const Tensor* idx_k_norm_b = nullptr;
  const Tensor* idx_proj = nullptr;
  // gated DeltaNet (Qwen3-Next linear-attention layers)
  const Tensor* ssm_in = nullptr;    // x → q | k | v | z
  const Tensor* ssm_ba = nullptr;    // x → b | a per value head
  const Tensor* ssm_conv = nullptr;  // [conv_kernel, conv_dim]
  const Tensor* ssm_dt = nullptr;    // [n_head_v]
  const Tensor* ssm_a = nullptr;     // −exp(A_log), [n_head_v]
  const Tensor* ssm_norm = nullptr;  // [head_dim_v]
  const Tensor* ssm_out = nullptr;
  // feed-forward: dense, or routed experts (+ shared experts)
  const Tensor* ffn_norm = nullptr;
  const Tensor* ffn_norm_b = nullptr;
  const Tensor* ffn_gate = nullptr;
  const Tensor* ffn_up = nullptr;
  const Tensor* ffn_down = nullptr;
  const Tensor* ffn_up_b = nullptr;    // GPT
  const Tensor* ffn_down_b = nullptr;
  const Tensor* ffn_gate_inp = nullptr;  // router [E, n_expert]
  const Tensor* ffn_gate_exps = nullptr;  // [E, F_e, n_expert]
  const Tensor* ffn_up_exps = nullptr;
  const Tensor* ffn_down_exps = nullptr;  // [F_e, E, n_expert]
  const Tensor* ffn_gate_shexp = nullptr;
  const Tensor* ffn_up_shexp = nullptr;
  const Tensor* ffn_down_shexp = nullptr;
};

struct ModelWeights {
  const Tensor* token_embd = nullptr;
  const Tensor* position_embd = nullptr;  // learned positions (GPT), [n_embd, n_ctx_train]
  const Tensor* output_norm = nullptr;
  const Tensor* output_norm_b = nullptr;
  const Tensor* output = nullptr;  // == token_embd when the classifier is tied
  const Tensor* output_b = nullptr;  // GPT-J
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
  // Parameters a token uses: every weight except the routed experts it is not sent to (a MoE
  // layer counts n_expert_used of n_expert); the embedding table counts in full. == n_params()
  // for dense models.
  uint64_t n_params_active() const;

 private:
  Model() = default;
  void bind_weights(const std::vector<TensorSpec>& specs, const std::vector<const Tensor*>& by_spec);
  ModelConfig config_;
  ModelWeights weights_;
  std::unique_ptr<Vocab> vocab_;
  std::unique_ptr<gguf::File> file_;
  std::vector<Tensor> owned_;  // meta tensors
};

}  // namespace db
