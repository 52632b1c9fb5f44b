// AVX2 versions of the block-format dot products of vec_dot_quants.cpp (K-quants, Q4_1, Q5_0,
// Q5_1, IQ4_NL), in the order of ggml's AVX2
// kernels (vec_dot.h states the contract): vpmaddubsw + vpmaddwd leave elements 4l..4l+3 of every
// 32 in int32 lane l, each super-block adds its lanes into 8 float lanes with one FMA, and the
// row ends with ggml's hsum_float_8; so results are bit-identical to the portable mirrors and to
// llama.cpp. Compiled with -mavx2 -mfma -mf16c like ggml_avx2.cpp, entered only after dispatch.cpp
// has checked the CPU; internal linkage (shared helpers come from ggml_avx2_common.h inside the
// anonymous namespace), so no AVX2 code leaks into portable paths.
#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "backends/cpu/ggml_avx2_common.h"
#include "backends/cpu/simd.h"
#include "backends/cpu/vec_dot.h"
#include "core/quant_k.h"

namespace db::cpu {
namespace {

// 32 unsigned quants times 32 q8 values, scaled: int32 lane l = scale * sum of elements 4l..4l+3.
inline __m256i scaled_lanes(__m256i q, __m256i y, __m256i scale16) {
  return _mm256_madd_epi16(scale16, _mm256_maddubs_epi16(q, y));
}
// Scales of two 16-element sub-blocks (low and high half of a 32-byte register).
inline __m256i scale_pair(int lo, int hi) { return _mm256_set_m128i(_mm_set1_epi16(int16_t(hi)), _mm_set1_epi16(int16_t(lo))); }


// The 6-bit scales and mins of Q4_K/Q5_K (get_scale_min_k4).
inline void scales_mins(const uint8_t* q, uint8_t sc[8], uint8_t m[8]) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = q[j] & 63;
    m[j] = q[j + 4] & 63;
  }
  for (int j = 4; j < 8; ++j) {
    sc[j] = uint8_t((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    m[j] = uint8_t((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// The same as 16 bytes (8 scales, then 8 mins) with 32-bit word operations (ggml's kmask trick).
inline void scales_mins_k4(const uint8_t* q, uint8_t out[16]) {
  uint32_t u[4];
  std::memcpy(u, q, 12);
  const uint32_t k1 = 0x3f3f3f3f, k2 = 0x0f0f0f0f, k3 = 0x03030303;
  u[3] = ((u[2] >> 4) & k2) | (((u[1] >> 6) & k3) << 4);
  const uint32_t mins_lo = u[1] & k1;
  u[1] = (u[2] & k2) | (((u[0] >> 6) & k3) << 4);
  u[2] = mins_lo;
  u[0] &= k1;
  std::memcpy(out, u, 16);
}

// Scale j of 8 int16 scales (repeated in both 128-bit halves), broadcast to all 16 lanes.
inline __m256i scale_of(__m256i scales, int j) {
  return _mm256_shuffle_epi8(scales, _mm256_set1_epi16(int16_t((2 * j) | ((2 * j + 1) << 8))));
}

// Sums of the 32-element sub-blocks of a Q8_K block.
inline void bsums32(const BlockQ8_K& y, int32_t s[8]) {
  for (int j = 0; j < 8; ++j) s[j] = int16_t(y.bsums[2 * j] + y.bsums[2 * j + 1]);
}

// ---- Q2_K ---------------------------------------------------------------------------------------
float dot_q2_k(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockQ2_K*>(xv);
  auto* y = static_cast<const BlockQ8_K*>(yv);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const float d = y[b].d * h2f(x[b].d);
    const float dmin = -y[b].d * h2f(x[b].dmin);
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].scales));
    const __m256i mins = _mm256_cvtepi8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0F)));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(_mm256_madd_epi16(mins, load(y[b].bsums))), acc);
    __m256i sumi = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i q2 = load(x[b].qs + 32 * h);
      for (int k = 0; k < 4; ++k) {
        const int s = 8 * h + 2 * k;
        const __m256i scale = scale_pair(x[b].scales[s] & 0xF, x[b].scales[s + 1] & 0xF);
        sumi = _mm256_add_epi32(sumi, scaled_lanes(bits_of(q2, 2 * k, 3), load(y[b].qs + 128 * h + 32 * k), scale));
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum8(acc);
}

