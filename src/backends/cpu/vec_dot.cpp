// Reference dot products for every supported weight dtype. For f32, f16, q8_0 and q4_0 they follow
// ggml's AVX2 kernels operation for operation (see the contract in vec_dot.h): the lanes of a
// vector register become arrays, fused multiply-adds are std::fma, and the horizontal sums add in
// the same pairs. The SIMD kernels must produce the same bits.
#include "backends/cpu/vec_dot.h"

#include <cmath>

#include "core/quant_ref.h"

namespace db::cpu {
namespace {

// ---- horizontal sums ---------------------------------------------------------------------------
// ggml's hsum_float_8 / tinyBLAS hsum: (v0+v4) (v1+v5) (v2+v6) (v3+v7), then pairs 0+2, 1+3.
inline float hsum8(const float v[8]) {
  const float a0 = v[4] + v[0], a1 = v[5] + v[1], a2 = v[6] + v[2], a3 = v[7] + v[3];
  return (a0 + a2) + (a1 + a3);
}

// GGML_F32x8_REDUCE over ggml_vec_dot's four accumulators: s0+s2, s1+s3, then their sum; the
// 8 lanes then fold as (v0+v4) (v1+v5) ... and two horizontal adds: ((w0+w1) + (w2+w3)).
inline float reduce4x8(float s[4][8]) {
  float v[8];
  for (int l = 0; l < 8; ++l) v[l] = (s[0][l] + s[2][l]) + (s[1][l] + s[3][l]);
  const float w0 = v[0] + v[4], w1 = v[1] + v[5], w2 = v[2] + v[6], w3 = v[3] + v[7];
  return (w0 + w1) + (w2 + w3);
}

struct F32 {
  static float at(const void* p, int64_t i) { return static_cast<const float*>(p)[i]; }
};
struct F16 {
  static float at(const void* p, int64_t i) { return fp16_to_fp32(static_cast<const uint16_t*>(p)[i]); }
};

// ggml_vec_dot_f32 / ggml_vec_dot_f16: 32 elements per step into four 8-lane FMA accumulators.
template <typename T>
float reduce_steps(int64_t np, const void* x, const void* y) {
  float s[4][8] = {};
  for (int64_t i = 0; i < np; i += 32)
    for (int j = 0; j < 4; ++j)
      for (int l = 0; l < 8; ++l) {
        const int64_t k = i + j * 8 + l;
        s[j][l] = std::fma(T::at(x, k), T::at(y, k), s[j][l]);
      }
  return reduce4x8(s);
}

float dot_f32(int64_t n, const void* x, const void* y) {
  const int64_t np = n & ~int64_t(31);
  float sum = reduce_steps<F32>(np, x, y);
  // Leftovers as GCC compiled ggml's `sumf += x[i]*y[i]` (-march=native): runs of 8, then of 4,
  // as rounded products added in order; the last 0..3 elements contracted to FMAs.
  int64_t i = np;
  for (; n - i >= 8; i += 8)
    for (int l = 0; l < 8; ++l) sum += F32::at(x, i + l) * F32::at(y, i + l);
  if (n - i >= 4) {
    for (int l = 0; l < 4; ++l) sum += F32::at(x, i + l) * F32::at(y, i + l);
    i += 4;
  }
  for (; i < n; ++i) sum = std::fma(F32::at(x, i), F32::at(y, i), sum);
  return sum;
}

float dot_f16(int64_t n, const void* x, const void* y) {
  const int64_t np = n & ~int64_t(31);
  double sum = reduce_steps<F16>(np, x, y);
  for (int64_t i = np; i < n; ++i) sum += double(F16::at(x, i) * F16::at(y, i));  // float product
  return float(sum);
}

// tinyBLAS (llamafile sgemm) for f32/f16: one 8-lane FMA accumulator over the row, k % 8 == 0.
template <typename T>
float dot_gemm(int64_t n, const void* x, const void* y) {
  float acc[8] = {};
  for (int64_t i = 0; i < n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] = std::fma(T::at(x, i + l), T::at(y, i + l), acc[l]);
  return hsum8(acc);
}

float dot_bf16(int64_t n, const void* xv, const void* yv) {
  auto *x = static_cast<const uint16_t*>(xv), *y = static_cast<const uint16_t*>(yv);
  float acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += bf16_to_fp32(x[i + k]) * bf16_to_fp32(y[i + k]);
  float sum = 0;
  for (; i < n; ++i) sum += bf16_to_fp32(x[i]) * bf16_to_fp32(y[i]);
  for (float a : acc) sum += a;
  return sum;
}

// ---- q8_0 / q4_0 against q8_0 -----------------------------------------------------------------
inline int q4_value(const BlockQ4_0& b, int j) {
  return (j < QK4_0 / 2 ? (b.qs[j] & 0x0F) : (b.qs[j - QK4_0 / 2] >> 4)) - 8;
}

// ggml_vec_dot_q{8,4}_0_q8_0 (AVX2) and tinyBLAS_Q0_AVX: lane l holds the exact integer sum of
// elements 4l..4l+3 of a block; acc[l] = fma(d_x * d_y, lane, acc[l]); one hsum at the end.
template <typename Block, int (*Q)(const Block&, int)>
float dot_lanes_q8_0(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const Block*>(xv);
  auto* y = static_cast<const BlockQ8_0*>(yv);
  float acc[8] = {};
  for (int64_t b = 0; b < n / QK8_0; ++b) {
    const float d = fp16_to_fp32(x[b].d) * fp16_to_fp32(y[b].d);
    for (int l = 0; l < 8; ++l) {
      int32_t isum = 0;
      for (int j = 4 * l; j < 4 * l + 4; ++j) isum += Q(x[b], j) * int32_t(y[b].qs[j]);
      acc[l] = std::fma(d, float(isum), acc[l]);
    }
  }
  return hsum8(acc);
}

// ggml's repacked q4_0x8 kernels (ggml_gemv/gemm_q4_0_8x8_q8_0): each output is one float,
// acc = fma(float(block integer sum), d_x * d_y, acc), block after block.
float dot_q4_0_q8_0_x8(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockQ4_0*>(xv);
  auto* y = static_cast<const BlockQ8_0*>(yv);
  float acc = 0.0f;
  for (int64_t b = 0; b < n / QK8_0; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < QK8_0; ++j) isum += q4_value(x[b], j) * int32_t(y[b].qs[j]);
    acc = std::fma(float(isum), fp16_to_fp32(x[b].d) * fp16_to_fp32(y[b].d), acc);
  }
  return acc;
}

inline int q8_value(const BlockQ8_0& b, int j) { return b.qs[j]; }

void f32_row(const float* src, void* dst, int64_t n) { __builtin_memcpy(dst, src, size_t(n) * 4); }
void f16_row(const float* src, void* dst, int64_t n) {
  auto* d = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) d[i] = fp32_to_fp16(src[i]);
}
void bf16_row(const float* src, void* dst, int64_t n) {
  auto* d = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) d[i] = fp32_to_bf16(src[i]);
}

