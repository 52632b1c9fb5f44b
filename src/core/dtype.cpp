// The dtype table and reference conversions for plain and block-quantized types.
// Quantizers follow ggml's *_ref functions exactly so that files written here equal llama.cpp's.
#include "drawbridge/dtype.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "core/quant_k.h"
#include "core/quant_ref.h"
#include "drawbridge/error.h"

namespace db {
namespace {

inline float bits_to_f32(uint32_t w) {
  float f;
  std::memcpy(&f, &w, 4);
  return f;
}
inline uint32_t f32_to_bits(float f) {
  uint32_t w;
  std::memcpy(&w, &f, 4);
  return w;
}

// fp16 → fp32 via a 64 Ki-entry table built once (exact for every half value).
struct Fp16Table {
  std::array<float, 65536> v;
  Fp16Table() {
    for (uint32_t h = 0; h < 65536; ++h) v[h] = fp16_to_fp32_slow(uint16_t(h));
  }
};
const Fp16Table& fp16_table() {
  static const Fp16Table table;
  return table;
}

void f32_to_float(const void* src, float* dst, int64_t n) { std::memcpy(dst, src, size_t(n) * 4); }
void f32_from_float(const float* src, void* dst, int64_t n) { std::memcpy(dst, src, size_t(n) * 4); }
void f16_to_float(const void* src, float* dst, int64_t n) {
  auto* s = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(s[i]);
}
void f16_from_float(const float* src, void* dst, int64_t n) {
  auto* d = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) d[i] = fp32_to_fp16(src[i]);
}
void bf16_to_float(const void* src, float* dst, int64_t n) {
  auto* s = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(s[i]);
}
void bf16_from_float(const float* src, void* dst, int64_t n) {
  auto* d = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) d[i] = fp32_to_bf16(src[i]);
}

constexpr DTypeInfo kTable[] = {
    {DType::F32, "f32", 1, 4, false, f32_to_float, f32_from_float},
    {DType::F16, "f16", 1, 2, false, f16_to_float, f16_from_float},
    {DType::BF16, "bf16", 1, 2, false, bf16_to_float, bf16_from_float},
    {DType::Q4_0, "q4_0", 32, 18, true, dequantize_q4_0, quantize_q4_0},
    {DType::Q4_1, "q4_1", 32, 20, true, dequantize_q4_1, quantize_q4_1},
    {DType::Q5_0, "q5_0", 32, 22, true, dequantize_q5_0, quantize_q5_0},
    {DType::Q5_1, "q5_1", 32, 24, true, dequantize_q5_1, quantize_q5_1},
    {DType::Q8_0, "q8_0", 32, 34, true, dequantize_q8_0, quantize_q8_0},
    {DType::Q8_1, "q8_1", 32, 36, true, dequantize_q8_1, quantize_q8_1},
    {DType::Q2_K, "q2_K", 256, 84, true, dequantize_q2_k, quantize_q2_k},
    {DType::Q3_K, "q3_K", 256, 110, true, dequantize_q3_k, quantize_q3_k},
    {DType::Q4_K, "q4_K", 256, 144, true, dequantize_q4_k, quantize_q4_k},
    {DType::Q5_K, "q5_K", 256, 176, true, dequantize_q5_k, quantize_q5_k},
    {DType::Q6_K, "q6_K", 256, 210, true, dequantize_q6_k, quantize_q6_k},
    {DType::Q8_K, "q8_K", 256, 292, true, dequantize_q8_k, quantize_q8_k},
    {DType::IQ4_NL, "iq4_nl", 32, 18, true, dequantize_iq4_nl, quantize_iq4_nl},
    {DType::I8, "i8", 1, 1, false, nullptr, nullptr},
    {DType::I16, "i16", 1, 2, false, nullptr, nullptr},
    {DType::I32, "i32", 1, 4, false, nullptr, nullptr},
    {DType::I64, "i64", 1, 8, false, nullptr, nullptr},
    {DType::F64, "f64", 1, 8, false, nullptr, nullptr},
};

}  // namespace

float fp16_to_fp32_slow(uint16_t h) {
  // Branch-free IEEE half → single conversion (the algorithm ggml and FP16 library use).
  const uint32_t w = uint32_t(h) << 16;
  const uint32_t sign = w & 0x80000000u;
  const uint32_t two_w = w + w;
  const float normalized = bits_to_f32((two_w >> 4) + (0xE0u << 23)) * 0x1.0p-112f;
  const float denormalized = bits_to_f32((two_w >> 17) | (126u << 23)) - 0.5f;
  const uint32_t result =
      sign | (two_w < (1u << 27) ? f32_to_bits(denormalized) : f32_to_bits(normalized));
  return bits_to_f32(result);
}

float fp16_to_fp32(uint16_t h) { return fp16_table().v[h]; }

uint16_t fp32_to_fp16(float f) {
  // Round-to-nearest-even, NaN stays NaN, overflow becomes infinity.
  float base = (std::fabs(f) * 0x1.0p+112f) * 0x1.0p-110f;
  const uint32_t w = f32_to_bits(f);
  const uint32_t shl1_w = w + w;
  const uint32_t sign = w & 0x80000000u;
  uint32_t bias = shl1_w & 0xFF000000u;
  if (bias < 0x71000000u) bias = 0x71000000u;
  base = bits_to_f32((bias >> 1) + 0x07800000u) + base;
  const uint32_t bits = f32_to_bits(base);
  const uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
  const uint32_t mantissa_bits = bits & 0x00000FFFu;
  const uint32_t nonsign = exp_bits + mantissa_bits;
  return uint16_t((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

uint16_t fp32_to_bf16(float f) {
  uint32_t u = f32_to_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 64);  // quiet the NaN
  return uint16_t((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}

const DTypeInfo* find_dtype(uint32_t id) {
  for (const auto& info : kTable)
    if (uint32_t(info.id) == id) return &info;
  return nullptr;
}

const DTypeInfo& dtype_info(DType t) {
  const DTypeInfo* info = find_dtype(uint32_t(t));
  DB_CHECK(info != nullptr, "[dtype] unknown dtype id {}", uint32_t(t));
  return *info;
}

std::optional<DType> dtype_from_name(std::string_view name) {
  auto lower = [](std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
    return out;
  };
  const std::string want = lower(name);
  for (const auto& info : kTable)
    if (lower(info.name) == want) return info.id;
  return std::nullopt;
}

std::string_view dtype_name(DType t) {
  const DTypeInfo* info = find_dtype(uint32_t(t));
  return info ? info->name : std::string_view("unknown");
}

size_t row_bytes(DType t, int64_t n) {
  const DTypeInfo& info = dtype_info(t);
  DB_CHECK(n >= 0 && n % info.block_size == 0,
           "[dtype] a row of {} elements is not a multiple of {}'s block size {}", n, info.name,
           info.block_size);
  return size_t(n / info.block_size) * info.block_bytes;
}

}  // namespace db