// ---- Q3_K ---------------------------------------------------------------------------------------
// The 16 signed 6-bit scales (packed as 4 low bits in bytes 0..7, 2 high bits in bytes 8..11).
inline void q3_scales(const uint8_t packed[12], int sc[16]) {
  uint32_t aux[3];
  std::memcpy(aux, packed, 12);
  const uint32_t k1 = 0x03030303, k2 = 0x0f0f0f0f;
  const uint32_t w[4] = {(aux[0] & k2) | (((aux[2] >> 0) & k1) << 4), (aux[1] & k2) | (((aux[2] >> 2) & k1) << 4),
                         ((aux[0] >> 4) & k2) | (((aux[2] >> 4) & k1) << 4),
                         ((aux[1] >> 4) & k2) | (((aux[2] >> 6) & k1) << 4)};
  for (int i = 0; i < 16; ++i) sc[i] = int((w[i / 4] >> (8 * (i % 4))) & 0xFF) - 32;
}

float dot_q3_k(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockQ3_K*>(xv);
  auto* y = static_cast<const BlockQ8_K*>(yv);
  __m256 acc = _mm256_setzero_ps();
  const __m256i one = _mm256_set1_epi8(1);
  for (int64_t b = 0; b < n / QK_K; ++b) {
    int sc[16];
    q3_scales(x[b].scales, sc);
    const __m256i hbits = load(x[b].hmask);
    __m256i sumi = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i q3 = load(x[b].qs + 32 * h);
      for (int k = 0; k < 4; ++k) {
        // value = low two bits - 4 where the hmask bit is clear, in [-4, 3]
        const __m256i minus4 = _mm256_slli_epi16(_mm256_xor_si256(bits_of(hbits, 4 * h + k, 1), one), 2);
        const __m256i v = _mm256_sub_epi8(bits_of(q3, 2 * k, 3), minus4);
        const __m256i yq = load(y[b].qs + 128 * h + 32 * k);
        const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(v, v), _mm256_sign_epi8(yq, v));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(scale_pair(sc[8 * h + 2 * k], sc[8 * h + 2 * k + 1]), p16));
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(y[b].d * h2f(x[b].d)), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum8(acc);
}

// ---- Q4_K / Q5_K --------------------------------------------------------------------------------
// Integer lanes of one super-block: sub-block 2j from the low nibbles of qs[32j..], 2j+1 from the
// high ones; Q5_K adds bit 2j / 2j+1 of qh[l] as the fifth bit.
template <bool Q5>
inline __m256i k4_pair_lanes(const uint8_t* qs, const __m256i hb, const int8_t* yq, const uint8_t sc[8], int j) {
  const __m256i bits = load(qs + 32 * j);
  __m256i lo = nibbles_lo(bits), hi = nibbles_hi(bits);
  if (Q5) {
    lo = _mm256_or_si256(lo, _mm256_slli_epi16(bits_of(hb, 2 * j, 1), 4));
    hi = _mm256_or_si256(hi, _mm256_slli_epi16(bits_of(hb, 2 * j + 1, 1), 4));
  }
  return _mm256_add_epi32(scaled_lanes(lo, load(yq + 64 * j), _mm256_set1_epi16(sc[2 * j])),
                          scaled_lanes(hi, load(yq + 64 * j + 32), _mm256_set1_epi16(sc[2 * j + 1])));
}

template <bool Q5>
inline __m256i k4_lanes(const uint8_t* qs, const uint8_t* qh, const int8_t* yq, const uint8_t sc[8]) {
  __m256i sumi = _mm256_setzero_si256();
  const __m256i hb = Q5 ? load(qh) : _mm256_setzero_si256();
  for (int j = 0; j < 4; ++j) sumi = _mm256_add_epi32(sumi, k4_pair_lanes<Q5>(qs, hb, yq, sc, j));
  return sumi;
}

