#include <array>
#include <cstdlib>
#include <new>

#include "backends/cpu/kernels.h"

namespace db::cpu {

namespace {

struct ScratchBuffers {
  std::array<void*, kScratchSlots> data{};
  std::array<size_t, kScratchSlots> size{};
  ScratchBuffers() = default;
  ScratchBuffers(const ScratchBuffers&) = delete;
  ScratchBuffers& operator=(const ScratchBuffers&) = delete;
  ~ScratchBuffers() {
    for (void* p : data) std::free(p);
  }
};

}  // namespace

void* thread_scratch(int slot, size_t bytes) {
  thread_local ScratchBuffers buffers;
  const size_t s = size_t(slot);
  if (bytes > buffers.size[s]) {
    const size_t size = (bytes + 4095) / 4096 * 4096;  // whole pages: fewer regrowths
    void* p = std::aligned_alloc(64, size);
    if (!p) throw std::bad_alloc();
    std::free(buffers.data[s]);
    buffers.data[s] = p;
    buffers.size[s] = size;
  }
  return buffers.data[s];
}

}  // namespace db::cpu
