// Reference dot products of the further block formats, structured as ggml's generic kernels
// (ggml-cpu/quants.c): Q4_1/Q5_1 against Q8_1 activations, Q5_0/IQ4_NL against Q8_0, and the
// K-quants against Q8_K. Integer sums are exact; the float accumulation keeps ggml's order (eight
// lanes per super-block for Q3_K..Q6_K) so results agree with ggml's reference to the last bits.
// Loops are plain and branch-free so compilers vectorize them; SIMD kernels are tested against these.
#include <algorithm>
#include <cmath>
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

// ---- K-quants in the order of ggml's AVX2 kernels (ggml-cpu/arch/x86/quants.c, repack.cpp) -----
// vpmaddubsw then vpmaddwd leave the products of elements 4l..4l+3 of every 32 in int32 lane l;
// each super-block then adds its 8 integer lanes, converted to float, into 8 float lanes with one
// FMA, and the row ends with hsum8. Integer sums are exact, so only this partition matters.
inline int quad_lane(int e) { return (e % 32) / 4; }

// lanes[quad_lane(e)] += sc[e / SUB] * a[e] * y[e] over a super-block.
template <int SUB, typename Scale>
void quad_lanes(const int8_t* a, const int8_t* y, const Scale* sc, int32_t lanes[8]) {
  for (int e = 0; e < QK_K; ++e) lanes[quad_lane(e)] += int32_t(sc[e / SUB]) * a[e] * y[e];
}

// vpmaddwd of 16 int16 pairs: lane l = p[2l] * q[2l] + p[2l+1] * q[2l+1].
template <typename P, typename Q>
void pair_lanes(const P* p, const Q* q, int32_t lanes[8]) {
  for (int l = 0; l < 8; ++l) lanes[l] = int32_t(p[2 * l]) * q[2 * l] + int32_t(p[2 * l + 1]) * q[2 * l + 1];
}

inline void fma_lanes(float acc[8], float d, const int32_t lanes[8]) {
  for (int l = 0; l < 8; ++l) acc[l] = std::fma(d, float(lanes[l]), acc[l]);
}

// hsum_float_8: (v0+v4) (v1+v5) (v2+v6) (v3+v7), then 0+2, 1+3, then the sum.
inline float hsum8_k(const float v[8]) {
  const float a0 = v[4] + v[0], a1 = v[5] + v[1], a2 = v[6] + v[2], a3 = v[7] + v[3];
  return (a0 + a2) + (a1 + a3);
}

void unpack_q2_k(const BlockQ2_K& x, int8_t* a) {
  for (int h = 0; h < 2; ++h)
    for (int k = 0; k < 4; ++k, a += 32)
      for (int l = 0; l < 32; ++l) a[l] = int8_t((x.qs[32 * h + l] >> (2 * k)) & 3);
}

// ggml_vec_dot_q2_K_q8_K (AVX2): the mins term and the scaled quants go into the same 8 lanes.
float dot_q2_k_ggml(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockQ2_K*>(xv);
  auto* y = static_cast<const BlockQ8_K*>(yv);
  float acc[8] = {};
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const float d = y[b].d * fp16_to_fp32(x[b].d);
    const float dmin = -y[b].d * fp16_to_fp32(x[b].dmin);
    uint8_t sc[16], mins[16];
    for (int j = 0; j < 16; ++j) sc[j] = x[b].scales[j] & 0xF, mins[j] = x[b].scales[j] >> 4;
    int32_t prod[8];
    pair_lanes(mins, y[b].bsums, prod);
    fma_lanes(acc, dmin, prod);
    int8_t a[QK_K];
    unpack_q2_k(x[b], a);
    int32_t lanes[8] = {};
    quad_lanes<16>(a, y[b].qs, sc, lanes);
    fma_lanes(acc, d, lanes);
  }
  return hsum8_k(acc);
}

float dot_q3_k_ggml(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockQ3_K*>(xv);
  auto* y = static_cast<const BlockQ8_K*>(yv);
  float acc[8] = {};
  for (int64_t b = 0; b < n / QK_K; ++b) {
    int8_t a[QK_K], sc[16];
    unpack_q3_k(x[b], a);
    q3_k_scales(x[b].scales, sc);
    int32_t lanes[8] = {};
    quad_lanes<16>(a, y[b].qs, sc, lanes);
    fma_lanes(acc, y[b].d * fp16_to_fp32(x[b].d), lanes);
  }
  return hsum8_k(acc);
}

