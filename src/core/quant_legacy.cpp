// Reference codecs of the 32-element block formats Q4_1, Q5_0, Q5_1, Q8_1 and IQ4_NL, producing
// the same bytes as ggml (ggml-quants.c). Each float expression keeps ggml's operation order.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "core/quant_k.h"
#include "drawbridge/dtype.h"

// ggml-base is built without contraction; a fused multiply-add would change rounding and bytes.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace db {

const int8_t kIQ4NLValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                 1,    13,   25,  38,  53,  69,  89,  113};

namespace {

void min_max(const float* x, int n, float& min, float& max) {
  min = FLT_MAX;
  max = -FLT_MAX;
  for (int j = 0; j < n; ++j) {
    min = std::min(min, x[j]);
    max = std::max(max, x[j]);
  }
}

// The element of largest magnitude, with its sign (ties keep the first).
float signed_absmax(const float* x, int n) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

// Packs 32 five-bit quants: low nibbles into qs (element j | element j+16 << 4), fifth bits into qh.
void pack_5bit(const uint8_t* q, uint8_t* qs, uint8_t* qh_bytes) {
  uint32_t qh = 0;
  for (int j = 0; j < 16; ++j) {
    qs[j] = uint8_t((q[j] & 0x0F) | ((q[j + 16] & 0x0F) << 4));
    qh |= uint32_t((q[j] & 0x10u) >> 4) << j;
    qh |= uint32_t((q[j + 16] & 0x10u) >> 4) << (j + 16);
  }
  std::memcpy(qh_bytes, &qh, 4);
}

// The five-bit quant of element j (0..31) of a Q5 block.
inline int unpack_5bit(const uint8_t* qs, uint32_t qh, int j) {
  const int lo = j < 16 ? qs[j] & 0x0F : qs[j - 16] >> 4;
  return lo | int(((qh >> j) & 1) << 4);
}

// Index of the table value nearest to x (ties to the lower index only when strictly closer).
int nearest_index(const int8_t* val, int n, float x) {
  if (x <= val[0]) return 0;
  if (x >= val[n - 1]) return n - 1;
  int lo = 0, hi = n - 1;
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (x < val[mid]) hi = mid;
    else lo = mid;
  }
  return x - val[hi - 1] < val[hi] - x ? hi - 1 : hi;
}

}  // namespace

void quantize_q4_1(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ4_1*>(dst);
  for (int64_t b = 0; b < n / QK4_1; ++b, x += QK4_1) {
    float min, max;
    min_max(x, QK4_1, min, max);
    const float d = (max - min) / 15.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = fp32_to_fp16(d);
    y[b].m = fp32_to_fp16(min);
    for (int j = 0; j < QK4_1 / 2; ++j) {
      const uint8_t q0 = std::min<uint8_t>(15, uint8_t(int8_t((x[j] - min) * id + 0.5f)));
      const uint8_t q1 = std::min<uint8_t>(15, uint8_t(int8_t((x[j + 16] - min) * id + 0.5f)));
      y[b].qs[j] = uint8_t(q0 | (q1 << 4));
    }
  }
}

void dequantize_q4_1(const void* src, float* y, int64_t n) {
  auto* x = static_cast<const BlockQ4_1*>(src);
  for (int64_t b = 0; b < n / QK4_1; ++b, y += QK4_1) {
    const float d = fp16_to_fp32(x[b].d), m = fp16_to_fp32(x[b].m);
    for (int j = 0; j < QK4_1 / 2; ++j) {
      y[j] = float(x[b].qs[j] & 0x0F) * d + m;
      y[j + 16] = float(x[b].qs[j] >> 4) * d + m;
    }
  }
}

void quantize_q5_0(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ5_0*>(dst);
  for (int64_t b = 0; b < n / QK5_0; ++b, x += QK5_0) {
    // As Q4_0: the largest magnitude maps to -16, keeping its sign.
    const float d = signed_absmax(x, QK5_0) / -16.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = fp32_to_fp16(d);
    uint8_t q[QK5_0];
    for (int j = 0; j < QK5_0; ++j) q[j] = std::min<uint8_t>(31, uint8_t(int8_t(x[j] * id + 16.5f)));
    pack_5bit(q, y[b].qs, y[b].qh);
  }
}

void dequantize_q5_0(const void* src, float* y, int64_t n) {
  auto* x = static_cast<const BlockQ5_0*>(src);
  for (int64_t b = 0; b < n / QK5_0; ++b, y += QK5_0) {
    const float d = fp16_to_fp32(x[b].d);
    uint32_t qh;
    std::memcpy(&qh, x[b].qh, 4);
    for (int j = 0; j < QK5_0; ++j) y[j] = float(unpack_5bit(x[b].qs, qh, j) - 16) * d;
  }
}

