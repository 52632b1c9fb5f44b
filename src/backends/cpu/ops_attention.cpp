// KV-cache store and fused causal attention (flash-style: one pass over the cache per query with
// an online softmax, so no [T, C] score matrix is ever materialized).
#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/cpu/ggml_math.h"
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

namespace {

struct AttnShape {
  const Tensor &q, &k, &v;
  int64_t D, past;
  float scale;
};

inline float load_f(const Tensor& t, int64_t hk, int64_t j, int64_t i) {
  return t.dtype == DType::F16 ? fp16_to_fp32(reinterpret_cast<const uint16_t*>(t.row(hk, j))[i])
                               : reinterpret_cast<const float*>(t.row(hk, j))[i];
}

// ggml_compute_forward_flash_attn_ext_f16_one_chunk, one query row (h, t) over keys 0..past+t.
struct OneChunk {
  const AttnShape& a;
  const DotTraits& kt;
  std::vector<char> qbuf;
  std::vector<float> acc, vrow;
  std::vector<uint16_t> acc16;
  OneChunk(const AttnShape& s, const DotTraits& traits)
      : a(s), kt(traits), qbuf(row_bytes(traits.dot_type, s.D)), acc(size_t(s.D)), vrow(size_t(s.D)), acc16(size_t(s.D)) {}

  // Keys [j0, j1) (those visible to query t) into acc (f32), the running max M and sum S.
  void partial(int64_t t, int64_t h, int64_t hk, int64_t j0, int64_t j1, float& M, float& S) {
    const auto d = static_cast<size_t>(a.D);
    const bool f16_acc = a.v.dtype == DType::F16;
    kt.from_float(reinterpret_cast<const float*>(a.q.row(h, t)), qbuf.data(), a.D);
    M = -INFINITY;
    S = 0.0f;
    std::fill(acc.begin(), acc.end(), 0.0f);
    std::fill(acc16.begin(), acc16.end(), uint16_t(0));
    for (int64_t j = j0; j < std::min(j1, a.past + t + 1); ++j) {
      const float s = kt.vec_dot(a.D, a.k.row(hk, j), qbuf.data()) * a.scale;
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
        const auto* vr = reinterpret_cast<const uint16_t*>(a.v.row(hk, j));
        for (size_t i = 0; i < d; ++i) acc16[i] = fp32_to_fp16(std::fma(fp16_to_fp32(vr[i]), vs, fp16_to_fp32(acc16[i])));
      } else {
        const float* vr = reinterpret_cast<const float*>(a.v.row(hk, j));
        if (a.v.dtype != DType::F32) {
          dtype_info(a.v.dtype).to_float(a.v.row(hk, j), vrow.data(), a.D);
          vr = vrow.data();
        }
        for (size_t i = 0; i < d; ++i) acc[i] = std::fma(vr[i], vs, acc[i]);
      }
      S = std::fma(S, ms, vs);
    }
    if (f16_acc)
      for (size_t i = 0; i < d; ++i) acc[i] = fp16_to_fp32(acc16[i]);
  }

  void row(int64_t h, int64_t t, int64_t hk, float* out) {
    float M, S;
    partial(t, h, hk, 0, a.past + t + 1, M, S);
    const float inv = S == 0.0f ? 0.0f : 1.0f / S;
    for (int64_t i = 0; i < a.D; ++i) out[i] = acc[size_t(i)] * inv;
  }

  // ggml's split-KV decode (one query, 512+ cache cells in llama.cpp's view): the n_kv cells are
  // cut into n_chunks equal ranges (one per llama.cpp thread), each range gives a partial as above,
  // and the partials are merged in order with FMAs: ggml_flash_attn_ext_reduce_partials.
  void row_split(int64_t h, int64_t hk, int64_t n_kv, int64_t n_chunks, float* out) {
    const int64_t chunk = (n_kv + n_chunks - 1) / n_chunks;
    float M = -INFINITY, S = 0.0f;
    std::vector<float> fin(size_t(a.D), 0.0f);
    for (int64_t c = 0; c < n_chunks && c * chunk < n_kv; ++c) {
      float Mc, Sc;
      partial(0, h, hk, c * chunk, std::min(n_kv, (c + 1) * chunk), Mc, Sc);
      if (Sc == 0.0f) continue;
      const float m_new = std::fmax(M, Mc);
      const float scale_old = std::exp(M - m_new), scale_new = std::exp(Mc - m_new);
      for (size_t i = 0; i < fin.size(); ++i) fin[i] = std::fma(fin[i], scale_old, acc[i] * scale_new);
      S = std::fma(S, scale_old, Sc * scale_new);
      M = m_new;
    }
    const float inv = S != 0.0f ? 1.0f / S : 1.0f;
    for (int64_t i = 0; i < a.D; ++i) out[i] = fin[size_t(i)] * inv;
  }
};

// ggml_compute_forward_flash_attn_ext_tiled (batches of 64+ queries, f32/f16 K = V type), one
// query row: q stays f32; keys are taken 64 at a time; each score is an FMA chain over the head
// dimension, then scaled; per tile the running max, exps by ggml_v_expf with their sum in double
// (8-lane partial sums), and V accumulated in f32 by one FMA chain per output over the tile.
constexpr int64_t kKvTile = 64;
struct Tiled {
  const AttnShape& a;
  std::vector<float> acc;
  Tiled(const AttnShape& s) : a(s), acc(size_t(s.D)) {}

