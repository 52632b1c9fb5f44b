// CPU kernels of the further block formats (Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K..Q6_K): matmul against
// a double-precision reference across thread counts, embedding lookups, the reference dot
// products against values from ggml's generic kernels, and the dispatched kernels against the
// reference ones.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/vec_dot.h"
#include "drawbridge/graph.h"
#include "quant_test_vector.h"

namespace db {
namespace {

// ---- helpers (as in test_cpu_ops.cpp) -------------------------------------------------------
struct Buf {
  Tensor t;
  std::vector<char> bytes;
};

// A tensor of `dtype` from N(0, 1) values; `values` receives what it holds after rounding.
Buf random_tensor(const std::string& name, DType dtype, std::array<int64_t, 4> ne, std::mt19937& rng,
                  std::vector<float>* values) {
  Buf b;
  b.t = make_tensor(name, dtype, ne);
  b.bytes.resize(b.t.nbytes());
  b.t.data = b.bytes.data();
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(size_t(b.t.nelements()));
  for (auto& x : v) x = dist(rng);
  const auto& info = dtype_info(dtype);
  info.from_float(v.data(), b.t.data, b.t.nelements());
  values->resize(v.size());
  info.to_float(b.t.data, values->data(), b.t.nelements());
  return b;
}

std::vector<float> result(const Graph& g, int id) {
  const Tensor& t = g.node(id).out;
  const float* p = t.as<float>();
  return std::vector<float>(p, p + t.nelements());
}

const DType kQuantTypes[] = {DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::IQ4_NL, DType::Q2_K,
                             DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K};

// ---- matmul, per weight dtype ---------------------------------------------------------------
struct MatMulCase {
  DType dtype;
  double tol;  // relative to sqrt(K): activations are rounded to the dot type (q8_0/q8_1/q8_K)
};

using Shape = std::array<int64_t, 3>;  // K, N, M
class CpuMatMulQuants : public ::testing::TestWithParam<std::tuple<MatMulCase, int, Shape>> {};

TEST_P(CpuMatMulQuants, MatchesReference) {
  const auto [mc, nth, shape] = GetParam();
  const auto [K, N, M] = shape;
  std::mt19937 rng(7);
  std::vector<float> wv, xv;
  Buf w = random_tensor("w", mc.dtype, {K, N, 1, 1}, rng, &wv);
  Buf x = random_tensor("x", DType::F32, {K, M, 1, 1}, rng, &xv);
  Graph g;
  const int y = g.add(Op::MatMul, make_tensor("y", DType::F32, {N, M, 1, 1}), {g.leaf(w.t), g.leaf(x.t), -1});
  g.set_output(y);
  cpu::CpuBackend backend(nth);
  backend.compute(g);
  const std::vector<float> got = result(g, y);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double want = 0;
      for (int64_t k = 0; k < K; ++k) want += double(wv[size_t(n * K + k)]) * xv[size_t(m * K + k)];
      ASSERT_NEAR(got[size_t(m * N + n)], want, mc.tol * std::sqrt(double(K)))
          << dtype_name(mc.dtype) << " row " << n << " column " << m;
    }
}

std::string matmul_name(const ::testing::TestParamInfo<std::tuple<MatMulCase, int, Shape>>& p) {
  const auto& s = std::get<2>(p.param);
  return std::string(dtype_name(std::get<0>(p.param).dtype)) + "_t" + std::to_string(std::get<1>(p.param)) + "_" +
         std::to_string(s[0]) + "x" + std::to_string(s[1]) + "x" + std::to_string(s[2]);
}

INSTANTIATE_TEST_SUITE_P(
    Blocks32, CpuMatMulQuants,
    ::testing::Combine(::testing::Values(MatMulCase{DType::Q4_1, 2e-2}, MatMulCase{DType::Q5_0, 2e-2},
                                         MatMulCase{DType::Q5_1, 2e-2}, MatMulCase{DType::IQ4_NL, 2e-2}),
                       ::testing::Values(1, 2, 3, 4),
                       ::testing::Values(Shape{32, 1, 1}, Shape{96, 33, 5}, Shape{256, 17, 1})),
    matmul_name);

// Q8_K activations have one scale per 256 elements (a coarser step than q8_0's per 32), hence
// the larger tolerance of the K-quants.
INSTANTIATE_TEST_SUITE_P(
    KQuants, CpuMatMulQuants,
    ::testing::Combine(::testing::Values(MatMulCase{DType::Q2_K, 3e-2}, MatMulCase{DType::Q3_K, 3e-2},
                                         MatMulCase{DType::Q4_K, 3e-2}, MatMulCase{DType::Q5_K, 3e-2},
                                         MatMulCase{DType::Q6_K, 3e-2}),
                       ::testing::Values(1, 2, 3, 4),
                       ::testing::Values(Shape{256, 17, 1}, Shape{512, 7, 3}, Shape{768, 33, 5}, Shape{512, 64, 6})),
    matmul_name);

// ---- embedding lookup ---------------------------------------------------------------------------
TEST(CpuQuants, EmbedDequantizesRows) {
  std::mt19937 rng(5);
  for (DType dt : kQuantTypes) {
    std::vector<float> tv;
    Buf table = random_tensor("table", dt, {256, 10, 1, 1}, rng, &tv);
    std::vector<int32_t> ids{3, 9, 0, 3};
    Tensor it = make_tensor("ids", DType::I32, {4, 1, 1, 1});
    it.data = ids.data();
    Graph g;
    const int y = g.add(Op::Embed, make_tensor("y", DType::F32, {256, 4, 1, 1}), {g.leaf(table.t), g.leaf(it), -1});
    g.set_output(y);
    cpu::CpuBackend backend(2);
    backend.compute(g);
    const std::vector<float> got = result(g, y);
    for (size_t r = 0; r < ids.size(); ++r)
      for (int i = 0; i < 256; ++i)
        ASSERT_EQ(got[r * 256 + size_t(i)], tv[size_t(ids[r] * 256 + i)]) << dtype_name(dt);
  }
}

// ---- reference dot products against ggml --------------------------------------------------------
// Values printed by the same program as the hashes in tests/core/test_quant_k.cpp: the weight is
// quant_test_vector() quantized by ggml, the activation quant_test_activations() quantized by
// ggml's quantize_row_{q8_0,q8_1,q8_K}_ref, the dot by ggml_vec_dot_<type>_<dot type>_generic
// (ggml-cpu, built -march=native, where the compiler may fuse multiply-adds: hence a tolerance of
// a few ulp instead of bit equality).
struct GgmlDot {
  DType type;
  float value;
};

class RefDotMatchesGgml : public ::testing::TestWithParam<GgmlDot> {};

TEST_P(RefDotMatchesGgml, GenericKernelValue) {
  const auto [type, want] = GetParam();
  const cpu::DotTraits* tr = cpu::dot_traits_generic(type);
  ASSERT_NE(tr, nullptr);
  const std::vector<float> x = test::quant_test_vector(), y = test::quant_test_activations();
  std::vector<uint8_t> wq(row_bytes(type, test::kQuantN)), yq(row_bytes(tr->dot_type, test::kQuantN));
  dtype_info(type).from_float(x.data(), wq.data(), test::kQuantN);
  tr->from_float(y.data(), yq.data(), test::kQuantN);
  EXPECT_NEAR(tr->vec_dot(test::kQuantN, wq.data(), yq.data()), want, std::fabs(want) * 1e-6f);
}

INSTANTIATE_TEST_SUITE_P(Ggml, RefDotMatchesGgml,
                         ::testing::Values(GgmlDot{DType::Q4_1, 70.266449f}, GgmlDot{DType::Q5_0, 87.6258392f},
                                           GgmlDot{DType::Q5_1, 84.233223f}, GgmlDot{DType::Q2_K, 91.3904724f},
                                           GgmlDot{DType::Q3_K, 82.5688095f}, GgmlDot{DType::Q4_K, 75.3182983f},
                                           GgmlDot{DType::Q5_K, 86.7151337f}, GgmlDot{DType::Q6_K, 85.9602661f},
                                           GgmlDot{DType::IQ4_NL, 84.4810867f}),
                         [](const auto& p) { return std::string(dtype_name(p.param.type)); });

// ---- dispatched kernels against the reference ---------------------------------------------------
// Whatever kernel dispatch picks for this CPU (SIMD when present) agrees with the reference on
// rows of several lengths; the reference's own accuracy is checked above.
TEST(CpuQuants, DispatchedKernelsMatchReference) {
  std::mt19937 rng(11);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (DType t : kQuantTypes) {
    const cpu::DotTraits* ref = cpu::dot_traits_ref(t);
    const cpu::DotTraits* fast = cpu::dot_traits(t);
    ASSERT_NE(fast, nullptr) << dtype_name(t);
    ASSERT_EQ(fast->dot_type, ref->dot_type) << dtype_name(t);
    for (int64_t n : {256, 512, 2048, 4096}) {
      std::vector<float> x(static_cast<size_t>(n)), y(static_cast<size_t>(n));
      for (auto& v : x) v = dist(rng);
      for (auto& v : y) v = dist(rng);
      std::vector<uint8_t> wq(row_bytes(t, n)), yq(row_bytes(ref->dot_type, n));
      dtype_info(t).from_float(x.data(), wq.data(), n);
      ref->from_float(y.data(), yq.data(), n);
      const float want = ref->vec_dot(n, wq.data(), yq.data());
      EXPECT_NEAR(fast->vec_dot(n, wq.data(), yq.data()), want, 1e-5f * (1.0f + std::fabs(want)) * std::sqrt(float(n)))
          << dtype_name(t) << " n=" << n;
    }
  }
}

}  // namespace
}  // namespace db
