// GGUF reader. The whole file is mapped read-only and parsed in one pass; every count, length and
// offset is checked against the bytes that remain before anything is allocated or read, so a
// corrupt or hostile file yields a one-line db::Error instead of a crash or a huge allocation.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <numeric>
#include <unordered_set>

#include "drawbridge/error.h"
#include "formats/gguf_internal.h"

static_assert(std::endian::native == std::endian::little, "GGUF parsing assumes a little-endian host");

namespace db::gguf {

using namespace detail;

namespace {

// Smallest possible encodings, used to reject absurd counts up front.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;          // key length, value type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;  // name length, n_dims, type, offset

struct PendingTensor {
  std::string name;
  const DTypeInfo* dtype;
  std::array<int64_t, kMaxDims> ne;
  uint64_t offset;
  uint64_t nbytes = 0;
};

}  // namespace

// Friend of File: fills it in while walking the bytes.
struct Parser {
  File& file;
  const uint8_t* base;
  uint64_t size;
  uint64_t pos = 0;
  std::string context = "header";  // what is being read, for error messages

  Parser(File& f, const void* data) : file(f), base(static_cast<const uint8_t*>(data)), size(f.size_) {}

  template <typename... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) const {
    db::fail("[gguf] {}: {}", file.path_, fmt::format(f, std::forward<Args>(args)...));
  }

  uint64_t remaining() const { return size - pos; }

  void need(uint64_t n, std::string_view what) const {
    if (n > remaining())
      fail("truncated at offset {} reading {} of {}: needs {} bytes, {} left (file size {})", pos,
           what, context, n, remaining(), size);
  }

  template <typename T>
  T read(std::string_view what) {
    need(sizeof(T), what);
    T x;
    std::memcpy(&x, base + pos, sizeof(T));
    pos += sizeof(T);
    return x;
  }

  std::string read_string(std::string_view what) {
    uint64_t len = read<uint64_t>(what);
    if (len > remaining())
      fail("string length {} of {} at offset {} exceeds the {} bytes left", len, context, pos - 8,
           remaining());
    std::string s(reinterpret_cast<const char*>(base + pos), len);
    pos += len;
    return s;
  }

  void parse() {
    auto [n_tensors, n_kv] = parse_header();
    parse_metadata(n_kv);
    parse_alignment();
    std::vector<PendingTensor> pending = parse_tensor_infos(n_tensors);
    file.data_offset_ = data_section_offset(!pending.empty());
    place_tensors(pending);
  }

  std::pair<uint64_t, uint64_t> parse_header() {
    need(4, "magic");
    if (std::memcmp(base, "GGUF", 4) != 0)
      fail("bad magic '{}' (not a GGUF file)", printable(std::string_view(reinterpret_cast<const char*>(base), 4)));
    pos = 4;
    uint32_t version = read<uint32_t>("version");
    if (version == 1) fail("GGUF v1 is not supported (only v2 and v3); re-convert the model with a current llama.cpp");
    if (version != 2 && version != 3) {
      if ((version & 0xffff) == 0 && __builtin_bswap32(version) <= 3)
        fail("big-endian GGUF (version {}) is not supported", __builtin_bswap32(version));
      fail("unsupported GGUF version {} (only v2 and v3)", version);
    }
    file.version_ = version;
    uint64_t n_tensors = read<uint64_t>("tensor count");
    uint64_t n_kv = read<uint64_t>("metadata count");
    if (n_kv > remaining() / kMinKvBytes)
      fail("n_kv {} is absurd for a file of {} bytes", n_kv, size);
    if (n_tensors > remaining() / kMinTensorInfoBytes)
      fail("n_tensors {} is absurd for a file of {} bytes", n_tensors, size);
    return {n_tensors, n_kv};
  }

  static std::string printable(std::string_view s) {
    std::string out;
    for (char c : s) out += (c >= 0x20 && c < 0x7f) ? std::string(1, c) : fmt::format("\\x{:02x}", uint8_t(c));
    return out;
  }

