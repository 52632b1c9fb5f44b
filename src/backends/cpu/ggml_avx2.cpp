// AVX2 + FMA + F16C versions of the ggml-order kernels of vec_dot.cpp and row_kernels.cpp: the same
// operations in the same order (vec_dot.h states the contract), on vector registers, so results are
// bit-identical to the portable kernels and to llama.cpp. Only this file is compiled with -mavx2 -mfma -mf16c (and
// -ffp-contract=off like the rest); dispatch.cpp enters it after checking the CPU. Internal
// linkage throughout, and no standard-library templates, so no AVX2 code leaks into portable paths.
#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

#include "backends/cpu/row_kernels.h"
#include "backends/cpu/ggml_avx2_common.h"
#include "backends/cpu/simd.h"
#include "backends/cpu/vec_dot.h"

namespace db::cpu {
namespace {

// GGML_F32x8_REDUCE of four accumulators.
inline float reduce4(__m256 s0, __m256 s1, __m256 s2, __m256 s3) {
  s0 = _mm256_add_ps(s0, s2);
  s1 = _mm256_add_ps(s1, s3);
  s0 = _mm256_add_ps(s0, s1);
  const __m128 t0 = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
  const __m128 t1 = _mm_hadd_ps(t0, t0);
  return _mm_cvtss_f32(_mm_hadd_ps(t1, t1));
}

inline __m256 load_f16(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }

float dot_f32(int64_t n, const void* xv, const void* yv) {
  auto *x = static_cast<const float*>(xv), *y = static_cast<const float*>(yv);
  const int64_t np = n & ~int64_t(31);
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  for (int64_t i = 0; i < np; i += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), s3);
  }
  float sum = reduce4(s0, s1, s2, s3);
  // Leftovers as in vec_dot.cpp: runs of 8 and 4 as rounded products added in order, then FMAs.
  int64_t i = np;
  for (; n - i >= 8; i += 8)
    for (int l = 0; l < 8; ++l) sum += x[i + l] * y[i + l];
  if (n - i >= 4) {
    for (int l = 0; l < 4; ++l) sum += x[i + l] * y[i + l];
    i += 4;
  }
  for (; i < n; ++i) sum = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(x[i]), _mm_set_ss(y[i]), _mm_set_ss(sum)));
  return sum;
}

float dot_f16(int64_t n, const void* xv, const void* yv) {
  auto *x = static_cast<const uint16_t*>(xv), *y = static_cast<const uint16_t*>(yv);
  const int64_t np = n & ~int64_t(31);
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  for (int64_t i = 0; i < np; i += 32) {
    s0 = _mm256_fmadd_ps(load_f16(x + i), load_f16(y + i), s0);
    s1 = _mm256_fmadd_ps(load_f16(x + i + 8), load_f16(y + i + 8), s1);
    s2 = _mm256_fmadd_ps(load_f16(x + i + 16), load_f16(y + i + 16), s2);
    s3 = _mm256_fmadd_ps(load_f16(x + i + 24), load_f16(y + i + 24), s3);
  }
  double sum = reduce4(s0, s1, s2, s3);
  for (int64_t i = np; i < n; ++i) sum += double(h2f(x[i]) * h2f(y[i]));
  return float(sum);
}

// tinyBLAS order: one accumulator, n % 8 == 0 (select_vec_dot guarantees it).
float dot_gemm_f32(int64_t n, const void* xv, const void* yv) {
  auto *x = static_cast<const float*>(xv), *y = static_cast<const float*>(yv);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc);
  return hsum8(acc);
}

float dot_gemm_f16(int64_t n, const void* xv, const void* yv) {
  auto *x = static_cast<const uint16_t*>(xv), *y = static_cast<const uint16_t*>(yv);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n; i += 8) acc = _mm256_fmadd_ps(load_f16(x + i), load_f16(y + i), acc);
  return hsum8(acc);
}