float dot_q4_k(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockQ4_K*>(xv);
  auto* y = static_cast<const BlockQ8_K*>(yv);
  __m256 acc = _mm256_setzero_ps();
  __m128 acc_m = _mm_setzero_ps();
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const float d = y[b].d * h2f(x[b].d);
    const float dmin = -y[b].d * h2f(x[b].dmin);
    uint8_t sc[8], m[8];
    scales_mins(x[b].scales, sc, m);
    int32_t s32[8];
    bsums32(y[b], s32);
    const __m128i prod = _mm_setr_epi32(m[0] * s32[0] + m[1] * s32[1], m[2] * s32[2] + m[3] * s32[3],
                                        m[4] * s32[4] + m[5] * s32[5], m[6] * s32[6] + m[7] * s32[7]);
    acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), acc_m);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(k4_lanes<false>(x[b].qs, nullptr, y[b].qs, sc)), acc);
  }
  acc_m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));
  acc_m = _mm_add_ss(acc_m, _mm_movehdup_ps(acc_m));
  return hsum8(acc) + _mm_cvtss_f32(acc_m);
}

float dot_q5_k(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockQ5_K*>(xv);
  auto* y = static_cast<const BlockQ8_K*>(yv);
  __m256 acc = _mm256_setzero_ps();
  float summs = 0.0f;
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const float d = y[b].d * h2f(x[b].d);
    const float dmin = -y[b].d * h2f(x[b].dmin);
    uint8_t sc[8], m[8];
    scales_mins(x[b].scales, sc, m);
    int32_t s32[8], imin = 0;
    bsums32(y[b], s32);
    for (int j = 0; j < 8; ++j) imin += m[j] * s32[j];
    summs = fma1(dmin, float(imin), summs);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(k4_lanes<true>(x[b].qs, x[b].qh, y[b].qs, sc)), acc);
  }
  return hsum8(acc) + summs;
}

// Q4_K weights as ggml repacks them (N % 8 == 0): exact integer sums per super-block, then
// acc = fma(isum, d_x * d_y, acc), acc_min likewise, and acc - acc_min.
float dot_q4_k_x8(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockQ4_K*>(xv);
  auto* y = static_cast<const BlockQ8_K*>(yv);
  float acc = 0.0f, acc_min = 0.0f;
  for (int64_t b = 0; b < n / QK_K; ++b) {
    uint8_t sc[8], m[8];
    scales_mins(x[b].scales, sc, m);
    int32_t s32[8], imin = 0;
    bsums32(y[b], s32);
    for (int j = 0; j < 8; ++j) imin += m[j] * s32[j];
    const int32_t isum = hsum_i32(k4_lanes<false>(x[b].qs, nullptr, y[b].qs, sc));
    acc = fma1(float(isum), h2f(x[b].d) * y[b].d, acc);
    acc_min = fma1(float(imin), h2f(x[b].dmin) * y[b].d, acc_min);
  }
  return acc - acc_min;
}

// ggml's 4-row gemm order for the same weights: one FMA per pair of sub-blocks.
float dot_q4_k_x8_gemm(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockQ4_K*>(xv);
  auto* y = static_cast<const BlockQ8_K*>(yv);
  float acc = 0.0f, acc_min = 0.0f;
  for (int64_t b = 0; b < n / QK_K; ++b) {
    uint8_t sc[8], m[8];
    scales_mins(x[b].scales, sc, m);
    int32_t s32[8];
    bsums32(y[b], s32);
    const float d = h2f(x[b].d) * y[b].d, dmin = h2f(x[b].dmin) * y[b].d;
    for (int p = 0; p < 4; ++p) {
      const int32_t isum = hsum_i32(k4_pair_lanes<false>(x[b].qs, _mm256_setzero_si256(), y[b].qs, sc, p));
      acc = fma1(float(isum), d, acc);
      acc_min = fma1(float(m[2 * p] * s32[2 * p] + m[2 * p + 1] * s32[2 * p + 1]), dmin, acc_min);
    }
  }
  return acc - acc_min;
}

