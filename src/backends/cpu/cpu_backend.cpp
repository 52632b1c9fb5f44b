#include "backends/cpu/cpu_backend.h"

#include <algorithm>
#include <cstdlib>
#include <limits>

#include "backends/cpu/kernels.h"
#include "backends/cpu/vec_dot.h"
#include "drawbridge/error.h"

namespace db::cpu {

void KernelCtx::barrier() const {
  if (pool) pool->barrier();
}

KernelFn kernel_for(Op op) {
  switch (op) {
    case Op::Embed: return kernel_embed;
    case Op::MatMul: return kernel_matmul;
    case Op::Add: return kernel_add;
    case Op::Mul: return kernel_mul;
    case Op::Scale: return kernel_scale;
    case Op::RmsNorm: return kernel_rms_norm;
    case Op::Rope: return kernel_rope;
    case Op::Silu: return kernel_silu;
    case Op::Gelu: return kernel_gelu;
    case Op::SwiGlu: return kernel_swiglu;
    case Op::SoftMax: return kernel_softmax;
    case Op::KvStore: return kernel_kv_store;
    case Op::Attention: return kernel_attention;
    case Op::Convert: return kernel_convert;
    case Op::LayerNorm: return kernel_layer_norm;
    case Op::MatMulId: return kernel_matmul_id;
    case Op::TopK: return kernel_top_k;
    case Op::Gather: return kernel_gather;
    case Op::WeightedSum: return kernel_weighted_sum;
    case Op::Concat: return kernel_concat;
    case Op::Sigmoid: return kernel_sigmoid;
    case Op::Softplus: return kernel_softplus;
    case Op::Relu: return kernel_relu;
    case Op::ShortConv: return kernel_short_conv;
    case Op::DeltaNet: return kernel_delta_net;
    default: return nullptr;
  }
}

bool cpu_supports(const Graph& g, const Node& n, std::string* why) {
  auto dtype_of = [&](int i) { return g.node(n.src[size_t(i)]).out.dtype; };
  auto has_codec = [](DType t, bool from) {
    const auto& info = dtype_info(t);
    return from ? info.from_float != nullptr : info.to_float != nullptr;
  };
  auto no = [&](std::string reason) {
    if (why) *why = std::move(reason);
    return false;
  };
  if (n.op == Op::Leaf || n.op == Op::View) return true;
  if (!kernel_for(n.op)) return no("no cpu kernel for this op");
  switch (n.op) {
    case Op::MatMul:
      if (!dot_traits(dtype_of(0)))
        return no(fmt::format("no cpu matmul kernel for {} weights", dtype_name(dtype_of(0))));
      break;
    case Op::Embed:
      if (!has_codec(dtype_of(0), false))
        return no(fmt::format("cannot dequantize {} rows", dtype_name(dtype_of(0))));
      break;
    case Op::KvStore:
      if (!has_codec(dtype_of(1), true))
        return no(fmt::format("cannot store into a {} cache", dtype_name(dtype_of(1))));
      break;
    case Op::Attention:
    {
      // Keys are scored with the cache dtype's dot product; values are dequantized. src[2] is the
      // value cache, or absent (MLA: values share the key rows), or i32 key indices (sparse).
      const bool own_values = n.src[2] >= 0 && dtype_of(2) != DType::I32;
      if (!has_codec(dtype_of(1), false) || (own_values && !has_codec(dtype_of(2), false)) || !dot_traits(dtype_of(1)))
        return no(fmt::format("cannot read a {} cache", dtype_name(dtype_of(1))));
      break;
    }
    case Op::MatMulId:
      if (!has_codec(dtype_of(0), false))
        return no(fmt::format("cannot dequantize {} experts", dtype_name(dtype_of(0))));
      break;
    case Op::Convert:
      if (!has_codec(dtype_of(0), false) || !has_codec(n.out.dtype, true))
        return no(fmt::format("cannot convert {} to {}", dtype_name(dtype_of(0)), dtype_name(n.out.dtype)));
      break;
    default:
      break;
  }
  return true;
}

size_t work_size(const Graph& g, const Node& n, int n_threads) {
  if (n.op != Op::MatMul) return 0;
  const Tensor& w = g.node(n.src[0]).out;
  const Tensor& x = g.node(n.src[1]).out;
  const DotTraits* tr = dot_traits(w.dtype);
  if (!tr || (tr->dot_type == DType::F32 && x.is_contiguous())) return 0;
  return row_bytes(tr->dot_type, w.ne[0]) * size_t(x.nrows());
}

CpuBackend::CpuBackend(int n_threads) : pool_(n_threads) {}

namespace {

constexpr size_t kAlign = 64;
size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// Best-fit allocator over offsets in an arena; tracks the high-water mark.
class OffsetAllocator {
 public:
  size_t alloc(size_t size) {
    auto best = free_.end();
    for (auto it = free_.begin(); it != free_.end(); ++it)
      if (it->second >= size && (best == free_.end() || it->second < best->second)) best = it;
    if (best == free_.end()) {
      // Grow: extend a free block that ends at the top, else add at the top.
      if (!free_.empty() && free_.back().first + free_.back().second == top_) {
        const size_t off = free_.back().first;
        free_.pop_back();
        top_ = off + size;
        return off;
      }
      const size_t off = top_;
      top_ += size;
      return off;
    }
    const size_t off = best->first;
    if (best->second == size) {
      free_.erase(best);
    } else {
      best->first += size;
      best->second -= size;
    }
    return off;
  }
  void release(size_t off, size_t size) {
    auto it = std::lower_bound(free_.begin(), free_.end(), std::make_pair(off, size_t(0)));
    it = free_.insert(it, {off, size});
    // Merge with the next and previous blocks.
    if (it + 1 != free_.end() && it->first + it->second == (it + 1)->first) {
      it->second += (it + 1)->second;
      free_.erase(it + 1);
    }
    if (it != free_.begin() && (it - 1)->first + (it - 1)->second == it->first) {
      (it - 1)->second += it->second;
      free_.erase(it);
    }
  }
  size_t top() const { return top_; }

