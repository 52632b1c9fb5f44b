// KV-cache store and fused causal attention (flash-style: one pass over the cache per query with
// an online softmax, so no [T, C] score matrix is ever materialized).
#include <algorithm>
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

// out[:, h, t] = softmax(scale · q·K[keys]) · V[keys], for query head h reading kv head h / group.
// keys: 0 .. past + t (causal), limited to the last `window` when params.i[1] > 0, or the listed
// indices (sparse). Without a separate v (MLA), values are the first Dv columns of each key row.
void kernel_attention(const KernelCtx& ctx, const Graph& g, const Node& n) {
  const Tensor& q = g.node(n.src[0]).out;  // [Dk, H, T]
  const Tensor& k = g.node(n.src[1]).out;  // [Dk, Hkv, C]
  const Tensor* sel = nullptr;             // i32 [n_sel, T] (sparse)
  const Tensor* vp = &k;
  if (n.src[2] >= 0) {
    const Tensor& s2 = g.node(n.src[2]).out;
    if (s2.dtype == DType::I32) sel = &s2;
    else vp = &s2;
  }
  const Tensor& v = *vp;
  const int64_t D = q.ne[0], H = q.ne[1], T = q.ne[2], Hkv = k.ne[1], Dv = n.out.ne[0];
  const int64_t past = n.params.i[0], window = n.params.i[1], group = H / Hkv;
  const float scale = n.params.f[0];
  const bool round_q = k.dtype == DType::F16;  // as llama.cpp: q meets f16 keys in f16

  std::vector<float> qv(static_cast<size_t>(D)), kv(static_cast<size_t>(D)), vv(static_cast<size_t>(std::max(D, Dv))),
      acc(static_cast<size_t>(Dv));
  int64_t r0, r1;
  split_rows(H * T, ctx.ith, ctx.nth, r0, r1);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t h = r % H, t = r / H, hk = h / group;
    const float* qr = reinterpret_cast<const float*>(q.row(h, t));
    for (int64_t i = 0; i < D; ++i) qv[size_t(i)] = round_q ? fp16_to_fp32(fp32_to_fp16(qr[i])) : qr[i];
    float m = -INFINITY, sum = 0.0f;
    std::fill(acc.begin(), acc.end(), 0.0f);
    const int64_t last = past + t, first = window > 0 ? std::max<int64_t>(0, last - window + 1) : 0;
    const int64_t n_keys = sel ? sel->ne[0] : last - first + 1;
    const int32_t* ids = sel ? reinterpret_cast<const int32_t*>(sel->row(t)) : nullptr;
    for (int64_t jj = 0; jj < n_keys; ++jj) {
      const int64_t j = ids ? ids[jj] : first + jj;
      if (j < first || j > last) continue;  // padding or a key outside the causal window
      load_row(k.dtype, k.row(hk, j), kv.data(), D);
      float s = 0.0f;
      for (int64_t i = 0; i < D; ++i) s += qv[size_t(i)] * kv[size_t(i)];
      s *= scale;
      // Online softmax: rescale what was accumulated when a new maximum appears.
      const float m_new = std::max(m, s);
      const float correction = std::exp(m - m_new);
      const float p = std::exp(s - m_new);
      if (vp == &k) std::copy(kv.begin(), kv.begin() + Dv, vv.begin());
      else load_row(v.dtype, v.row(hk, j), vv.data(), Dv);
      for (int64_t i = 0; i < Dv; ++i) acc[size_t(i)] = acc[size_t(i)] * correction + p * vv[size_t(i)];
      sum = sum * correction + p;
      m = m_new;
    }
    float* out = reinterpret_cast<float*>(n.out.row(h, t));
    for (int64_t i = 0; i < Dv; ++i) out[i] = sum > 0.0f ? acc[size_t(i)] / sum : 0.0f;
  }
}

}  // namespace db::cpu
