// KV-cache store and fused causal attention (flash-style: one pass over the cache per query with
// an online softmax, so no [T, C] score matrix is ever materialized).
#include <algorithm>
#include <cmath>

#include "backends/cpu/kernels.h"
#include "backends/cpu/row_iter.h"
#include "backends/cpu/row_kernels.h"
#include "backends/cpu/vec_dot.h"

namespace db::cpu {

// Writes new K or V rows [D, Hkv, T] into the cache [D, Hkv, C] at position params.i[0].
void kernel_kv_store(const KernelCtx& ctx, const Graph& g, const Node& n) {
  const Tensor& x = g.node(n.src[0]).out;
  const Tensor& cache = g.node(n.src[1]).out;
  // As ggml's CPU set_rows: the CPU conversion of the type (f16 by F16C, q8_0 as its AVX2 quantizer).
  const DotTraits* dt = dot_traits(cache.dtype);
  const FromFloatRowFn from = dt && dt->dot_type == cache.dtype ? dt->from_float : dtype_info(cache.dtype).from_float;
  const int64_t pos0 = n.params.i[0], H = x.ne[1], T = x.ne[2];
  int64_t r0, r1;
  split_rows(H * T, ctx.ith, ctx.nth, r0, r1);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t h = r % H, t = r / H;
    from(reinterpret_cast<const float*>(x.row(h, t)), cache.row(h, pos0 + t), x.ne[0]);
  }
}

namespace {

struct AttnShape {
  const Tensor &q, &k, &v;
  int64_t D, past;
  float scale;
};

// ggml_compute_forward_flash_attn_ext_f16_one_chunk for one query row. Its arrays are this
// thread's scratch (kernels.h), so a decode step allocates nothing.
struct OneChunk {
  const AttnShape& a;
  const DotTraits& kt;
  const RowKernels& rk;
  char* qbuf;
  float *acc, *vrow, *fin;
  uint16_t* acc16;
  OneChunk(const AttnShape& s, const DotTraits& traits)
      : a(s), kt(traits), rk(row_kernels()), qbuf(thread_scratch_as<char>(1, row_bytes(traits.dot_type, s.D))),
        acc(thread_scratch_as<float>(2, size_t(s.D))), vrow(thread_scratch_as<float>(3, size_t(s.D))),
        fin(thread_scratch_as<float>(4, size_t(s.D))), acc16(thread_scratch_as<uint16_t>(5, size_t(s.D))) {}

  // Keys [j0, j1) (those visible to query t) into acc (f32), the running max M and sum S.
  void partial(int64_t t, int64_t h, int64_t hk, int64_t j0, int64_t j1, float& M, float& S) {
    const int64_t D = a.D;
    const bool f16_acc = a.v.dtype == DType::F16;
    kt.from_float(reinterpret_cast<const float*>(a.q.row(h, t)), qbuf, D);
    M = -INFINITY;
    S = 0.0f;
    std::fill_n(acc, D, 0.0f);
    std::fill_n(acc16, D, uint16_t(0));
    for (int64_t j = j0; j < std::min(j1, a.past + t + 1); ++j) {
      const float s = kt.vec_dot(D, a.k.row(hk, j), qbuf) * a.scale;
      float ms = 1.0f, vs = 1.0f;  // rescale of what was accumulated; weight of this value
      if (s > M) {
        ms = std::exp(M - s);
        M = s;
        if (f16_acc)
          rk.scale_f16(D, acc16, ms);
        else
          for (int64_t i = 0; i < D; ++i) acc[i] *= ms;
      } else {
        vs = std::exp(s - M);
      }
      if (f16_acc) {
        rk.mad_f16(D, acc16, reinterpret_cast<const uint16_t*>(a.v.row(hk, j)), vs);
      } else {
        const float* vr = reinterpret_cast<const float*>(a.v.row(hk, j));
        if (a.v.dtype != DType::F32) {
          dtype_info(a.v.dtype).to_float(a.v.row(hk, j), vrow, D);
          vr = vrow;
        }
        rk.mad_f32(D, acc, vr, vs);
      }
      S = std::fma(S, ms, vs);
    }
    if (f16_acc)
      for (int64_t i = 0; i < D; ++i) acc[i] = fp16_to_fp32(acc16[i]);
  }

