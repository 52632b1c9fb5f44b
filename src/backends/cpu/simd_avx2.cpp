// AVX2 + FMA + F16C kernels (x86-64-v3). This file alone is compiled with -mavx2 -mfma -mf16c and
// is entered only through dispatch.cpp after a CPU check. Everything here has internal linkage and
// uses no standard-library templates: an out-of-line instantiation compiled with AVX2 could be
// picked by the linker for portable code and fault on an older CPU.
//
// Families, in order: helpers, dot products (one weight row · one activation row, the decode
// path), row converters (f32 → dot type), GEMM tiles (several weight rows × several activation
// rows per step, the prefill path), attention helpers. Integer dots use ggml's sign trick so that
// vpmaddubsw (unsigned × signed bytes) can multiply two signed operands.
#include "backends/cpu/simd.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

namespace db::cpu {
namespace {

// ---- helpers ------------------------------------------------------------------------------------
inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float h2f(uint16_t h) { return _cvtsh_ss(h); }
inline float bf2f(uint16_t h) {  // not dtype.h's inline bf16_to_fp32: see the note at the top
  const uint32_t u = uint32_t(h) << 16;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}

inline __m256 load_f16(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
inline __m256 load_bf16(const uint16_t* p) {
  const __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
}

// 32 nibbles of a q4_0 block as bytes 0..15: low nibbles are elements 0..15, high ones 16..31.
inline __m256i q4_bytes(const uint8_t* qs) {
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i both = _mm256_insertf128_si256(_mm256_castsi128_si256(b), _mm_srli_epi16(b, 4), 1);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}
inline __m256i q4_signed(const uint8_t* qs) { return _mm256_sub_epi8(q4_bytes(qs), _mm256_set1_epi8(8)); }

// Σ x·y over 32 signed bytes as 8 float partial sums: |x| · (y with x's sign) fits vpmaddubsw.
inline __m256 mul_sum_i8(__m256i x, __m256i y) {
  const __m256i dot = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(dot, _mm256_set1_epi16(1)));
}

inline __m256i load_q8(const int8_t* qs) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs)); }

// ---- dot products -------------------------------------------------------------------------------
// Element loaders for the float types: 8 lanes as f32, or one element.
struct LoadF32 {
  using T = float;
  static __m256 vec(const T* p) { return _mm256_loadu_ps(p); }
  static float one(T v) { return v; }
};
struct LoadF16 {
  using T = uint16_t;
  static __m256 vec(const T* p) { return load_f16(p); }
  static float one(T v) { return h2f(v); }
};
struct LoadBF16 {
  using T = uint16_t;
  static __m256 vec(const T* p) { return load_bf16(p); }
  static float one(T v) { return bf2f(v); }
};

// One pattern for the float types: four independent FMA chains, scalar tail.
template <class L>
float dot_float(int64_t n, const void* xv, const void* yv) {
  auto *x = static_cast<const typename L::T*>(xv), *y = static_cast<const typename L::T*>(yv);
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm256_fmadd_ps(L::vec(x + i), L::vec(y + i), a0);
    a1 = _mm256_fmadd_ps(L::vec(x + i + 8), L::vec(y + i + 8), a1);
    a2 = _mm256_fmadd_ps(L::vec(x + i + 16), L::vec(y + i + 16), a2);
    a3 = _mm256_fmadd_ps(L::vec(x + i + 24), L::vec(y + i + 24), a3);
  }
  for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(L::vec(x + i), L::vec(y + i), a0);
  float s = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  for (; i < n; ++i) s += L::one(x[i]) * L::one(y[i]);
  return s;
}

float dot_f32(int64_t n, const void* x, const void* y) { return dot_float<LoadF32>(n, x, y); }
float dot_f16(int64_t n, const void* x, const void* y) { return dot_float<LoadF16>(n, x, y); }
float dot_bf16(int64_t n, const void* x, const void* y) { return dot_float<LoadBF16>(n, x, y); }

// Two blocks per step on two accumulators, so the FMA latency chains overlap.
float dot_q8_0(int64_t n, const void* xv, const void* yv) {
  auto *x = static_cast<const BlockQ8_0*>(xv), *y = static_cast<const BlockQ8_0*>(yv);
  const int64_t nb = n / QK8_0;
  __m256 a0 = _mm256_setzero_ps(), a1 = a0;
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const __m256 p0 = mul_sum_i8(load_q8(x[b].qs), load_q8(y[b].qs));
    const __m256 p1 = mul_sum_i8(load_q8(x[b + 1].qs), load_q8(y[b + 1].qs));
    a0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d)), p0, a0);
    a1 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[b + 1].d) * h2f(y[b + 1].d)), p1, a1);
  }
  if (b < nb) a0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d)), mul_sum_i8(load_q8(x[b].qs), load_q8(y[b].qs)), a0);
  return hsum(_mm256_add_ps(a0, a1));
}

