// The operator graph: a closed set of ops over tensor descriptors. Model builders emit it once;
// backends execute it, virtual devices execute and time it, the planner costs it without data.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "drawbridge/tensor.h"

namespace db {

enum class Op : uint8_t {
  Leaf,        // an input or weight: data supplied from outside the graph
  View,        // a strided view of src0 at params.offset (no compute)
  Embed,       // rows of src0 (table [E, V], any dtype) selected by src1 (I32 ids [T]) → f32 [E, T]
  MatMul,      // src0 weight [K, N] (any dtype) × src1 f32 [K, M] → f32 [N, M]
  Add,         // src0 + src1 (src1 broadcast over rows when it has one row)
  Mul,         // src0 * src1 (src1 broadcast over rows when it has one row)
  Scale,       // src0 * params.f[0]
  RmsNorm,     // src0 / sqrt(mean(src0²) + eps) [* src1 weight when given]
  Rope,        // rotary embedding of src0 [D, H, T] at positions src1 (I32 [T]); src2 freq factors
  Silu,        // src0 * sigmoid(src0)
  Gelu,        // tanh-approximated GELU
  SwiGlu,      // silu(src0) * src1
  SoftMax,     // row-wise softmax of src0 * params.f[0]
  KvStore,     // writes src0 [D, Hkv, T] into cache src1 [D, Hkv, C] at rows params.i[0].. (converts)
  Attention,   // causal attention of q src0 [Dk, H, T] over caches k src1 [Dk, Hkv, C] and v src2
               // [Dv, Hkv, C] → [Dv, H, T]. params.i[0]: cached tokens before the batch; i[1]: sliding
               // window (0: none). src2 may instead be absent or i32 key indices [k, T] (sparse): then
               // v is the first Dv columns of each k row (MLA's latent cache)
  Convert,     // src0 converted to out.dtype
  LayerNorm,   // (src0 - mean) / sqrt(var + eps) [* src1 weight] [+ src2 bias], per row
  MatMulId,    // experts src0 [K, N, X] × src1 f32 [K, S or 1, T] → f32 [N, S, T]; slot s of token t
               // uses expert src2[s, t] (i32 [S, T]), or expert s when src2 is absent (per-head
               // weights). params.i[0] = 1: each expert is stored transposed, [N, K]
  TopK,        // i32 [k, T]: indices of the k largest values of each row of src0 f32 [N, T], largest
               // first. params.i[0] >= 0: causal, row t only sees entries 0..i[0]+t (-1 pads)
  Gather,      // f32 [k, T]: src0 f32 [N, T] at the i32 indices src1 [k, T] (0 for index -1)
  WeightedSum, // f32 [N, T]: Σ_s src0 [N, S, T][:, s, t] · src1 [S, T][s, t] (MoE combine)
  Concat,      // src0 [A, H, T] then src1 [B, H or 1, T] (broadcast over H) along dim 0 → [A+B, H, T]
  Sigmoid,     // 1 / (1 + exp(-src0))
  Softplus,    // log(1 + exp(src0))
  Relu,        // max(src0, 0)
  ShortConv,   // causal depthwise convolution of src0 [C, T] with weights src1 [W, C] → [C, T];
               // src2 [C, W-1] holds the W-1 inputs before the batch and is updated in place
  DeltaNet,    // gated delta rule (Qwen3-Next linear attention) → [Dv, Hv, T]. src0 [2·Hk·Dk +
               // Hv·Dv, T]: q | k | v per token; src1 [2, Hv, T]: log decay g, write strength beta;
               // src2 state [Dk, Dv, Hv] f32, updated in place. params.i = {Hk, Dk, Hv, Dv}
  kCount,
};
std::string_view op_name(Op op);

struct OpParams {
  std::array<float, 4> f{};    // eps / scale / rope freq_base, freq_scale
  std::array<int64_t, 4> i{};  // offsets, positions, rope dims, mode, window, flags
};

struct Node {
  Op op = Op::Leaf;
  Tensor out;                          // the result (name, dtype, shape; data once allocated)
  std::array<int, 3> src{-1, -1, -1};  // producer node ids
  OpParams params;
  int view_of = -1;  // for views: the node that owns the storage (transitively)
};

class Graph {
 public:
  // Adds a leaf whose data (possibly null for a meta tensor) lives outside the graph.
  int leaf(const Tensor& t);
  // Adds an op node; validates shapes and dtypes with messages like "[matmul] ...".
  int add(Op op, Tensor out, std::array<int, 3> src, OpParams params = {});
  // A view of node `src` with a new shape and strides, starting `offset` bytes in.
  int view(int src, std::string name, std::array<int64_t, kMaxDims> ne,
           std::array<size_t, kMaxDims> nb, size_t offset = 0);
  // A contiguous reshape of node `src` (same element count).
  int reshape(int src, std::string name, std::array<int64_t, kMaxDims> ne);
  void set_output(int id) { outputs_.push_back(id); }

  const std::vector<Node>& nodes() const { return nodes_; }
  std::vector<Node>& nodes() { return nodes_; }
  const Node& node(int id) const { return nodes_[size_t(id)]; }
  Node& node(int id) { return nodes_[size_t(id)]; }
  const std::vector<int>& outputs() const { return outputs_; }

 private:
  std::vector<Node> nodes_;
  std::vector<int> outputs_;
};

// Floating-point work and bytes moved by one node, for the cost model and benchmarks.
struct OpCost {
  double flops = 0;
  double bytes_read = 0;
  double bytes_written = 0;
};
OpCost op_cost(const Graph& g, const Node& n);

// Expected number of distinct experts that T tokens touch when each picks k of E uniformly:
// E·(1 − (1 − k/E)^T). Only those experts' weights are read by an expert-indexed matmul.
double expected_experts_touched(double n_expert, double k, double n_tokens);

}  // namespace db