// These orders for 8 weight rows × up to 4 activation rows (a GEMM tile): the 8 rows' integer
// sums are gathered into one vector (exact integer adds), so one FMA advances 8 outputs, as
// ggml's q4_K_8x8 kernels do.
// ggml's 4-row gemm order for a full tile of C = 4 activation rows: one FMA per pair of sub-blocks.
template <int C>
void q4_k_x8_tile(const GemmTile& t) {
  const BlockQ4_K* w[kX8Rows];
  for (int r = 0; r < kX8Rows; ++r)  // rows past nr repeat the last one; their lanes are not stored
    w[r] = reinterpret_cast<const BlockQ4_K*>(static_cast<const char*>(t.w) + size_t(r < t.nr ? r : t.nr - 1) * t.ws);
  const BlockQ8_K* x[C];
  for (int c = 0; c < C; ++c) x[c] = reinterpret_cast<const BlockQ8_K*>(static_cast<const char*>(t.x) + size_t(c) * t.xs);
  __m256 acc[C], acc_min[C];
  for (int c = 0; c < C; ++c) acc[c] = acc_min[c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < t.k / QK_K; ++b) {
    // The 8 rows' quants (sub-block j of row r in q[r][j]), scales and mins, unpacked once per
    // super-block and reused by every activation row of the tile.
    __m256i q[kX8Rows][8], scales[kX8Rows];  // scales: the 8 sub-block scales as int16, both halves
    alignas(32) int32_t mins[8][kX8Rows];    // mins[j][r]: one vector per sub-block
    alignas(16) uint16_t d16[kX8Rows], dmin16[kX8Rows];
    for (int r = 0; r < kX8Rows; ++r) {
      alignas(16) uint8_t sm[16];  // 8 scales, then 8 mins
      scales_mins_k4(w[r][b].scales, sm);
      scales[r] = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sm))));
      for (int j = 0; j < 8; ++j) mins[j][r] = sm[8 + j];
      for (int j = 0; j < 4; ++j) {
        const __m256i bits = load(w[r][b].qs + 32 * j);
        q[r][2 * j] = nibbles_lo(bits);
        q[r][2 * j + 1] = nibbles_hi(bits);
      }
      d16[r] = w[r][b].d;
      dmin16[r] = w[r][b].dmin;
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(d16)));
    const __m256 dminw = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(dmin16)));
    for (int c = 0; c < C; ++c) {
      int32_t s32[8];
      bsums32(x[c][b], s32);
      const __m256 dy = _mm256_set1_ps(x[c][b].d);
      const __m256 d = _mm256_mul_ps(dw, dy), dmin = _mm256_mul_ps(dminw, dy);
      constexpr int kSub = 2;  // sub-blocks per FMA
      for (int j0 = 0; j0 < 8; j0 += kSub) {
        __m256i yq[kSub];
#pragma GCC unroll 8
        for (int j = 0; j < kSub; ++j) yq[j] = load(x[c][b].qs + 32 * (j0 + j));
        __m256i p[kX8Rows];
#pragma GCC unroll 8
        for (int r = 0; r < kX8Rows; ++r) {
          p[r] = scaled_lanes(q[r][j0], yq[0], scale_of(scales[r], j0));
#pragma GCC unroll 8
          for (int j = 1; j < kSub; ++j)
            p[r] = _mm256_add_epi32(p[r], scaled_lanes(q[r][j0 + j], yq[j], scale_of(scales[r], j0 + j)));
        }
        __m256i imin = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int j = j0; j < j0 + kSub; ++j)
          imin = _mm256_add_epi32(imin, _mm256_mullo_epi32(_mm256_load_si256(reinterpret_cast<const __m256i*>(mins[j])),
                                                           _mm256_set1_epi32(s32[j])));
        acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hsum8_rows(p)), d, acc[c]);
        acc_min[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(imin), dmin, acc_min[c]);
      }
    }
  }
  for (int c = 0; c < C; ++c) {
    alignas(32) float out[kX8Rows];
    _mm256_store_ps(out, _mm256_sub_ps(acc[c], acc_min[c]));
    for (int r = 0; r < t.nr; ++r) t.y[size_t(c) * t.ys + size_t(r)] = out[r];
  }
}