float dot_q4_0(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockQ4_0*>(xv);
  auto* y = static_cast<const BlockQ8_0*>(yv);
  const int64_t nb = n / QK4_0;
  __m256 a0 = _mm256_setzero_ps(), a1 = a0;
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const __m256 p0 = mul_sum_i8(q4_signed(x[b].qs), load_q8(y[b].qs));
    const __m256 p1 = mul_sum_i8(q4_signed(x[b + 1].qs), load_q8(y[b + 1].qs));
    a0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d)), p0, a0);
    a1 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[b + 1].d) * h2f(y[b + 1].d)), p1, a1);
  }
  if (b < nb) a0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d)), mul_sum_i8(q4_signed(x[b].qs), load_q8(y[b].qs)), a0);
  return hsum(_mm256_add_ps(a0, a1));
}

// ---- row converters -----------------------------------------------------------------------------
void f32_row(const float* src, void* dst, int64_t n) { __builtin_memcpy(dst, src, size_t(n) * 4); }

// vcvtps2ph rounds to nearest even like the reference (NaN payloads may differ).
void f16_row(const float* src, void* dst, int64_t n) {
  auto* d = static_cast<uint16_t*>(dst);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) d[i] = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
}

// Round-to-nearest-even on the bit pattern, NaN quieted: the reference fp32_to_bf16, 8 at a time.
void bf16_row(const float* src, void* dst, int64_t n) {
  auto* d = static_cast<uint16_t*>(dst);
  int64_t i = 0;
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
  for (; i + 8 <= n; i += 8) {
    const __m256i u = _mm256_castps_si256(_mm256_loadu_ps(src + i));
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
    const __m256i nan = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(64));
    const __m256i is_nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs_mask), inf);
    const __m256i r = _mm256_blendv_epi8(rounded, nan, is_nan);
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i), _mm256_castsi256_si128(packed));
  }
  for (; i < n; ++i) d[i] = fp32_to_bf16(src[i]);
}

// ggml's AVX2 quantize_row_q8_0, as the reference quantize_row_q8_0_act (vec_dot.h): scale
// 127 / amax, round half to even.
void q8_0_row(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_0*>(dst);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t b = 0; b < n / QK8_0; ++b, x += QK8_0) {
    __m256 v[4];
    for (int j = 0; j < 4; ++j) v[j] = _mm256_loadu_ps(x + 8 * j);
    const __m256 m01 = _mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1]));
    const __m256 m23 = _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3]));
    const float amax = hmax(_mm256_max_ps(m01, m23));
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    y[b].d = _cvtss_sh(amax / 127.0f, _MM_FROUND_TO_NEAREST_INT);
    __m256i q[4];
    for (int j = 0; j < 4; ++j)
      q[j] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[j], _mm256_set1_ps(id)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    // packs interleave 128-bit lanes; the permute restores element order.
    const __m256i q16 = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs), _mm256_permutevar8x32_epi32(q16, perm));
  }
}

// ---- GEMM tiles: dot form -----------------------------------------------------------------------
// R weight rows × C activation rows, each output a dot product reduced at the end. Rows of a tile
// share each activation load and columns share each weight load (and its decode). Used for a few
// activation rows (no packing to amortize) and for float weights (FMA-bound already).
struct TileArgs {
  int64_t k;
  const char* w;
  size_t ws;
  const char* x;
  size_t xs;
  float* y;
  size_t ys;
};

template <class Fam, int R, int C>
void run_cols(int nc, const TileArgs& a) {
  if constexpr (C >= 1) {
    if (nc == C) return Fam::template run<R, C>(a);
    run_cols<Fam, R, C - 1>(nc, a);
  }
}