// ---- q8_0 / q4_0 ------------------------------------------------------------------------------
inline __m256i load_q8(const int8_t* qs) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs)); }
// 32 nibbles as signed bytes -8..7 in element order (low nibbles 0..15, high nibbles 16..31).
inline __m256i load_q4(const uint8_t* qs) {
  const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i b = _mm256_and_si256(_mm256_set1_epi8(0x0F), _mm256_insertf128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1));
  return _mm256_sub_epi8(b, _mm256_set1_epi8(8));
}
// Exact int32 sums of 4 consecutive products per lane (|x|·sign(y, x) keeps vpmaddubsw in range).
inline __m256i lane_sums(__m256i x, __m256i y) {
  const __m256i dot = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
  return _mm256_madd_epi16(_mm256_set1_epi16(1), dot);
}

float dot_q8_0(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockQ8_0*>(xv);
  auto* y = static_cast<const BlockQ8_0*>(yv);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / QK8_0; ++b) {
    const __m256 d = _mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(lane_sums(load_q8(x[b].qs), load_q8(y[b].qs))), acc);
  }
  return hsum8(acc);
}

float dot_q4_0(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockQ4_0*>(xv);
  auto* y = static_cast<const BlockQ8_0*>(yv);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / QK8_0; ++b) {
    const __m256 d = _mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(lane_sums(load_q4(x[b].qs), load_q8(y[b].qs))), acc);
  }
  return hsum8(acc);
}

// Repacked q4_0x8 order: one float, fma(block integer sum, d_x·d_y, acc) per block.
float dot_q4_0_x8(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockQ4_0*>(xv);
  auto* y = static_cast<const BlockQ8_0*>(yv);
  __m128 acc = _mm_setzero_ps();
  for (int64_t b = 0; b < n / QK8_0; ++b) {
    const float isum = float(hsum_i32(lane_sums(load_q4(x[b].qs), load_q8(y[b].qs))));
    acc = _mm_fmadd_ss(_mm_set_ss(isum), _mm_set_ss(h2f(x[b].d) * h2f(y[b].d)), acc);
  }
  return _mm_cvtss_f32(acc);
}

// ---- activation rows -----------------------------------------------------------------------------
void f32_row(const float* src, void* dst, int64_t n) { __builtin_memcpy(dst, src, size_t(n) * 4); }

void f16_row(const float* src, void* dst, int64_t n) {
  auto* d = static_cast<uint16_t*>(dst);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) d[i] = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
}

// ggml's AVX2 quantize_row_q8_0, verbatim in effect.
void q8_0_row(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_0*>(dst);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t b = 0; b < n / QK8_0; ++b, x += QK8_0) {
    __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8), v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
    __m256 m = _mm256_andnot_ps(sign, v0);
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v1));
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v2));
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v3));
    __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    y[b].d = _cvtss_sh(amax / 127.0f, _MM_FROUND_TO_NEAREST_INT);
    const __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
    const __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    const __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    const __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    const __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs), _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
  }
}


// ---- row kernels ----------------------------------------------------------------------------------
// ggml_v_expf and ggml_v_silu of ggml-cpu/vec.h (AVX2 + FMA), verbatim in effect.
inline __m256 v_expf(__m256 x) {
  const __m256 r = _mm256_set1_ps(0x1.8p23f);
  const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), r);
  const __m256 n = _mm256_sub_ps(z, r);
  const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f), _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
  const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
  const __m256 k = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1))));
  const __m256i c = _mm256_castps_si256(_mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.f), n), _mm256_set1_ps(126), _CMP_GT_OQ));
  const __m256 u = _mm256_mul_ps(b, b);
  const __m256 j = _mm256_fmadd_ps(
      _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
                      _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
      u, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), b));
  if (!_mm256_movemask_ps(_mm256_castsi256_ps(c))) return _mm256_fmadd_ps(j, k, k);
  const __m256i g = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ)),
                                     _mm256_set1_epi32(int(0x82000000u)));
  const __m256 s1 = _mm256_castsi256_ps(_mm256_add_epi32(g, _mm256_set1_epi32(0x7f000000)));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, g));
  const __m256i d = _mm256_castps_si256(_mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.f), n), _mm256_set1_ps(192), _CMP_GT_OQ));
  return _mm256_or_ps(
      _mm256_and_ps(_mm256_castsi256_ps(d), _mm256_mul_ps(s1, s1)),
      _mm256_andnot_ps(_mm256_castsi256_ps(d),
                       _mm256_or_ps(_mm256_and_ps(_mm256_castsi256_ps(c), _mm256_mul_ps(_mm256_fmadd_ps(s2, j, s2), s1)),
                                    _mm256_andnot_ps(_mm256_castsi256_ps(c), _mm256_fmadd_ps(k, j, k)))));
}

