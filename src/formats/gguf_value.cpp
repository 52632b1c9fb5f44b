// GGUF metadata values: type names, constructors and display.
#include <fmt/format.h>

#include "formats/gguf_internal.h"

namespace db::gguf {

std::string_view value_type_name(ValueType t) {
  switch (t) {
    case ValueType::UINT8: return "u8";
    case ValueType::INT8: return "i8";
    case ValueType::UINT16: return "u16";
    case ValueType::INT16: return "i16";
    case ValueType::UINT32: return "u32";
    case ValueType::INT32: return "i32";
    case ValueType::FLOAT32: return "f32";
    case ValueType::BOOL: return "bool";
    case ValueType::STRING: return "string";
    case ValueType::ARRAY: return "array";
    case ValueType::UINT64: return "u64";
    case ValueType::INT64: return "i64";
    case ValueType::FLOAT64: return "f64";
  }
  return "unknown";
}

Value Value::u32(uint32_t x) { return {ValueType::UINT32, ValueType::UINT32, int64_t(x)}; }
Value Value::i32(int32_t x) { return {ValueType::INT32, ValueType::UINT32, int64_t(x)}; }
Value Value::u64(uint64_t x) { return {ValueType::UINT64, ValueType::UINT32, x}; }
Value Value::f32(float x) { return {ValueType::FLOAT32, ValueType::UINT32, double(x)}; }
Value Value::boolean(bool x) { return {ValueType::BOOL, ValueType::UINT32, x}; }
Value Value::str(std::string x) { return {ValueType::STRING, ValueType::UINT32, std::move(x)}; }
Value Value::str_array(std::vector<std::string> x) {
  return {ValueType::ARRAY, ValueType::STRING, std::move(x)};
}
Value Value::i32_array(std::vector<int64_t> x) {
  return {ValueType::ARRAY, ValueType::INT32, std::move(x)};
}
Value Value::f32_array(std::vector<double> x) {
  return {ValueType::ARRAY, ValueType::FLOAT32, std::move(x)};
}

namespace detail {

std::optional<int64_t> integer_value(const Value& v) {
  if (!is_integer(v.type)) return std::nullopt;
  if (auto* i = std::get_if<int64_t>(&v.v)) return *i;
  if (auto* u = std::get_if<uint64_t>(&v.v)) {
    if (*u <= uint64_t(INT64_MAX)) return int64_t(*u);
  }
  return std::nullopt;
}

}  // namespace detail

namespace {

constexpr size_t kMaxShownString = 256;  // chat templates run to kilobytes; `info` needs a glimpse

// Quoted, with control characters escaped so one value stays on one display line.
std::string quote(const std::string& s) {
  size_t shown = std::min(s.size(), kMaxShownString);
  while (shown < s.size() && shown > 0 && (uint8_t(s[shown]) & 0xC0) == 0x80) --shown;  // UTF-8
  std::string out = "\"";
  for (size_t i = 0; i < shown; ++i) {
    char c = s[i];
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (uint8_t(c) < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", uint8_t(c));
        else out += c;
    }
  }
  out += '"';
  if (shown < s.size()) out += fmt::format("... ({} bytes)", s.size());
  return out;
}

// f32 values are held as double; print them as float so 0.1f shows as 0.1.
std::string format_float(double d, ValueType t) {
  return t == ValueType::FLOAT32 ? fmt::format("{}", float(d)) : fmt::format("{}", d);
}

// u64 arrays are held as int64 bit patterns (see Value); show them unsigned.
std::string format_int(int64_t i, ValueType t) {
  return t == ValueType::UINT64 ? fmt::format("{}", uint64_t(i)) : fmt::format("{}", i);
}

template <typename Vec, typename Fmt>
std::string format_array(const Vec& items, size_t max_items, Fmt&& one) {
  std::string out = "[";
  size_t shown = std::min(items.size(), max_items);
  for (size_t i = 0; i < shown; ++i) {
    if (i) out += ", ";
    out += one(items[i]);
  }
  if (shown < items.size()) out += fmt::format("{}... {} more", shown ? ", " : "", items.size() - shown);
  return out + "]";
}

}  // namespace

std::string Value::to_string(size_t max_array_items) const {
  const ValueType et = elem_type;
  return std::visit(
      [&](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, int64_t>) return format_int(x, type);
        else if constexpr (std::is_same_v<T, uint64_t>) return fmt::format("{}", x);
        else if constexpr (std::is_same_v<T, double>) return format_float(x, type);
        else if constexpr (std::is_same_v<T, bool>) return x ? "true" : "false";
        else if constexpr (std::is_same_v<T, std::string>) return quote(x);
        else if constexpr (std::is_same_v<T, std::vector<int64_t>>)
          return format_array(x, max_array_items, [&](int64_t i) { return format_int(i, et); });
        else if constexpr (std::is_same_v<T, std::vector<double>>)
          return format_array(x, max_array_items, [&](double d) { return format_float(d, et); });
        else if constexpr (std::is_same_v<T, std::vector<std::string>>)
          return format_array(x, max_array_items, [](const std::string& s) { return quote(s); });
        else
          return format_array(x, max_array_items, [](bool b) { return std::string(b ? "true" : "false"); });
      },
      v);
}

}  // namespace db::gguf
