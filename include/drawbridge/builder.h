// The model graph builder: turns an architecture into operators, once, for every consumer —
// the executor (real weights), virtual devices, and the planner (meta weights, shapes only).
#pragma once
#include <vector>

#include "drawbridge/buffer.h"
#include "drawbridge/graph.h"
#include "drawbridge/model.h"

namespace db {

// The per-sequence cache, one set of tensors per layer in one buffer. Attention layers keep keys
// and values [head_dim, n_head_kv, n_ctx] in `dtype` (MLA: one latent [kv_lora + rope, 1, n_ctx];
// sparse attention adds indexer keys [index_head_dim, 1, n_ctx]); DeltaNet layers keep f32
// recurrent states instead ([Dk, Dv, Hv] and a convolution tail [conv_dim, conv_kernel − 1]).
// Without a buffer the tensors are meta (for planning).
class KvCache {
 public:
  KvCache(const ModelConfig& config, int n_ctx, DType dtype, std::unique_ptr<Buffer> storage);
  // allocate=false: meta tensors; true: host memory.
  KvCache(const ModelConfig& config, int n_ctx, DType dtype, bool allocate)
      : KvCache(config, n_ctx, dtype, allocate ? Buffer::host(bytes_needed(config, n_ctx, dtype)) : nullptr) {}
  // The bytes a cache of this shape needs.
  static uint64_t bytes_needed(const ModelConfig& config, int n_ctx, DType dtype);
  int n_ctx() const { return n_ctx_; }
  DType dtype() const { return dtype_; }
  const Tensor& k(int layer) const { return layers_[size_t(layer)].k; }  // MLA: the latent
  const Tensor& v(int layer) const { return layers_[size_t(layer)].v; }
  const Tensor& index_k(int layer) const { return layers_[size_t(layer)].index_k; }
  const Tensor& conv_state(int layer) const { return layers_[size_t(layer)].conv; }
  const Tensor& ssm_state(int layer) const { return layers_[size_t(layer)].ssm; }
  uint64_t bytes() const;

 private:
  struct Layer {
    Tensor k, v, index_k, conv, ssm;  // name empty: the layer has no such tensor
  };
  int n_ctx_;
  DType dtype_;
  std::vector<Layer> layers_;
  std::unique_ptr<Buffer> storage_;
};

struct ForwardGraph {
  Graph graph;
  int tokens = -1;     // leaf: i32 token ids [T]
  int positions = -1;  // leaf: i32 positions [T]
  int logits = -1;     // f32 [n_vocab, T or 1]
  int n_tokens = 0;
  int n_past = 0;      // cached tokens the graph follows

  // Reuse across token steps (Session's decode graph). The builder records every node parameter
  // it sets to n_past (KvStore row, Attention and TopK causal offsets); when nothing else in the
  // graph was derived from n_past (no shape, view or choice of path: the cached_rows views of
  // MLA's expanded form, the sparse indexer's key count, MLA's Auto form choice), the graph is
  // rebasable: the same nodes with those parameters rewritten are exactly the graph
  // build_forward would build for another n_past. Otherwise it must be built again.
  bool rebasable() const { return !shape_uses_past; }
  // Makes this the graph of n_tokens tokens following n_past cached ones (no allocation).
  // Throws db::Error when the graph is not rebasable or n_past is out of range.
  void rebase(int n_past);

  std::vector<std::pair<int, int>> past_params;  // (node, index into params.i) holding n_past
  bool shape_uses_past = false;
  int64_t max_past = 0;  // the largest n_past the graph may follow (context, learned positions)
};

// Choices build_forward otherwise makes itself from the batch shape. The planner costs a batch of
// many sequences from two graphs (token-level ops for all the batch's tokens, per-sequence ops for
// one sequence), and both must take the path the per-sequence graph takes.
struct ForwardOptions {
  enum class Mla { Auto, Absorbed, Expanded };
  Mla mla = Mla::Auto;  // MLA attention form (sparse attention is always absorbed)
};

// Builds the forward pass of `n_tokens` tokens following `n_past` cached ones. With
// last_logits_only, logits are computed for the last token only (generation); otherwise for all.
ForwardGraph build_forward(const Model& model, const KvCache& cache, int n_tokens, int n_past,
                           bool last_logits_only, const ForwardOptions& options);
inline ForwardGraph build_forward(const Model& model, const KvCache& cache, int n_tokens, int n_past,
                                  bool last_logits_only) {
  return build_forward(model, cache, n_tokens, n_past, last_logits_only, ForwardOptions{});
}

}  // namespace db