// Sums of the 32-element sub-blocks of a Q8_K block (vphaddw of its 16-element sums).
inline void bsums32(const BlockQ8_K& y, int16_t s[8]) {
  for (int j = 0; j < 8; ++j) s[j] = int16_t(y.bsums[2 * j] + y.bsums[2 * j + 1]);
}

template <typename Block>
void scales_mins(const Block& x, uint8_t sc[8], uint8_t mins[8]) {
  for (int j = 0; j < 8; ++j) k4_scale_min(j, x.scales, sc[j], mins[j]);
}

// ggml_vec_dot_q4_K_q8_K (AVX2): mins FMA-accumulated in 4 lanes (pairs of sub-blocks), added
// to hsum8 of the quant lanes at the end as (m0+m2) + (m1+m3).
float dot_q4_k_ggml(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockQ4_K*>(xv);
  auto* y = static_cast<const BlockQ8_K*>(yv);
  float acc[8] = {}, acc_m[4] = {};
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const float d = y[b].d * fp16_to_fp32(x[b].d);
    const float dmin = -y[b].d * fp16_to_fp32(x[b].dmin);
    uint8_t sc[8], mins[8];
    scales_mins(x[b], sc, mins);
    int16_t s32[8];
    bsums32(y[b], s32);
    for (int k = 0; k < 4; ++k)
      acc_m[k] = std::fma(dmin, float(int32_t(mins[2 * k]) * s32[2 * k] + int32_t(mins[2 * k + 1]) * s32[2 * k + 1]), acc_m[k]);
    int8_t a[QK_K];
    unpack_q4_k(x[b], a);
    int32_t lanes[8] = {};
    quad_lanes<32>(a, y[b].qs, sc, lanes);
    fma_lanes(acc, d, lanes);
  }
  return hsum8_k(acc) + ((acc_m[0] + acc_m[2]) + (acc_m[1] + acc_m[3]));
}

// ggml_vec_dot_q5_K_q8_K (AVX2): the mins term is one float, summs = fma(dmin, mins·bsums, summs)
// (GCC contracts ggml's `summs += dmin * int`).
float dot_q5_k_ggml(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockQ5_K*>(xv);
  auto* y = static_cast<const BlockQ8_K*>(yv);
  float acc[8] = {}, summs = 0.0f;
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const float d = y[b].d * fp16_to_fp32(x[b].d);
    const float dmin = -y[b].d * fp16_to_fp32(x[b].dmin);
    uint8_t sc[8], mins[8];
    scales_mins(x[b], sc, mins);
    int16_t s32[8];
    bsums32(y[b], s32);
    int32_t imin = 0;
    for (int j = 0; j < 8; ++j) imin += int32_t(mins[j]) * s32[j];
    summs = std::fma(dmin, float(imin), summs);
    int8_t a[QK_K];
    unpack_q5_k(x[b], a);
    int32_t lanes[8] = {};
    quad_lanes<32>(a, y[b].qs, sc, lanes);
    fma_lanes(acc, d, lanes);
  }
  return hsum8_k(acc) + summs;
}

// ggml_vec_dot_q6_K_q8_K (AVX2): quants unsigned (0..63) in the lanes, minus 32 * scales·bsums
// per lane pair of 16-element sub-blocks, before the conversion to float.
float dot_q6_k_ggml(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockQ6_K*>(xv);
  auto* y = static_cast<const BlockQ8_K*>(yv);
  float acc[8] = {};
  for (int64_t b = 0; b < n / QK_K; ++b) {
    int8_t a[QK_K];
    unpack_q6_k(x[b], a);
    for (int8_t& v : a) v = int8_t(v + 32);
    int32_t lanes[8] = {}, sub[8];
    quad_lanes<16>(a, y[b].qs, x[b].scales, lanes);
    pair_lanes(y[b].bsums, x[b].scales, sub);
    for (int l = 0; l < 8; ++l) lanes[l] -= sub[l] * 32;
    fma_lanes(acc, y[b].d * fp16_to_fp32(x[b].d), lanes);
  }
  return hsum8_k(acc);
}

