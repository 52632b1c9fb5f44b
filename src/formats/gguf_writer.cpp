// GGUF v3 writer. Values and tensor shapes are validated when they are added, so write() only
// fails for I/O reasons; tensor data is produced one tensor at a time by its fill callback.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "drawbridge/error.h"
#include "formats/gguf_internal.h"

namespace db::gguf {

using namespace detail;

namespace {

constexpr uint32_t kWriteVersion = 3;

// Buffered output that turns every I/O failure (disk full, permissions) into a db::Error.
class Sink {
 public:
  Sink(const std::string& tmp_path, const std::string& shown_path) : shown_(shown_path) {
    f_ = std::fopen(tmp_path.c_str(), "wb");
    if (!f_) io_fail("cannot create " + tmp_path);
  }
  ~Sink() {
    if (f_) std::fclose(f_);
  }
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;

  void bytes(const void* p, size_t n) {
    if (n != 0 && std::fwrite(p, 1, n, f_) != n) io_fail("write failed");
    pos_ += n;
  }
  template <typename T>
  void put(T x) { bytes(&x, sizeof(T)); }
  void string(std::string_view s) {
    put<uint64_t>(s.size());
    bytes(s.data(), s.size());
  }
  void pad_to(uint64_t alignment) {
    static const char zeros[4096] = {};
    uint64_t n = (alignment - pos_ % alignment) % alignment;
    for (uint64_t chunk; n > 0; n -= chunk) {
      chunk = std::min<uint64_t>(n, sizeof(zeros));
      bytes(zeros, chunk);
    }
  }
  // Flushes to stable storage so the rename that follows never exposes a partial file.
  void close() {
    std::FILE* f = f_;
    f_ = nullptr;
    bool ok = std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
    int err = errno;
    ok = (std::fclose(f) == 0) && ok;
    if (!ok) {
      errno = err;
      io_fail("write failed");
    }
  }

 private:
  [[noreturn]] void io_fail(const std::string& what) const {
    fail("[gguf] {}: {}: {}", shown_, what, std::strerror(errno));
  }
  std::FILE* f_ = nullptr;
  std::string shown_;
  uint64_t pos_ = 0;
};

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

bool int_fits(ValueType t, int64_t x) {
  switch (t) {
    case ValueType::UINT8: return x >= 0 && x <= UINT8_MAX;
    case ValueType::INT8: return x >= INT8_MIN && x <= INT8_MAX;
    case ValueType::UINT16: return x >= 0 && x <= UINT16_MAX;
    case ValueType::INT16: return x >= INT16_MIN && x <= INT16_MAX;
    case ValueType::UINT32: return x >= 0 && x <= int64_t(UINT32_MAX);
    case ValueType::INT32: return x >= INT32_MIN && x <= INT32_MAX;
    case ValueType::UINT64: return true;  // arrays hold u64 elements as int64 bit patterns
    case ValueType::INT64: return true;
    default: return false;
  }
}

// The variant alternative a Value of this type must hold, so write() never meets a surprise.
bool holds_expected(const Value& v) {
  if (is_integer(v.type))
    return std::holds_alternative<int64_t>(v.v) || std::holds_alternative<uint64_t>(v.v);
  switch (v.type) {
    case ValueType::FLOAT32: case ValueType::FLOAT64: return std::holds_alternative<double>(v.v);
    case ValueType::BOOL: return std::holds_alternative<bool>(v.v);
    case ValueType::STRING: return std::holds_alternative<std::string>(v.v);
    case ValueType::ARRAY: break;
    default: return false;
  }
  if (is_integer(v.elem_type)) return std::holds_alternative<std::vector<int64_t>>(v.v);
  if (is_float(v.elem_type)) return std::holds_alternative<std::vector<double>>(v.v);
  if (v.elem_type == ValueType::BOOL) return std::holds_alternative<std::vector<bool>>(v.v);
  if (v.elem_type == ValueType::STRING) return std::holds_alternative<std::vector<std::string>>(v.v);
  return false;  // nested arrays and unknown element types
}

void check_value(const std::string& key, const Value& v) {
  DB_CHECK(uint32_t(v.type) <= kMaxValueType, "[gguf] writer: key '{}' has unknown value type {}",
           key, uint32_t(v.type));
  DB_CHECK(holds_expected(v), "[gguf] writer: key '{}': value does not match its type {}{}", key,
           value_type_name(v.type),
           v.type == ValueType::ARRAY ? fmt::format(" of {}", value_type_name(v.elem_type)) : "");
  if (auto* i = std::get_if<int64_t>(&v.v))
    DB_CHECK(int_fits(v.type, *i), "[gguf] writer: key '{}': {} does not fit in {}", key, *i,
             value_type_name(v.type));
  if (auto* u = std::get_if<uint64_t>(&v.v))
    DB_CHECK(v.type == ValueType::UINT64 || (*u <= uint64_t(INT64_MAX) && int_fits(v.type, int64_t(*u))),
             "[gguf] writer: key '{}': {} does not fit in {}", key, *u, value_type_name(v.type));
  if (auto* arr = std::get_if<std::vector<int64_t>>(&v.v))
    for (int64_t x : *arr)
      DB_CHECK(int_fits(v.elem_type, x), "[gguf] writer: key '{}': element {} does not fit in {}",
               key, x, value_type_name(v.elem_type));
}

void put_int(Sink& out, ValueType t, int64_t x) {
  switch (t) {
    case ValueType::UINT8: out.put(uint8_t(x)); break;
    case ValueType::INT8: out.put(int8_t(x)); break;
    case ValueType::UINT16: out.put(uint16_t(x)); break;
    case ValueType::INT16: out.put(int16_t(x)); break;
    case ValueType::UINT32: out.put(uint32_t(x)); break;
    case ValueType::INT32: out.put(int32_t(x)); break;
    case ValueType::UINT64: out.put(uint64_t(x)); break;
    default: out.put(x); break;
  }
}

void put_float(Sink& out, ValueType t, double x) {
  if (t == ValueType::FLOAT32) out.put(float(x));
  else out.put(x);
}

void put_array(Sink& out, const Value& v) {
  out.put(uint32_t(v.elem_type));
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          out.put<uint64_t>(x.size());
          for (int64_t i : x) put_int(out, v.elem_type, i);
        } else if constexpr (std::is_same_v<T, std::vector<double>>) {
          out.put<uint64_t>(x.size());
          for (double d : x) put_float(out, v.elem_type, d);
        } else if constexpr (std::is_same_v<T, std::vector<bool>>) {
          out.put<uint64_t>(x.size());
          for (bool b : x) out.put(uint8_t(b));
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          out.put<uint64_t>(x.size());
          for (const std::string& s : x) out.string(s);
        }
      },
      v.v);
}