void quantize_q5_1(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ5_1*>(dst);
  for (int64_t b = 0; b < n / QK5_1; ++b, x += QK5_1) {
    float min, max;
    min_max(x, QK5_1, min, max);
    const float d = (max - min) / 31.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = fp32_to_fp16(d);
    y[b].m = fp32_to_fp16(min);
    uint8_t q[QK5_1];
    for (int j = 0; j < QK5_1; ++j) q[j] = uint8_t((x[j] - min) * id + 0.5f);  // ggml clamps nothing
    pack_5bit(q, y[b].qs, y[b].qh);
  }
}

void dequantize_q5_1(const void* src, float* y, int64_t n) {
  auto* x = static_cast<const BlockQ5_1*>(src);
  for (int64_t b = 0; b < n / QK5_1; ++b, y += QK5_1) {
    const float d = fp16_to_fp32(x[b].d), m = fp16_to_fp32(x[b].m);
    uint32_t qh;
    std::memcpy(&qh, x[b].qh, 4);
    for (int j = 0; j < QK5_1; ++j) y[j] = float(unpack_5bit(x[b].qs, qh, j)) * d + m;
  }
}

void quantize_q8_1(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_1*>(dst);
  for (int64_t b = 0; b < n / QK8_1; ++b, x += QK8_1) {
    float amax = 0.0f;
    for (int j = 0; j < QK8_1; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = fp32_to_fp16(d);
    int sum = 0;
    for (int j = 0; j < QK8_1; ++j) {
      y[b].qs[j] = int8_t(std::roundf(x[j] * id));
      sum += y[b].qs[j];
    }
    y[b].s = fp32_to_fp16(float(sum) * d);
  }
}

void dequantize_q8_1(const void* src, float* y, int64_t n) {
  auto* x = static_cast<const BlockQ8_1*>(src);
  for (int64_t b = 0; b < n / QK8_1; ++b, y += QK8_1) {
    const float d = fp16_to_fp32(x[b].d);
    for (int j = 0; j < QK8_1; ++j) y[j] = x[b].qs[j] * d;
  }
}

namespace {

// sum w*q*x and sum w*q*q (w = x*x) for the table indices chosen with inverse scale id.
void iq4_nl_fit(const float* x, float id, uint8_t* L, float& sumqx, float& sumq2) {
  sumqx = sumq2 = 0.0f;
  for (int j = 0; j < QK4_NL; ++j) {
    const int l = nearest_index(kIQ4NLValues, 16, id * x[j]);
    if (L) L[j] = uint8_t(l);
    const float q = kIQ4NLValues[l], w = x[j] * x[j];
    sumqx += w * q * x[j];
    sumq2 += w * q * q;
  }
}

// One block: least-squares scale for the table, refined over 15 trial inverse scales.
void quantize_iq4_nl_block(const float* x, BlockIQ4_NL& y) {
  constexpr int kTries = 7;
  const float max = signed_absmax(x, QK4_NL);
  float d = 0.0f;
  if (std::fabs(max) >= 1e-15f) {
    float sumqx, sumq2;
    iq4_nl_fit(x, 1.0f / (-max / kIQ4NLValues[0]), nullptr, sumqx, sumq2);
    d = sumq2 > 0 ? sumqx / sumq2 : 0.0f;
    float best = d * sumqx;
    for (int t = -kTries; t <= kTries; ++t) {
      iq4_nl_fit(x, float(t + kIQ4NLValues[0]) / max, nullptr, sumqx, sumq2);
      if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
        d = sumqx / sumq2;
        best = d * sumqx;
      }
    }
  }
  y.d = fp32_to_fp16(d);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  uint8_t L[QK4_NL];
  for (int j = 0; j < QK4_NL; ++j) L[j] = uint8_t(nearest_index(kIQ4NLValues, 16, id * x[j]));
  for (int j = 0; j < QK4_NL / 2; ++j) y.qs[j] = uint8_t(L[j] | (L[j + 16] << 4));
}

}  // namespace

void quantize_iq4_nl(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockIQ4_NL*>(dst);
  for (int64_t b = 0; b < n / QK4_NL; ++b) quantize_iq4_nl_block(x + b * QK4_NL, y[b]);
}

void dequantize_iq4_nl(const void* src, float* y, int64_t n) {
  auto* x = static_cast<const BlockIQ4_NL*>(src);
  for (int64_t b = 0; b < n / QK4_NL; ++b, y += QK4_NL) {
    const float d = fp16_to_fp32(x[b].d);
    for (int j = 0; j < QK4_NL / 2; ++j) {
      y[j] = d * kIQ4NLValues[x[b].qs[j] & 0xF];
      y[j + 16] = d * kIQ4NLValues[x[b].qs[j] >> 4];
    }
  }
}

}  // namespace db