// ggml_gemv/gemm_q4_K_8x8_q8_K (Q4_K weights repacked 8 rows at a time, N % 8 == 0): per output
// the whole super-block's integer sums, acc = fma(isum, d_x * d_y, acc) and likewise for the mins;
// the result is acc - acc_min.
float dot_q4_k_x8(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockQ4_K*>(xv);
  auto* y = static_cast<const BlockQ8_K*>(yv);
  float acc = 0.0f, acc_min = 0.0f;
  for (int64_t b = 0; b < n / QK_K; ++b) {
    uint8_t sc[8], mins[8];
    scales_mins(x[b], sc, mins);
    int16_t s32[8];
    bsums32(y[b], s32);
    int8_t a[QK_K];
    unpack_q4_k(x[b], a);
    int32_t isum = 0, imin = 0;
    for (int j = 0; j < 8; ++j) {
      int32_t part = 0;
      for (int l = 0; l < 32; ++l) part += a[32 * j + l] * y[b].qs[32 * j + l];
      isum += int32_t(sc[j]) * part;
      imin += int32_t(mins[j]) * s32[j];
    }
    acc = std::fma(float(isum), fp16_to_fp32(x[b].d) * y[b].d, acc);
    acc_min = std::fma(float(imin), fp16_to_fp32(x[b].dmin) * y[b].d, acc_min);
  }
  return acc - acc_min;
}

// ---- 32-element blocks in the order of ggml's AVX2 kernels -------------------------------------
// Element j of a 32-block (low nibbles 0..15, high nibbles 16..31) with its fifth bit.
inline int nibble(const uint8_t* qs, int j) { return j < 16 ? (qs[j] & 0x0F) : (qs[j - 16] >> 4); }
inline int q4_1_at(const void* b, int j) { return nibble(static_cast<const BlockQ4_1*>(b)->qs, j); }
inline uint32_t qh_bits(const uint8_t* qh) {
  uint32_t v;
  std::memcpy(&v, qh, 4);
  return v;
}
inline int q5_0_at(const void* b, int j) {
  auto* x = static_cast<const BlockQ5_0*>(b);
  return (nibble(x->qs, j) | q5_high(qh_bits(x->qh), j)) - 16;
}
inline int q5_1_at(const void* b, int j) {
  auto* x = static_cast<const BlockQ5_1*>(b);
  return nibble(x->qs, j) | q5_high(qh_bits(x->qh), j);
}
inline int iq4_nl_at(const void* b, int j) { return kIQ4NLValues[nibble(static_cast<const BlockIQ4_NL*>(b)->qs, j)]; }

// Lane l = the exact sum of elements 4l..4l+3 of a block (vpmaddubsw + vpmaddwd).
template <int (*Q)(const void*, int)>
void block_lanes(const void* x, const int8_t* y, int32_t lanes[8]) {
  for (int l = 0; l < 8; ++l) {
    lanes[l] = 0;
    for (int j = 4 * l; j < 4 * l + 4; ++j) lanes[l] += Q(x, j) * int32_t(y[j]);
  }
}

// Q4_1 / Q5_1 against q8_1 (ggml_vec_dot_q{4,5}_1_q8_1): lanes FMA-accumulated with d_x * d_y,
// the min term in one float, summs = fma(m_x, s_y, summs) (GCC contracts ggml's `summs += m * s`).
template <typename Block, int (*Q)(const void*, int)>
float dot_q_1_ggml(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const Block*>(xv);
  auto* y = static_cast<const BlockQ8_1*>(yv);
  float acc[8] = {}, summs = 0.0f;
  for (int64_t b = 0; b < n / 32; ++b) {
    summs = std::fma(fp16_to_fp32(x[b].m), fp16_to_fp32(y[b].s), summs);
    int32_t lanes[8];
    block_lanes<Q>(&x[b], y[b].qs, lanes);
    fma_lanes(acc, fp16_to_fp32(x[b].d) * fp16_to_fp32(y[b].d), lanes);
  }
  return hsum8_k(acc) + summs;
}