// The gemv order for one activation row (decode, and the M % 4 last rows of a batch): the rows'
// quants go straight from memory into the integer lanes, nothing is staged.
void q4_k_x8_gemv(const GemmTile& t, int c) {
  const BlockQ4_K* w[kX8Rows];
  for (int r = 0; r < kX8Rows; ++r)  // rows past nr repeat the last one; their lanes are not stored
    w[r] = reinterpret_cast<const BlockQ4_K*>(static_cast<const char*>(t.w) + size_t(r < t.nr ? r : t.nr - 1) * t.ws);
  const auto* x = reinterpret_cast<const BlockQ8_K*>(static_cast<const char*>(t.x) + size_t(c) * t.xs);
  __m256 acc = _mm256_setzero_ps(), acc_min = _mm256_setzero_ps();
  for (int64_t b = 0; b < t.k / QK_K; ++b) {
    __m256i yq[8];
    for (int j = 0; j < 8; ++j) yq[j] = load(x[b].qs + 32 * j);
    // sums of the 32-element sub-blocks as int16 (they fit: |sum| <= 32 * 127)
    const __m128i s16 = _mm_hadd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].bsums)),
                                       _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].bsums + 8)));
    __m256i p[kX8Rows];
    alignas(32) int32_t imin[kX8Rows];
    alignas(16) uint16_t d16[kX8Rows], dmin16[kX8Rows];
#pragma GCC unroll 8
    for (int r = 0; r < kX8Rows; ++r) {
      alignas(16) uint8_t sm[16];
      scales_mins_k4(w[r][b].scales, sm);
      const __m128i sm16 = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sm)));
      const __m256i scales = _mm256_broadcastsi128_si256(sm16);
      __m256i sum = _mm256_setzero_si256();
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        const __m256i bits = load(w[r][b].qs + 32 * j);
        sum = _mm256_add_epi32(sum, scaled_lanes(nibbles_lo(bits), yq[2 * j], scale_of(scales, 2 * j)));
        sum = _mm256_add_epi32(sum, scaled_lanes(nibbles_hi(bits), yq[2 * j + 1], scale_of(scales, 2 * j + 1)));
      }
      p[r] = sum;
      const __m128i mins16 = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sm + 8)));
      const __m128i pm = _mm_madd_epi16(mins16, s16);
      const __m128i pm2 = _mm_add_epi32(pm, _mm_unpackhi_epi64(pm, pm));
      imin[r] = _mm_cvtsi128_si32(_mm_add_epi32(pm2, _mm_shuffle_epi32(pm2, 0xB1)));
      d16[r] = w[r][b].d;
      dmin16[r] = w[r][b].dmin;
    }
    const __m256 dy = _mm256_set1_ps(x[b].d);
    const __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(d16))), dy);
    const __m256 dmin = _mm256_mul_ps(_mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(dmin16))), dy);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hsum8_rows(p)), d, acc);
    acc_min = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(imin))), dmin, acc_min);
  }
  alignas(32) float out[kX8Rows];
  _mm256_store_ps(out, _mm256_sub_ps(acc, acc_min));
  for (int r = 0; r < t.nr; ++r) t.y[size_t(c) * t.ys + size_t(r)] = out[r];
}

void q4_k_x8(const GemmTile& t) {
  if (t.nc == kX8Cols) return q4_k_x8_tile<kX8Cols>(t);
  for (int c = 0; c < t.nc; ++c) q4_k_x8_gemv(t, c);  // the M % 4 last activation rows (or decode)
}

// ---- Q4_K tiles on weights packed at load (BlockQ4_Kx8) ---------------------------------------------
// The same integer sums and FMAs as q4_k_x8, without staging or horizontal sums: a packed vector
// holds 4 bytes of each of the 8 rows, so maddubs against 4 activation bytes broadcast to every
// row leaves each row's partial sums in its own lane. Per pair p of sub-blocks, lane r gets
// isum_p = sc[2p]·Σ(sub-block 2p) + sc[2p+1]·Σ(sub-block 2p+1) and imin_p = m[2p]·s[2p] + m[2p+1]·s[2p+1].
// Lane r = (v[r], v[r]) as two int16: a per-row multiplier for madd.
inline __m256i row_pairs(const uint8_t* v8) {
  const __m256i s = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(v8)));
  return _mm256_or_si256(s, _mm256_slli_epi32(s, 16));
}

