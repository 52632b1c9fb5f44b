// The CPU backend: runs a graph on a thread pool. Intermediate tensors live in one arena whose
// layout is planned from tensor lifetimes before the run. The plan (and the op support check) is
// kept and reused while the graph's structure stays the same, so a token loop that runs one graph
// again (Session's decode graph) allocates nothing once the arena has grown to it.
#pragma once
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "backends/cpu/thread_pool.h"
#include "backends/cpu/weight_pack.h"
#include "drawbridge/graph.h"

namespace db::cpu {

class CpuBackend {
 public:
  explicit CpuBackend(int n_threads);
  int n_threads() const { return pool_.size(); }
  // Allocates every non-leaf node in the arena and runs the graph. Leaves must have data.
  void compute(Graph& g);
  size_t arena_bytes() const { return arena_size_; }
  // The weight-packing hook: packs g's matmul weights that have a faster layout (weight_pack.h)
  // once; later graphs reading the same weights use the packed copies. Returns the bytes packed.
  size_t pack_weights(const Graph& g) { return packed_.pack(g, pool_); }
  size_t packed_bytes() const { return packed_.bytes(); }
  // Frees the packed copies (their weights are about to go away).
  void drop_packed_weights() { packed_ = PackedWeights{}; }
  // How many times compute() has planned memory (re-planning means the graph structure changed).
  int plans_made() const { return plans_made_; }

 private:
  // What the memory plan and the support check depend on, per node. A graph is planned again
  // unless every node matches the last planned graph exactly; params, names and data pointers
  // may differ (n_past-dependent params of a rebased decode graph, a copied graph).
  struct NodeKey {
    Op op;
    DType dtype;
    bool contiguous;
    std::array<int, 3> src;
    std::array<int64_t, kMaxDims> ne;
    bool operator==(const NodeKey&) const = default;
  };
  static NodeKey key_of(const Node& n);
  bool same_as_planned(const Graph& g) const;
  void check_supported(const Graph& g) const;
  void plan_memory(Graph& g);
  ThreadPool pool_;
  PackedWeights packed_;
  std::unique_ptr<char[], void (*)(char*)> arena_{nullptr, [](char*) {}};
  size_t arena_size_ = 0;
  std::vector<size_t> offsets_;
  size_t work_offset_ = 0;
  size_t work_bytes_ = 0;
  std::vector<NodeKey> planned_;        // the graph the plan is for
  std::vector<int> planned_outputs_;
  int plans_made_ = 0;
};

}  // namespace db::cpu