  void parse_metadata(uint64_t n_kv) {
    std::unordered_set<std::string> keys;
    file.kv_.reserve(n_kv);
    for (uint64_t i = 0; i < n_kv; ++i) {
      context = fmt::format("metadata entry #{}", i);
      std::string key = read_string("key");
      if (!keys.insert(key).second) fail("duplicate key '{}'", key);
      context = fmt::format("key '{}'", key);
      ValueType type = read_value_type("value type");
      Value value = read_value(type);
      file.kv_.push_back({std::move(key), std::move(value)});
    }
  }

  ValueType read_value_type(std::string_view what) {
    uint32_t raw = read<uint32_t>(what);
    if (raw > kMaxValueType) fail("{} has unknown value type {}", context, raw);
    return ValueType(raw);
  }

  Value read_value(ValueType t) {
    Value v;
    v.type = t;
    switch (t) {
      case ValueType::STRING: v.v = read_string("string"); break;
      case ValueType::ARRAY: read_array(v); break;
      case ValueType::UINT64: v.v = read<uint64_t>("u64"); break;
      case ValueType::FLOAT32: v.v = double(read<float>("f32")); break;
      case ValueType::FLOAT64: v.v = read<double>("f64"); break;
      case ValueType::BOOL: v.v = read_bool(); break;
      default: v.v = read_int(t); break;
    }
    return v;
  }

  // Any integer type widened to int64; a u64 keeps its bit pattern (Value holds int arrays as int64).
  int64_t read_int(ValueType t) {
    switch (t) {
      case ValueType::UINT8: return read<uint8_t>("u8");
      case ValueType::INT8: return read<int8_t>("i8");
      case ValueType::UINT16: return read<uint16_t>("u16");
      case ValueType::INT16: return read<int16_t>("i16");
      case ValueType::UINT32: return read<uint32_t>("u32");
      case ValueType::INT32: return read<int32_t>("i32");
      case ValueType::UINT64: return int64_t(read<uint64_t>("u64"));
      case ValueType::INT64: return read<int64_t>("i64");
      default: fail("internal: {} is not an integer type", value_type_name(t));
    }
  }

  bool read_bool() {
    uint8_t b = read<uint8_t>("bool");
    if (b > 1) fail("{} has invalid bool value {}", context, b);
    return b == 1;
  }

  void read_array(Value& v) {
    ValueType elem = read_value_type("array element type");
    if (elem == ValueType::ARRAY) fail("{} is a nested array (arrays of arrays are not supported)", context);
    uint64_t count = read<uint64_t>("array count");
    uint64_t min_size = min_encoded_size(elem);
    if (count > remaining() / min_size)
      fail("array count {} of {} ({}) needs at least {} bytes per element but only {} bytes are left",
           count, context, value_type_name(elem), min_size, remaining());
    v.elem_type = elem;
    if (elem == ValueType::STRING) v.v = read_elements<std::string>(count, [&] { return read_string("string"); });
    else if (elem == ValueType::BOOL) v.v = read_elements<bool>(count, [&] { return read_bool(); });
    else if (elem == ValueType::FLOAT32) v.v = read_elements<double>(count, [&] { return double(read<float>("f32")); });
    else if (elem == ValueType::FLOAT64) v.v = read_elements<double>(count, [&] { return read<double>("f64"); });
    else v.v = read_elements<int64_t>(count, [&] { return read_int(elem); });
  }

  template <typename T, typename ReadOne>
  std::vector<T> read_elements(uint64_t count, ReadOne&& read_one) {
    std::vector<T> out;
    out.reserve(count);  // bounded by the remaining bytes, checked by the caller
    for (uint64_t i = 0; i < count; ++i) out.push_back(read_one());
    return out;
  }

  void parse_alignment() {
    context = "key 'general.alignment'";
    const Value* v = file.find("general.alignment");
    if (!v) return;
    if (!is_integer(v->type))
      fail("general.alignment has type {}, expected an integer", value_type_name(v->type));
    std::optional<int64_t> a = integer_value(*v);
    if (!a || *a <= 0 || !is_power_of_two(uint64_t(*a)))
      fail("invalid alignment {} (general.alignment must be a nonzero power of two)", v->to_string());
    file.alignment_ = uint64_t(*a);
  }

