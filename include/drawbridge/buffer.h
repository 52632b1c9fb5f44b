// Device memory. A Buffer is a block of memory of one kind (host RAM, a read-only file mapping,
// or accelerator memory) with a guaranteed alignment; devices hand them out for weights, KV caches
// and activations so that placement decides where bytes live.
#pragma once
#include <cstddef>
#include <memory>
#include <string_view>

namespace db {

enum class MemoryKind { Host, Mapped, Device };
std::string_view memory_kind_name(MemoryKind k);

class Buffer {
 public:
  // Zero-initialized host memory aligned to `alignment` (a power of two, at least 16).
  static std::unique_ptr<Buffer> host(size_t bytes, size_t alignment = 64);
  virtual ~Buffer() = default;
  virtual void* data() const = 0;
  virtual size_t size() const = 0;
  virtual MemoryKind kind() const = 0;
};

}  // namespace db
