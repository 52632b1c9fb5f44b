// The fixed pseudo-random vector the block-format tests quantize, and the hash they compare.
// The same generator (xorshift32, four-uniform Gaussian) ran in the C program that produced the
// expected ggml hashes, so both sides see bit-identical floats.
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

namespace db::test {

constexpr int64_t kQuantN = 4096;

struct XorShift32 {
  uint32_t s;
  uint32_t next() {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return s;
  }
  float uniform() { return float(next() >> 8) / 8388608.0f - 1.0f; }  // [-1, 1), exact
  float gauss() {
    float v = uniform();
    v += uniform();
    v += uniform();
    v += uniform();
    return v * 0.8660254f;
  }
};

// 16 super-blocks with the edge cases quantizers trip on: all zero, constant, tiny, one-signed,
// an outlier, a half-zero super-block, and weight-like small values.
inline std::vector<float> quant_test_vector(uint32_t seed = 12345u) {
  XorShift32 r{seed};
  std::vector<float> x(kQuantN);
  for (auto& v : x) v = r.gauss();
  for (int i = 256; i < 512; ++i) x[i] = 0.0f;
  for (int i = 512; i < 768; ++i) x[i] = 0.25f;
  for (int i = 768; i < 1024; ++i) x[i] *= 1e-4f;
  for (int i = 1024; i < 1280; ++i) x[i] = x[i] < 0 ? -x[i] : x[i];
  for (int i = 1280; i < 1536; ++i) x[i] = x[i] > 0 ? -x[i] : x[i];
  x[1600] = 50.0f;
  for (int i = 1792; i < 1920; ++i) x[i] = 0.0f;
  for (int i = 2048; i < kQuantN; ++i) x[i] *= 0.02f;
  return x;
}

// Plain N(0, 1)-like activations for the dot-product checks.
inline std::vector<float> quant_test_activations(uint32_t seed = 777u) {
  XorShift32 r{seed};
  std::vector<float> y(kQuantN);
  for (auto& v : y) v = r.gauss();
  return y;
}

inline uint64_t fnv1a(const void* p, size_t n) {
  auto* b = static_cast<const uint8_t*>(p);
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= b[i];
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace db::test