// kAux: the activations were expanded to f32 by prepare() and live in t.aux, k floats apart.
template <class Fam, int RM, int RN, bool kAux>
void dot_tile(const GemmTile& t) {
  TileArgs a{t.k, static_cast<const char*>(t.w), t.ws,
             static_cast<const char*>(kAux ? t.aux : t.x), kAux ? size_t(t.k) * 4 : t.xs, t.y, t.ys};
  if (t.nr == RM) return run_cols<Fam, RM, RN>(t.nc, a);
  for (int r = 0; r < t.nr; ++r, a.w += a.ws, ++a.y) run_cols<Fam, 1, RN>(t.nc, a);  // edge rows
}

template <class LW, class LX>
struct FloatTiles {
  template <int R, int C>
  static void run(const TileArgs& a) {
    using TW = typename LW::T;
    using TX = typename LX::T;
    const TW* w[R];
    const TX* x[C];
    for (int r = 0; r < R; ++r) w[r] = reinterpret_cast<const TW*>(a.w + size_t(r) * a.ws);
    for (int c = 0; c < C; ++c) x[c] = reinterpret_cast<const TX*>(a.x + size_t(c) * a.xs);
    __m256 acc[R][C];
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= a.k; i += 8) {
      __m256 wv[R];
      for (int r = 0; r < R; ++r) wv[r] = LW::vec(w[r] + i);
      for (int c = 0; c < C; ++c) {
        const __m256 xv = LX::vec(x[c] + i);
        for (int r = 0; r < R; ++r) acc[r][c] = _mm256_fmadd_ps(wv[r], xv, acc[r][c]);
      }
    }
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) {
        float s = hsum(acc[r][c]);
        for (int64_t j = i; j < a.k; ++j) s += LW::one(w[r][j]) * LX::one(x[c][j]);
        a.y[size_t(c) * a.ys + size_t(r)] = s;
      }
  }
};

// Weight blocks decoded once per tile row: q8_0 loads, q4_0 unpacks nibbles (to -8..7 here).
struct WeightQ8 {
  using Block = BlockQ8_0;
  static __m256i bytes(const Block& b) { return load_q8(b.qs); }
};
struct WeightQ4 {
  using Block = BlockQ4_0;
  static __m256i bytes(const Block& b) { return q4_signed(b.qs); }
};

template <class Wt>
struct QuantTiles {
  template <int R, int C>
  static void run(const TileArgs& a) {
    using WB = typename Wt::Block;
    const WB* w[R];
    const BlockQ8_0* x[C];
    for (int r = 0; r < R; ++r) w[r] = reinterpret_cast<const WB*>(a.w + size_t(r) * a.ws);
    for (int c = 0; c < C; ++c) x[c] = reinterpret_cast<const BlockQ8_0*>(a.x + size_t(c) * a.xs);
    __m256 acc[R][C];
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
    const int64_t nb = a.k / QK8_0;
    for (int64_t b = 0; b < nb; ++b) {
      __m256i wq[R];
      float dw[R];
      for (int r = 0; r < R; ++r) {
        wq[r] = Wt::bytes(w[r][b]);
        dw[r] = h2f(w[r][b].d);
      }
      for (int c = 0; c < C; ++c) {
        const __m256i xq = load_q8(x[c][b].qs);
        const __m256i xa = _mm256_sign_epi8(xq, xq);
        const float dx = h2f(x[c][b].d);
        for (int r = 0; r < R; ++r) {
          const __m256i dot = _mm256_maddubs_epi16(xa, _mm256_sign_epi8(wq[r], xq));
          const __m256 p = _mm256_cvtepi32_ps(_mm256_madd_epi16(dot, _mm256_set1_epi16(1)));
          acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dw[r] * dx), p, acc[r][c]);
        }
      }
    }
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) a.y[size_t(c) * a.ys + size_t(r)] = hsum(acc[r][c]);
  }
};

using TilesF32 = FloatTiles<LoadF32, LoadF32>;
using TilesF16 = FloatTiles<LoadF16, LoadF16>;
using TilesBF16 = FloatTiles<LoadBF16, LoadBF16>;
using TilesF16x32 = FloatTiles<LoadF16, LoadF32>;  // activations expanded by prepare()
using TilesBF16x32 = FloatTiles<LoadBF16, LoadF32>;