// Q5_0 against q8_0: ggml_vec_dot_q5_0_q8_0 and tinyBLAS_Q0_AVX share this order.
template <typename Block, int (*Q)(const void*, int)>
float dot_q_0_lanes(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const Block*>(xv);
  auto* y = static_cast<const BlockQ8_0*>(yv);
  float acc[8] = {};
  for (int64_t b = 0; b < n / 32; ++b) {
    int32_t lanes[8];
    block_lanes<Q>(&x[b], y[b].qs, lanes);
    fma_lanes(acc, fp16_to_fp32(x[b].d) * fp16_to_fp32(y[b].d), lanes);
  }
  return hsum8_k(acc);
}

// ggml_vec_dot_iq4_nl_q8_0 (AVX2): blocks in pairs into two lane accumulators (even and odd
// blocks), added before hsum8; an odd last block as sumf + d * isum (not fused).
float dot_iq4_nl_ggml(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockIQ4_NL*>(xv);
  auto* y = static_cast<const BlockQ8_0*>(yv);
  const int64_t nb = n / QK4_NL;
  float acc1[8] = {}, acc2[8] = {};
  int64_t b = 0;
  for (; b + 1 < nb; b += 2) {
    int32_t l1[8], l2[8];
    block_lanes<iq4_nl_at>(&x[b], y[b].qs, l1);
    block_lanes<iq4_nl_at>(&x[b + 1], y[b + 1].qs, l2);
    fma_lanes(acc1, fp16_to_fp32(y[b].d) * fp16_to_fp32(x[b].d), l1);
    fma_lanes(acc2, fp16_to_fp32(y[b + 1].d) * fp16_to_fp32(x[b + 1].d), l2);
  }
  float sum8[8];
  for (int l = 0; l < 8; ++l) sum8[l] = acc1[l] + acc2[l];
  float sumf = hsum8_k(sum8);
  for (; b < nb; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < QK4_NL; ++j) isum += iq4_nl_at(&x[b], j) * int32_t(y[b].qs[j]);
    const float d = fp16_to_fp32(y[b].d) * fp16_to_fp32(x[b].d);
    const float prod = d * float(isum);
    sumf += prod;
  }
  return sumf;
}

// ggml's repacked iq4_nl 8x8 kernels (N % 8 == 0), the template of the q4_0 ones: whole-block
// integer sums, acc = fma(isum, d_x * d_y, acc).
float dot_iq4_nl_x8(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockIQ4_NL*>(xv);
  auto* y = static_cast<const BlockQ8_0*>(yv);
  float acc = 0.0f;
  for (int64_t b = 0; b < n / QK4_NL; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < QK4_NL; ++j) isum += iq4_nl_at(&x[b], j) * int32_t(y[b].qs[j]);
    acc = std::fma(float(isum), fp16_to_fp32(x[b].d) * fp16_to_fp32(y[b].d), acc);
  }
  return acc;
}

// Activation rows to q8_1 as ggml's AVX2 quantize_row_q8_1: q8_0's rounding, plus
// s = d * (sum of the quants) in half precision.
void quantize_row_q8_1_act(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_1*>(dst);
  for (int64_t b = 0; b < n / 32; ++b, x += 32) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    y[b].d = fp32_to_fp16(d);
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    int32_t isum = 0;
    for (int j = 0; j < 32; ++j) {
      y[b].qs[j] = int8_t(std::nearbyint(x[j] * id));  // half to even
      isum += y[b].qs[j];
    }
    y[b].s = fp32_to_fp16(d * float(isum));
  }
}

// ggml_gemm_q4_K_8x8_q8_K (AVX2), the same weights for activation rows taken 4 at a time: one FMA
// per pair of sub-blocks (64 elements) instead of per super-block, for the quants and the mins.
float dot_q4_k_x8_gemm(int64_t n, const void* xv, const void* yv) {
  auto* x = static_cast<const BlockQ4_K*>(xv);
  auto* y = static_cast<const BlockQ8_K*>(yv);
  float acc = 0.0f, acc_min = 0.0f;
  for (int64_t b = 0; b < n / QK_K; ++b) {
    uint8_t sc[8], mins[8];
    scales_mins(x[b], sc, mins);
    int16_t s32[8];
    bsums32(y[b], s32);
    int8_t a[QK_K];
    unpack_q4_k(x[b], a);
    const float d = fp16_to_fp32(x[b].d) * y[b].d, dmin = fp16_to_fp32(x[b].dmin) * y[b].d;
    for (int p = 0; p < 4; ++p) {
      int32_t isum = 0, imin = 0;
      for (int j = 2 * p; j < 2 * p + 2; ++j) {
        int32_t part = 0;
        for (int l = 0; l < 32; ++l) part += a[32 * j + l] * y[b].qs[32 * j + l];
        isum += int32_t(sc[j]) * part;
        imin += int32_t(mins[j]) * s32[j];
      }
      acc = std::fma(float(isum), d, acc);
      acc_min = std::fma(float(imin), dmin, acc_min);
    }
  }
  return acc - acc_min;
}

