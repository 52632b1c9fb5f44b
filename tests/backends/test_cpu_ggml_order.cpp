// The numerics contract of vec_dot.h: for f32, f16, q8_0, q4_0 and the further block formats
// (Q2_K..Q6_K, Q4_1, Q5_0, Q5_1, IQ4_NL) every dispatched (SIMD) kernel
// gives exactly the bits of the portable reference, which follows ggml's AVX2 CPU backend. The
// reference itself was checked bit for bit against llama.cpp's ggml (de3ff815) op by op; these
// tests pin the properties that keep it so: the kernel choice per shape, exact agreement of the
// dispatched kernels, ggml's rounding of activations, and the polynomial exp of SiLU.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/ggml_math.h"
#include "backends/cpu/row_kernels.h"
#include "backends/cpu/simd.h"
#include "backends/cpu/vec_dot.h"
#include "drawbridge/graph.h"
#include "quant_test_vector.h"

namespace db {
namespace {

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

constexpr DType kGgmlOrderTypes[] = {DType::F32,  DType::F16,  DType::Q8_0, DType::Q4_0, DType::Q2_K,
                                     DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q4_1,
                                     DType::Q5_0, DType::Q5_1, DType::IQ4_NL};

TEST(GgmlOrder, KernelChoiceFollowsGgmlPerShape) {
  const cpu::DotTraits& f32 = *cpu::dot_traits_ref(DType::F32);
  EXPECT_EQ(cpu::select_vec_dot(f32, 256, 64, 1), f32.vec_dot);        // one row: ggml_vec_dot_f32
  EXPECT_EQ(cpu::select_vec_dot(f32, 256, 64, 2), f32.vec_dot_gemm);   // batched: tinyBLAS
  EXPECT_EQ(cpu::select_vec_dot(f32, 256, 62, 5), f32.vec_dot);        // tinyBLAS needs N % 4 == 0
  EXPECT_EQ(cpu::select_vec_dot(f32, 100, 64, 5), f32.vec_dot);        // ... and K % 8 == 0
  const cpu::DotTraits& q8 = *cpu::dot_traits_ref(DType::Q8_0);
  EXPECT_EQ(cpu::select_vec_dot(q8, 256, 64, 5), q8.vec_dot);          // tinyBLAS_Q0 = vec_dot order
  const cpu::DotTraits& q4 = *cpu::dot_traits_ref(DType::Q4_0);
  EXPECT_EQ(cpu::select_vec_dot(q4, 256, 64, 1), q4.vec_dot_x8);       // repacked 8 rows at a time
  EXPECT_EQ(cpu::select_vec_dot(q4, 256, 60, 5), q4.vec_dot);          // not repackable
  const cpu::DotTraits& q4k = *cpu::dot_traits_ref(DType::Q4_K);
  EXPECT_EQ(cpu::select_vec_dot(q4k, 256, 64, 1), q4k.vec_dot_x8);     // q4_K_8x8 repacked (AVX2)
  EXPECT_EQ(cpu::select_vec_dot(q4k, 256, 60, 5), q4k.vec_dot);
  // ggml's repacked q4_K gemm takes activation rows 4 at a time (its own order), the rest by gemv
  EXPECT_EQ(cpu::select_vec_dot_row(q4k, 256, 64, 7, 3), q4k.vec_dot_x8_gemm);
  EXPECT_EQ(cpu::select_vec_dot_row(q4k, 256, 64, 7, 4), q4k.vec_dot_x8);
  EXPECT_EQ(cpu::select_vec_dot_row(q4k, 256, 64, 3, 0), q4k.vec_dot_x8);
  const cpu::DotTraits& q6k = *cpu::dot_traits_ref(DType::Q6_K);
  EXPECT_EQ(cpu::select_vec_dot(q6k, 256, 64, 5), q6k.vec_dot);        // no AVX2 repack, no tinyBLAS
}

// The block-format kernels give the bits of ggml's AVX2 ggml_vec_dot_<type>_<dot type> on the
// fixed test vectors (values printed by a program calling ggml-cpu's type traits, llama.cpp
// de3ff815, on an AVX2 machine): weights quantized by ggml, activations by ggml-cpu's from_float
// of the dot type (quantize_row_q8_K_ref for q8_K, the AVX2 quantize_row_q8_{0,1}).
struct GgmlAvx2Dot {
  DType type;
  uint32_t bits;  // the float ggml returned
};

class BlockDotMatchesGgmlAvx2 : public ::testing::TestWithParam<GgmlAvx2Dot> {};

TEST_P(BlockDotMatchesGgmlAvx2, SameBits) {
  const auto [type, want] = GetParam();
  const std::vector<float> x = test::quant_test_vector(), y = test::quant_test_activations();
  for (const cpu::DotTraits* tr : {cpu::dot_traits_ref(type), cpu::dot_traits(type)}) {
    std::vector<uint8_t> wq(row_bytes(type, test::kQuantN)), yq(row_bytes(tr->dot_type, test::kQuantN));
    dtype_info(type).from_float(x.data(), wq.data(), test::kQuantN);
    tr->from_float(y.data(), yq.data(), test::kQuantN);
    EXPECT_EQ(bits(tr->vec_dot(test::kQuantN, wq.data(), yq.data())), want) << dtype_name(type);
  }
}

INSTANTIATE_TEST_SUITE_P(Ggml, BlockDotMatchesGgmlAvx2,
                         ::testing::Values(GgmlAvx2Dot{DType::Q2_K, 0x42b6c7eeu}, GgmlAvx2Dot{DType::Q3_K, 0x42a5233cu},
                                           GgmlAvx2Dot{DType::Q4_K, 0x4296a2f8u}, GgmlAvx2Dot{DType::Q5_K, 0x42ad6e26u},
                                           GgmlAvx2Dot{DType::Q6_K, 0x42abeba6u}, GgmlAvx2Dot{DType::Q4_1, 0x428c886fu},
                                           GgmlAvx2Dot{DType::Q5_0, 0x42af406bu}, GgmlAvx2Dot{DType::Q5_1, 0x42a87761u},
                                           GgmlAvx2Dot{DType::IQ4_NL, 0x42a8f650u}),
                         [](const auto& p) { return std::string(dtype_name(p.param.type)); });

// ggml's AVX2 order and its generic order are both accurate dot products of (nearly) the same
// quantized data; they differ only in rounding (and q8_0/q8_1 activations in a last bit).
TEST(GgmlOrder, BlockFormatOrdersAgreeWithGenericOrder) {
  std::mt19937 rng(13);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (DType t : {DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q4_1, DType::Q5_0,
                  DType::Q5_1, DType::IQ4_NL}) {
    const cpu::DotTraits& ref = *cpu::dot_traits_ref(t);
    const cpu::DotTraits& gen = *cpu::dot_traits_generic(t);
    for (int64_t n : {256, 512, 2048}) {
      std::vector<float> x(static_cast<size_t>(n)), y(static_cast<size_t>(n));
      for (auto& v : x) v = dist(rng);
      for (auto& v : y) v = dist(rng);
      std::vector<uint8_t> wq(row_bytes(t, n)), yq(row_bytes(ref.dot_type, n));
      dtype_info(t).from_float(x.data(), wq.data(), n);
      std::vector<uint8_t> yg(yq.size());
      ref.from_float(y.data(), yq.data(), n);
      gen.from_float(y.data(), yg.data(), n);
      const float want = gen.vec_dot(n, wq.data(), yg.data());
      const float tol = 2e-3f * std::sqrt(float(n));
      EXPECT_NEAR(ref.vec_dot(n, wq.data(), yq.data()), want, tol) << dtype_name(t) << " n=" << n;
      if (ref.vec_dot_gemm) EXPECT_NEAR(ref.vec_dot_gemm(n, wq.data(), yq.data()), want, tol) << dtype_name(t) << " gemm";
      if (ref.vec_dot_x8_gemm)
        EXPECT_NEAR(ref.vec_dot_x8_gemm(n, wq.data(), yq.data()), want, tol) << dtype_name(t) << " x8 gemm";
      if (ref.vec_dot_x8) EXPECT_NEAR(ref.vec_dot_x8(n, wq.data(), yq.data()), want, tol) << dtype_name(t) << " x8";
    }
  }
}

// Every kernel variant of the dispatched traits equals the reference bit for bit, including
// lengths that leave ggml_vec_dot's leftover paths (runs of 8, of 4, and single FMAs).
TEST(GgmlOrder, DispatchedKernelsAreBitIdenticalToReference) {
  if (std::string(cpu::cpu_isa_name()) == "neon")
    GTEST_SKIP() << "ggml's AVX2 summation order is an x86 contract; NEON kernels are checked against the reference by CpuSimd*";
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (DType t : kGgmlOrderTypes) {
    const cpu::DotTraits* ref = cpu::dot_traits_ref(t);
    const cpu::DotTraits* fast = cpu::dot_traits(t);
    ASSERT_NE(fast, nullptr);
    const int64_t block = dtype_info(t).block_size;
    for (int64_t n : {32, 64, 96, 256, 448, 1376, 40, 44, 47, 75, 100, 131, 512, 768, 4096}) {
      if (n % block) continue;
      std::vector<float> x(static_cast<size_t>(n)), y(static_cast<size_t>(n));
      for (auto& v : x) v = dist(rng);
      for (auto& v : y) v = 3.0f * dist(rng);
      std::vector<uint8_t> wq(row_bytes(t, n)), yr(row_bytes(ref->dot_type, n)), yf(row_bytes(ref->dot_type, n));
      dtype_info(t).from_float(x.data(), wq.data(), n);
      ref->from_float(y.data(), yr.data(), n);
      fast->from_float(y.data(), yf.data(), n);
      ASSERT_EQ(std::memcmp(yr.data(), yf.data(), yr.size()), 0) << dtype_name(t) << " activations n=" << n;
      const std::string what = std::string(dtype_name(t)) + " n=" + std::to_string(n);
      EXPECT_EQ(bits(fast->vec_dot(n, wq.data(), yr.data())), bits(ref->vec_dot(n, wq.data(), yr.data()))) << what;
      ASSERT_EQ(!fast->vec_dot_gemm, !ref->vec_dot_gemm) << what;
      ASSERT_EQ(!fast->vec_dot_x8, !ref->vec_dot_x8) << what;
      if (ref->vec_dot_gemm && n % 8 == 0)
        EXPECT_EQ(bits(fast->vec_dot_gemm(n, wq.data(), yr.data())), bits(ref->vec_dot_gemm(n, wq.data(), yr.data())))
            << what << " (gemm order)";
      if (ref->vec_dot_x8)
        EXPECT_EQ(bits(fast->vec_dot_x8(n, wq.data(), yr.data())), bits(ref->vec_dot_x8(n, wq.data(), yr.data())))
            << what << " (x8 order)";
      ASSERT_EQ(!fast->vec_dot_x8_gemm, !ref->vec_dot_x8_gemm) << what;
      if (ref->vec_dot_x8_gemm)
        EXPECT_EQ(bits(fast->vec_dot_x8_gemm(n, wq.data(), yr.data())), bits(ref->vec_dot_x8_gemm(n, wq.data(), yr.data())))
            << what << " (x8 gemm order)";
    }
  }
}

// Whole matmuls (whatever tiles dispatch picks, any thread count) give, for every output, exactly
// the reference dot product that select_vec_dot names for the shape.
TEST(GgmlOrder, MatmulsSumEveryOutputInGgmlOrder) {
  if (std::string(cpu::cpu_isa_name()) == "neon")
    GTEST_SKIP() << "ggml's AVX2 summation order is an x86 contract; NEON kernels are checked against the reference by CpuSimd*";
  std::mt19937 rng(21);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const std::array<int64_t, 3> shapes[] = {{256, 64, 1}, {256, 64, 2}, {256, 64, 5}, {448, 72, 9},  {256, 60, 5},
                                           {256, 62, 3}, {96, 40, 7},  {128, 8, 1},  {1376, 16, 4}, {64, 24, 13},
                                           {512, 64, 5}, {768, 60, 3}, {512, 62, 2}, {768, 16, 1}, {256, 7, 4},
                                           {512, 24, 9}};
  for (DType t : kGgmlOrderTypes)
    for (const auto& [K, N, M] : shapes)
      for (int threads : {1, 3})
        for (bool pack : {false, true}) {
        if (K % dtype_info(t).block_size) continue;
        if (pack && !cpu::packed_layout(t, K, N)) continue;
        const cpu::DotTraits& ref = *cpu::dot_traits_ref(t);
        std::vector<float> wv(static_cast<size_t>(K * N)), xv(static_cast<size_t>(K * M));
        for (auto& v : wv) v = dist(rng);
        for (auto& v : xv) v = dist(rng);
        Tensor w = make_tensor("w", t, {K, N, 1, 1}), x = make_tensor("x", DType::F32, {K, M, 1, 1});
        std::vector<char> wb(w.nbytes());
        dtype_info(t).from_float(wv.data(), wb.data(), K * N);
        w.data = wb.data();
        x.data = xv.data();
        Graph g;
        const int y = g.add(Op::MatMul, make_tensor("y", DType::F32, {N, M, 1, 1}), {g.leaf(w), g.leaf(x), -1});
        g.set_output(y);
        cpu::CpuBackend backend(threads);
        if (pack) EXPECT_GE(backend.pack_weights(g), w.nbytes()) << dtype_name(t);  // weights packed at load
        backend.compute(g);
        const float* got = g.node(y).out.as<float>();
        std::vector<char> xq(row_bytes(ref.dot_type, K));
        int bad = 0;
        for (int64_t m = 0; m < M; ++m) {
          const cpu::VecDotFn dot = cpu::select_vec_dot_row(ref, K, N, M, m);
          ref.from_float(xv.data() + m * K, xq.data(), K);
          for (int64_t r = 0; r < N; ++r) bad += bits(got[m * N + r]) != bits(dot(K, w.row(r), xq.data()));
        }
        EXPECT_EQ(bad, 0) << dtype_name(t) << " K=" << K << " N=" << N << " M=" << M << " threads=" << threads
                          << (pack ? " packed" : "");
      }
}

// The different orders really differ (so a kernel that ignores the contract is caught above), and
// each is an accurate dot product.
TEST(GgmlOrder, OrdersAreAccurateButDistinct) {
  std::mt19937 rng(9);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const cpu::DotTraits& f32 = *cpu::dot_traits_ref(DType::F32);
  int differ = 0;
  for (int trial = 0; trial < 64; ++trial) {
    std::vector<float> x(1024), y(1024);
    double want = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      x[i] = dist(rng);
      y[i] = dist(rng);
      want += double(x[i]) * y[i];
    }
    const float a = f32.vec_dot(1024, x.data(), y.data()), b = f32.vec_dot_gemm(1024, x.data(), y.data());
    EXPECT_NEAR(a, want, 1e-4);
    EXPECT_NEAR(b, want, 1e-4);
    differ += a != b;
  }
  EXPECT_GT(differ, 0);
}

// Activations are quantized like ggml's AVX2 quantize_row_q8_0: scale 127/amax, ties to even.
TEST(GgmlOrder, ActivationQuantizationRoundsHalfToEven) {
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f;  // amax: id = 1 exactly
  x[1] = 2.5f;
  x[2] = -3.5f;
  x[3] = 0.5f;
  BlockQ8_0 b;
  cpu::quantize_row_q8_0_act(x.data(), &b, 32);
  EXPECT_EQ(b.qs[0], 127);
  EXPECT_EQ(b.qs[1], 2);   // roundf would give 3
  EXPECT_EQ(b.qs[2], -4);
  EXPECT_EQ(b.qs[3], 0);
  EXPECT_EQ(fp16_to_fp32(b.d), 1.0f);
  const cpu::DotTraits* fast = cpu::dot_traits(DType::Q8_0);
  BlockQ8_0 f;
  fast->from_float(x.data(), &f, 32);
  EXPECT_EQ(std::memcmp(&b, &f, sizeof b), 0);
}

// The dispatched row kernels (SiLU, attention updates and tiles) equal the portable ones bit for bit.
TEST(GgmlOrder, DispatchedRowKernelsAreBitIdenticalToReference) {
  const cpu::RowKernels& ref = cpu::row_kernels_ref();
  const cpu::RowKernels& fast = cpu::row_kernels();
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 4.0f);
  auto same = [](const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
  };
  for (int64_t n : {8, 64, 77, 1376}) {
    std::vector<float> g(static_cast<size_t>(n)), u(g.size()), y1(g.size()), y2(g.size());
    for (auto& x : g) x = dist(rng);
    for (auto& x : u) x = dist(rng);
    g[0] = 120.0f;  // exp overflow and underflow branches of ggml_v_expf
    g[1] = -120.0f;
    ref.swiglu(n, y1.data(), g.data(), u.data());
    fast.swiglu(n, y2.data(), g.data(), u.data());
    EXPECT_TRUE(same(y1, y2)) << "swiglu n=" << n;
    ref.silu(n, y1.data(), g.data());
    fast.silu(n, y2.data(), g.data());
    EXPECT_TRUE(same(y1, y2)) << "silu n=" << n;
    std::vector<uint16_t> a1(g.size()), a2(g.size()), v(g.size());
    for (size_t i = 0; i < g.size(); ++i) a1[i] = a2[i] = fp32_to_fp16(g[i]), v[i] = fp32_to_fp16(u[i]);
    ref.mad_f16(n, a1.data(), v.data(), 0.3f);
    fast.mad_f16(n, a2.data(), v.data(), 0.3f);
    ref.scale_f16(n, a1.data(), 0.7f);
    fast.scale_f16(n, a2.data(), 0.7f);
    EXPECT_EQ(a1, a2) << "f16 mad/scale n=" << n;
    y1 = g;
    y2 = g;
    ref.mad_f32(n, y1.data(), u.data(), 0.3f);
    fast.mad_f32(n, y2.data(), u.data(), 0.3f);
    EXPECT_TRUE(same(y1, y2)) << "mad_f32 n=" << n;
  }
  for (int64_t D : {16, 64, 20}) {
    std::vector<float> q(static_cast<size_t>(D)), kt(static_cast<size_t>(D * cpu::kAttnTile)), v(kt.size());
    for (auto& x : q) x = dist(rng);
    for (auto& x : kt) x = dist(rng);
    for (auto& x : v) x = dist(rng);
    std::vector<float> k1(cpu::kAttnTile), k2(cpu::kAttnTile);
    ref.tile_scores(D, q.data(), kt.data(), k1.data());
    fast.tile_scores(D, q.data(), kt.data(), k2.data());
    EXPECT_TRUE(same(k1, k2)) << "scores D=" << D;
    for (size_t j = 40; j < k1.size(); ++j) k1[j] = k2[j] = -INFINITY;  // masked keys
    EXPECT_EQ(ref.tile_softmax(k1.data(), 30.0f), fast.tile_softmax(k2.data(), 30.0f));
    EXPECT_TRUE(same(k1, k2)) << "softmax D=" << D;
    std::vector<float> o1(q.size(), 1.0f), o2(q.size(), 1.0f);
    ref.tile_values(D, o1.data(), v.data(), k1.data(), 40);
    fast.tile_values(D, o2.data(), v.data(), k2.data(), 40);
    EXPECT_TRUE(same(o1, o2)) << "values D=" << D;
  }
}