// Expands tile activations from the dot type to f32 once, so the inner loop converts weights only.
template <void (*Expand)(const void*, float*, int64_t)>
void expand_cols(int64_t k, const void* x, size_t xs, int nc, void* dst) {
  for (int c = 0; c < nc; ++c) Expand(static_cast<const char*>(x) + size_t(c) * xs, static_cast<float*>(dst) + c * k, k);
}
void f16_to_f32(const void* src, float* dst, int64_t n) {
  auto* s = static_cast<const uint16_t*>(src);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load_f16(s + i));
  for (; i < n; ++i) dst[i] = h2f(s[i]);
}
void bf16_to_f32(const void* src, float* dst, int64_t n) {
  auto* s = static_cast<const uint16_t*>(src);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load_bf16(s + i));
  for (; i < n; ++i) dst[i] = bf2f(s[i]);
}

// ---- GEMM tiles: packed quantized form ---------------------------------------------------------
// For many activation rows, 8 weight rows are repacked so that each 32-byte vector holds 4
// consecutive bytes of each row: one vpmaddubsw against 4 activation bytes broadcast to every lane
// then advances all 8 rows at once, results land one row per lane, and the block scales are a
// vector multiply. q4_0 stays unsigned (0..15), so it needs no sign trick and 8 steps of partial
// sums fit int16; the -8 offset is applied per block as -8·Σx (precomputed per activation block).
constexpr int kPackRows = 8;
constexpr int kPackCols = 4;

struct alignas(32) PackedBlock {
  uint8_t q[8][32];    // step i: bytes 4i..4i+3 of rows 0..7
  float d[kPackRows];  // row scales
};
static_assert(sizeof(PackedBlock) == 288);

size_t packed_block_bytes(int64_t k) { return size_t(k / QK8_0) * sizeof(PackedBlock); }

// 8 × 8 transpose of 32-bit elements: row j element i → row i element j.
inline void transpose8(__m256i r[8]) {
  __m256i t[8], u[8];
  for (int j = 0; j < 8; j += 2) {
    t[j] = _mm256_unpacklo_epi32(r[j], r[j + 1]);
    t[j + 1] = _mm256_unpackhi_epi32(r[j], r[j + 1]);
  }
  for (int j = 0; j < 8; j += 4) {
    u[j] = _mm256_unpacklo_epi64(t[j], t[j + 2]);
    u[j + 1] = _mm256_unpackhi_epi64(t[j], t[j + 2]);
    u[j + 2] = _mm256_unpacklo_epi64(t[j + 1], t[j + 3]);
    u[j + 3] = _mm256_unpackhi_epi64(t[j + 1], t[j + 3]);
  }
  for (int j = 0; j < 4; ++j) {
    r[j] = _mm256_permute2x128_si256(u[j], u[j + 4], 0x20);
    r[j + 4] = _mm256_permute2x128_si256(u[j], u[j + 4], 0x31);
  }
}

struct PackQ8 {
  using Block = BlockQ8_0;
  static __m256i bytes(const Block& b) { return load_q8(b.qs); }
};
struct PackQ4 {
  using Block = BlockQ4_0;
  static __m256i bytes(const Block& b) { return q4_bytes(b.qs); }  // unsigned 0..15
};

// Rows past nr are zero (weights and scales), so a partial tile computes zeros there.
template <class P>
void pack_rows(int64_t k, const void* w, size_t ws, int nr, void* dst) {
  using WB = typename P::Block;
  auto* out = static_cast<PackedBlock*>(dst);
  for (int64_t b = 0; b < k / QK8_0; ++b) {
    __m256i r[8];
    for (int j = 0; j < 8; ++j) {
      const WB* blk = reinterpret_cast<const WB*>(static_cast<const char*>(w) + size_t(j) * ws) + b;
      r[j] = j < nr ? P::bytes(*blk) : _mm256_setzero_si256();
      out[b].d[j] = j < nr ? h2f(blk->d) : 0.0f;
    }
    transpose8(r);
    for (int i = 0; i < 8; ++i) _mm256_store_si256(reinterpret_cast<__m256i*>(out[b].q[i]), r[i]);
  }
}

// Per activation row and block: the scale and 8 × scale × Σq (the q4_0 offset term).
size_t prepared_scales_bytes(int64_t k) { return size_t(kPackCols) * size_t(k / QK8_0) * 2 * sizeof(float); }

void prepare_scales(int64_t k, const void* x, size_t xs, int nc, void* dst) {
  const int64_t nb = k / QK8_0;
  auto* out = static_cast<float*>(dst);
  const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
  for (int c = 0; c < nc; ++c) {
    auto* xb = reinterpret_cast<const BlockQ8_0*>(static_cast<const char*>(x) + size_t(c) * xs);
    for (int64_t b = 0; b < nb; ++b) {
      const __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, load_q8(xb[b].qs)), ones16);
      const float d = h2f(xb[b].d);
      out[(c * nb + b) * 2] = d;
      out[(c * nb + b) * 2 + 1] = 8.0f * d * hsum(_mm256_cvtepi32_ps(s));
    }
  }
}

