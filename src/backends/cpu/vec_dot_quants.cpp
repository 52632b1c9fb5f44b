// Reference dot products of the further block formats, structured as ggml's generic kernels
// (ggml-cpu/quants.c): Q4_1/Q5_1 against Q8_1 activations, Q5_0/IQ4_NL against Q8_0, and the
// K-quants against Q8_K. Integer sums are exact; the float accumulation keeps ggml's order (eight
// lanes per super-block for Q3_K..Q6_K) so results agree with ggml's reference to the last bits.
// Loops are plain and branch-free so compilers vectorize them; SIMD kernels are tested against these.
#include <cstring>

#include "backends/cpu/vec_dot.h"
#include "core/quant_k.h"
#include "core/quant_ref.h"

namespace db::cpu {
namespace {

// ---- 32-element blocks -----------------------------------------------------------------------
inline int q5_high(uint32_t qh, int j) { return int((qh >> j) & 1) << 4; }

float dot_q4_1_q8_1(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockQ4_1*>(xv);
  auto* y = static_cast<const BlockQ8_1*>(yv);
  float sum = 0;
  for (int64_t b = 0; b < n / QK4_1; ++b) {
    int isum = 0;
    for (int j = 0; j < 16; ++j)
      isum += (x[b].qs[j] & 0x0F) * y[b].qs[j] + (x[b].qs[j] >> 4) * y[b].qs[j + 16];
    // The min term uses y.s = d_y * sum(y.qs): sum(m * d_y * q_y).
    sum += (fp16_to_fp32(x[b].d) * fp16_to_fp32(y[b].d)) * float(isum) +
           fp16_to_fp32(x[b].m) * fp16_to_fp32(y[b].s);
  }
  return sum;
}

float dot_q5_0_q8_0(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockQ5_0*>(xv);
  auto* y = static_cast<const BlockQ8_0*>(yv);
  float sum = 0;
  for (int64_t b = 0; b < n / QK5_0; ++b) {
    uint32_t qh;
    std::memcpy(&qh, x[b].qh, 4);
    int isum = 0;
    for (int j = 0; j < 16; ++j) {
      isum += (((x[b].qs[j] & 0x0F) | q5_high(qh, j)) - 16) * y[b].qs[j];
      isum += (((x[b].qs[j] >> 4) | q5_high(qh, j + 16)) - 16) * y[b].qs[j + 16];
    }
    sum += (fp16_to_fp32(x[b].d) * fp16_to_fp32(y[b].d)) * float(isum);
  }
  return sum;
}

float dot_q5_1_q8_1(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockQ5_1*>(xv);
  auto* y = static_cast<const BlockQ8_1*>(yv);
  float sum = 0;
  for (int64_t b = 0; b < n / QK5_1; ++b) {
    uint32_t qh;
    std::memcpy(&qh, x[b].qh, 4);
    int isum = 0;
    for (int j = 0; j < 16; ++j) {
      isum += ((x[b].qs[j] & 0x0F) | q5_high(qh, j)) * y[b].qs[j];
      isum += ((x[b].qs[j] >> 4) | q5_high(qh, j + 16)) * y[b].qs[j + 16];
    }
    sum += (fp16_to_fp32(x[b].d) * fp16_to_fp32(y[b].d)) * float(isum) +
           fp16_to_fp32(x[b].m) * fp16_to_fp32(y[b].s);
  }
  return sum;
}

float dot_iq4_nl_q8_0(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockIQ4_NL*>(xv);
  auto* y = static_cast<const BlockQ8_0*>(yv);
  float sum = 0;
  for (int64_t b = 0; b < n / QK4_NL; ++b) {
    const float d = fp16_to_fp32(y[b].d) * fp16_to_fp32(x[b].d);
    int isum = 0;
    for (int j = 0; j < 16; ++j)
      isum += y[b].qs[j] * kIQ4NLValues[x[b].qs[j] & 0xF] + y[b].qs[j + 16] * kIQ4NLValues[x[b].qs[j] >> 4];
    sum += d * float(isum);
  }
  return sum;
}

// ---- K-quants against Q8_K ---------------------------------------------------------------------
// Sub-block scale times the 16- or 32-element integer dot, accumulated into 8 lanes (element
// index mod 8) as ggml does, so the float sums below see the same partial sums.
struct Lanes {
  int32_t v[8] = {};
  // Adds scale * dot(q, a) over COUNT elements (a multiple of 8), element i into lane i % 8.
  template <int COUNT>
  void add(const int8_t* q, const int8_t* a, int scale) {
    for (int c = 0; c < COUNT; c += 8)
      for (int l = 0; l < 8; ++l) v[l] += scale * (int(q[c + l]) * int(a[c + l]));
  }
};

// Adds d * lanes into the 8 float accumulators and returns their sum at the end of the row.
struct FloatLanes {
  float v[8] = {};
  void add(float d, const Lanes& lanes) {
    for (int l = 0; l < 8; ++l) v[l] += d * float(lanes.v[l]);
  }
  float total(float start) const {
    for (float x : v) start += x;
    return start;
  }
};

// sum over sub-blocks of bsums * min, the correction for the "- dmin * m" term.
int min_correction(const BlockQ8_K& y, const uint8_t* mins, int per_min) {
  int s = 0;
  for (int j = 0; j < QK_K / 16; ++j) s += y.bsums[j] * mins[j / per_min];
  return s;
}

float dot_q2_k_q8_k(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockQ2_K*>(xv);
  auto* y = static_cast<const BlockQ8_K*>(yv);
  float sum = 0;
  for (int64_t b = 0; b < n / QK_K; ++b) {
    uint8_t mins[16];
    for (int j = 0; j < 16; ++j) mins[j] = x[b].scales[j] >> 4;
    const int summs = min_correction(y[b], mins, 1);
    const float dall = y[b].d * fp16_to_fp32(x[b].d);
    const float dmin = y[b].d * fp16_to_fp32(x[b].dmin);
    // Element e of the super-block: byte (e/128)*32 + e%32, bits 2*((e/32)%4).
    int isum = 0;
    for (int s = 0; s < 16; ++s) {
      const uint8_t* q2 = x[b].qs + (s / 8) * 32 + (s % 2) * 16;
      const int shift = 2 * ((s / 2) % 4);
      const int8_t* q8 = y[b].qs + 16 * s;
      int part = 0;
      for (int l = 0; l < 16; ++l) part += q8[l] * ((q2[l] >> shift) & 3);
      isum += (x[b].scales[s] & 0xF) * part;
    }
    sum += dall * float(isum) - dmin * float(summs);
  }
  return sum;
}

// Unpacks a Q3_K block to signed quants in [-4, 3]: per 128 elements, four 2-bit planes of the
// same 32 bytes, each with its hmask bit (clear means minus 4).
void unpack_q3_k(const BlockQ3_K& x, int8_t* a) {
  for (int h = 0; h < 2; ++h)
    for (int k = 0; k < 4; ++k, a += 32) {
      const uint8_t* q = x.qs + 32 * h;
      const uint8_t m = uint8_t(1 << (4 * h + k));
      for (int l = 0; l < 32; ++l) a[l] = int8_t(((q[l] >> (2 * k)) & 3) - ((x.hmask[l] & m) ? 0 : 4));
    }
}

float dot_q3_k_q8_k(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockQ3_K*>(xv);
  auto* y = static_cast<const BlockQ8_K*>(yv);
  FloatLanes sums;
  for (int64_t b = 0; b < n / QK_K; ++b) {
    int8_t a[QK_K], sc[16];
    unpack_q3_k(x[b], a);
    q3_k_scales(x[b].scales, sc);
    Lanes lanes;
    for (int j = 0; j < 16; ++j) lanes.add<16>(y[b].qs + 16 * j, a + 16 * j, sc[j]);
    sums.add(fp16_to_fp32(x[b].d) * y[b].d, lanes);
  }
  return sums.total(0.0f);
}

// Q4_K and Q5_K: 8 sub-blocks of 32 with 6-bit scales and mins.
template <typename Block, void (*Unpack)(const Block&, int8_t*)>
float dot_k4_q8_k(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const Block*>(xv);
  auto* y = static_cast<const BlockQ8_K*>(yv);
  FloatLanes sums;
  float sum = 0;
  for (int64_t b = 0; b < n / QK_K; ++b) {
    int8_t a[QK_K];
    Unpack(x[b], a);
    uint8_t sc[8], mins[8];
    for (int j = 0; j < 8; ++j) k4_scale_min(j, x[b].scales, sc[j], mins[j]);
    const int summ = min_correction(y[b], mins, 2);
    Lanes lanes;
    for (int j = 0; j < 8; ++j) lanes.add<32>(y[b].qs + 32 * j, a + 32 * j, sc[j]);
    sums.add(fp16_to_fp32(x[b].d) * y[b].d, lanes);
    sum -= fp16_to_fp32(x[b].dmin) * y[b].d * float(summ);
  }
  return sums.total(sum);
}

// Q4_K/Q5_K: each 32 bytes of qs hold two sub-blocks (low nibbles, then high nibbles); Q5_K's
// fifth bit of sub-block j is bit j of qh[l].
void unpack_q4_k(const BlockQ4_K& x, int8_t* a) {
  for (int j = 0; j < 4; ++j, a += 64) {
    const uint8_t* q = x.qs + 32 * j;
    for (int l = 0; l < 32; ++l) a[l] = int8_t(q[l] & 0xF);
    for (int l = 0; l < 32; ++l) a[l + 32] = int8_t(q[l] >> 4);
  }
}

void unpack_q5_k(const BlockQ5_K& x, int8_t* a) {
  for (int j = 0; j < 4; ++j, a += 64) {
    const uint8_t* q = x.qs + 32 * j;
    for (int l = 0; l < 32; ++l) a[l] = int8_t((q[l] & 0xF) | (((x.qh[l] >> (2 * j)) & 1) << 4));
    for (int l = 0; l < 32; ++l) a[l + 32] = int8_t((q[l] >> 4) | (((x.qh[l] >> (2 * j + 1)) & 1) << 4));
  }
}

// Q6_K, per 128 elements: quarters 0 and 2 are the low and high nibbles of ql[l], quarters 1 and 3
// those of ql[l + 32]; quarter k's top two bits are bits 2k..2k+1 of qh[l].
void unpack_q6_k(const BlockQ6_K& x, int8_t* a) {
  for (int h = 0; h < 2; ++h, a += 128) {
    const uint8_t* ql = x.ql + 64 * h;
    const uint8_t* qh = x.qh + 32 * h;
    for (int l = 0; l < 32; ++l) {
      a[l] = int8_t(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
      a[l + 32] = int8_t(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
      a[l + 64] = int8_t(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
      a[l + 96] = int8_t(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
    }
  }
}

float dot_q6_k_q8_k(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockQ6_K*>(xv);
  auto* y = static_cast<const BlockQ8_K*>(yv);
  FloatLanes sums;
  for (int64_t b = 0; b < n / QK_K; ++b) {
    int8_t a[QK_K];
    unpack_q6_k(x[b], a);
    Lanes lanes;
    for (int j = 0; j < 16; ++j) lanes.add<16>(y[b].qs + 16 * j, a + 16 * j, x[b].scales[j]);
    sums.add(fp16_to_fp32(x[b].d) * y[b].d, lanes);
  }
  return sums.total(0.0f);
}

constexpr DotTraits kQ4_1{DType::Q8_1, quantize_q8_1, dot_q4_1_q8_1};
constexpr DotTraits kQ5_0{DType::Q8_0, quantize_q8_0, dot_q5_0_q8_0};
constexpr DotTraits kQ5_1{DType::Q8_1, quantize_q8_1, dot_q5_1_q8_1};
constexpr DotTraits kIQ4_NL{DType::Q8_0, quantize_q8_0, dot_iq4_nl_q8_0};
constexpr DotTraits kQ2_K{DType::Q8_K, quantize_q8_k, dot_q2_k_q8_k};
constexpr DotTraits kQ3_K{DType::Q8_K, quantize_q8_k, dot_q3_k_q8_k};
constexpr DotTraits kQ4_K{DType::Q8_K, quantize_q8_k, dot_k4_q8_k<BlockQ4_K, unpack_q4_k>};
constexpr DotTraits kQ5_K{DType::Q8_K, quantize_q8_k, dot_k4_q8_k<BlockQ5_K, unpack_q5_k>};
constexpr DotTraits kQ6_K{DType::Q8_K, quantize_q8_k, dot_q6_k_q8_k};

}  // namespace

const DotTraits* dot_traits_ref_quants(DType weight) {
  switch (weight) {
    case DType::Q4_1: return &kQ4_1;
    case DType::Q5_0: return &kQ5_0;
    case DType::Q5_1: return &kQ5_1;
    case DType::IQ4_NL: return &kIQ4_NL;
    case DType::Q2_K: return &kQ2_K;
    case DType::Q3_K: return &kQ3_K;
    case DType::Q4_K: return &kQ4_K;
    case DType::Q5_K: return &kQ5_K;
    case DType::Q6_K: return &kQ6_K;
    default: return nullptr;
  }
}

}  // namespace db::cpu
