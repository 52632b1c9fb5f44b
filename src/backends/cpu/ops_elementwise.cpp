// Element-wise and row-wise ops on f32 rows: add, mul, scale, silu, gelu, swiglu, softmax, convert.
#include <cmath>

#include "backends/cpu/kernels.h"
#include "backends/cpu/row_iter.h"
#include "backends/cpu/row_kernels.h"

namespace db::cpu {
namespace {

const Tensor& src(const Graph& g, const Node& n, int i) { return g.node(n.src[size_t(i)]).out; }

// Applies fn(out_row, a_row, b_row, ne0) to this thread's share of rows; b broadcasts if 1 row.
template <typename Fn>
void binary_rows(const KernelCtx& ctx, const Graph& g, const Node& n, Fn fn) {
  const Tensor &a = src(g, n, 0), &b = src(g, n, 1);
  int64_t r0, r1;
  split_rows(n.out.nrows(), ctx.ith, ctx.nth, r0, r1);
  for (int64_t r = r0; r < r1; ++r)
    fn(frow(n.out, r), frow(a, r), frow(b, b.nrows() == 1 ? 0 : r), n.out.ne[0]);
}

template <typename Fn>
void unary_rows(const KernelCtx& ctx, const Graph& g, const Node& n, Fn fn) {
  const Tensor& a = src(g, n, 0);
  int64_t r0, r1;
  split_rows(n.out.nrows(), ctx.ith, ctx.nth, r0, r1);
  for (int64_t r = r0; r < r1; ++r) fn(frow(n.out, r), frow(a, r), n.out.ne[0]);
}

}  // namespace

void kernel_add(const KernelCtx& ctx, const Graph& g, const Node& n) {
  binary_rows(ctx, g, n, [](float* y, const float* a, const float* b, int64_t k) {
    for (int64_t i = 0; i < k; ++i) y[i] = a[i] + b[i];
  });
}

void kernel_mul(const KernelCtx& ctx, const Graph& g, const Node& n) {
  binary_rows(ctx, g, n, [](float* y, const float* a, const float* b, int64_t k) {
    for (int64_t i = 0; i < k; ++i) y[i] = a[i] * b[i];
  });
}

void kernel_swiglu(const KernelCtx& ctx, const Graph& g, const Node& n) {
  binary_rows(ctx, g, n, [](float* y, const float* gate, const float* up, int64_t k) {
    row_kernels().swiglu(k, y, gate, up);  // ggml_vec_swiglu_f32's rounding
  });
}

void kernel_scale(const KernelCtx& ctx, const Graph& g, const Node& n) {
  const float s = n.params.f[0];
  unary_rows(ctx, g, n, [s](float* y, const float* a, int64_t k) {
    for (int64_t i = 0; i < k; ++i) y[i] = a[i] * s;
  });
}

void kernel_silu(const KernelCtx& ctx, const Graph& g, const Node& n) {
  unary_rows(ctx, g, n, [](float* y, const float* a, int64_t k) {
    row_kernels().silu(k, y, a);  // ggml_vec_silu_f32's rounding
  });
}

void kernel_gelu(const KernelCtx& ctx, const Graph& g, const Node& n) {
  unary_rows(ctx, g, n, [](float* y, const float* a, int64_t k) {
    constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;
    for (int64_t i = 0; i < k; ++i) {
      const float x = a[i];
      y[i] = 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * (1.0f + 0.044715f * x * x)));
    }
  });
}

void kernel_softmax(const KernelCtx& ctx, const Graph& g, const Node& n) {
  const float s = n.params.f[0] == 0.0f ? 1.0f : n.params.f[0];
  unary_rows(ctx, g, n, [s](float* y, const float* a, int64_t k) {
    float mx = -INFINITY;
    for (int64_t i = 0; i < k; ++i) mx = std::max(mx, a[i] * s);
    double sum = 0;
    for (int64_t i = 0; i < k; ++i) sum += (y[i] = std::exp(a[i] * s - mx));
    const float inv = float(1.0 / sum);
    for (int64_t i = 0; i < k; ++i) y[i] *= inv;
  });
}

void kernel_convert(const KernelCtx& ctx, const Graph& g, const Node& n) {
  const Tensor& a = src(g, n, 0);
  const auto& to = dtype_info(n.out.dtype);
  const auto& from = dtype_info(a.dtype);
  int64_t r0, r1;
  split_rows(n.out.nrows(), ctx.ith, ctx.nth, r0, r1);
  float* tmp = thread_scratch_as<float>(1, size_t(a.ne[0]));
  for (int64_t r = r0; r < r1; ++r) {
    from.to_float(row_ptr(a, r), tmp, a.ne[0]);
    to.from_float(tmp, row_ptr(n.out, r), a.ne[0]);
  }
}

}  // namespace db::cpu

namespace db::cpu {

void kernel_sigmoid(const KernelCtx& ctx, const Graph& g, const Node& n) {
  unary_rows(ctx, g, n, [](float* y, const float* a, int64_t k) {
    for (int64_t i = 0; i < k; ++i) y[i] = 1.0f / (1.0f + std::exp(-a[i]));
  });
}

// log(1 + e^x), written so that large x does not overflow.
void kernel_softplus(const KernelCtx& ctx, const Graph& g, const Node& n) {
  unary_rows(ctx, g, n, [](float* y, const float* a, int64_t k) {
    for (int64_t i = 0; i < k; ++i) y[i] = a[i] > 20.0f ? a[i] : std::log1p(std::exp(a[i]));
  });
}

void kernel_relu(const KernelCtx& ctx, const Graph& g, const Node& n) {
  unary_rows(ctx, g, n, [](float* y, const float* a, int64_t k) {
    for (int64_t i = 0; i < k; ++i) y[i] = a[i] > 0.0f ? a[i] : 0.0f;
  });
}

}  // namespace db::cpu
