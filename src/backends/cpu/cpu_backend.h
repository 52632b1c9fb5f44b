// The CPU backend: runs a graph on a thread pool. Intermediate tensors live in one arena whose
// layout is planned from tensor lifetimes before the run, so a token loop allocates nothing
// once the arena has grown to the largest graph.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "backends/cpu/thread_pool.h"
#include "drawbridge/graph.h"

namespace db::cpu {

class CpuBackend {
 public:
  explicit CpuBackend(int n_threads);
  int n_threads() const { return pool_.size(); }
  // Allocates every non-leaf node in the arena and runs the graph. Leaves must have data.
  void compute(Graph& g);
  size_t arena_bytes() const { return arena_size_; }

 private:
  void plan_memory(Graph& g);
  ThreadPool pool_;
  std::unique_ptr<char[], void (*)(char*)> arena_{nullptr, [](char*) {}};
  size_t arena_size_ = 0;
  std::vector<size_t> offsets_;
  size_t work_offset_ = 0;
  size_t work_bytes_ = 0;
};

}  // namespace db::cpu