  void row(int64_t h, int64_t t, int64_t hk, float* out) {
    const float* q = reinterpret_cast<const float*>(a.q.row(h, t));
    const int64_t n_vis = a.past + t + 1;
    float M = -INFINITY, S = 0.0f;
    std::fill(acc.begin(), acc.end(), 0.0f);
    float kq[kKvTile];
    for (int64_t ic = 0; ic < n_vis; ic += kKvTile) {
      const int64_t nt = std::min(kKvTile, n_vis - ic);  // visible keys of this tile; the rest masked
      float tile_max = -INFINITY;
      for (int64_t tk = 0; tk < kKvTile; ++tk) {
        if (tk < nt) {
          float s = 0.0f;
          for (int64_t i = 0; i < a.D; ++i) s = std::fma(load_f(a.k, hk, ic + tk, i), q[i], s);
          kq[tk] = s * a.scale + 0.0f;  // + the mask's 0
        } else {
          kq[tk] = -INFINITY;
        }
        tile_max = tile_max > kq[tk] ? tile_max : kq[tk];
      }
      const float m_new = std::fmax(M, tile_max);
      if (m_new > M) {
        const float ms = std::exp(M - m_new);
        for (float& x : acc) x *= ms;
        S *= ms;
      }
      M = m_new;
      double sum = 0.0;
      for (int64_t g = 0; g < kKvTile; g += 8) {
        float e[8];
        for (int l = 0; l < 8; ++l) kq[g + l] = e[l] = ggml_v_expf(kq[g + l] - m_new);
        const float a0 = e[4] + e[0], a1 = e[5] + e[1], a2 = e[6] + e[2], a3 = e[7] + e[3];
        sum += double((a0 + a2) + (a1 + a3));
      }
      S = float(double(S) + sum);
      for (int64_t i = 0; i < a.D; ++i) {
        float x = acc[size_t(i)];
        for (int64_t tk = 0; tk < nt; ++tk) x = std::fma(load_f(a.v, hk, ic + tk, i), kq[tk], x);
        acc[size_t(i)] = x;
      }
    }
    const float inv = S == 0.0f ? 0.0f : 1.0f / S;
    for (int64_t i = 0; i < a.D; ++i) out[i] = acc[size_t(i)] * inv;
  }
};

}  // namespace

// out[:, h, t] = softmax(scale · q·K[0..past+t]) · V, for query head h reading kv head h / group.
// The arithmetic is that of llama.cpp's CPU flash attention (ggml_compute_forward_flash_attn_ext_f16),
// so greedy decoding agrees token for token. Like ggml it has two algorithms:
//  - one query row at a time (fewer than 64 queries in the batch, or other cache types): q is
//    converted to the key dot type (f16 for an f16 cache) and scored with the same dot product as
//    ggml (vec_dot.h); the online softmax rescales with expf; with an f16 cache the weighted sum
//    of V is kept in f16, rounded after the rescale and after each fused multiply-add; the running
//    sum S is updated with one FMA; the result is acc · (1/S);
//  - tiles of 64 keys for batches of 64+ queries with f16 or f32 K and V of one type (Tiled).
//  - for a single query when llama.cpp's view of the cache has 512+ cells, the keys split into
//    one range per thread, merged at the end (OneChunk::row_split). llama.cpp's view is the cells
//    in use rounded up to a multiple of 256 (at least 256, at most the cache size); with the same
//    cache size and thread count as llama.cpp the result is the same.
void kernel_attention(const KernelCtx& ctx, const Graph& g, const Node& n) {
  const Tensor& q = g.node(n.src[0]).out;  // [D, H, T]
  const Tensor& k = g.node(n.src[1]).out;  // [D, Hkv, C]
  const Tensor& v = g.node(n.src[2]).out;
  const int64_t D = q.ne[0], H = q.ne[1], T = q.ne[2], Hkv = k.ne[1];
  const int64_t group = H / Hkv;
  const AttnShape shape{q, k, v, D, n.params.i[0], n.params.f[0]};
  const bool f_kv = k.dtype == v.dtype && (k.dtype == DType::F16 || k.dtype == DType::F32);
  const bool tiled = T >= kKvTile && f_kv && D % 8 == 0;
  const int64_t C = k.ne[2], used = shape.past + T;
  const int64_t n_kv = std::min(C, std::max<int64_t>(256, (used + 255) / 256 * 256));  // llama.cpp's cache view
  const bool split = T == 1 && f_kv && n_kv >= 512;
  OneChunk one(shape, *dot_traits(k.dtype));
  Tiled tile(shape);
  int64_t r0, r1;
  split_rows(H * T, ctx.ith, ctx.nth, r0, r1);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t h = r % H, t = r / H;
    float* out = reinterpret_cast<float*>(n.out.data) + (t * H + h) * D;
    if (tiled)
      tile.row(h, t, h / group, out);
    else if (split)
      one.row_split(h, h / group, n_kv, ctx.nth, out);
    else
      one.row(h, t, h / group, out);
  }
}

}  // namespace db::cpu
