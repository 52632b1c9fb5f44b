// KV-cache store and fused causal attention (flash-style: one pass over the cache per query with
// an online softmax, so no [T, C] score matrix is ever materialized).
#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/cpu/kernels.h"
#include "backends/cpu/row_iter.h"
#include "backends/cpu/vec_dot.h"

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

// out[:, h, t] = softmax(scale · q·K[0..past+t]) · V, for query head h reading kv head h / group.
// The arithmetic is that of llama.cpp's CPU flash attention (ggml_compute_forward_flash_attn_ext_f16,
// one query row at a time), so greedy decoding agrees token for token: q is converted to the key
// dot type (f16 for an f16 cache) and scored with the same dot product as ggml (vec_dot.h); the
// online softmax rescales with expf; with an f16 cache the weighted sum of V is kept in f16,
// rounded after the rescale and after each fused multiply-add; the running sum S is updated with
// one FMA; the result is acc · (1/S).
void kernel_attention(const KernelCtx& ctx, const Graph& g, const Node& n) {
  const Tensor& q = g.node(n.src[0]).out;  // [D, H, T]
  const Tensor& k = g.node(n.src[1]).out;  // [D, Hkv, C]
  const Tensor& v = g.node(n.src[2]).out;
  const int64_t D = q.ne[0], H = q.ne[1], T = q.ne[2], Hkv = k.ne[1];
  const int64_t past = n.params.i[0], group = H / Hkv;
  const float scale = n.params.f[0];
  const DotTraits& kt = *dot_traits(k.dtype);
  const bool f16_acc = v.dtype == DType::F16;

  const auto d = static_cast<size_t>(D);
  std::vector<char> qbuf(row_bytes(kt.dot_type, D));
  std::vector<float> acc(d), vrow(d);
  std::vector<uint16_t> acc16(d);
  int64_t r0, r1;
  split_rows(H * T, ctx.ith, ctx.nth, r0, r1);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t h = r % H, t = r / H, hk = h / group;
    kt.from_float(reinterpret_cast<const float*>(q.row(h, t)), qbuf.data(), D);
    float M = -INFINITY, S = 0.0f;
    std::fill(acc.begin(), acc.end(), 0.0f);
    std::fill(acc16.begin(), acc16.end(), uint16_t(0));
    for (int64_t j = 0; j <= past + t; ++j) {
      const float s = kt.vec_dot(D, k.row(hk, j), qbuf.data()) * scale;
      float ms = 1.0f, vs = 1.0f;  // rescale of what was accumulated; weight of this value
      if (s > M) {
        ms = std::exp(M - s);
        M = s;
        if (f16_acc)
          for (size_t i = 0; i < d; ++i) acc16[i] = fp32_to_fp16(fp16_to_fp32(acc16[i]) * ms);
        else
          for (size_t i = 0; i < d; ++i) acc[i] *= ms;
      } else {
        vs = std::exp(s - M);
      }
      if (f16_acc) {
        const auto* vr = reinterpret_cast<const uint16_t*>(v.row(hk, j));
        for (size_t i = 0; i < d; ++i) acc16[i] = fp32_to_fp16(std::fma(fp16_to_fp32(vr[i]), vs, fp16_to_fp32(acc16[i])));
      } else {
        const float* vr = reinterpret_cast<const float*>(v.row(hk, j));
        if (v.dtype != DType::F32) {
          dtype_info(v.dtype).to_float(v.row(hk, j), vrow.data(), D);
          vr = vrow.data();
        }
        for (size_t i = 0; i < d; ++i) acc[i] = std::fma(vr[i], vs, acc[i]);
      }
      S = std::fma(S, ms, vs);
    }
    if (f16_acc)
      for (size_t i = 0; i < d; ++i) acc[i] = fp16_to_fp32(acc16[i]);
    const float inv = S == 0.0f ? 0.0f : 1.0f / S;
    float* out = reinterpret_cast<float*>(n.out.data) + (t * H + h) * D;
    for (size_t i = 0; i < d; ++i) out[i] = acc[i] * inv;
  }
}

}  // namespace db::cpu