  std::vector<PendingTensor> parse_tensor_infos(uint64_t n_tensors) {
    std::vector<PendingTensor> out;
    out.reserve(n_tensors);  // bounded by header check against the file size
    std::unordered_set<std::string> names;
    for (uint64_t i = 0; i < n_tensors; ++i) {
      context = fmt::format("tensor info #{}", i);
      std::string name = read_string("name");
      if (!names.insert(name).second) fail("duplicate tensor name '{}'", name);
      context = fmt::format("tensor '{}'", name);
      out.push_back(parse_tensor_info(std::move(name)));
    }
    return out;
  }

  PendingTensor parse_tensor_info(std::string name) {
    uint32_t n_dims = read<uint32_t>("n_dims");
    if (n_dims > kMaxDims) fail("tensor '{}' has n_dims {} (at most {} supported)", name, n_dims, kMaxDims);
    std::array<int64_t, kMaxDims> ne{1, 1, 1, 1};
    int64_t nelements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t raw = read<uint64_t>("dimension");
      if (raw == 0 || raw > uint64_t(INT64_MAX))
        fail("tensor '{}' has invalid dimension ne[{}] = {}", name, d, int64_t(raw));
      ne[d] = int64_t(raw);
      if (__builtin_mul_overflow(nelements, ne[d], &nelements))
        fail("tensor '{}': element count of shape {} overflows int64", name, shape_str(ne, n_dims));
    }
    uint32_t type_id = read<uint32_t>("type");
    const DTypeInfo* dtype = find_dtype(type_id);
    if (!dtype) fail("tensor '{}' has unknown type id {}", name, type_id);
    if (ne[0] % dtype->block_size != 0)
      fail("tensor '{}' ({}): ne[0] = {} is not a multiple of the block size {}", name, dtype->name,
           ne[0], dtype->block_size);
    uint64_t offset = read<uint64_t>("offset");
    return {std::move(name), dtype, ne, offset};
  }

  static std::string shape_str(const std::array<int64_t, kMaxDims>& ne, uint32_t n_dims) {
    std::string s = "[";
    for (uint32_t d = 0; d < n_dims; ++d) s += fmt::format("{}{}", d ? ", " : "", ne[d]);
    return s + "]";
  }

  // Start of the data section: the end of the tensor infos rounded up to the alignment. A file
  // without tensors may end right after its metadata, so it is only checked when tensors need it.
  uint64_t data_section_offset(bool has_tensors) const {
    uint64_t a = file.alignment_;
    uint64_t rem = pos % a;
    uint64_t offset = pos;
    if (rem != 0 && __builtin_add_overflow(pos, a - rem, &offset))
      fail("alignment {} puts the data section past the end of the file", a);
    if (has_tensors && offset > size)
      fail("data section at offset {} starts past end of file (size {})", offset, size);
    return offset;
  }

  void place_tensors(std::vector<PendingTensor>& pending) {
    for (PendingTensor& p : pending) check_extent(p);
    check_overlaps(pending);
    file.tensors_.reserve(pending.size());
    for (PendingTensor& p : pending) {
      TensorInfo info;
      try {
        info.tensor = make_tensor(p.name, p.dtype->id, p.ne);
      } catch (const Error& e) {
        fail("tensor '{}': {}", p.name, e.what());
      }
      info.tensor.data = const_cast<uint8_t*>(base + file.data_offset_ + p.offset);
      info.offset = p.offset;
      file.tensors_.push_back(std::move(info));
    }
  }

  // Byte size with overflow checks (the shape is attacker-controlled), then the range in the file.
  void check_extent(PendingTensor& p) const {
    if (p.offset % file.alignment_ != 0)
      fail("tensor '{}': offset {} is not aligned to {}", p.name, p.offset, file.alignment_);
    uint64_t row = 0, nbytes = 0, begin = 0, end = 0;
    uint64_t rows = uint64_t(p.ne[1]) * uint64_t(p.ne[2]) * uint64_t(p.ne[3]);  // < nelements, fits
    if (__builtin_mul_overflow(uint64_t(p.ne[0] / p.dtype->block_size), p.dtype->block_bytes, &row) ||
        __builtin_mul_overflow(row, rows, &nbytes) ||
        __builtin_add_overflow(file.data_offset_, p.offset, &begin) ||
        __builtin_add_overflow(begin, nbytes, &end) || end > size)
      fail("tensor '{}': data at offset {} ({} bytes) extends past end of file (size {})", p.name,
           p.offset, nbytes, size);
    p.nbytes = nbytes;
  }

  void check_overlaps(const std::vector<PendingTensor>& pending) const {
    std::vector<size_t> order(pending.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return pending[a].offset < pending[b].offset; });
    for (size_t i = 1; i < order.size(); ++i) {
      const PendingTensor& prev = pending[order[i - 1]];
      const PendingTensor& cur = pending[order[i]];
      if (prev.offset + prev.nbytes > cur.offset)  // no overflow: both ends checked against size
        fail("tensors '{}' and '{}' overlap (offsets {} and {}, first is {} bytes)", prev.name,
             cur.name, prev.offset, cur.offset, prev.nbytes);
    }
  }
};