// An empty asm that "modifies" v: stops the compiler from reassociating an integer accumulator
// chain into a tree of partial sums, which needs more registers than AVX2 has and spills.
inline void pin(__m256i& v) { __asm__("" : "+x"(v)); }

inline __m256i broadcast4(const int8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

inline void store_rows(float* y, __m256 v, int nr) {
  if (nr == kPackRows) return _mm256_storeu_ps(y, v);
  float t[8];
  _mm256_storeu_ps(t, v);
  for (int r = 0; r < nr; ++r) y[r] = t[r];
}

template <int C>
void packed_q4(const GemmTile& t) {
  const auto* pw = static_cast<const PackedBlock*>(t.w);
  const int64_t nb = t.k / QK8_0;
  const BlockQ8_0* x[C];
  const float* sc[C];
  for (int c = 0; c < C; ++c) {
    x[c] = reinterpret_cast<const BlockQ8_0*>(static_cast<const char*>(t.x) + size_t(c) * t.xs);
    sc[c] = static_cast<const float*>(t.aux) + c * nb * 2;
  }
  __m256 acc[C];
  for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    __m256i s16[C];
    for (int c = 0; c < C; ++c) s16[c] = _mm256_setzero_si256();
    for (int i = 0; i < 8; ++i) {
      const __m256i wv = _mm256_load_si256(reinterpret_cast<const __m256i*>(pw[b].q[i]));
      for (int c = 0; c < C; ++c) {
        s16[c] = _mm256_add_epi16(s16[c], _mm256_maddubs_epi16(wv, broadcast4(x[c][b].qs + 4 * i)));
        pin(s16[c]);
      }
    }
    const __m256 dw = _mm256_load_ps(pw[b].d);
    for (int c = 0; c < C; ++c) {
      const __m256 s = _mm256_cvtepi32_ps(_mm256_madd_epi16(s16[c], _mm256_set1_epi16(1)));
      const __m256 v = _mm256_fmsub_ps(s, _mm256_set1_ps(sc[c][2 * b]), _mm256_set1_ps(sc[c][2 * b + 1]));
      acc[c] = _mm256_fmadd_ps(dw, v, acc[c]);
    }
  }
  for (int c = 0; c < C; ++c) store_rows(t.y + size_t(c) * t.ys, acc[c], t.nr);
}

// q8_0 weights are signed, so each step needs the sign trick and an int32 widening.
template <int C>
void packed_q8(const GemmTile& t) {
  const auto* pw = static_cast<const PackedBlock*>(t.w);
  const int64_t nb = t.k / QK8_0;
  const BlockQ8_0* x[C];
  const float* sc[C];
  for (int c = 0; c < C; ++c) {
    x[c] = reinterpret_cast<const BlockQ8_0*>(static_cast<const char*>(t.x) + size_t(c) * t.xs);
    sc[c] = static_cast<const float*>(t.aux) + c * nb * 2;
  }
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[C];
  for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    __m256i s32[C];
    for (int c = 0; c < C; ++c) s32[c] = _mm256_setzero_si256();
    for (int i = 0; i < 8; ++i) {
      const __m256i wv = _mm256_load_si256(reinterpret_cast<const __m256i*>(pw[b].q[i]));
      const __m256i wa = _mm256_abs_epi8(wv);
      for (int c = 0; c < C; ++c) {
        const __m256i p = _mm256_maddubs_epi16(wa, _mm256_sign_epi8(broadcast4(x[c][b].qs + 4 * i), wv));
        s32[c] = _mm256_add_epi32(s32[c], _mm256_madd_epi16(p, ones));
        pin(s32[c]);
      }
    }
    const __m256 dw = _mm256_load_ps(pw[b].d);
    for (int c = 0; c < C; ++c)
      acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(sc[c][2 * b])), _mm256_cvtepi32_ps(s32[c]), acc[c]);
  }
  for (int c = 0; c < C; ++c) store_rows(t.y + size_t(c) * t.ys, acc[c], t.nr);
}

template <void (*K1)(const GemmTile&), void (*K2)(const GemmTile&), void (*K3)(const GemmTile&),
          void (*K4)(const GemmTile&)>