inline __m256 v_silu(__m256 x) {
  const __m256 e = v_expf(_mm256_sub_ps(_mm256_setzero_ps(), x));
  return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1), e));
}

inline float silu_f32(float x) { return x / (1.0f + __builtin_expf(-x)); }  // libm expf, as ggml_silu_f32

void swiglu(int64_t n, float* y, const float* g, const float* u) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(v_silu(_mm256_loadu_ps(g + i)), _mm256_loadu_ps(u + i)));
  for (; i < n; ++i) y[i] = silu_f32(g[i]) * u[i];
}

void silu(int64_t n, float* y, const float* x) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, v_silu(_mm256_loadu_ps(x + i)));
  for (; i < n; ++i) y[i] = silu_f32(x[i]);
}

void mad_f16(int64_t n, uint16_t* acc, const uint16_t* v, float s) {
  const __m256 vs = _mm256_set1_ps(s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 a = _mm256_fmadd_ps(load_f16(v + i), vs, load_f16(acc + i));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(acc + i), _mm256_cvtps_ph(a, _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i) acc[i] = _cvtss_sh(fma1(h2f(v[i]), s, h2f(acc[i])), _MM_FROUND_TO_NEAREST_INT);
}

void scale_f16(int64_t n, uint16_t* acc, float s) {
  const __m256 vs = _mm256_set1_ps(s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(acc + i), _mm256_cvtps_ph(_mm256_mul_ps(load_f16(acc + i), vs), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) acc[i] = _cvtss_sh(h2f(acc[i]) * s, _MM_FROUND_TO_NEAREST_INT);
}

void mad_f32(int64_t n, float* acc, const float* v, float s) {
  const __m256 vs = _mm256_set1_ps(s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(acc + i, _mm256_fmadd_ps(_mm256_loadu_ps(v + i), vs, _mm256_loadu_ps(acc + i)));
  for (; i < n; ++i) acc[i] = fma1(v[i], s, acc[i]);
}

void tile_scores(int64_t D, const float* q, const float* kt, float* kq) {
  __m256 a[kAttnTile / 8];
  for (auto& x : a) x = _mm256_setzero_ps();
  for (int64_t d = 0; d < D; ++d) {
    const __m256 qd = _mm256_set1_ps(q[d]);
    for (int64_t g = 0; g < kAttnTile / 8; ++g) a[g] = _mm256_fmadd_ps(_mm256_loadu_ps(kt + d * kAttnTile + g * 8), qd, a[g]);
  }
  for (int64_t g = 0; g < kAttnTile / 8; ++g) _mm256_storeu_ps(kq + g * 8, a[g]);
}

double tile_softmax(float* kq, float max) {
  double sum = 0.0;
  const __m256 m = _mm256_set1_ps(max);
  for (int64_t g = 0; g < kAttnTile; g += 8) {
    const __m256 e = v_expf(_mm256_sub_ps(_mm256_loadu_ps(kq + g), m));
    _mm256_storeu_ps(kq + g, e);
    sum += double(hsum8(e));
  }
  return sum;
}

void tile_values(int64_t D, float* acc, const float* v, const float* p, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= D; i += 8) {
    __m256 a = _mm256_loadu_ps(acc + i);
    for (int64_t j = 0; j < n; ++j) a = _mm256_fmadd_ps(_mm256_loadu_ps(v + j * D + i), _mm256_set1_ps(p[j]), a);
    _mm256_storeu_ps(acc + i, a);
  }
  for (; i < D; ++i) {
    float x = acc[i];
    for (int64_t j = 0; j < n; ++j) x = fma1(v[j * D + i], p[j], x);
    acc[i] = x;
  }
}


// ---- q4_0 GEMM tile in the repacked order ---------------------------------------------------------
// For q4_0 weights with N % 8 == 0 ggml repacks 8 rows together and sums each output as one float:
// acc = fma(float(block integer sum), d_w · d_x, acc), block after block (dot_q4_0_x8). This tile
// does the same for 8 weight rows × up to 4 activation rows: per block the 8 rows' integer sums are
// gathered into one vector (exact integer adds), so one FMA advances 8 outputs, as in ggml.
template <int C>
void q4_x8_tile(const GemmTile& t) {
  const BlockQ4_0* w[kX8Rows];
  for (int r = 0; r < kX8Rows; ++r)  // rows past nr repeat the last one; their lanes are not stored
    w[r] = reinterpret_cast<const BlockQ4_0*>(static_cast<const char*>(t.w) + size_t(r < t.nr ? r : t.nr - 1) * t.ws);
  const BlockQ8_0* x[C];
  for (int c = 0; c < C; ++c) x[c] = reinterpret_cast<const BlockQ8_0*>(static_cast<const char*>(t.x) + size_t(c) * t.xs);
  __m256 acc[C];
  for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < t.k / QK4_0; ++b) {
    __m256i wq[kX8Rows];
    alignas(16) uint16_t dw16[kX8Rows];
    for (int r = 0; r < kX8Rows; ++r) {
      wq[r] = load_q4(w[r][b].qs);
      dw16[r] = w[r][b].d;
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(dw16)));
    for (int c = 0; c < C; ++c) {
      const __m256i xq = load_q8(x[c][b].qs);
      __m256i p[kX8Rows];
      for (int r = 0; r < kX8Rows; ++r) p[r] = lane_sums(wq[r], xq);
      const __m256 isum = _mm256_cvtepi32_ps(hsum8_rows(p));
      acc[c] = _mm256_fmadd_ps(isum, _mm256_mul_ps(dw, _mm256_set1_ps(h2f(x[c][b].d))), acc[c]);
    }
  }
  for (int c = 0; c < C; ++c) {
    alignas(32) float out[kX8Rows];
    _mm256_store_ps(out, acc[c]);
    for (int r = 0; r < t.nr; ++r) t.y[size_t(c) * t.ys + size_t(r)] = out[r];
  }
}

