// Q8_0 and Q4_0 reference codecs, bit-exact with ggml's quantize_row_*_ref.
#include "core/quant_ref.h"

#include <algorithm>
#include <cmath>

#include "drawbridge/dtype.h"

namespace db {

void quantize_q8_0(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_0*>(dst);
  for (int64_t b = 0; b < n / QK8_0; ++b, x += QK8_0) {
    float amax = 0.0f;
    for (int j = 0; j < QK8_0; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = fp32_to_fp16(d);
    for (int j = 0; j < QK8_0; ++j) y[b].qs[j] = int8_t(std::roundf(x[j] * id));
  }
}

void dequantize_q8_0(const void* src, float* y, int64_t n) {
  auto* x = static_cast<const BlockQ8_0*>(src);
  for (int64_t b = 0; b < n / QK8_0; ++b, y += QK8_0) {
    const float d = fp16_to_fp32(x[b].d);
    for (int j = 0; j < QK8_0; ++j) y[j] = x[b].qs[j] * d;
  }
}

void quantize_q4_0(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ4_0*>(dst);
  for (int64_t b = 0; b < n / QK4_0; ++b, x += QK4_0) {
    // The scale maps the element of largest magnitude to -8, keeping its sign.
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < QK4_0; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = fp32_to_fp16(d);
    for (int j = 0; j < QK4_0 / 2; ++j) {
      const uint8_t q0 = std::min<uint8_t>(15, uint8_t(int8_t(x[j] * id + 8.5f)));
      const uint8_t q1 = std::min<uint8_t>(15, uint8_t(int8_t(x[QK4_0 / 2 + j] * id + 8.5f)));
      y[b].qs[j] = uint8_t(q0 | (q1 << 4));
    }
  }
}

void dequantize_q4_0(const void* src, float* y, int64_t n) {
  auto* x = static_cast<const BlockQ4_0*>(src);
  for (int64_t b = 0; b < n / QK4_0; ++b, y += QK4_0) {
    const float d = fp16_to_fp32(x[b].d);
    for (int j = 0; j < QK4_0 / 2; ++j) {
      y[j] = float((x[b].qs[j] & 0x0F) - 8) * d;
      y[j + QK4_0 / 2] = float((x[b].qs[j] >> 4) - 8) * d;
    }
  }
}

}  // namespace db
