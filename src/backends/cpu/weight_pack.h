// Load-time weight packing: the CPU side of the HAL's weight-packing hook (Device::pack_weights).
// Some matmul kernels read weights far faster in another layout (q4_0: 8 rows interleaved so one
// vector feeds 8 outputs). Rearranging per call costs time on every token; like ggml's repacked
// buffers, the backend rearranges each such weight once, before the first token, into memory it
// owns, keyed by the weight's data, and the matmul reads the packed copy from then on. Packing
// never changes results: a packed kernel sums in the order the unpacked path uses for the shape.
// The original's pages are then handed back to the OS (a hint; file-backed pages re-read on
// demand), so a packed model costs about its file size, not twice.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "backends/cpu/simd.h"
#include "drawbridge/graph.h"

namespace db::cpu {

class ThreadPool;

// A packed layout: groups of `rows` weight rows, each rearranged by pack() into group_bytes(k).
struct WeightLayout {
  const char* name;  // for --explain and tests, e.g. "q4_0x8"
  int rows;
  size_t (*group_bytes)(int64_t k);
  void (*pack)(int64_t k, const void* w, size_t ws, void* dst);  // `rows` rows, ws bytes apart
  GemmKernel kernel;  // its tiles read one packed group (GemmTile::w) per `rows` outputs
};

// The packed layout this CPU's matmul uses for a [k, n] weight of this dtype, or null when the
// weight is read as stored. Depends on the shape only (n % rows == 0), never on the batch.
const WeightLayout* packed_layout(DType weight, int64_t k, int64_t n);

struct PackedWeight {
  DType dtype;
  int64_t k, n;        // the weight it was made from
  const WeightLayout* layout;
  const char* data;    // group i (rows i·rows ..) at data + i · group_bytes
  size_t group_bytes;
};

class PackedWeights {
 public:
  // Packs every weight read by a MatMul of g that has a packed layout and is not packed yet, on
  // the pool's threads. Returns the bytes packed by this call.
  size_t pack(const Graph& g, ThreadPool& pool);
  // The packed copy of weight w (same data, dtype and shape), or null. Copies stay valid while
  // the weights they were made from live unchanged (a session's model does).
  const PackedWeight* find(const Tensor& w) const {
    if (by_data_.empty()) return nullptr;
    const auto it = by_data_.find(w.data);
    if (it == by_data_.end()) return nullptr;
    const PackedWeight& p = it->second;
    return p.dtype == w.dtype && p.k == w.ne[0] && p.n == w.ne[1] ? &p : nullptr;
  }
  size_t bytes() const { return bytes_; }

 private:
  std::unordered_map<const void*, PackedWeight> by_data_;
  std::vector<std::unique_ptr<char[], void (*)(char*)>> storage_;
  size_t bytes_ = 0;
};

}  // namespace db::cpu
