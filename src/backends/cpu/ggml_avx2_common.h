// Reductions and scalar helpers shared by the ggml-order AVX2 kernel files (ggml_avx2.cpp,
// ggml_avx2_kquants.cpp). Include only from files compiled with -mavx2 -mfma -mf16c; everything
// here has internal linkage, so no AVX2 code leaks into portable paths.
#pragma once
#if !(defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__))
#error "ggml_avx2_common.h needs AVX2, FMA and F16C (include it from the AVX2 kernel files only)"
#endif
#include <immintrin.h>

#include <cstdint>

namespace db::cpu {
namespace {

inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

// One fused multiply-add in float, as ggml's scalar tails compile with -mfma.
inline float fma1(float a, float b, float c) {
  return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
}

// (v0+v4) (v1+v5) (v2+v6) (v3+v7), then 0+2, 1+3, then the sum: ggml's hsum_float_8 / tinyBLAS hsum.
inline float hsum8(__m256 x) {
  __m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
  r = _mm_add_ps(r, _mm_movehl_ps(r, r));
  r = _mm_add_ss(r, _mm_movehdup_ps(r));
  return _mm_cvtss_f32(r);
}

// Four activation bytes broadcast to every 32-bit lane (one per row of a packed weight group).
inline __m256i bcast4(const int8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

inline int32_t hsum_i32(__m256i a) {
  const __m128i s = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
  const __m128i s2 = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  return _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 0xB1)));
}

inline __m256i load(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

inline __m256i nibbles_lo(__m256i b) { return _mm256_and_si256(b, _mm256_set1_epi8(0x0F)); }
inline __m256i nibbles_hi(__m256i b) { return _mm256_and_si256(_mm256_srli_epi16(b, 4), _mm256_set1_epi8(0x0F)); }
// Bits [shift, shift + width) of every byte, shifted down (shift + width <= 8).
inline __m256i bits_of(__m256i b, int shift, int mask) {
  return _mm256_and_si256(_mm256_srli_epi16(b, shift), _mm256_set1_epi8(char(mask)));
}

// Quarter k of half h of a Q6_K super-block (elements 128h + 32k ..) as 32 unsigned 6-bit quants
// (0..63), in ggml's AVX2 layout: low/high nibbles of ql, two bits of qh above them.
template <class BlockQ6K>
inline __m256i q6_k_quarter(const BlockQ6K& x, int h, int k) {
  const __m256i ql = load(x.ql + 64 * h + 32 * (k & 1)), qh = load(x.qh + 32 * h);
  return _mm256_or_si256(k < 2 ? nibbles_lo(ql) : nibbles_hi(ql), _mm256_slli_epi16(bits_of(qh, 2 * k, 3), 4));
}

// GEMM tiles of 8 weight rows × up to 4 activation rows: the 8 rows' integer sums are gathered into
// one vector (exact integer adds), so one FMA advances 8 outputs, as ggml's repacked kernels do.
constexpr int kX8Rows = 8, kX8Cols = 4;

inline __m256i hsum8_rows(const __m256i p[8]) {  // lane r = sum of the 8 lanes of p[r]
  const __m256i h01 = _mm256_hadd_epi32(p[0], p[1]), h23 = _mm256_hadd_epi32(p[2], p[3]);
  const __m256i h45 = _mm256_hadd_epi32(p[4], p[5]), h67 = _mm256_hadd_epi32(p[6], p[7]);
  const __m256i a = _mm256_hadd_epi32(h01, h23), b = _mm256_hadd_epi32(h45, h67);
  return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20), _mm256_permute2x128_si256(a, b, 0x31));
}

}  // namespace
}  // namespace db::cpu
