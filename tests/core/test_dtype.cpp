#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "drawbridge/dtype.h"
#include "drawbridge/error.h"
#include "drawbridge/tensor.h"

namespace db {
namespace {

TEST(DType, TableGeometryMatchesGgml) {
  EXPECT_EQ(dtype_info(DType::Q4_0).block_bytes, 18u);
  EXPECT_EQ(dtype_info(DType::Q8_0).block_bytes, 34u);
  EXPECT_EQ(dtype_info(DType::Q6_K).block_bytes, 210u);
  EXPECT_EQ(row_bytes(DType::F16, 64), 128u);
  EXPECT_EQ(row_bytes(DType::Q4_0, 64), 36u);
  EXPECT_THROW(row_bytes(DType::Q4_0, 33), Error);
  EXPECT_EQ(find_dtype(99), nullptr);
  EXPECT_EQ(dtype_from_name("Q8_0"), DType::Q8_0);
  EXPECT_EQ(dtype_from_name("q6_k"), DType::Q6_K);
  EXPECT_FALSE(dtype_from_name("q9_9").has_value());
}

TEST(DType, Fp16RoundTripsEveryHalf) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = fp16_to_fp32(uint16_t(h));
    if (std::isnan(f)) continue;
    EXPECT_EQ(fp32_to_fp16(f), h) << h;
  }
  EXPECT_EQ(fp32_to_fp16(1.0f), 0x3C00);
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7C00);  // rounds to infinity
  EXPECT_EQ(fp32_to_fp16(1.0f + 0x1.0p-11f), 0x3C00);  // tie → even
}

TEST(DType, Bf16RoundsToNearestEven) {
  EXPECT_EQ(fp32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(bf16_to_fp32(0x3F80), 1.0f);
  EXPECT_EQ(fp32_to_bf16(1.0f + 0x1.0p-8f), 0x3F80);         // tie → even
  EXPECT_EQ(fp32_to_bf16(1.0f + 0x1.8p-8f), 0x3F81);         // above tie → up
  EXPECT_TRUE(std::isnan(bf16_to_fp32(fp32_to_bf16(NAN))));
}

// Quantize → dequantize error stays within the format's step size.
class QuantRoundTrip : public ::testing::TestWithParam<DType> {};
TEST_P(QuantRoundTrip, ErrorWithinHalfStep) {
  const DTypeInfo& info = dtype_info(GetParam());
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(1024), y(1024);
  for (auto& v : x) v = dist(rng);
  std::vector<uint8_t> q(row_bytes(info.id, 1024));
  info.from_float(x.data(), q.data(), 1024);
  info.to_float(q.data(), y.data(), 1024);
  // Q8_0 is symmetric (half a step of amax/127); Q4_0 maps the extreme to -8, so the opposite
  // extreme clips at +7: up to one full step of amax/8.
  const float levels = info.id == DType::Q8_0 ? 127.0f : info.id == DType::Q4_0 ? 4.0f : 0.0f;
  for (int b = 0; b < 1024; b += 32) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b + j]));
    // Half a quantization step, plus the scale's own fp16 rounding (relative 2^-11) at the extremes.
    const float tol = levels > 0 ? amax / levels * 0.5f + amax * 0x1.0p-10f : amax * 1e-2f;
    for (int j = 0; j < 32; ++j) EXPECT_NEAR(y[b + j], x[b + j], tol + 1e-6f) << b + j;
  }
}
INSTANTIATE_TEST_SUITE_P(All, QuantRoundTrip,
                         ::testing::Values(DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0),
                         [](const auto& p) { return std::string(dtype_name(p.param)); });

TEST(DType, Q4_0KnownBlock) {
  // A block whose largest-magnitude element is -8: d = 1 and values map to nibble v + 8.
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = float(j % 16) - 8.0f;
  BlockQ4_0 b;
  dtype_info(DType::Q4_0).from_float(x.data(), &b, 32);
  EXPECT_EQ(fp16_to_fp32(b.d), 1.0f);
  EXPECT_EQ(b.qs[0], 0x00);
  EXPECT_EQ(b.qs[15], 0xFF);
}

TEST(Tensor, MakeValidatesShape) {
  Tensor t = make_tensor("w", DType::Q8_0, {64, 3, 1, 1});
  EXPECT_EQ(t.nb[1], 68u);
  EXPECT_EQ(t.nbytes(), 204u);
  EXPECT_TRUE(t.is_meta());
  EXPECT_EQ(t.shape_str(), "[64, 3]");
  EXPECT_THROW(make_tensor("w", DType::Q8_0, {63, 1, 1, 1}), Error);
  EXPECT_THROW(make_tensor("w", DType::F32, {0, 1, 1, 1}), Error);
  EXPECT_THROW(make_tensor("w", DType::F32, {1LL << 40, 1LL << 40, 1, 1}), Error);
}

}  // namespace
}  // namespace db