constexpr DotTraits kF32{DType::F32, f32_row, dot_f32, dot_gemm<F32>};
constexpr DotTraits kF16{DType::F16, f16_row, dot_f16, dot_gemm<F16>};
constexpr DotTraits kBF16{DType::BF16, bf16_row, dot_bf16};
constexpr DotTraits kQ8_0{DType::Q8_0, quantize_row_q8_0_act, dot_lanes_q8_0<BlockQ8_0, q8_value>};
constexpr DotTraits kQ4_0{DType::Q8_0, quantize_row_q8_0_act, dot_lanes_q8_0<BlockQ4_0, q4_value>, nullptr,
                          dot_q4_0_q8_0_x8};

}  // namespace

void quantize_row_q8_0_act(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_0*>(dst);
  for (int64_t b = 0; b < n / QK8_0; ++b, x += QK8_0) {
    float amax = 0.0f;
    for (int j = 0; j < QK8_0; ++j) amax = std::max(amax, std::fabs(x[j]));
    y[b].d = fp32_to_fp16(amax / 127.0f);
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    for (int j = 0; j < QK8_0; ++j) y[b].qs[j] = int8_t(std::nearbyint(x[j] * id));  // half to even
  }
}

const DotTraits* dot_traits_ref(DType weight) {
  switch (weight) {
    case DType::F32: return &kF32;
    case DType::F16: return &kF16;
    case DType::BF16: return &kBF16;
    case DType::Q8_0: return &kQ8_0;
    case DType::Q4_0: return &kQ4_0;
    default: return dot_traits_ref_quants(weight);
  }
}

}  // namespace db::cpu