// ggml_v_expf (the SiLU exp on AVX2) is a polynomial within 2 ulp of exp, saturating like ggml.
TEST(GgmlOrder, PolynomialExpIsAccurate) {
  for (float x = -100.0f; x < 88.0f; x += 0.173f) {
    const double want = std::exp(double(x));
    EXPECT_NEAR(cpu::ggml_v_expf(x), want, want * 3e-7 + 1e-37) << x;
  }
  EXPECT_EQ(cpu::ggml_v_expf(-200.0f), 0.0f);
  EXPECT_TRUE(std::isinf(cpu::ggml_v_expf(100.0f)));
  EXPECT_EQ(cpu::ggml_v_silu(0.0f), 0.0f);
}

// On AVX-512 VNNI the q8_0/q4_0/q6_K/f16 tiles are the wide ones (two weight rows per register).
TEST(GgmlOrder, Avx512TilesAreChosenWhereTheCpuHasThem) {
  if (std::string(cpu::cpu_isa_name()) != "avx512" || !cpu::cpu_features().avx512_vnni)
    GTEST_SKIP() << "the " << cpu::cpu_isa_name() << " kernels are active (no AVX-512 VNNI here, or DRAWBRIDGE_CPU_ISA caps it)";
  for (DType t : {DType::Q8_0, DType::Q4_0}) {
    const cpu::GemmKernel k = cpu::gemm_kernel(t, 256, 60, 5);  // N % 8 != 0: not repacked
    EXPECT_EQ(k.tile, cpu::gemm_kernel_ggml_avx512_gemm(t).tile) << dtype_name(t);
    EXPECT_EQ(k.rows, 8) << dtype_name(t);
  }
  const cpu::GemmKernel q6 = cpu::gemm_kernel(DType::Q6_K, 512, 60, 5);
  EXPECT_EQ(q6.tile, cpu::gemm_kernel_ggml_avx512_gemm(DType::Q6_K).tile);
  EXPECT_EQ(cpu::gemm_kernel(DType::Q6_K, 512, 60, 1).tile, nullptr);  // decode: one dot per row
  const cpu::GemmKernel f16 = cpu::gemm_kernel(DType::F16, 256, 64, 9);
  EXPECT_EQ(f16.tile, cpu::gemm_kernel_ggml_avx512_gemm(DType::F16).tile);
}