constexpr DotTraits kQ4_1{DType::Q8_1, quantize_row_q8_1_act, dot_q_1_ggml<BlockQ4_1, q4_1_at>};
constexpr DotTraits kQ5_0{DType::Q8_0, quantize_row_q8_0_act, dot_q_0_lanes<BlockQ5_0, q5_0_at>};
constexpr DotTraits kQ5_1{DType::Q8_1, quantize_row_q8_1_act, dot_q_1_ggml<BlockQ5_1, q5_1_at>};
// IQ4_NL: vec_dot for one row, tinyBLAS_Q0_AVX (the lanes order) for batches, repacked for N % 8 == 0.
constexpr DotTraits kIQ4_NL{DType::Q8_0, quantize_row_q8_0_act, dot_iq4_nl_ggml, dot_q_0_lanes<BlockIQ4_NL, iq4_nl_at>,
                            dot_iq4_nl_x8, true};

constexpr DotTraits kQ4_1_generic{DType::Q8_1, quantize_q8_1, dot_q4_1_q8_1};
constexpr DotTraits kQ5_0_generic{DType::Q8_0, quantize_q8_0, dot_q5_0_q8_0};
constexpr DotTraits kQ5_1_generic{DType::Q8_1, quantize_q8_1, dot_q5_1_q8_1};
constexpr DotTraits kIQ4_NL_generic{DType::Q8_0, quantize_q8_0, dot_iq4_nl_q8_0};
// The K-quants follow ggml's AVX2 order (the numerics contract of vec_dot.h); Q8_K activations
// are quantize_row_q8_K_ref's, which ggml's AVX2 build also uses.
constexpr DotTraits kQ2_K{DType::Q8_K, quantize_q8_k, dot_q2_k_ggml};
constexpr DotTraits kQ3_K{DType::Q8_K, quantize_q8_k, dot_q3_k_ggml};
constexpr DotTraits kQ4_K{DType::Q8_K, quantize_q8_k, dot_q4_k_ggml, nullptr, dot_q4_k_x8, false, dot_q4_k_x8_gemm};
constexpr DotTraits kQ5_K{DType::Q8_K, quantize_q8_k, dot_q5_k_ggml};
constexpr DotTraits kQ6_K{DType::Q8_K, quantize_q8_k, dot_q6_k_ggml};

// ggml's generic (portable) order: the accuracy reference for the tests.
constexpr DotTraits kQ2_K_generic{DType::Q8_K, quantize_q8_k, dot_q2_k_q8_k};
constexpr DotTraits kQ3_K_generic{DType::Q8_K, quantize_q8_k, dot_q3_k_q8_k};
constexpr DotTraits kQ4_K_generic{DType::Q8_K, quantize_q8_k, dot_k4_q8_k<BlockQ4_K, unpack_q4_k>};
constexpr DotTraits kQ5_K_generic{DType::Q8_K, quantize_q8_k, dot_k4_q8_k<BlockQ5_K, unpack_q5_k>};
constexpr DotTraits kQ6_K_generic{DType::Q8_K, quantize_q8_k, dot_q6_k_q8_k};

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

const DotTraits* dot_traits_generic(DType weight) {
  switch (weight) {
    case DType::Q2_K: return &kQ2_K_generic;
    case DType::Q3_K: return &kQ3_K_generic;
    case DType::Q4_K: return &kQ4_K_generic;
    case DType::Q5_K: return &kQ5_K_generic;
    case DType::Q6_K: return &kQ6_K_generic;
    case DType::Q4_1: return &kQ4_1_generic;
    case DType::Q5_0: return &kQ5_0_generic;
    case DType::Q5_1: return &kQ5_1_generic;
    case DType::IQ4_NL: return &kIQ4_NL_generic;
    default: return nullptr;
  }
}

}  // namespace db::cpu
