// AVX-512 (F/BW/DQ/VL) dot products outside ggml's order contract: the bf16 decode path at twice
// the AVX2 width. (The f32/f16/q8_0/q4_0 dots here are checked by test_cpu_simd but not dispatched:
// those types keep ggml's order, through ggml_avx2.cpp and ggml_avx512.cpp.) Compiled with its own
// flags and entered only through dispatch.cpp on a CPU that has AVX-512; row converters come from
// the AVX2 set. As in simd_avx2.cpp: internal linkage only, no standard-library templates.
#include "backends/cpu/simd.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) && defined(__AVX512VL__)
#include <immintrin.h>

namespace db::cpu {
namespace {

inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

inline __m512 load_f16(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
inline __m512 load_bf16(const uint16_t* p) {
  const __m512i u = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  return _mm512_castsi512_ps(_mm512_slli_epi32(u, 16));
}
inline float bf2f(uint16_t h) {
  const uint32_t u = uint32_t(h) << 16;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}

struct LoadF32 {
  using T = float;
  static __m512 vec(const T* p) { return _mm512_loadu_ps(p); }
  static float one(T v) { return v; }
};
struct LoadF16 {
  using T = uint16_t;
  static __m512 vec(const T* p) { return load_f16(p); }
  static float one(T v) { return h2f(v); }
};
struct LoadBF16 {
  using T = uint16_t;
  static __m512 vec(const T* p) { return load_bf16(p); }
  static float one(T v) { return bf2f(v); }
};

// Four FMA chains of 16 lanes, scalar tail.
template <class L>
float dot_float(int64_t n, const void* xv, const void* yv) {
  auto *x = static_cast<const typename L::T*>(xv), *y = static_cast<const typename L::T*>(yv);
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    a0 = _mm512_fmadd_ps(L::vec(x + i), L::vec(y + i), a0);
    a1 = _mm512_fmadd_ps(L::vec(x + i + 16), L::vec(y + i + 16), a1);
    a2 = _mm512_fmadd_ps(L::vec(x + i + 32), L::vec(y + i + 32), a2);
    a3 = _mm512_fmadd_ps(L::vec(x + i + 48), L::vec(y + i + 48), a3);
  }
  for (; i + 16 <= n; i += 16) a0 = _mm512_fmadd_ps(L::vec(x + i), L::vec(y + i), a0);
  float s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
  for (; i < n; ++i) s += L::one(x[i]) * L::one(y[i]);
  return s;
}

float dot_f32(int64_t n, const void* x, const void* y) { return dot_float<LoadF32>(n, x, y); }
float dot_f16(int64_t n, const void* x, const void* y) { return dot_float<LoadF16>(n, x, y); }
float dot_bf16(int64_t n, const void* x, const void* y) { return dot_float<LoadBF16>(n, x, y); }

// Two 32-byte blocks in one register: block b in the low half, b+1 in the high half.
inline __m512i two(const int8_t* a, const int8_t* b) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a))),
                            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b)), 1);
}

// 32 q4_0 nibbles as bytes 0..15 minus 8: low nibbles are elements 0..15, high ones 16..31.
inline __m256i q4_signed(const uint8_t* qs) {
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(b), _mm_srli_epi16(b, 4), 1);
  return _mm256_sub_epi8(_mm256_and_si256(both, _mm256_set1_epi8(0x0F)), _mm256_set1_epi8(8));
}

// Σ x·y per 4-byte group as 16 int32 lanes. AVX-512BW has no vpsignb: y takes x's sign through a
// masked negate, then |x| is the unsigned operand of vpmaddubsw.
inline __m512i mul_sum_i8(__m512i x, __m512i y) {
  const __mmask64 neg = _mm512_movepi8_mask(x);
  const __m512i sy = _mm512_mask_sub_epi8(y, neg, _mm512_setzero_si512(), y);
  const __m512i dot = _mm512_maddubs_epi16(_mm512_abs_epi8(x), sy);
  return _mm512_madd_epi16(dot, _mm512_set1_epi16(1));
}