  void row(int64_t h, int64_t t, int64_t hk, float* out) {
    float M, S;
    partial(t, h, hk, 0, a.past + t + 1, M, S);
    const float inv = S == 0.0f ? 0.0f : 1.0f / S;
    for (int64_t i = 0; i < a.D; ++i) out[i] = acc[i] * inv;
  }

  // ggml's split-KV decode (one query, 512+ cache cells in llama.cpp's view): the n_kv cells are
  // cut into n_chunks equal ranges (one per llama.cpp thread), each range gives a partial as above,
  // and the partials are merged in order with FMAs: ggml_flash_attn_ext_reduce_partials.
  void row_split(int64_t h, int64_t hk, int64_t n_kv, int64_t n_chunks, float* out) {
    const int64_t chunk = (n_kv + n_chunks - 1) / n_chunks;
    float M = -INFINITY, S = 0.0f;
    std::fill_n(fin, a.D, 0.0f);
    for (int64_t c = 0; c < n_chunks && c * chunk < n_kv; ++c) {
      float Mc, Sc;
      partial(0, h, hk, c * chunk, std::min(n_kv, (c + 1) * chunk), Mc, Sc);
      if (Sc == 0.0f) continue;
      const float m_new = std::fmax(M, Mc);
      const float scale_old = std::exp(M - m_new), scale_new = std::exp(Mc - m_new);
      for (int64_t i = 0; i < a.D; ++i) fin[i] = std::fma(fin[i], scale_old, acc[i] * scale_new);
      S = std::fma(S, scale_old, Sc * scale_new);
      M = m_new;
    }
    const float inv = S != 0.0f ? 1.0f / S : 1.0f;
    for (int64_t i = 0; i < a.D; ++i) out[i] = fin[i] * inv;
  }
};

// ggml_compute_forward_flash_attn_ext_tiled (batches of 64+ queries, f32/f16 K = V type) for this
// thread's query rows: q stays f32; keys come 64 at a time (transposed to f32, shared by the rows
// of a kv head); each score is an FMA chain over the head dimension, then scaled; per tile the
// running max, exps by ggml_v_expf with their sum in double (8-lane partial sums), and V
// accumulated in f32 by one FMA chain per output over the tile.
void attend_tiled(const AttnShape& a, int64_t H, int64_t group, int64_t r0, int64_t r1, float* out_base) {
  const int64_t D = a.D, n_rows = r1 - r0;
  if (n_rows <= 0) return;
  const RowKernels& rk = row_kernels();
  // This thread's scratch (kernels.h), initialized as the vectors it replaces were.
  float* M = thread_scratch_filled(1, size_t(n_rows), -INFINITY);
  float* S = thread_scratch_filled(2, size_t(n_rows), 0.0f);
  float* acc = thread_scratch_filled(3, size_t(n_rows * D), 0.0f);
  float* kt = thread_scratch_as<float>(4, size_t(D * kAttnTile));
  float* vt = thread_scratch_filled(5, size_t(kAttnTile * D), 0.0f);
  float* kq = thread_scratch_filled(6, size_t(kAttnTile), 0.0f);
  auto load = [&](const Tensor& t, int64_t hk, int64_t j, float* dst) {
    if (t.dtype == DType::F16) {
      const auto* src = reinterpret_cast<const uint16_t*>(t.row(hk, j));
      for (int64_t i = 0; i < D; ++i) dst[i] = fp16_to_fp32(src[i]);
    } else {
      std::copy_n(reinterpret_cast<const float*>(t.row(hk, j)), D, dst);
    }
  };
  const int64_t Hkv = H / group;
  float* krow = thread_scratch_filled(7, size_t(D), 0.0f);
  for (int64_t hk = 0; hk < Hkv; ++hk) {
    int64_t n_vis_max = 0;  // keys any of this thread's rows of kv head hk sees
    for (int64_t r = r0; r < r1; ++r)
      if ((r % H) / group == hk) n_vis_max = std::max(n_vis_max, a.past + r / H + 1);
    for (int64_t ic = 0; ic < n_vis_max; ic += kAttnTile) {
      const int64_t nk = std::min(kAttnTile, n_vis_max - ic);
      std::fill_n(kt, D * kAttnTile, 0.0f);
      for (int64_t j = 0; j < nk; ++j) {
        load(a.k, hk, ic + j, krow);
        for (int64_t i = 0; i < D; ++i) kt[size_t(i * kAttnTile + j)] = krow[size_t(i)];
        load(a.v, hk, ic + j, vt + j * D);
      }
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t h = r % H, t = r / H;
        if (h / group != hk || a.past + t + 1 <= ic) continue;
        const int64_t nt = std::min(kAttnTile, a.past + t + 1 - ic);  // visible keys; the rest masked
        const size_t ri = size_t(r - r0);
        rk.tile_scores(D, reinterpret_cast<const float*>(a.q.row(h, t)), kt, kq);
        float tile_max = -INFINITY;
        for (int64_t j = 0; j < kAttnTile; ++j) {
          kq[size_t(j)] = j < nt ? kq[size_t(j)] * a.scale + 0.0f : -INFINITY;  // + the mask
          tile_max = tile_max > kq[size_t(j)] ? tile_max : kq[size_t(j)];
        }
        const float m_new = std::fmax(M[ri], tile_max);
        if (m_new > M[ri]) {
          const float ms = std::exp(M[ri] - m_new);
          for (int64_t i = 0; i < D; ++i) acc[ri * size_t(D) + size_t(i)] *= ms;
          S[ri] *= ms;
        }
        M[ri] = m_new;
        S[ri] = float(double(S[ri]) + rk.tile_softmax(kq, m_new));
        rk.tile_values(D, acc + ri * size_t(D), vt, kq, nt);
      }
    }
  }
  for (int64_t r = r0; r < r1; ++r) {
    const size_t ri = size_t(r - r0);
    const float inv = S[ri] == 0.0f ? 0.0f : 1.0f / S[ri];
    float* out = out_base + r * D;  // row r = t * H + h
    for (int64_t i = 0; i < D; ++i) out[i] = acc[ri * size_t(D) + size_t(i)] * inv;
  }
}


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