// Which weights the CPU packs at load: q4_0 and q4_K with N % 8 == 0 (ggml's repacked shapes) on
// x86 kernels; others are read as stored.
TEST(WeightPack, PacksTheShapesGgmlRepacks) {
  const std::string isa = cpu::cpu_isa_name();
  if (isa != "avx2" && isa != "avx512") GTEST_SKIP() << "no packed layouts for the " << isa << " kernels";
  // 16-row groups where the AVX-512 VNNI tile reads them (N % 16 == 0), else ggml's 8.
  const bool x16 = isa == "avx512" && cpu::cpu_features().avx512_vnni;
  const cpu::WeightLayout* q4 = cpu::packed_layout(DType::Q4_0, 256, 64);
  ASSERT_NE(q4, nullptr);
  EXPECT_EQ(q4->rows, x16 ? 16 : 8);
  EXPECT_STREQ(q4->name, x16 ? "q4_0x16" : "q4_0x8");
  EXPECT_EQ(q4->group_bytes(256), size_t(q4->rows) * row_bytes(DType::Q4_0, 256));  // same bytes, rearranged
  const cpu::WeightLayout* q4_8 = cpu::packed_layout(DType::Q4_0, 256, 72);
  ASSERT_NE(q4_8, nullptr);
  EXPECT_EQ(q4_8->rows, 8);
  EXPECT_EQ(cpu::packed_layout(DType::Q4_0, 256, 60), nullptr);
  const cpu::WeightLayout* q4k = cpu::packed_layout(DType::Q4_K, 512, 16);
  ASSERT_NE(q4k, nullptr);
  EXPECT_STREQ(q4k->name, x16 ? "q4_Kx16" : "q4_Kx8");
  // + unpacked scales and mins: 4 bytes per row per super-block
  EXPECT_EQ(q4k->group_bytes(512), size_t(q4k->rows) * (row_bytes(DType::Q4_K, 512) + 2 * 4));
  const cpu::WeightLayout* q4k_8 = cpu::packed_layout(DType::Q4_K, 512, 24);
  ASSERT_NE(q4k_8, nullptr);
  EXPECT_EQ(q4k_8->rows, 8);
  EXPECT_EQ(cpu::packed_layout(DType::Q8_0, 256, 64), nullptr);
  EXPECT_EQ(cpu::packed_layout(DType::F16, 256, 64), nullptr);
}

}  // namespace
}  // namespace db