// Scales of two blocks spread over their halves: s0 ×8 | s1 ×8.
inline __m512 scales(float s0, float s1) {
  return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(s0)), _mm256_set1_ps(s1), 1);
}

float dot_q8_0(int64_t n, const void* xv, const void* yv) {
  auto *x = static_cast<const BlockQ8_0*>(xv), *y = static_cast<const BlockQ8_0*>(yv);
  const int64_t nb = n / QK8_0;
  __m512 acc = _mm512_setzero_ps();
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const __m512i p = mul_sum_i8(two(x[b].qs, x[b + 1].qs), two(y[b].qs, y[b + 1].qs));
    const __m512 d = scales(h2f(x[b].d) * h2f(y[b].d), h2f(x[b + 1].d) * h2f(y[b + 1].d));
    acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc);
  }
  float s = _mm512_reduce_add_ps(acc);
  for (; b < nb; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < QK8_0; ++j) isum += int32_t(x[b].qs[j]) * int32_t(y[b].qs[j]);
    s += float(isum) * (h2f(x[b].d) * h2f(y[b].d));
  }
  return s;
}

float dot_q4_0(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockQ4_0*>(xv);
  auto* y = static_cast<const BlockQ8_0*>(yv);
  const int64_t nb = n / QK4_0;
  __m512 acc = _mm512_setzero_ps();
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const __m512i wx = _mm512_inserti64x4(_mm512_castsi256_si512(q4_signed(x[b].qs)), q4_signed(x[b + 1].qs), 1);
    const __m512i p = mul_sum_i8(wx, two(y[b].qs, y[b + 1].qs));
    const __m512 d = scales(h2f(x[b].d) * h2f(y[b].d), h2f(x[b + 1].d) * h2f(y[b + 1].d));
    acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc);
  }
  float s = _mm512_reduce_add_ps(acc);
  for (; b < nb; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < QK4_0 / 2; ++j) {
      isum += ((x[b].qs[j] & 0x0F) - 8) * int32_t(y[b].qs[j]);
      isum += ((x[b].qs[j] >> 4) - 8) * int32_t(y[b].qs[j + QK4_0 / 2]);
    }
    s += float(isum) * (h2f(x[b].d) * h2f(y[b].d));
  }
  return s;
}

// The table: this file's dot products with the AVX2 row converters (filled on first use).
struct Table {
  DotTraits f32, f16, bf16, q8_0, q4_0;
};

const Table& table() {
  static const Table t = [] {
    auto with = [](DType w, VecDotFn dot) {
      DotTraits d = *dot_traits_avx2(w);
      d.vec_dot = dot;
      return d;
    };
    return Table{with(DType::F32, dot_f32), with(DType::F16, dot_f16), with(DType::BF16, dot_bf16),
                 with(DType::Q8_0, dot_q8_0), with(DType::Q4_0, dot_q4_0)};
  }();
  return t;
}

}  // namespace

const DotTraits* dot_traits_avx512(DType weight) {
  if (!dot_traits_avx2(DType::F32)) return nullptr;  // built without the AVX2 set
  switch (weight) {
    case DType::F32: return &table().f32;
    case DType::F16: return &table().f16;
    case DType::BF16: return &table().bf16;
    case DType::Q8_0: return &table().q8_0;
    case DType::Q4_0: return &table().q4_0;
    default: return nullptr;
  }
}

GemmKernel gemm_kernel_avx512(DType, int64_t) { return {}; }  // prefill: ggml_avx512.cpp's tiles

}  // namespace db::cpu

#else  // not an AVX-512 build of this file: no kernels

namespace db::cpu {
const DotTraits* dot_traits_avx512(DType) { return nullptr; }
GemmKernel gemm_kernel_avx512(DType, int64_t) { return {}; }
}  // namespace db::cpu

#endif