void q4_x8(const GemmTile& t) {
  switch (t.nc) {
    case 1: return q4_x8_tile<1>(t);
    case 2: return q4_x8_tile<2>(t);
    case 3: return q4_x8_tile<3>(t);
    default: return q4_x8_tile<4>(t);
  }
}

// ---- q4_0 GEMM tile on weights packed at load (BlockQ4_0x8) ----------------------------------------
// Same sums as q4_x8_tile, far fewer instructions: vector g of a packed block holds 4 bytes of each
// of the 8 rows, so maddubs against 4 activation bytes broadcast to every row gives all 8 rows'
// partial sums in place, and no horizontal reduction is needed. Nibbles are used unsigned (0..15);
// prepare() stores 8·Σx per block, subtracted once: Σ(q - 8)·x = Σq·x - 8·Σx, exact in integers.
size_t q4_packed_prepared_bytes(int64_t k) { return size_t(k / QK8_0) * kX8Cols * sizeof(int32_t); }

void q4_packed_prepare(int64_t k, const void* x, size_t xs, int nc, void* dst) {
  auto* sums = static_cast<int32_t*>(dst);  // [block][column]
  const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
  for (int c = 0; c < nc; ++c) {
    auto* xb = reinterpret_cast<const BlockQ8_0*>(static_cast<const char*>(x) + size_t(c) * xs);
    for (int64_t b = 0; b < k / QK8_0; ++b) {
      const __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, load_q8(xb[b].qs)), ones16);
      sums[b * kX8Cols + c] = 8 * hsum_i32(s);
    }
  }
}

