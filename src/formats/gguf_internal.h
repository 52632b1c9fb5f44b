// Helpers shared by the GGUF reader, writer and value code (not part of the public API).
#pragma once
#include <cstdint>
#include <optional>

#include "drawbridge/gguf.h"

namespace db::gguf::detail {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint64_t kDefaultAlignment = 32;
constexpr uint32_t kMaxValueType = uint32_t(ValueType::FLOAT64);

inline bool is_integer(ValueType t) {
  switch (t) {
    case ValueType::UINT8: case ValueType::INT8: case ValueType::UINT16: case ValueType::INT16:
    case ValueType::UINT32: case ValueType::INT32: case ValueType::UINT64: case ValueType::INT64:
      return true;
    default:
      return false;
  }
}
inline bool is_float(ValueType t) { return t == ValueType::FLOAT32 || t == ValueType::FLOAT64; }

// Bytes of one scalar on disk; 0 for STRING and ARRAY, whose size depends on their content.
inline size_t scalar_size(ValueType t) {
  switch (t) {
    case ValueType::UINT8: case ValueType::INT8: case ValueType::BOOL: return 1;
    case ValueType::UINT16: case ValueType::INT16: return 2;
    case ValueType::UINT32: case ValueType::INT32: case ValueType::FLOAT32: return 4;
    case ValueType::UINT64: case ValueType::INT64: case ValueType::FLOAT64: return 8;
    default: return 0;
  }
}

// The smallest number of bytes an element of this type can take on disk (a string is at least its
// u64 length), used to reject counts that the remaining bytes cannot possibly hold.
inline size_t min_encoded_size(ValueType t) { return t == ValueType::STRING ? 8 : scalar_size(t); }

// A scalar integer value as int64 when it fits (u64 values above INT64_MAX do not).
std::optional<int64_t> integer_value(const Value& v);

inline bool is_power_of_two(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

}  // namespace db::gguf::detail
