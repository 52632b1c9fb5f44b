// The further block formats (Q4_1, Q5_0, Q5_1, Q8_1, IQ4_NL, Q2_K..Q6_K, Q8_K): bytes identical
// to ggml's, round-trip error within each format's resolution, and hand-checked edge blocks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/quant_k.h"
#include "drawbridge/dtype.h"
#include "quant_test_vector.h"

namespace db {
namespace {

using test::fnv1a;
using test::kQuantN;
using test::quant_test_vector;

TEST(QuantK, TestVectorIsTheOneGgmlSaw) {
  const std::vector<float> x = quant_test_vector();
  EXPECT_EQ(fnv1a(x.data(), x.size() * 4), 0x100acfb58e5b2affull);
}

// Expected hashes were produced by a small C program outside the repository, linked against
// llama.cpp's libggml (commit de3ff815, ggml 0.25.1): it quantizes quant_test_vector() with
// ggml_quantize_chunk(type, x, dst, 0, 4, 1024, NULL) (llama-quantize's path without an
// imatrix; quantize_row_q8_1_ref / quantize_row_q8_K_ref for the activation formats), prints
// FNV-1a 64 of the bytes, and of the floats ggml's dequantize_row_* returns for those bytes.
struct GgmlHashes {
  DType type;
  uint64_t quant;
  uint64_t dequant;  // 0: ggml has no dequantizer (Q8_1)
};

class QuantMatchesGgml : public ::testing::TestWithParam<GgmlHashes> {};

TEST_P(QuantMatchesGgml, BytesAndFloats) {
  const GgmlHashes& h = GetParam();
  const DTypeInfo& info = dtype_info(h.type);
  const std::vector<float> x = quant_test_vector();
  std::vector<uint8_t> q(row_bytes(h.type, kQuantN));
  info.from_float(x.data(), q.data(), kQuantN);
  EXPECT_EQ(fnv1a(q.data(), q.size()), h.quant) << std::hex << fnv1a(q.data(), q.size());
  if (h.dequant == 0) return;
  std::vector<float> y(kQuantN);
  info.to_float(q.data(), y.data(), kQuantN);
  EXPECT_EQ(fnv1a(y.data(), y.size() * 4), h.dequant) << std::hex << fnv1a(y.data(), y.size() * 4);
}

INSTANTIATE_TEST_SUITE_P(
    Ggml, QuantMatchesGgml,
    ::testing::Values(GgmlHashes{DType::Q4_0, 0x3a2850fd2f484e6cull, 0x4d9af9411f2a073full},
                      GgmlHashes{DType::Q8_0, 0xf62d61b17a9aaeb7ull, 0x067bc8adad26bfa6ull},
                      GgmlHashes{DType::Q4_1, 0xe6e641c3d4ecfd00ull, 0x2cba3e4bf29c971full},
                      GgmlHashes{DType::Q5_0, 0x6cdf91f42c84c686ull, 0xeb6993be0870fbb5ull},
                      GgmlHashes{DType::Q5_1, 0xaa27bf7f1d6a8214ull, 0xcdcbeab4f1354dfbull},
                      GgmlHashes{DType::Q8_1, 0x340f4b634ae9771cull, 0},
                      GgmlHashes{DType::Q2_K, 0xf29e878f6d4b7a24ull, 0xd1df45215e3ec35eull},
                      GgmlHashes{DType::Q3_K, 0x1384bfe271da0f7bull, 0x82666abc81deecb5ull},
                      GgmlHashes{DType::Q4_K, 0xdc27b16fb55559a8ull, 0x5e2b7e72fa3c3c6full},
                      GgmlHashes{DType::Q5_K, 0xfca987bdf7673536ull, 0x62da0ac376956a68ull},
                      GgmlHashes{DType::Q6_K, 0x143a74ae768a3558ull, 0xbbc68c8c67451719ull},
                      GgmlHashes{DType::Q8_K, 0x883d6273b84e82f1ull, 0x2b360fde2281850eull},
                      GgmlHashes{DType::IQ4_NL, 0x2dada466b07eeea1ull, 0xab2a5dc7aa33403full}),
    [](const auto& p) { return std::string(dtype_name(p.param.type)); });

// Quantize → dequantize on N(0, 1) rows: the RMS error relative to the RMS of the data stays
// under a bound ~15 % above what each format measures (measured: q4_1 .079, q5_0 .043, q5_1 .038,
// q8_1 .0054, iq4_nl .076, q2_K .298, q3_K .151, q4_K .072, q5_K .036, q6_K .018, q8_K .0070).
struct RoundTrip {
  DType type;
  double max_rel_rms;
};

class QuantKRoundTrip : public ::testing::TestWithParam<RoundTrip> {};

TEST_P(QuantKRoundTrip, RelativeRmsError) {
  const auto [type, bound] = GetParam();
  const DTypeInfo& info = dtype_info(type);
  constexpr int64_t n = 256 * 64;
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(n), y(n);
  for (auto& v : x) v = dist(rng);
  std::vector<uint8_t> q(row_bytes(type, n));
  info.from_float(x.data(), q.data(), n);
  info.to_float(q.data(), y.data(), n);
  double err = 0, ref = 0;
  for (int64_t i = 0; i < n; ++i) {
    err += double(y[i] - x[i]) * (y[i] - x[i]);
    ref += double(x[i]) * x[i];
  }
  const double rel = std::sqrt(err / ref);
  EXPECT_LT(rel, bound) << dtype_name(type);
  EXPECT_GT(rel, bound / 4) << dtype_name(type) << ": suspiciously exact; is the bound stale?";
}

INSTANTIATE_TEST_SUITE_P(All, QuantKRoundTrip,
                         ::testing::Values(RoundTrip{DType::Q4_1, 0.090}, RoundTrip{DType::Q5_0, 0.050},
                                           RoundTrip{DType::Q5_1, 0.045}, RoundTrip{DType::Q8_1, 0.0065},
                                           RoundTrip{DType::IQ4_NL, 0.090}, RoundTrip{DType::Q2_K, 0.34},
                                           RoundTrip{DType::Q3_K, 0.17}, RoundTrip{DType::Q4_K, 0.085},
                                           RoundTrip{DType::Q5_K, 0.043}, RoundTrip{DType::Q6_K, 0.021},
                                           RoundTrip{DType::Q8_K, 0.0085}),
                         [](const auto& p) { return std::string(dtype_name(p.param.type)); });

// Every format decodes an all-zero input to exact zeros (no NaN from a zero scale).
TEST(QuantK, ZeroBlocksDecodeToZero) {
  for (DType t : {DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_1, DType::IQ4_NL, DType::Q2_K, DType::Q3_K,
                  DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q8_K}) {
    const DTypeInfo& info = dtype_info(t);
    std::vector<float> x(256, 0.0f), y(256, 1.0f);
    std::vector<uint8_t> q(row_bytes(t, 256));
    info.from_float(x.data(), q.data(), 256);
    info.to_float(q.data(), y.data(), 256);
    for (float v : y) ASSERT_EQ(v, 0.0f) << dtype_name(t);
  }
}

// Q8_K's bsums are the sums of 16 quants each: the K-quant dot products subtract mins with them.
TEST(QuantK, Q8KBlockSums) {
  const std::vector<float> x = quant_test_vector();
  std::vector<BlockQ8_K> q(kQuantN / QK_K);
  quantize_q8_k(x.data(), q.data(), kQuantN);
  for (const BlockQ8_K& b : q)
    for (int j = 0; j < 16; ++j) {
      int s = 0;
      for (int i = 0; i < 16; ++i) s += b.qs[16 * j + i];
      ASSERT_EQ(b.bsums[j], s);
    }
}

// A constant positive block: the asymmetric formats represent it (nearly) exactly, since the
// minimum is clamped to zero and the scale alone carries the value.
TEST(QuantK, ConstantBlockIsExactEnough) {
  std::vector<float> x(256, 0.25f), y(256);
  for (DType t : {DType::Q4_1, DType::Q5_1, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q8_K}) {
    std::vector<uint8_t> q(row_bytes(t, 256));
    dtype_info(t).from_float(x.data(), q.data(), 256);
    dtype_info(t).to_float(q.data(), y.data(), 256);
    for (float v : y) ASSERT_NEAR(v, 0.25f, 0.25f * 2e-3f) << dtype_name(t);
  }
}

// The 12-byte Q3_K scale packing: 16 signed 6-bit values, low nibbles then 2-bit tops.
TEST(QuantK, Q3KScaleUnpacking) {
  uint8_t packed[12] = {};
  for (int j = 0; j < 16; ++j) {
    const int l = (j * 5 + 3) % 64;  // stored value = scale + 32
    if (j < 8) packed[j] |= uint8_t(l & 0xF);
    else packed[j - 8] |= uint8_t((l & 0xF) << 4);
    packed[8 + j % 4] |= uint8_t((l >> 4) << (2 * (j / 4)));
  }
  int8_t sc[16];
  q3_k_scales(packed, sc);
  for (int j = 0; j < 16; ++j) EXPECT_EQ(sc[j], (j * 5 + 3) % 64 - 32) << j;
}

}  // namespace
}  // namespace db