// The general form, for what llama.cpp's flash attention has no counterpart in this contract:
// sliding windows, sparse key lists (DeepSeek V3.2) and values shared with keys (MLA).
// out[:, h, t] = softmax(scale · q·K[keys]) · V[keys], for query head h reading kv head h / group.
// keys: 0 .. past + t (causal), limited to the last `window` when params.i[1] > 0, or the listed
// indices (sparse). Without a separate v (MLA), values are the first Dv columns of each key row.
void attend_general(const KernelCtx& ctx, const Graph& g, const Node& n) {
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

  float* qv = thread_scratch_as<float>(1, size_t(D));
  float* kv = thread_scratch_as<float>(2, size_t(D));
  float* vv = thread_scratch_as<float>(3, size_t(std::max(D, Dv)));
  float* acc = thread_scratch_as<float>(4, size_t(Dv));
  int64_t r0, r1;
  split_rows(H * T, ctx.ith, ctx.nth, r0, r1);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t h = r % H, t = r / H, hk = h / group;
    const float* qr = reinterpret_cast<const float*>(q.row(h, t));
    for (int64_t i = 0; i < D; ++i) qv[size_t(i)] = round_q ? fp16_to_fp32(fp32_to_fp16(qr[i])) : qr[i];
    float m = -INFINITY, sum = 0.0f;
    std::fill_n(acc, Dv, 0.0f);
    const int64_t last = past + t, first = window > 0 ? std::max<int64_t>(0, last - window + 1) : 0;
    const int64_t n_keys = sel ? sel->ne[0] : last - first + 1;
    const int32_t* ids = sel ? reinterpret_cast<const int32_t*>(sel->row(t)) : nullptr;
    for (int64_t jj = 0; jj < n_keys; ++jj) {
      const int64_t j = ids ? ids[jj] : first + jj;
      if (j < first || j > last) continue;  // padding or a key outside the causal window
      load_row(k.dtype, k.row(hk, j), kv, D);
      float s = 0.0f;
      for (int64_t i = 0; i < D; ++i) s += qv[size_t(i)] * kv[size_t(i)];
      s *= scale;
      // Online softmax: rescale what was accumulated when a new maximum appears.
      const float m_new = std::max(m, s);
      const float correction = std::exp(m - m_new);
      const float p = std::exp(s - m_new);
      if (vp == &k) std::copy(kv, kv + Dv, vv);
      else load_row(v.dtype, v.row(hk, j), vv, Dv);
      for (int64_t i = 0; i < Dv; ++i) acc[size_t(i)] = acc[size_t(i)] * correction + p * vv[size_t(i)];
      sum = sum * correction + p;
      m = m_new;
    }
    float* out = reinterpret_cast<float*>(n.out.row(h, t));
    for (int64_t i = 0; i < Dv; ++i) out[i] = sum > 0.0f ? acc[size_t(i)] / sum : 0.0f;
  }
}
}  // namespace

