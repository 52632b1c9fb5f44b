// libFuzzer entry point for the GGUF reader: any input must parse or throw db::Error, never crash,
// hang or read outside the buffer. Not built by default; by hand:
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined \
//     -fno-sanitize-recover=all -Iinclude -Isrc \
//     tests/fuzz/fuzz_gguf.cpp src/formats/*.cpp src/core/*.cpp -lfmt -o fuzz_gguf
//   mkdir -p /tmp/gguf-corpus  # new inputs go to the first dir; the seeds stay untouched
//   ./fuzz_gguf -max_total_time=30 /tmp/gguf-corpus tests/fuzz/corpus/gguf
#include "drawbridge/error.h"
#include "drawbridge/gguf.h"

namespace {

// Touches everything a caller might: every value's display form and every tensor's first and last
// byte, so the sanitizers see an out-of-range pointer the parser let through.
void exercise(const db::gguf::File& file) {
  for (const auto& kv : file.metadata()) (void)kv.value.to_string();
  volatile uint8_t sink = 0;
  for (const auto& info : file.tensors()) {
    const auto* bytes = static_cast<const uint8_t*>(info.tensor.data);
    sink = sink ^ bytes[0] ^ bytes[info.tensor.nbytes() - 1];
  }
  (void)file.get_string("general.architecture");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // libFuzzer hands over an exact-size heap copy, so reading past the input is an ASan error.
  try {
    auto file = db::gguf::File::open_memory(data, size, "fuzz");
    exercise(*file);
  } catch (const db::Error&) {
    // Rejected cleanly: the expected outcome for almost every input.
  }
  return 0;
}
