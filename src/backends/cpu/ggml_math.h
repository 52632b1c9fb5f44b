// Scalar mirrors of ggml's vectorized math (ggml-cpu/vec.h, AVX2 + FMA build), one SIMD lane at a
// time: same constants, same fused multiply-adds (std::fma rounds once, as vfmadd does), same
// special cases, so each lane produces exactly the bits ggml's vector code produces.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace db::cpu {

inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float bits_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// ggml_v_expf: exp(x) by a degree-5 polynomial after range reduction (maximum error 1.45 ulp;
// above 88.38 it overflows to infinity, below -103.97 it flushes to zero).
inline float ggml_v_expf(float x) {
  const float r = 0x1.8p23f;
  const float z = std::fma(x, 0x1.715476p+0f, r);
  const float n = z - r;
  const float b = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));
  const uint32_t e = f32_bits(z) << 23;
  const float k = bits_f32(e + f32_bits(1.0f));
  const float u = b * b;
  const float j = std::fma(std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                           u, 0x1.ffffecp-1f * b);
  if (!(std::fabs(n) > 126.0f)) return std::fma(j, k, k);
  const uint32_t g = n <= 0.0f ? 0x82000000u : 0u;
  const float s1 = bits_f32(g + 0x7f000000u);
  const float s2 = bits_f32(e - g);
  if (std::fabs(n) > 192.0f) return s1 * s1;
  return std::fma(s2, j, s2) * s1;
}

// ggml_v_silu: x / (1 + exp(0 - x)) with ggml_v_expf.
inline float ggml_v_silu(float x) { return x / (1.0f + ggml_v_expf(0.0f - x)); }

// ggml_silu_f32, the scalar form ggml uses for the elements after the last full vector of 8.
inline float ggml_silu_f32(float x) { return x / (1.0f + std::exp(-x)); }

}  // namespace db::cpu
