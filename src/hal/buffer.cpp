#include "drawbridge/buffer.h"

#include <cstdlib>
#include <cstring>

#include "drawbridge/error.h"

namespace db {

std::string_view memory_kind_name(MemoryKind k) {
  switch (k) {
    case MemoryKind::Host: return "host";
    case MemoryKind::Mapped: return "mapped";
    default: return "device";
  }
}

namespace {

class HostBuffer final : public Buffer {
 public:
  HostBuffer(size_t bytes, size_t alignment) : size_(bytes) {
    DB_CHECK(alignment >= 16 && (alignment & (alignment - 1)) == 0, "[buffer] alignment {} is not a power of two >= 16",
             alignment);
    const size_t rounded = (std::max<size_t>(bytes, 1) + alignment - 1) / alignment * alignment;
    data_ = std::aligned_alloc(alignment, rounded);
    DB_CHECK(data_ != nullptr, "[buffer] cannot allocate {} bytes of host memory", bytes);
    std::memset(data_, 0, rounded);
  }
  ~HostBuffer() override { std::free(data_); }
  void* data() const override { return data_; }
  size_t size() const override { return size_; }
  MemoryKind kind() const override { return MemoryKind::Host; }

 private:
  void* data_ = nullptr;
  size_t size_;
};

}  // namespace

std::unique_ptr<Buffer> Buffer::host(size_t bytes, size_t alignment) {
  return std::make_unique<HostBuffer>(bytes, alignment);
}

}  // namespace db