template <int C>
void q4_packed_tile(const GemmTile& t) {
  const auto* w = static_cast<const BlockQ4_0x8*>(t.w);
  const auto* sums = static_cast<const int32_t*>(t.aux);
  const BlockQ8_0* x[C];
  for (int c = 0; c < C; ++c) x[c] = reinterpret_cast<const BlockQ8_0*>(static_cast<const char*>(t.x) + size_t(c) * t.xs);
  const __m256i low4 = _mm256_set1_epi8(0x0F), ones16 = _mm256_set1_epi16(1);
  __m256 acc[C];
  for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < t.k / QK4_0; ++b) {
    __m256i lo[4], hi[4];
    for (int g = 0; g < 4; ++g) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs + 32 * g));
      lo[g] = _mm256_and_si256(v, low4);
      hi[g] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].d)));
    for (int c = 0; c < C; ++c) {
      const int8_t* xq = x[c][b].qs;
      // int16 lanes: 8 terms of at most 2·15·127 each, below 32767.
      __m256i s = _mm256_maddubs_epi16(lo[0], bcast4(xq));
      s = _mm256_add_epi16(s, _mm256_maddubs_epi16(hi[0], bcast4(xq + 16)));
      for (int g = 1; g < 4; ++g) {
        s = _mm256_add_epi16(s, _mm256_maddubs_epi16(lo[g], bcast4(xq + 4 * g)));
        s = _mm256_add_epi16(s, _mm256_maddubs_epi16(hi[g], bcast4(xq + 16 + 4 * g)));
      }
      const __m256i isum = _mm256_sub_epi32(_mm256_madd_epi16(s, ones16), _mm256_set1_epi32(sums[b * kX8Cols + c]));
      acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(dw, _mm256_set1_ps(h2f(x[c][b].d))), acc[c]);
    }
  }
  for (int c = 0; c < C; ++c) _mm256_storeu_ps(t.y + size_t(c) * t.ys, acc[c]);  // packed groups are whole (N % 8 == 0)
}

void q4_packed(const GemmTile& t) {
  switch (t.nc) {
    case 1: return q4_packed_tile<1>(t);
    case 2: return q4_packed_tile<2>(t);
    case 3: return q4_packed_tile<3>(t);
    default: return q4_packed_tile<4>(t);
  }
}

constexpr RowKernels kRow{swiglu, silu, mad_f16, scale_f16, mad_f32, tile_scores, tile_softmax, tile_values};

constexpr DotTraits kF32{DType::F32, f32_row, dot_f32, dot_gemm_f32};
constexpr DotTraits kF16{DType::F16, f16_row, dot_f16, dot_gemm_f16};
constexpr DotTraits kQ8_0{DType::Q8_0, q8_0_row, dot_q8_0};
constexpr DotTraits kQ4_0{DType::Q8_0, q8_0_row, dot_q4_0, nullptr, dot_q4_0_x8};

}  // namespace

const DotTraits* dot_traits_ggml_avx2(DType weight) {
  switch (weight) {
    case DType::F32: return &kF32;
    case DType::F16: return &kF16;
    case DType::Q8_0: return &kQ8_0;
    case DType::Q4_0: return &kQ4_0;
    default: return dot_traits_ggml_avx2_kquants(weight);
  }
}

const RowKernels& row_kernels_ggml_avx2() { return kRow; }

GemmKernel gemm_kernel_ggml_avx2_q4_x8() { return GemmKernel{q4_x8, kX8Rows, kX8Cols}; }

GemmKernel gemm_kernel_ggml_avx2_q4_0x8_packed() {
  return GemmKernel{q4_packed, kX8Rows, kX8Cols, nullptr, nullptr, q4_packed_prepared_bytes, q4_packed_prepare};
}

}  // namespace db::cpu
#else  // not an x86-64-v3 build of this file: no kernels
#include "backends/cpu/row_kernels.h"
#include "backends/cpu/simd.h"
#include "backends/cpu/vec_dot.h"
namespace db::cpu {
const DotTraits* dot_traits_ggml_avx2(DType) { return nullptr; }
const RowKernels& row_kernels_ggml_avx2() { return row_kernels_ref(); }
GemmKernel gemm_kernel_ggml_avx2_q4_x8() { return {}; }
GemmKernel gemm_kernel_ggml_avx2_q4_0x8_packed() { return {}; }
}  // namespace db::cpu
#endif
