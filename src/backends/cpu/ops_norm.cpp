// RMS normalization: y = x / sqrt(mean(x²) + eps) [* w]. As in ggml, each square is rounded to
// float and the squares are summed in double, so long rows lose no precision and results match.
#include <cmath>

#include "backends/cpu/kernels.h"
#include "backends/cpu/row_iter.h"

namespace db::cpu {

void kernel_rms_norm(const KernelCtx& ctx, const Graph& g, const Node& n) {
  const Tensor& x = g.node(n.src[0]).out;
  const float* w = n.src[1] >= 0 ? g.node(n.src[1]).out.as<float>() : nullptr;
  const float eps = n.params.f[0];
  const int64_t k = x.ne[0];
  int64_t r0, r1;
  split_rows(x.nrows(), ctx.ith, ctx.nth, r0, r1);
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = frow(x, r);
    float* yr = frow(n.out, r);
    double sum = 0.0;
    for (int64_t i = 0; i < k; ++i) sum += double(xr[i] * xr[i]);
    const float scale = 1.0f / std::sqrt(float(sum / double(k)) + eps);
    if (w) {
      for (int64_t i = 0; i < k; ++i) yr[i] = (xr[i] * scale) * w[i];
    } else {
      for (int64_t i = 0; i < k; ++i) yr[i] = xr[i] * scale;
    }
  }
}

}  // namespace db::cpu