 private:
  std::vector<std::pair<size_t, size_t>> free_;  // sorted by offset
  size_t top_ = 0;
};

// The node that owns the storage node `id` reads from (itself unless it is a view or a store).
int storage_owner(const Graph& g, int id) {
  for (;;) {
    const Node& n = g.node(id);
    if (n.op == Op::View) id = n.src[0];
    else if (n.op == Op::KvStore) id = n.src[1];
    else return id;
  }
}

bool needs_arena(const Node& n) { return n.op != Op::Leaf && n.op != Op::View && n.op != Op::KvStore; }

}  // namespace

CpuBackend::NodeKey CpuBackend::key_of(const Node& n) {
  return NodeKey{n.op, n.out.dtype, n.out.is_contiguous(), n.src, n.out.ne};
}

bool CpuBackend::same_as_planned(const Graph& g) const {
  if (g.nodes().size() != planned_.size() || g.outputs() != planned_outputs_) return false;
  for (size_t j = 0; j < planned_.size(); ++j)
    if (!(key_of(g.nodes()[j]) == planned_[j])) return false;
  return true;
}

void CpuBackend::check_supported(const Graph& g) const {
  for (const Node& n : g.nodes()) {
    std::string why;
    DB_CHECK(cpu_supports(g, n, &why), "[{}] '{}' cannot run on cpu: {}", op_name(n.op), n.out.name, why);
  }
}

void CpuBackend::plan_memory(Graph& g) {
  const int count = int(g.nodes().size());
  std::vector<int> last_use(size_t(count), -1);
  for (int j = 0; j < count; ++j)
    for (int s : g.node(j).src)
      if (s >= 0) last_use[size_t(storage_owner(g, s))] = j;
  for (int o : g.outputs()) last_use[size_t(storage_owner(g, o))] = std::numeric_limits<int>::max();

  OffsetAllocator alloc;
  offsets_.assign(size_t(count), 0);
  std::vector<std::vector<int>> frees_after(static_cast<size_t>(count));
  work_bytes_ = 0;
  for (int j = 0; j < count; ++j) {
    const Node& n = g.node(j);
    work_bytes_ = std::max(work_bytes_, work_size(g, n, n_threads()));
    if (needs_arena(n)) {
      offsets_[size_t(j)] = alloc.alloc(align_up(std::max<size_t>(n.out.nbytes(), 1)));
      const int last = last_use[size_t(j)];
      if (last < 0) frees_after[size_t(j)].push_back(j);  // unused result: free right away
      else if (last < count) frees_after[size_t(last)].push_back(j);
    }
    for (int f : frees_after[size_t(j)]) alloc.release(offsets_[size_t(f)], align_up(std::max<size_t>(g.node(f).out.nbytes(), 1)));
  }
  work_offset_ = align_up(alloc.top());
  const size_t need = work_offset_ + align_up(work_bytes_);
  if (need > arena_size_) {
    void* p = std::aligned_alloc(kAlign, need);
    DB_CHECK(p != nullptr, "[cpu] cannot allocate {} bytes of activations", need);
    arena_ = std::unique_ptr<char[], void (*)(char*)>(static_cast<char*>(p), [](char* q) { std::free(q); });
    arena_size_ = need;
  }
  planned_.clear();
  for (const Node& n : g.nodes()) planned_.push_back(key_of(n));
  planned_outputs_ = g.outputs();
  ++plans_made_;
}

void CpuBackend::compute(Graph& g) {
  // Support depends only on ops and dtypes (in NodeKey): a graph like the last one passed already.
  if (!same_as_planned(g)) {
    planned_.clear();  // a failed check or plan leaves no stale plan behind
    check_supported(g);
    plan_memory(g);
  }
  for (const Node& n : g.nodes())
    DB_CHECK(n.op != Op::Leaf || n.out.data != nullptr,
             "[cpu] '{}' has no data (a meta tensor cannot be executed)", n.out.name);
  // Activations take their arena offsets; views and stores take their storage from their source,
  // resolved in graph order. Done on every run: the graph may be another object than last time.
  for (size_t j = 0; j < g.nodes().size(); ++j) {
    Node& n = g.nodes()[j];
    if (needs_arena(n)) n.out.data = arena_.get() + offsets_[j];
    if (n.op == Op::View) n.out.data = static_cast<char*>(g.node(n.src[0]).out.data) + n.params.i[0];
    if (n.op == Op::KvStore) n.out.data = g.node(n.src[1]).out.data;
  }
  void* work = arena_.get() + work_offset_;
  pool_.run([&](int ith, int nth) {
    KernelCtx ctx{ith, nth, work, work_bytes_, &pool_, &packed_};
    for (const Node& n : g.nodes()) {
      KernelFn fn = kernel_for(n.op);
      if (!fn) continue;
      fn(ctx, g, n);
      ctx.barrier();
    }
  });
}

}  // namespace db::cpu