// out[:, h, t] = softmax(scale · q·K[0..past+t]) · V, for query head h reading kv head h / group.
// The arithmetic is that of llama.cpp's CPU flash attention (ggml_compute_forward_flash_attn_ext_f16),
// so greedy decoding agrees token for token. Like ggml it has three algorithms:
//  - one query row at a time (fewer than 64 queries in the batch, or other cache types): q is
//    converted to the key dot type (f16 for an f16 cache) and scored with the same dot product as
//    ggml (vec_dot.h); the online softmax rescales with expf; with an f16 cache the weighted sum
//    of V is kept in f16, rounded after the rescale and after each fused multiply-add; the running
//    sum S is updated with one FMA; the result is acc · (1/S);
//  - tiles of 64 keys for batches of 64+ queries with f16 or f32 K and V of one type (attend_tiled);
//  - for a single query when llama.cpp's view of the cache has 512+ cells, the keys split into
//    one range per thread, merged at the end (OneChunk::row_split). llama.cpp's view is the cells
//    in use rounded up to a multiple of 256 (at least 256, at most the cache size); with the same
//    cache size and thread count as llama.cpp the result is the same.
void kernel_attention(const KernelCtx& ctx, const Graph& g, const Node& n) {
  const bool extended = n.src[2] < 0 || g.node(n.src[2]).out.dtype == DType::I32 || n.params.i[1] > 0 ||
                        n.out.ne[0] != g.node(n.src[0]).out.ne[0];
  if (extended) return attend_general(ctx, g, n);
  const Tensor& q = g.node(n.src[0]).out;  // [D, H, T]
  const Tensor& k = g.node(n.src[1]).out;  // [D, Hkv, C]
  const Tensor& v = g.node(n.src[2]).out;
  const int64_t D = q.ne[0], H = q.ne[1], T = q.ne[2], Hkv = k.ne[1];
  const int64_t group = H / Hkv;
  const AttnShape shape{q, k, v, D, n.params.i[0], n.params.f[0]};
  const bool f_kv = k.dtype == v.dtype && (k.dtype == DType::F16 || k.dtype == DType::F32);
  float* out = reinterpret_cast<float*>(n.out.data);
  int64_t r0, r1;
  split_rows(H * T, ctx.ith, ctx.nth, r0, r1);
  if (T >= kAttnTile && f_kv && D % 8 == 0) {
    attend_tiled(shape, H, group, r0, r1, out);
    return;
  }
  const int64_t C = k.ne[2], used = shape.past + T;
  const int64_t n_kv = std::min(C, std::max<int64_t>(256, (used + 255) / 256 * 256));  // llama.cpp's cache view
  const bool split = T == 1 && f_kv && n_kv >= 512;
  OneChunk one(shape, *dot_traits(k.dtype));
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t h = r % H, t = r / H;
    if (split)
      one.row_split(h, h / group, n_kv, ctx.nth, out + r * D);
    else
      one.row(h, t, h / group, out + r * D);
  }
}

}  // namespace db::cpu