void by_cols(const GemmTile& t) {
  switch (t.nc) {
    case 1: return K1(t);
    case 2: return K2(t);
    case 3: return K3(t);
    default: return K4(t);
  }
}
static_assert(kPackCols == 4);

// ---- q4_0 matrix-vector (decode) ---------------------------------------------------------------
// One activation row, so nothing to amortize across columns; instead the row is rearranged once
// per matmul so that two q4_0 blocks meet it in one 256-bit vector: low nibbles of blocks b, b+1
// against x[0:16] of each, high nibbles against x[16:32]. Nibbles stay unsigned (no sign trick);
// the -8 offset becomes a per-lane term precomputed with the scales. ~7 vector ops per block
// instead of ~12 for the generic dot.
struct alignas(32) XPair {
  int8_t lo[32];  // x[2p][0:16] | x[2p+1][0:16]
  int8_t hi[32];  // x[2p][16:32] | x[2p+1][16:32]
  float dx[8];    // d(2p) ×4 | d(2p+1) ×4
  float cx[8];    // 2·d·Σx per lane (8·d·Σx over a block's 4 lanes)
};
static_assert(sizeof(XPair) == 128);

size_t xpairs_bytes(int64_t k) { return size_t(k / QK8_0 / 2) * sizeof(XPair); }

void prepare_xpairs(int64_t k, const void* x, size_t, int, void* dst) {
  auto* xb = static_cast<const BlockQ8_0*>(x);
  auto* out = static_cast<XPair*>(dst);
  const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
  for (int64_t p = 0; p < k / QK8_0 / 2; ++p) {
    for (int h = 0; h < 2; ++h) {
      const BlockQ8_0& b = xb[2 * p + h];
      __builtin_memcpy(out[p].lo + 16 * h, b.qs, 16);
      __builtin_memcpy(out[p].hi + 16 * h, b.qs + 16, 16);
      const float d = h2f(b.d);
      const __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, load_q8(b.qs)), ones16);
      const float c = 2.0f * d * hsum(_mm256_cvtepi32_ps(s));
      for (int j = 0; j < 4; ++j) {
        out[p].dx[4 * h + j] = d;
        out[p].cx[4 * h + j] = c;
      }
    }
  }
}

float gemv_q4_row(int64_t k, const BlockQ4_0* w, const XPair* xp, const BlockQ8_0* x) {
  const int64_t nb = k / QK4_0;
  const __m256i m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
  const __m256i dup = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t p = 0; p < nb / 2; ++p) {
    const BlockQ4_0 &b0 = w[2 * p], &b1 = w[2 * p + 1];
    const __m256i v = _mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b0.qs))),
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(b1.qs)), 1);
    const __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
    const __m256i s = _mm256_add_epi16(_mm256_maddubs_epi16(lo, _mm256_load_si256(reinterpret_cast<const __m256i*>(xp[p].lo))),
                                       _mm256_maddubs_epi16(hi, _mm256_load_si256(reinterpret_cast<const __m256i*>(xp[p].hi))));
    const __m256 f = _mm256_cvtepi32_ps(_mm256_madd_epi16(s, ones));
    const __m256 t = _mm256_fmsub_ps(f, _mm256_load_ps(xp[p].dx), _mm256_load_ps(xp[p].cx));
    const __m128 d2 = _mm_cvtph_ps(_mm_cvtsi32_si128(int(uint32_t(b0.d) | (uint32_t(b1.d) << 16))));
    acc = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(_mm256_castps128_ps256(d2), dup), t, acc);
  }
  if (nb % 2)  // an odd last block: the generic way
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(w[nb - 1].d) * h2f(x[nb - 1].d)),
                          mul_sum_i8(q4_signed(w[nb - 1].qs), load_q8(x[nb - 1].qs)), acc);
  return hsum(acc);
}

constexpr int kGemvRows = 4;

void gemv_q4(const GemmTile& t) {
  for (int r = 0; r < t.nr; ++r)
    t.y[r] = gemv_q4_row(t.k, reinterpret_cast<const BlockQ4_0*>(static_cast<const char*>(t.w) + size_t(r) * t.ws),
                         static_cast<const XPair*>(t.aux), static_cast<const BlockQ8_0*>(t.x));
}