std::unique_ptr<File> File::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("[gguf] {}: cannot open: {}", path, std::strerror(errno));
  struct stat st{};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("[gguf] {}: not a regular file", path);
  }
  std::unique_ptr<File> file(new File());
  file->path_ = path;
  file->size_ = uint64_t(st.st_size);
  if (file->size_ > 0) {  // mmap rejects length 0; an empty file fails parsing as truncated
    void* map = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    ::close(fd);
    if (map == MAP_FAILED) fail("[gguf] {}: mmap failed: {}", path, std::strerror(err));
    file->map_ = map;
    file->owns_map_ = true;
  } else {
    ::close(fd);
  }
  Parser(*file, file->map_).parse();  // on throw, ~File unmaps
  return file;
}

std::unique_ptr<File> File::open_memory(const void* data, size_t size, std::string name) {
  std::unique_ptr<File> file(new File());
  file->path_ = std::move(name);
  file->size_ = size;
  file->map_ = const_cast<void*>(data);
  Parser(*file, data).parse();
  return file;
}

File::~File() {
  if (owns_map_ && map_) ::munmap(map_, size_);
}

const Value* File::find(std::string_view key) const {
  for (const KeyValue& kv : kv_)
    if (kv.key == key) return &kv.value;
  return nullptr;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  for (const TensorInfo& t : tensors_)
    if (t.tensor.name == name) return &t;
  return nullptr;
}

namespace {

std::string type_desc(const Value& v) {
  if (v.type != ValueType::ARRAY) return std::string(value_type_name(v.type));
  return fmt::format("array of {}", value_type_name(v.elem_type));
}

[[noreturn]] void wrong_type(const std::string& path, std::string_view key, const Value& v,
                             std::string_view expected) {
  fail("[gguf] {}: key '{}' is {}, expected {}", path, key, type_desc(v), expected);
}

}  // namespace

std::optional<int64_t> File::get_int(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (!is_integer(v->type)) wrong_type(path_, key, *v, "an integer");
  std::optional<int64_t> i = integer_value(*v);
  if (!i) fail("[gguf] {}: key '{}' value {} does not fit in int64", path_, key, v->to_string());
  return i;
}

std::optional<double> File::get_float(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (is_float(v->type)) return std::get<double>(v->v);
  if (!is_integer(v->type)) wrong_type(path_, key, *v, "a number");
  if (auto* u = std::get_if<uint64_t>(&v->v)) return double(*u);
  return double(std::get<int64_t>(v->v));
}

std::optional<bool> File::get_bool(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != ValueType::BOOL) wrong_type(path_, key, *v, "bool");
  return std::get<bool>(v->v);
}

std::optional<std::string> File::get_string(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != ValueType::STRING) wrong_type(path_, key, *v, "string");
  return std::get<std::string>(v->v);
}

const std::vector<std::string>* File::get_string_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return nullptr;
  if (v->type != ValueType::ARRAY || v->elem_type != ValueType::STRING)
    wrong_type(path_, key, *v, "array of string");
  return &std::get<std::vector<std::string>>(v->v);
}

const std::vector<int64_t>* File::get_int_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return nullptr;
  if (v->type != ValueType::ARRAY || !is_integer(v->elem_type))
    wrong_type(path_, key, *v, "array of integers");
  return &std::get<std::vector<int64_t>>(v->v);
}

const std::vector<double>* File::get_float_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return nullptr;
  if (v->type != ValueType::ARRAY || !is_float(v->elem_type))
    wrong_type(path_, key, *v, "array of floats");
  return &std::get<std::vector<double>>(v->v);
}

}  // namespace db::gguf
