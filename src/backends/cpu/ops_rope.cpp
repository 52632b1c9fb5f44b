// Rotary position embedding (RoPE). Normal mode rotates adjacent pairs (2i, 2i+1) as Llama's
// GGUF layout expects; Neox mode rotates (i, i + d/2) as Qwen2 does. The angle for pair i is
// pos · base^(-2i/d) · freq_scale / factor_i, computed by repeated multiplication exactly as ggml
// does so that positions agree bit for bit with llama.cpp. The rotation also rounds as llama.cpp's
// -march=native build of ggml does: the compiler contracts x0·c − x1·s and x0·s + x1·c into one FMA
// each (x0's product fused, the other rounded first), except that its vectorized Normal-mode loop
// handles a last odd pair with plain multiplies and an add.
#include <cmath>

#include "backends/cpu/kernels.h"
#include "backends/cpu/row_iter.h"

namespace db::cpu {

void kernel_rope(const KernelCtx& ctx, const Graph& g, const Node& n) {
  const Tensor& x = g.node(n.src[0]).out;  // [D, H, T]
  const int32_t* pos = g.node(n.src[1]).out.as<int32_t>();
  const float* factors = n.src[2] >= 0 ? g.node(n.src[2]).out.as<float>() : nullptr;
  const int64_t n_dims = n.params.i[0];
  const bool neox = n.params.i[1] != 0;
  const float freq_base = n.params.f[0], freq_scale = n.params.f[1];
  const float theta_scale = std::pow(freq_base, -2.0f / float(n_dims));
  const int64_t D = x.ne[0], H = x.ne[1], T = x.ne[2];

  int64_t r0, r1;
  split_rows(H * T, ctx.ith, ctx.nth, r0, r1);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t h = r % H, t = r / H;
    const float* src = reinterpret_cast<const float*>(x.row(h, t));
    float* dst = reinterpret_cast<float*>(n.out.row(h, t));
    float theta_base = float(pos[t]);
    for (int64_t i0 = 0; i0 < n_dims; i0 += 2) {
      const float factor = factors ? factors[i0 / 2] : 1.0f;
      const float theta = freq_scale * (theta_base / factor);
      const float c = std::cos(theta), s = std::sin(theta);
      theta_base *= theta_scale;
      const int64_t a = neox ? i0 / 2 : i0;
      const int64_t b = neox ? i0 / 2 + n_dims / 2 : i0 + 1;
      const float x0 = src[a], x1 = src[b];
      if (neox || i0 + 2 < n_dims || (n_dims / 2) % 2 == 0) {
        dst[a] = std::fma(x0, c, -(x1 * s));
        dst[b] = std::fma(x0, s, x1 * c);
      } else {
        dst[a] = x0 * c - x1 * s;
        dst[b] = x0 * s + x1 * c;
      }
    }
    for (int64_t i = n_dims; i < D; ++i) dst[i] = src[i];
  }
}

}  // namespace db::cpu