// GEMM order (Gemm = true: one FMA per pair p, ggml's 4-row gemm) or gemv order (one FMA per
// super-block) for C activation rows.
template <int C, bool Gemm>
void q4_k_packed_tile(const GemmTile& t) {
  const auto* w = static_cast<const BlockQ4_Kx8*>(t.w);
  const BlockQ8_K* x[C];
  for (int c = 0; c < C; ++c) x[c] = reinterpret_cast<const BlockQ8_K*>(static_cast<const char*>(t.x) + size_t(c) * t.xs);
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  __m256 acc[C], acc_min[C];
  for (int c = 0; c < C; ++c) acc[c] = acc_min[c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < t.k / QK_K; ++b) {
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].d)));
    const __m256 dminw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].dmin)));
    alignas(16) int32_t pairs[C][4];  // (s[2p], s[2p+1]) as two int16: the activation's sub-block sums
    __m256i isum[C], imin[C];
    for (int c = 0; c < C; ++c) {
      const __m128i s16 = _mm_hadd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[c][b].bsums)),
                                         _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[c][b].bsums + 8)));
      _mm_store_si128(reinterpret_cast<__m128i*>(pairs[c]), s16);
      isum[c] = imin[c] = _mm256_setzero_si256();
    }
    for (int p = 0; p < 4; ++p) {
      __m256i slo[C], shi[C];  // int16: 8 groups of at most 2·15·127, below 32767
      for (int c = 0; c < C; ++c) slo[c] = shi[c] = _mm256_setzero_si256();
      for (int g = 0; g < 8; ++g) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs[p][g]));
        const __m256i lo = _mm256_and_si256(v, low4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
        for (int c = 0; c < C; ++c) {
          const int8_t* xq = x[c][b].qs + 64 * p + 4 * g;
          slo[c] = _mm256_add_epi16(slo[c], _mm256_maddubs_epi16(lo, bcast4(xq)));
          shi[c] = _mm256_add_epi16(shi[c], _mm256_maddubs_epi16(hi, bcast4(xq + 32)));
        }
      }
      const __m256i sc_lo = row_pairs(w[b].scales[2 * p]), sc_hi = row_pairs(w[b].scales[2 * p + 1]);
      const __m256i mins = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].mins[p])));
      for (int c = 0; c < C; ++c) {
        const __m256i ip = _mm256_add_epi32(_mm256_madd_epi16(slo[c], sc_lo), _mm256_madd_epi16(shi[c], sc_hi));
        const __m256i mp = _mm256_madd_epi16(mins, _mm256_set1_epi32(pairs[c][p]));
        if constexpr (Gemm) {
          const __m256 dy = _mm256_set1_ps(x[c][b].d);
          acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ip), _mm256_mul_ps(dw, dy), acc[c]);
          acc_min[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mp), _mm256_mul_ps(dminw, dy), acc_min[c]);
        } else {
          isum[c] = _mm256_add_epi32(isum[c], ip);
          imin[c] = _mm256_add_epi32(imin[c], mp);
        }
      }
    }
    if constexpr (!Gemm)
      for (int c = 0; c < C; ++c) {
        const __m256 dy = _mm256_set1_ps(x[c][b].d);
        acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_mul_ps(dw, dy), acc[c]);
        acc_min[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(imin[c]), _mm256_mul_ps(dminw, dy), acc_min[c]);
      }
  }
  for (int c = 0; c < C; ++c) _mm256_storeu_ps(t.y + size_t(c) * t.ys, _mm256_sub_ps(acc[c], acc_min[c]));
}

void q4_k_packed(const GemmTile& t) {
  if (t.nc == kX8Cols) return q4_k_packed_tile<kX8Cols, true>(t);
  for (int c = 0; c < t.nc; ++c) {  // the M % 4 last activation rows (or decode), one at a time
    GemmTile one = t;
    one.x = static_cast<const char*>(t.x) + size_t(c) * t.xs;
    one.y = t.y + size_t(c) * t.ys;
    one.nc = 1;
    q4_k_packed_tile<1, false>(one);
  }
}

// ---- Q6_K ---------------------------------------------------------------------------------------
// Quants unsigned (0..63) in the lanes; 32 * scales·bsums per lane subtracted before conversion.
float dot_q6_k(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockQ6_K*>(xv);
  auto* y = static_cast<const BlockQ8_K*>(yv);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const int8_t* sc = x[b].scales;
    const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(sc));
    __m256i sumi = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i q[4] = {q6_k_quarter(x[b], h, 0), q6_k_quarter(x[b], h, 1), q6_k_quarter(x[b], h, 2),
                            q6_k_quarter(x[b], h, 3)};
      for (int k = 0; k < 4; ++k) {
        const int s = 8 * h + 2 * k;
        const __m128i pick = _mm_set_epi64x(0x0101010101010101LL * (s + 1), 0x0101010101010101LL * s);
        const __m256i scale = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8, pick));  // sc[s] x8, sc[s+1] x8
        sumi = _mm256_add_epi32(sumi, scaled_lanes(q[k], load(y[b].qs + 128 * h + 32 * k), scale));
      }
    }
    const __m256i scales16 = _mm256_cvtepi8_epi16(sc8);
    sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(_mm256_madd_epi16(load(y[b].bsums), scales16), 5));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(y[b].d * h2f(x[b].d)), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum8(acc);
}

