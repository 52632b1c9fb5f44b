// KV-cache store and fused causal attention (flash-style: one pass over the cache per query with
// an online softmax, so no [T, C] score matrix is ever materialized).
#include <cmath>
#include <vector>

#include "backends/cpu/kernels.h"
#include "backends/cpu/row_iter.h"

namespace db::cpu {

// Writes new K or V rows [D, Hkv, T] into the cache [D, Hkv, C] at position params.i[0].
void kernel_kv_store(const KernelCtx& ctx, const Graph& g, const Node& n) {
  const Tensor& x = g.node(n.src[0]).out;
  const Tensor& cache = g.node(n.src[1]).out;
  const auto& to = dtype_info(cache.dtype);
  const int64_t pos0 = n.params.i[0], H = x.ne[1], T = x.ne[2];
  int64_t r0, r1;
  split_rows(H * T, ctx.ith, ctx.nth, r0, r1);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t h = r % H, t = r / H;
    to.from_float(reinterpret_cast<const float*>(x.row(h, t)), cache.row(h, pos0 + t), x.ne[0]);
  }
}

namespace {

// Keys and values are read as f32 from the cache's dtype, one row at a time.
inline void load_row(DType t, const char* src, float* dst, int64_t n) {
  if (t == DType::F32) {
    __builtin_memcpy(dst, src, size_t(n) * 4);
  } else if (t == DType::F16) {
    auto* s = reinterpret_cast<const uint16_t*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(s[i]);
  } else {
    dtype_info(t).to_float(src, dst, n);
  }
}

}  // namespace

// out[:, h, t] = softmax(scale · q·K[0..past+t]) · V, for query head h reading kv head h / group.
void kernel_attention(const KernelCtx& ctx, const Graph& g, const Node& n) {
  const Tensor& q = g.node(n.src[0]).out;  // [D, H, T]
  const Tensor& k = g.node(n.src[1]).out;  // [D, Hkv, C]
  const Tensor& v = g.node(n.src[2]).out;
  const int64_t D = q.ne[0], H = q.ne[1], T = q.ne[2], Hkv = k.ne[1];
  const int64_t past = n.params.i[0], group = H / Hkv;
  const float scale = n.params.f[0];
  const bool round_q = k.dtype == DType::F16;  // as llama.cpp: q meets f16 keys in f16

  const auto d = static_cast<size_t>(D);
  std::vector<float> qv(d), kv(d), vv(d), acc(d);
  int64_t r0, r1;
  split_rows(H * T, ctx.ith, ctx.nth, r0, r1);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t h = r % H, t = r / H, hk = h / group;
    const float* qr = reinterpret_cast<const float*>(q.row(h, t));
    for (int64_t i = 0; i < D; ++i) qv[size_t(i)] = round_q ? fp16_to_fp32(fp32_to_fp16(qr[i])) : qr[i];
    float m = -INFINITY, sum = 0.0f;
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int64_t j = 0; j <= past + t; ++j) {
      load_row(k.dtype, k.row(hk, j), kv.data(), D);
      float s = 0.0f;
      for (int64_t i = 0; i < D; ++i) s += qv[size_t(i)] * kv[size_t(i)];
      s *= scale;
      // Online softmax: rescale what was accumulated when a new maximum appears.
      const float m_new = std::max(m, s);
      const float correction = std::exp(m - m_new);
      const float p = std::exp(s - m_new);
      load_row(v.dtype, v.row(hk, j), vv.data(), D);
      for (int64_t i = 0; i < D; ++i) acc[size_t(i)] = acc[size_t(i)] * correction + p * vv[size_t(i)];
      sum = sum * correction + p;
      m = m_new;
    }
    float* out = reinterpret_cast<float*>(n.out.data) + (t * H + h) * D;
    for (int64_t i = 0; i < D; ++i) out[i] = acc[size_t(i)] / sum;
  }
}

}  // namespace db::cpu
