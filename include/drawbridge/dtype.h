// The one dtype table: plain and block-quantized element types with their storage geometry and
// reference conversions. Ids equal GGUF/ggml type ids so files map without translation.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace db {

enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ4_NL = 20,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  BF16 = 30,
};

// Converts `n` elements (a multiple of block_size) of this type to f32, or f32 to this type.
using ToFloatFn = void (*)(const void* src, float* dst, int64_t n);
using FromFloatFn = void (*)(const float* src, void* dst, int64_t n);

struct DTypeInfo {
  DType id;
  std::string_view name;   // as llama.cpp prints it: "f32", "q4_0", "q6_K"
  int64_t block_size;      // elements per block (1 for plain types)
  size_t block_bytes;      // bytes per block
  bool quantized;
  ToFloatFn to_float;      // reference dequantize; null when the type has no float view (ints)
  FromFloatFn from_float;  // reference quantize; null when not implemented
};

// The table entry for a dtype id; nullptr for an id that the table does not know.
const DTypeInfo* find_dtype(uint32_t id);
// The table entry for a known dtype (throws db::Error for an unknown id).
const DTypeInfo& dtype_info(DType t);
// Looks a dtype up by name (case-insensitive: "q8_0", "Q4_K", "bf16").
std::optional<DType> dtype_from_name(std::string_view name);
std::string_view dtype_name(DType t);

// Bytes of a row of n elements; throws db::Error when n is not a multiple of the block size.
size_t row_bytes(DType t, int64_t n);

// Scalar conversions shared by every kernel (IEEE half and bfloat16, round-to-nearest-even).
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
inline float bf16_to_fp32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}
uint16_t fp32_to_bf16(float f);

// Block layouts, identical to ggml's so that files and kernels agree byte for byte.
constexpr int QK4_0 = 32;
struct BlockQ4_0 {
  uint16_t d;             // fp16 scale
  uint8_t qs[QK4_0 / 2];  // nibbles: low nibble = element j, high nibble = element j+16
};
static_assert(sizeof(BlockQ4_0) == 18);

constexpr int QK8_0 = 32;
struct BlockQ8_0 {
  uint16_t d;         // fp16 scale
  int8_t qs[QK8_0];
};
static_assert(sizeof(BlockQ8_0) == 34);

}  // namespace db