// ---- 32-element blocks ---------------------------------------------------------------------------
// 32 nibbles in element order (low nibbles 0..15, high nibbles 16..31), as unsigned bytes.
inline __m256i nibbles32(const uint8_t* qs) {
  const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0F));
}
// Byte j = 0x10 where bit j of the 32-bit qh is set, else 0.
inline __m256i fifth_bits(const uint8_t* qh) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(int(bits)), _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2,
                                                     2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const __m256i mask = _mm256_set1_epi64x(int64_t(0x8040201008040201ull));
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, mask), mask), _mm256_set1_epi8(0x10));
}
// Exact int32 sums of elements 4l..4l+3 in lane l: unsigned x, or signed x (via |x|, sign(y, x)).
inline __m256i lanes_unsigned(__m256i x, __m256i y) {
  return _mm256_madd_epi16(_mm256_set1_epi16(1), _mm256_maddubs_epi16(x, y));
}
inline __m256i lanes_signed(__m256i x, __m256i y) {
  return lanes_unsigned(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}
inline __m256i load_q8(const int8_t* qs) { return load(qs); }

template <bool Q5>
float dot_q_1(int64_t n, const void* xv, const void* yv) {
  using Block = std::conditional_t<Q5, BlockQ5_1, BlockQ4_1>;
  auto* x = static_cast<const Block*>(xv);
  auto* y = static_cast<const BlockQ8_1*>(yv);
  __m256 acc = _mm256_setzero_ps();
  float summs = 0.0f;
  for (int64_t b = 0; b < n / 32; ++b) {
    summs = fma1(h2f(x[b].m), h2f(y[b].s), summs);
    __m256i q = nibbles32(x[b].qs);
    if constexpr (Q5) q = _mm256_or_si256(q, fifth_bits(x[b].qh));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d)),
                          _mm256_cvtepi32_ps(lanes_unsigned(q, load_q8(y[b].qs))), acc);
  }
  return hsum8(acc) + summs;
}

float dot_q5_0(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockQ5_0*>(xv);
  auto* y = static_cast<const BlockQ8_0*>(yv);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / 32; ++b) {
    const __m256i q = _mm256_sub_epi8(_mm256_or_si256(nibbles32(x[b].qs), fifth_bits(x[b].qh)), _mm256_set1_epi8(16));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d)), _mm256_cvtepi32_ps(lanes_signed(q, load_q8(y[b].qs))),
                          acc);
  }
  return hsum8(acc);
}

inline __m256i iq4_values(const uint8_t* qs) {
  const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4NLValues)));
  return _mm256_shuffle_epi8(table, nibbles32(qs));
}
inline __m256i iq4_lanes(const BlockIQ4_NL& x, const BlockQ8_0& y) { return lanes_signed(iq4_values(x.qs), load_q8(y.qs)); }
inline __m256 iq4_scale(const BlockIQ4_NL& x, const BlockQ8_0& y) { return _mm256_set1_ps(h2f(y.d) * h2f(x.d)); }

// ggml_vec_dot_iq4_nl_q8_0: even and odd blocks in two accumulators; an odd last block unfused.
float dot_iq4_nl(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockIQ4_NL*>(xv);
  auto* y = static_cast<const BlockQ8_0*>(yv);
  const int64_t nb = n / QK4_NL;
  __m256 acc1 = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 1 < nb; b += 2) {
    acc1 = _mm256_fmadd_ps(iq4_scale(x[b], y[b]), _mm256_cvtepi32_ps(iq4_lanes(x[b], y[b])), acc1);
    acc2 = _mm256_fmadd_ps(iq4_scale(x[b + 1], y[b + 1]), _mm256_cvtepi32_ps(iq4_lanes(x[b + 1], y[b + 1])), acc2);
  }
  float sumf = hsum8(_mm256_add_ps(acc1, acc2));
  for (; b < nb; ++b) {
    const float prod = (h2f(y[b].d) * h2f(x[b].d)) * float(hsum_i32(iq4_lanes(x[b], y[b])));
    sumf += prod;
  }
  return sumf;
}

