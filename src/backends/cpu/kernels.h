// The CPU kernel contract. Every op kernel runs on all threads of the pool at once and splits its
// own work by (ith, nth); it may call ctx.barrier() between phases. Kernels read operands from
// node sources and write node.out, all of which are allocated before the graph runs.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "drawbridge/graph.h"

namespace db::cpu {

class ThreadPool;
class PackedWeights;

struct KernelCtx {
  int ith = 0;
  int nth = 1;
  void* work = nullptr;  // scratch shared by the threads of this op (size from work_size())
  size_t work_bytes = 0;
  ThreadPool* pool = nullptr;
  const PackedWeights* packed = nullptr;  // weights packed at load (weight_pack.h), if any
  void barrier() const;
};

// Rows [begin, end) of `n` that thread ith of nth handles.
inline void split_rows(int64_t n, int ith, int nth, int64_t& begin, int64_t& end) {
  const int64_t per = (n + nth - 1) / nth;
  begin = std::min<int64_t>(n, per * ith);
  end = std::min<int64_t>(n, begin + per);
}

using KernelFn = void (*)(const KernelCtx& ctx, const Graph& g, const Node& node);

// The kernel for an op, or null when the CPU backend has none.
KernelFn kernel_for(Op op);
// Whether the CPU can run this node (op and dtypes), with the reason when not.
bool cpu_supports(const Graph& g, const Node& node, std::string* why);
// Scratch bytes this node needs (e.g. activations converted to the weight's dot-product type).
size_t work_size(const Graph& g, const Node& node, int n_threads);

// Per-thread scratch: slot `slot` of the calling thread, at least `bytes` long, 64-byte aligned,
// contents unspecified. A slot grows to the largest request and is then kept, so a graph that runs
// again (the token loop) allocates nothing in its kernels once every thread has run it. A kernel
// takes one slot per array it needs at the same time; slot 0 is the matmul's (packed weights).
constexpr int kScratchSlots = 8;
constexpr int kScratchMatmul = 0;
void* thread_scratch(int slot, size_t bytes);
template <typename T>
T* thread_scratch_as(int slot, size_t count) {
  return static_cast<T*>(thread_scratch(slot, count * sizeof(T)));
}
// The same, with every element set to `value` (as a std::vector<T>(count, value) would be).
template <typename T>
T* thread_scratch_filled(int slot, size_t count, T value) {
  T* p = thread_scratch_as<T>(slot, count);
  std::fill_n(p, count, value);
  return p;
}

// Kernels, one op family per file.
void kernel_embed(const KernelCtx&, const Graph&, const Node&);
void kernel_matmul(const KernelCtx&, const Graph&, const Node&);
void kernel_add(const KernelCtx&, const Graph&, const Node&);
void kernel_mul(const KernelCtx&, const Graph&, const Node&);
void kernel_scale(const KernelCtx&, const Graph&, const Node&);
void kernel_silu(const KernelCtx&, const Graph&, const Node&);
void kernel_gelu(const KernelCtx&, const Graph&, const Node&);
void kernel_swiglu(const KernelCtx&, const Graph&, const Node&);
void kernel_softmax(const KernelCtx&, const Graph&, const Node&);
void kernel_rms_norm(const KernelCtx&, const Graph&, const Node&);
void kernel_rope(const KernelCtx&, const Graph&, const Node&);
void kernel_kv_store(const KernelCtx&, const Graph&, const Node&);
void kernel_attention(const KernelCtx&, const Graph&, const Node&);
void kernel_convert(const KernelCtx&, const Graph&, const Node&);
void kernel_layer_norm(const KernelCtx&, const Graph&, const Node&);
void kernel_matmul_id(const KernelCtx&, const Graph&, const Node&);
void kernel_top_k(const KernelCtx&, const Graph&, const Node&);
void kernel_gather(const KernelCtx&, const Graph&, const Node&);
void kernel_weighted_sum(const KernelCtx&, const Graph&, const Node&);
void kernel_concat(const KernelCtx&, const Graph&, const Node&);
void kernel_sigmoid(const KernelCtx&, const Graph&, const Node&);
void kernel_softplus(const KernelCtx&, const Graph&, const Node&);
void kernel_relu(const KernelCtx&, const Graph&, const Node&);
void kernel_short_conv(const KernelCtx&, const Graph&, const Node&);
void kernel_delta_net(const KernelCtx&, const Graph&, const Node&);

}  // namespace db::cpu
