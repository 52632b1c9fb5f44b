// Reference dot products for every supported weight dtype. Written so compilers vectorize them
// (independent accumulators); the SIMD kernels of later work are checked against these.
#include "backends/cpu/vec_dot.h"

#include "core/quant_ref.h"

namespace db::cpu {
namespace {

float dot_f32(int64_t n, const void* xv, const void* yv) {
  auto *x = static_cast<const float*>(xv), *y = static_cast<const float*>(yv);
  float acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += x[i + k] * y[i + k];
  float sum = 0;
  for (; i < n; ++i) sum += x[i] * y[i];
  for (float a : acc) sum += a;
  return sum;
}

float dot_f16(int64_t n, const void* xv, const void* yv) {
  auto *x = static_cast<const uint16_t*>(xv), *y = static_cast<const uint16_t*>(yv);
  float acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += fp16_to_fp32(x[i + k]) * fp16_to_fp32(y[i + k]);
  float sum = 0;
  for (; i < n; ++i) sum += fp16_to_fp32(x[i]) * fp16_to_fp32(y[i]);
  for (float a : acc) sum += a;
  return sum;
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

float dot_q8_0_q8_0(int64_t n, const void* xv, const void* yv) {
  auto *x = static_cast<const BlockQ8_0*>(xv), *y = static_cast<const BlockQ8_0*>(yv);
  float sum = 0;
  for (int64_t b = 0; b < n / QK8_0; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < QK8_0; ++j) isum += int32_t(x[b].qs[j]) * int32_t(y[b].qs[j]);
    sum += float(isum) * (fp16_to_fp32(x[b].d) * fp16_to_fp32(y[b].d));
  }
  return sum;
}

float dot_q4_0_q8_0(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockQ4_0*>(xv);
  auto* y = static_cast<const BlockQ8_0*>(yv);
  float sum = 0;
  for (int64_t b = 0; b < n / QK4_0; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < QK4_0 / 2; ++j) {
      isum += ((x[b].qs[j] & 0x0F) - 8) * int32_t(y[b].qs[j]);
      isum += ((x[b].qs[j] >> 4) - 8) * int32_t(y[b].qs[j + QK4_0 / 2]);
    }
    sum += float(isum) * (fp16_to_fp32(x[b].d) * fp16_to_fp32(y[b].d));
  }
  return sum;
}

void f32_row(const float* src, void* dst, int64_t n) { __builtin_memcpy(dst, src, size_t(n) * 4); }
void f16_row(const float* src, void* dst, int64_t n) {
  auto* d = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) d[i] = fp32_to_fp16(src[i]);
}
void bf16_row(const float* src, void* dst, int64_t n) {
  auto* d = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) d[i] = fp32_to_bf16(src[i]);
}

constexpr DotTraits kF32{DType::F32, f32_row, dot_f32};
constexpr DotTraits kF16{DType::F16, f16_row, dot_f16};
constexpr DotTraits kBF16{DType::BF16, bf16_row, dot_bf16};
constexpr DotTraits kQ8_0{DType::Q8_0, quantize_q8_0, dot_q8_0_q8_0};
constexpr DotTraits kQ4_0{DType::Q8_0, quantize_q8_0, dot_q4_0_q8_0};

}  // namespace

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
