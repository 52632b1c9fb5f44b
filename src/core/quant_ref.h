// Reference (scalar) quantize/dequantize for block formats. These define the formats: every
// optimized kernel is tested against them.
#pragma once
#include <cstdint>

namespace db {

float fp16_to_fp32_slow(uint16_t h);  // exact conversion without the lookup table

void quantize_q8_0(const float* src, void* dst, int64_t n);
void dequantize_q8_0(const void* src, float* dst, int64_t n);
void quantize_q4_0(const float* src, void* dst, int64_t n);
void dequantize_q4_0(const void* src, float* dst, int64_t n);

}  // namespace db