// ---- attention helpers --------------------------------------------------------------------------
// Two products and a sum, not an FMA: the reference's roundings exactly.
void mad_f32_f32(int64_t n, void* accv, float ms, float vs, const void* vv) {
  auto* acc = static_cast<float*>(accv);
  auto* v = static_cast<const float*>(vv);
  const __m256 a = _mm256_set1_ps(ms), b = _mm256_set1_ps(vs);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(acc + i, _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(acc + i), a), _mm256_mul_ps(_mm256_loadu_ps(v + i), b)));
  for (; i < n; ++i) acc[i] = acc[i] * ms + v[i] * vs;
}

void mad_f16_f16(int64_t n, void* accv, float ms, float vs, const void* vv) {
  auto* acc = static_cast<uint16_t*>(accv);
  auto* v = static_cast<const uint16_t*>(vv);
  const __m256 a = _mm256_set1_ps(ms), b = _mm256_set1_ps(vs);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 r = _mm256_add_ps(_mm256_mul_ps(load_f16(acc + i), a), _mm256_mul_ps(load_f16(v + i), b));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(acc + i), _mm256_cvtps_ph(r, _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i) acc[i] = _cvtss_sh(h2f(acc[i]) * ms + h2f(v[i]) * vs, _MM_FROUND_TO_NEAREST_INT);
}

// The reference steps for one query row, f16 cache: scores a block of keys at a time (q expanded
// to f32 once), then per key the online-softmax factors (libm expf, as the reference uses) and the f16
// accumulator update rounded as mad_f16_f16 rounds it.
void attend_row_f16(const AttendRow& a) {
  constexpr int kBlock = 64;
  alignas(32) float q[kMaxAttendDim];
  alignas(32) uint16_t acc[kMaxAttendDim] = {};
  alignas(32) float sc[kBlock];
  const int64_t d8 = a.d / 8 * 8;
  for (int64_t i = 0; i < d8; i += 8) _mm256_store_ps(q + i, load_f16(a.q + i));
  for (int64_t i = d8; i < a.d; ++i) q[i] = h2f(a.q[i]);
  float m = -__builtin_inff(), sum = 0.0f;
  for (int64_t j0 = 0; j0 < a.n_kv; j0 += kBlock) {
    const int64_t nb = a.n_kv - j0 < kBlock ? a.n_kv - j0 : kBlock;
    for (int64_t j = 0; j < nb; ++j) {
      const auto* k = reinterpret_cast<const uint16_t*>(a.k + size_t(j0 + j) * a.k_stride);
      __m256 s0 = _mm256_setzero_ps(), s1 = s0;
      int64_t i = 0;
      for (; i + 16 <= d8; i += 16) {
        s0 = _mm256_fmadd_ps(load_f16(k + i), _mm256_load_ps(q + i), s0);
        s1 = _mm256_fmadd_ps(load_f16(k + i + 8), _mm256_load_ps(q + i + 8), s1);
      }
      if (i < d8) s0 = _mm256_fmadd_ps(load_f16(k + i), _mm256_load_ps(q + i), s0);
      float s = hsum(_mm256_add_ps(s0, s1));
      for (i = d8; i < a.d; ++i) s += h2f(k[i]) * q[i];
      sc[j] = s * a.scale;
    }
    for (int64_t j = 0; j < nb; ++j) {
      float ms = 1.0f, vs = 1.0f;
      if (sc[j] > m) {
        ms = __builtin_expf(m - sc[j]);
        m = sc[j];
      } else {
        vs = __builtin_expf(sc[j] - m);
      }
      mad_f16_f16(a.d, acc, ms, vs, a.v + size_t(j0 + j) * a.v_stride);
      sum = sum * ms + vs;
    }
  }
  const float inv = sum == 0.0f ? 0.0f : 1.0f / sum;
  for (int64_t i = 0; i < d8; i += 8) _mm256_storeu_ps(a.out + i, _mm256_mul_ps(load_f16(acc + i), _mm256_set1_ps(inv)));
  for (int64_t i = d8; i < a.d; ++i) a.out[i] = h2f(acc[i]) * inv;
}

constexpr DotTraits kF32{DType::F32, f32_row, dot_f32};
constexpr DotTraits kF16{DType::F16, f16_row, dot_f16};
constexpr DotTraits kBF16{DType::BF16, bf16_row, dot_bf16};
constexpr DotTraits kQ8_0{DType::Q8_0, q8_0_row, dot_q8_0};
constexpr DotTraits kQ4_0{DType::Q8_0, q8_0_row, dot_q4_0};

