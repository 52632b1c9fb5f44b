// GGUF v2/v3 reader (memory-mapped, validated against the file size before anything is trusted)
// and writer (streams tensor data, so files larger than memory can be written).
// Spec: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "drawbridge/tensor.h"

namespace db::gguf {

enum class ValueType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6,
  BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
std::string_view value_type_name(ValueType t);

// One metadata value. Scalars keep their GGUF type; arrays keep their element type and hold their
// elements widened (all integers as int64, all floats as double, strings as std::string); u64
// array elements keep their bit pattern in the int64.
struct Value {
  ValueType type = ValueType::UINT32;
  ValueType elem_type = ValueType::UINT32;  // only for ARRAY
  std::variant<int64_t, uint64_t, double, bool, std::string,
               std::vector<int64_t>, std::vector<double>, std::vector<std::string>,
               std::vector<bool>>
      v;

  static Value u32(uint32_t x);
  static Value i32(int32_t x);
  static Value u64(uint64_t x);
  static Value f32(float x);
  static Value boolean(bool x);
  static Value str(std::string x);
  static Value str_array(std::vector<std::string> x);
  static Value i32_array(std::vector<int64_t> x);
  static Value f32_array(std::vector<double> x);

  std::string to_string(size_t max_array_items = 8) const;  // for `drawbridge info`
};

struct KeyValue {
  std::string key;
  Value value;
};

struct TensorInfo {
  Tensor tensor;        // name, dtype, shape, contiguous strides; data points into the mapping
  uint64_t offset = 0;  // relative to the start of the data section
};

class File {
 public:
  // Maps and parses `path`. Throws db::Error("[gguf] <path>: <what is wrong>") for anything
  // malformed: bad magic or version, truncation, absurd counts or sizes, unknown types,
  // duplicate names, offsets/sizes outside the file, misalignment, > 4 dims, overflowing shapes.
  static std::unique_ptr<File> open(const std::string& path);
  // Parses a GGUF image already in memory (fuzzing, embedded files). `data` is not copied: it must
  // outlive the File, and tensor data points into it. `name` stands in for the path in errors.
  static std::unique_ptr<File> open_memory(const void* data, size_t size, std::string name);
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t file_size() const { return size_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }

  const std::vector<KeyValue>& metadata() const { return kv_; }
  const Value* find(std::string_view key) const;
  // Typed getters: nullopt when the key is absent; db::Error naming key and types when the
  // value has the wrong type. Integer getters accept any integer type that fits.
  std::optional<int64_t> get_int(std::string_view key) const;
  std::optional<double> get_float(std::string_view key) const;  // any float or integer type
  std::optional<bool> get_bool(std::string_view key) const;
  std::optional<std::string> get_string(std::string_view key) const;
  const std::vector<std::string>* get_string_array(std::string_view key) const;
  const std::vector<int64_t>* get_int_array(std::string_view key) const;
  const std::vector<double>* get_float_array(std::string_view key) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;

 private:
  File() = default;
  std::string path_;
  uint32_t version_ = 0;
  uint64_t size_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  void* map_ = nullptr;
  bool owns_map_ = false;  // false for open_memory(): the caller owns the bytes
  std::vector<KeyValue> kv_;
  std::vector<TensorInfo> tensors_;
  friend struct Parser;
};

// Writes a GGUF v3 file. Tensor data is produced on demand by a callback when write() reaches
// that tensor, so a multi-gigabyte model never has to sit in memory at once.
class Writer {
 public:
  using FillFn = std::function<void(void* dst, size_t nbytes)>;

  void set(std::string key, Value value);  // replaces an existing key, keeps first position
  void add_tensor(const Tensor& desc, FillFn fill);  // desc.name/dtype/ne; data ignored
  void add_tensor(const Tensor& desc, const void* data);  // data must outlive write()
  void set_alignment(uint64_t a) { alignment_ = a; }
  // Writes to `path` (through a temporary file renamed at the end, so a failure never leaves a
  // half-written file under the final name).
  void write(const std::string& path) const;

 private:
  struct Pending {
    Tensor desc;
    FillFn fill;
  };
  uint64_t alignment_ = 32;
  std::vector<KeyValue> kv_;
  std::vector<Pending> tensors_;
};

}  // namespace db::gguf