void put_value(Sink& out, const Value& v) {
  out.put(uint32_t(v.type));
  if (v.type == ValueType::ARRAY) return put_array(out, v);
  if (auto* i = std::get_if<int64_t>(&v.v)) return put_int(out, v.type, *i);
  if (auto* u = std::get_if<uint64_t>(&v.v)) return put_int(out, v.type, int64_t(*u));
  if (auto* d = std::get_if<double>(&v.v)) return put_float(out, v.type, *d);
  if (auto* b = std::get_if<bool>(&v.v)) return out.put(uint8_t(*b));
  out.string(std::get<std::string>(v.v));
}

}  // namespace

void Writer::set(std::string key, Value value) {
  check_value(key, value);
  if (key == "general.alignment") {
    std::optional<int64_t> a = integer_value(value);
    DB_CHECK(a && *a > 0 && is_power_of_two(uint64_t(*a)),
             "[gguf] writer: general.alignment must be a nonzero power of two, got {}", value.to_string());
    alignment_ = uint64_t(*a);
  }
  for (KeyValue& kv : kv_) {
    if (kv.key == key) {
      kv.value = std::move(value);
      return;
    }
  }
  kv_.push_back({std::move(key), std::move(value)});
}

void Writer::add_tensor(const Tensor& desc, FillFn fill) {
  DB_CHECK(!desc.name.empty(), "[gguf] writer: tensor name is empty");
  DB_CHECK(fill != nullptr, "[gguf] writer: tensor '{}' has no data source", desc.name);
  for (const Pending& p : tensors_)
    DB_CHECK(p.desc.name != desc.name, "[gguf] writer: duplicate tensor name '{}'", desc.name);
  Tensor t;
  try {
    t = make_tensor(desc.name, desc.dtype, desc.ne);  // validates dtype, shape and block size
  } catch (const Error& e) {
    fail("[gguf] writer: tensor '{}': {}", desc.name, e.what());
  }
  tensors_.push_back({std::move(t), std::move(fill)});
}

void Writer::add_tensor(const Tensor& desc, const void* data) {
  DB_CHECK(data != nullptr, "[gguf] writer: tensor '{}' has null data", desc.name);
  add_tensor(desc, [data](void* dst, size_t n) { std::memcpy(dst, data, n); });
}

void Writer::write(const std::string& path) const {
  DB_CHECK(is_power_of_two(alignment_), "[gguf] {}: invalid alignment {} (must be a nonzero power of two)",
           path, alignment_);
  DB_CHECK(alignment_ <= UINT32_MAX, "[gguf] {}: alignment {} does not fit in u32", path, alignment_);
  // general.alignment mirrors alignment_, and like llama.cpp it is only written when not the default.
  const Value alignment_value = Value::u32(uint32_t(alignment_));
  const bool write_alignment = alignment_ != kDefaultAlignment;
  std::vector<std::pair<std::string_view, const Value*>> kvs;
  bool alignment_listed = false;
  for (const KeyValue& kv : kv_) {
    if (kv.key != "general.alignment") kvs.emplace_back(kv.key, &kv.value);
    else if (write_alignment) kvs.emplace_back(kv.key, &alignment_value);
    alignment_listed |= kv.key == "general.alignment";
  }
  if (write_alignment && !alignment_listed) kvs.emplace_back("general.alignment", &alignment_value);

  const std::string tmp = path + ".tmp";
  try {
    Sink out(tmp, path);
    out.put(kMagic);
    out.put(kWriteVersion);
    out.put<uint64_t>(tensors_.size());
    out.put<uint64_t>(kvs.size());
    for (const auto& [key, value] : kvs) {
      out.string(key);
      put_value(out, *value);
    }
    uint64_t offset = 0;
    for (const Pending& p : tensors_) {
      out.string(p.desc.name);
      const int n_dims = p.desc.n_dims();
      out.put(uint32_t(n_dims));
      for (int d = 0; d < n_dims; ++d) out.put(uint64_t(p.desc.ne[d]));
      out.put(uint32_t(p.desc.dtype));
      out.put(offset);
      offset = align_up(offset + p.desc.nbytes(), alignment_);
    }
    // Like gguf-py, a file without tensors has no data section and so no padding before it.
    if (!tensors_.empty()) out.pad_to(alignment_);
    std::vector<uint8_t> buffer;
    for (const Pending& p : tensors_) {
      buffer.resize(p.desc.nbytes());
      p.fill(buffer.data(), buffer.size());
      out.bytes(buffer.data(), buffer.size());
      out.pad_to(alignment_);
    }
    out.close();
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) fail("[gguf] {}: cannot rename {} into place: {}", path, tmp, ec.message());
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw;
  }
}

}  // namespace db::gguf