// tinyBLAS_Q0_AVX order (batches with N % 8 != 0).
float dot_iq4_nl_lanes(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockIQ4_NL*>(xv);
  auto* y = static_cast<const BlockQ8_0*>(yv);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / QK4_NL; ++b)
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d)), _mm256_cvtepi32_ps(iq4_lanes(x[b], y[b])), acc);
  return hsum8(acc);
}

// The repacked iq4_nl 8x8 order (N % 8 == 0).
float dot_iq4_nl_x8(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockIQ4_NL*>(xv);
  auto* y = static_cast<const BlockQ8_0*>(yv);
  float acc = 0.0f;
  for (int64_t b = 0; b < n / QK4_NL; ++b)
    acc = fma1(float(hsum_i32(iq4_lanes(x[b], y[b]))), h2f(x[b].d) * h2f(y[b].d), acc);
  return acc;
}

}  // namespace

// Activations are converted by the portable functions of dot_traits_ref (for q8_K ggml's AVX2
// build uses the reference quantize_row_q8_K_ref too), so both sides see the same bytes.
const DotTraits* dot_traits_ggml_avx2_kquants(DType weight) {
  static const DotTraits q2{DType::Q8_K, dot_traits_ref(DType::Q2_K)->from_float, dot_q2_k};
  static const DotTraits q3{DType::Q8_K, dot_traits_ref(DType::Q3_K)->from_float, dot_q3_k};
  static const DotTraits q4{DType::Q8_K,  dot_traits_ref(DType::Q4_K)->from_float, dot_q4_k, nullptr, dot_q4_k_x8,
                            false, dot_q4_k_x8_gemm};
  static const DotTraits q5{DType::Q8_K, dot_traits_ref(DType::Q5_K)->from_float, dot_q5_k};
  static const DotTraits q6{DType::Q8_K, dot_traits_ref(DType::Q6_K)->from_float, dot_q6_k};
  static const DotTraits q4_1{DType::Q8_1, dot_traits_ref(DType::Q4_1)->from_float, dot_q_1<false>};
  static const DotTraits q5_1{DType::Q8_1, dot_traits_ref(DType::Q5_1)->from_float, dot_q_1<true>};
  static const DotTraits q5_0{DType::Q8_0, dot_traits_ref(DType::Q5_0)->from_float, dot_q5_0};
  static const DotTraits iq4{DType::Q8_0, dot_traits_ref(DType::IQ4_NL)->from_float, dot_iq4_nl, dot_iq4_nl_lanes,
                             dot_iq4_nl_x8, true};
  switch (weight) {
    case DType::Q4_1: return &q4_1;
    case DType::Q5_0: return &q5_0;
    case DType::Q5_1: return &q5_1;
    case DType::IQ4_NL: return &iq4;
    case DType::Q2_K: return &q2;
    case DType::Q3_K: return &q3;
    case DType::Q4_K: return &q4;
    case DType::Q5_K: return &q5;
    case DType::Q6_K: return &q6;
    default: return nullptr;
  }
}

GemmKernel gemm_kernel_ggml_avx2_q4_k_x8() { return GemmKernel{q4_k_x8, kX8Rows, kX8Cols}; }
GemmKernel gemm_kernel_ggml_avx2_q4_kx8_packed() { return GemmKernel{q4_k_packed, kX8Rows, kX8Cols}; }

}  // namespace db::cpu
#else  // not an x86-64-v3 build of this file: no kernels
#include "backends/cpu/simd.h"
#include "backends/cpu/vec_dot.h"
namespace db::cpu {
const DotTraits* dot_traits_ggml_avx2_kquants(DType) { return nullptr; }
GemmKernel gemm_kernel_ggml_avx2_q4_k_x8() { return {}; }
GemmKernel gemm_kernel_ggml_avx2_q4_kx8_packed() { return {}; }
}  // namespace db::cpu
#endif