// Tile shapes chosen by measurement on Zen 3 (16 ymm registers: accumulators + operands).
template <class Fam, int RM, int RN, bool kAux = false>
constexpr GemmKernel dot_kernel() { return GemmKernel{dot_tile<Fam, RM, RN, kAux>, RM, RN}; }

template <class Fam, void (*Expand)(const void*, float*, int64_t)>
constexpr GemmKernel expanded_kernel() {
  GemmKernel g = dot_kernel<Fam, 3, 4, true>();
  g.prepared_bytes = [](int64_t k) { return size_t(4) * size_t(k) * sizeof(float); };
  g.prepare = expand_cols<Expand>;
  return g;
}

template <class P, void (*Tile)(const GemmTile&)>
constexpr GemmKernel packed_kernel() {
  return GemmKernel{Tile, kPackRows, kPackCols, packed_block_bytes, pack_rows<P>, prepared_scales_bytes, prepare_scales};
}

// Packing and expansion cost a pass over the weights (per chunk) or activations (per tile);
// below this many activation rows the dot form wins.
constexpr int64_t kPackMinRows = 8;

}  // namespace

const DotTraits* dot_traits_avx2(DType weight) {
  switch (weight) {
    case DType::F32: return &kF32;
    case DType::F16: return &kF16;
    case DType::BF16: return &kBF16;
    case DType::Q8_0: return &kQ8_0;
    case DType::Q4_0: return &kQ4_0;
    default: return nullptr;
  }
}

GemmKernel gemm_kernel_avx2(DType weight, int64_t m) {
  const bool many = m >= kPackMinRows;
  if (m == 1 && weight != DType::Q4_0) return {};  // vec_dot per row keeps up with memory there
  switch (weight) {
    case DType::F32: return dot_kernel<TilesF32, 3, 4>();
    case DType::F16: return many ? expanded_kernel<TilesF16x32, f16_to_f32>() : dot_kernel<TilesF16, 3, 3>();
    case DType::BF16: return many ? expanded_kernel<TilesBF16x32, bf16_to_f32>() : dot_kernel<TilesBF16, 3, 3>();
    case DType::Q8_0:
      return many ? packed_kernel<PackQ8, by_cols<packed_q8<1>, packed_q8<2>, packed_q8<3>, packed_q8<4>>>()
                  : dot_kernel<QuantTiles<WeightQ8>, 2, 4>();
    case DType::Q4_0:
      if (m == 1) return GemmKernel{gemv_q4, kGemvRows, 1, nullptr, nullptr, xpairs_bytes, prepare_xpairs};
      return many ? packed_kernel<PackQ4, by_cols<packed_q4<1>, packed_q4<2>, packed_q4<3>, packed_q4<4>>>()
                  : dot_kernel<QuantTiles<WeightQ4>, 2, 4>();
    default: return {};
  }
}

const AttentionKernels& attention_kernels_avx2() {
  static constexpr AttentionKernels k{mad_f32_f32, mad_f16_f16, attend_row_f16};
  return k;
}

// Dot-form tiles sum each output exactly as ggml does (FloatTiles: one 8-lane FMA accumulator and
// tinyBLAS's horizontal sum, when k % 8 == 0; QuantTiles: ggml_vec_dot_q8_0_q8_0's 8 lanes). The
// packed and gemv forms reorder the sums, so they are not offered here.
GemmKernel gemm_kernel_avx2_ggml_order(DType weight, int64_t m) {
  switch (weight) {
    case DType::F32: return dot_kernel<TilesF32, 3, 4>();
    case DType::F16: return m >= kPackMinRows ? expanded_kernel<TilesF16x32, f16_to_f32>() : dot_kernel<TilesF16, 3, 3>();
    case DType::Q8_0: return dot_kernel<QuantTiles<WeightQ8>, 2, 4>();
    case DType::Q4_0: return dot_kernel<QuantTiles<WeightQ4>, 2, 4>();
    default: return {};
  }
}

}  // namespace db::cpu

#else  // not an x86-64-v3 build of this file: no kernels

namespace db::cpu {
const DotTraits* dot_traits_avx2(DType) { return nullptr; }
GemmKernel gemm_kernel_avx2(DType, int64_t) { return {}; }
GemmKernel gemm_kernel_avx2_ggml_order(DType, int64_t) { return {}; }
const AttentionKernels& attention_kernels_avx2() {
  static constexpr AttentionKernels k{};
  return k;
}
}  // namespace db::cpu

#endif
