// Matrix multiplication y[N, M] = W[K, N] · x[K, M] for any supported weight dtype.
// Phase 1: the threads convert x to the weight's dot type (into shared scratch).
// Phase 2: each thread takes a contiguous band of weight rows and, for cache reuse, walks every
// activation column against a small block of rows before moving on.
#include <algorithm>

#include "backends/cpu/kernels.h"
#include "backends/cpu/row_iter.h"
#include "backends/cpu/vec_dot.h"

namespace db::cpu {

void kernel_matmul(const KernelCtx& ctx, const Graph& g, const Node& n) {
  const Tensor& w = g.node(n.src[0]).out;
  const Tensor& x = g.node(n.src[1]).out;
  const DotTraits* tr = dot_traits(w.dtype);
  const int64_t K = w.ne[0], N = w.ne[1], M = x.nrows();

  const void* xq = nullptr;
  size_t xq_row = 0;
  if (tr->dot_type == DType::F32 && x.is_contiguous()) {
    xq = x.data;
    xq_row = x.nb[1];
  } else {
    xq_row = row_bytes(tr->dot_type, K);
    int64_t m0, m1;
    split_rows(M, ctx.ith, ctx.nth, m0, m1);
    for (int64_t m = m0; m < m1; ++m)
      tr->from_float(frow(x, m), static_cast<char*>(ctx.work) + size_t(m) * xq_row, K);
    ctx.barrier();
    xq = ctx.work;
  }

  int64_t n0, n1;
  split_rows(N, ctx.ith, ctx.nth, n0, n1);
  constexpr int64_t kRowBlock = 16;
  for (int64_t nb = n0; nb < n1; nb += kRowBlock) {
    const int64_t nb_end = std::min(n1, nb + kRowBlock);
    for (int64_t m = 0; m < M; ++m) {
      const char* xr = static_cast<const char*>(xq) + size_t(m) * xq_row;
      float* y = frow(n.out, m);
      for (int64_t r = nb; r < nb_end; ++r) y[r] = tr->vec_dot(K, w.row(r), xr);
    }
  }
}

}  // namespace db::cpu
