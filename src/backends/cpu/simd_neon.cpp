// ARM64 NEON dot products (Armv8.2 with the dot-product extension: Neoverse N1/N2/V1, e.g.
// Alibaba Yitian 710, AWS Graviton 2/3, Ampere Altra). Compiled with its own -march flags (see
// CMakeLists.txt) and entered only through dispatch.cpp after it has read HWCAP_ASIMDDP.
// Activation rows are converted by the reference converters, so only the inner products differ
// from the reference: four-lane float accumulators, and SDOT for the 8-bit blocks. The bit-exact
// ggml order of vec_dot.h is an x86 (AVX2) contract; here results match the reference within the
// per-dtype tolerances of the backend test (tests/backends).
#include "backends/cpu/simd.h"

#if defined(__aarch64__) && defined(__ARM_NEON) && defined(__ARM_FEATURE_DOTPROD)
#include <arm_neon.h>

namespace db::cpu {
namespace {

// ggml's block layouts: a half-precision scale, then 32 quants (q4_0: two per byte, the low
// nibble holds element j and the high nibble element j + 16, both offset by 8).
struct BlockQ8 {
  uint16_t d;
  int8_t qs[32];
};
struct BlockQ4 {
  uint16_t d;
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ8) == 34 && sizeof(BlockQ4) == 18);

inline float h2f(uint16_t h) { return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0); }
inline float32x4_t f16x4(const uint16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
inline float32x4_t bf16x4(const uint16_t* p) { return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16)); }

inline float32x4_t f32x4(const float* p) { return vld1q_f32(p); }
inline float same(float v) { return v; }

// x·y over four-lane float accumulators, for f32 rows and for half-width rows (f16 or bf16
// weights against activations of the same type) widened to f32 on load.
template <class T, float32x4_t (*Load)(const T*), float (*Scalar)(T)>
float dot_lanes(int64_t n, const void* xv, const void* yv) {
  const auto* x = static_cast<const T*>(xv);
  const auto* y = static_cast<const T*>(yv);
  float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    a0 = vfmaq_f32(a0, Load(x + i), Load(y + i));
    a1 = vfmaq_f32(a1, Load(x + i + 4), Load(y + i + 4));
    a2 = vfmaq_f32(a2, Load(x + i + 8), Load(y + i + 8));
    a3 = vfmaq_f32(a3, Load(x + i + 12), Load(y + i + 12));
  }
  for (; i + 4 <= n; i += 4) a0 = vfmaq_f32(a0, Load(x + i), Load(y + i));
  float s = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
  for (; i < n; ++i) s += Scalar(x[i]) * Scalar(y[i]);
  return s;
}
inline float bf2f(uint16_t h) { return vgetq_lane_f32(vreinterpretq_f32_u32(vdupq_n_u32(uint32_t(h) << 16)), 0); }

// Each block's integer dot product comes from two SDOTs over 16 bytes; the block scales multiply
// it into a four-lane float accumulator, summed once at the end.
float dot_q8_0(int64_t n, const void* xv, const void* yv) {
  const auto* x = static_cast<const BlockQ8*>(xv);
  const auto* y = static_cast<const BlockQ8*>(yv);
  float32x4_t acc = vdupq_n_f32(0.0f);
  for (int64_t b = 0; b < n / 32; ++b) {
    int32x4_t p = vdotq_s32(vdupq_n_s32(0), vld1q_s8(x[b].qs), vld1q_s8(y[b].qs));
    p = vdotq_s32(p, vld1q_s8(x[b].qs + 16), vld1q_s8(y[b].qs + 16));
    acc = vfmaq_n_f32(acc, vcvtq_f32_s32(p), h2f(x[b].d) * h2f(y[b].d));
  }
  return vaddvq_f32(acc);
}

float dot_q4_0(int64_t n, const void* xv, const void* yv) {
  const auto* x = static_cast<const BlockQ4*>(xv);
  const auto* y = static_cast<const BlockQ8*>(yv);
  const uint8x16_t low_mask = vdupq_n_u8(0x0F);
  const int8x16_t eight = vdupq_n_s8(8);
  float32x4_t acc = vdupq_n_f32(0.0f);
  for (int64_t b = 0; b < n / 32; ++b) {
    const uint8x16_t q = vld1q_u8(x[b].qs);
    const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, low_mask)), eight);
    const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight);
    int32x4_t p = vdotq_s32(vdupq_n_s32(0), lo, vld1q_s8(y[b].qs));
    p = vdotq_s32(p, hi, vld1q_s8(y[b].qs + 16));
    acc = vfmaq_n_f32(acc, vcvtq_f32_s32(p), h2f(x[b].d) * h2f(y[b].d));
  }
  return vaddvq_f32(acc);
}

// The reference's activation type and converter for a weight type, with a NEON inner product.
DotTraits with_dot(DType weight, VecDotFn dot) {
  const DotTraits* ref = dot_traits_ref(weight);
  return DotTraits{ref->dot_type, ref->from_float, dot};
}

}  // namespace

const DotTraits* dot_traits_neon(DType weight) {
  static const DotTraits f32 = with_dot(DType::F32, dot_lanes<float, f32x4, same>);
  static const DotTraits f16 = with_dot(DType::F16, dot_lanes<uint16_t, f16x4, h2f>);
  static const DotTraits bf16 = with_dot(DType::BF16, dot_lanes<uint16_t, bf16x4, bf2f>);
  static const DotTraits q8_0 = with_dot(DType::Q8_0, dot_q8_0);
  static const DotTraits q4_0 = with_dot(DType::Q4_0, dot_q4_0);
  switch (weight) {
    case DType::F32: return &f32;
    case DType::F16: return &f16;
    case DType::BF16: return &bf16;
    case DType::Q8_0: return &q8_0;
    case DType::Q4_0: return &q4_0;
    default: return nullptr;
  }
}

}  // namespace db::cpu

#else

namespace db::cpu {
const DotTraits* dot_traits_neon(DType) { return nullptr; }
}  // namespace db::cpu

#endif
