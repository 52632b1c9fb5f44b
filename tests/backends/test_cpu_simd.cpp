// Every optimized CPU kernel against the portable reference (dot_traits_ref and the reference
// attention helpers), for each instruction set this CPU has: row converters (bit-exact), dot
// products and GEMM tiles (per-dtype tolerance relative to Σ|x·y|, since only the summation order
// may differ), whole matmuls through the backend at 1–4 threads on odd and tiny shapes, and the
// attention fast path. Nothing here is timed.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/simd.h"
#include "drawbridge/graph.h"

namespace db {
namespace {

using cpu::DotTraits;
using cpu::GemmKernel;

// ---- the kernel sets under test -------------------------------------------------------------
struct Isa {
  std::string name;
  const DotTraits* (*dot)(DType);
  GemmKernel (*gemm)(DType, int64_t);
};

std::vector<Isa> isas() {
  std::vector<Isa> v;
  if (cpu::cpu_features().avx2) v.push_back({"avx2", cpu::dot_traits_avx2, cpu::gemm_kernel_avx2});
  if (cpu::cpu_features().avx512) v.push_back({"avx512", cpu::dot_traits_avx512, cpu::gemm_kernel_avx512});
  return v;
}

const DType kTypes[] = {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0};

// Tolerance of a dot product relative to Σ|x·y|: operands are identical, so only the float
// summation order differs (f16/bf16 products are exact in f32; block sums of the quantized types
// are exact integers, their scales multiply in a different order, and the packed q4_0 kernel
// applies the -8 offset as a separate term).
double dot_tol(DType t) {
  switch (t) {
    case DType::F32:
    case DType::F16:
    case DType::BF16: return 1e-5;
    case DType::Q8_0: return 2e-5;
    default: return 4e-5;
  }
}

std::vector<float> randn(size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// A weight row set of dtype t (rows × k) from random values, in the file format.
std::vector<char> weights(DType t, int64_t rows, int64_t k, std::mt19937& rng) {
  std::vector<float> f = randn(size_t(rows * k), rng);
  std::vector<char> out(row_bytes(t, k) * size_t(rows));
  dtype_info(t).from_float(f.data(), out.data(), rows * k);
  return out;
}

// Activation rows converted to the dot type by the reference converter.
std::vector<char> activations(const DotTraits& ref, int64_t rows, int64_t k, std::mt19937& rng) {
  std::vector<float> f = randn(size_t(rows * k), rng);
  const size_t rb = row_bytes(ref.dot_type, k);
  std::vector<char> out(rb * size_t(rows));
  for (int64_t r = 0; r < rows; ++r) ref.from_float(f.data() + r * k, out.data() + size_t(r) * rb, k);
  return out;
}

// Σ|x·y| for the tolerance, from the reference dequantized values.
double abs_dot(DType wt, const void* w, DType xt, const void* x, int64_t k) {
  std::vector<float> a(static_cast<size_t>(k)), b(static_cast<size_t>(k));
  dtype_info(wt).to_float(w, a.data(), k);
  dtype_info(xt).to_float(x, b.data(), k);
  double s = 0;
  for (int64_t i = 0; i < k; ++i) s += std::fabs(double(a[size_t(i)]) * b[size_t(i)]);
  return s;
}

std::vector<int64_t> lengths(DType t) {
  if (dtype_info(t).block_size > 1) return {32, 64, 96, 160, 352, 2048};
  return {1, 3, 7, 8, 9, 16, 31, 33, 100, 257, 2048};
}

// ---- dispatch --------------------------------------------------------------------------------
TEST(CpuSimd, DispatchPicksAKernelForEveryType) {
  const std::string isa = cpu::cpu_isa_name();
  EXPECT_TRUE(isa == "ref" || isa == "avx2" || isa == "avx512" || isa == "neon") << isa;
  for (DType t : kTypes) {
    ASSERT_NE(cpu::dot_traits(t), nullptr) << dtype_name(t);
    EXPECT_EQ(cpu::dot_traits(t)->dot_type, cpu::dot_traits_ref(t)->dot_type) << dtype_name(t);
    if (isa != "ref") {
      EXPECT_NE(cpu::dot_traits(t), cpu::dot_traits_ref(t)) << "no optimized kernel for " << dtype_name(t);
    }
  }
  if (cpu::cpu_features().avx2 && !std::getenv("DRAWBRIDGE_CPU_ISA")) {
    EXPECT_NE(isa, "ref");
  }
}

// ---- row converters: bit-exact ---------------------------------------------------------------
TEST(CpuSimd, RowConvertersMatchReferenceBitForBit) {
  std::mt19937 rng(11);
  for (const Isa& isa : isas())
    for (DType t : kTypes) {
      const DotTraits* opt = isa.dot(t);
      const DotTraits* ref = cpu::dot_traits_ref(t);
      ASSERT_NE(opt, nullptr) << isa.name << " " << dtype_name(t);
      for (int64_t n : lengths(ref->dot_type)) {
        std::vector<float> x = randn(size_t(n), rng, 3.0f);
        if (n >= 32) {  // exact halves and a zero block probe the rounding rules
          for (int j = 0; j < 8; ++j) x[size_t(j)] = (j % 2 ? -1.0f : 1.0f) * (j == 0 ? 127.0f : float(j) + 0.5f);
          if (n >= 64) std::fill(x.begin() + 32, x.begin() + 64, 0.0f);
        }
        const size_t rb = row_bytes(ref->dot_type, n);
        std::vector<char> a(rb), b(rb);
        opt->from_float(x.data(), a.data(), n);
        ref->from_float(x.data(), b.data(), n);
        EXPECT_EQ(0, std::memcmp(a.data(), b.data(), rb)) << isa.name << " " << dtype_name(t) << " n=" << n;
      }
    }
}

// ---- dot products ------------------------------------------------------------------------------
TEST(CpuSimd, DotProductsMatchReference) {
  std::mt19937 rng(12);
  for (const Isa& isa : isas())
    for (DType t : kTypes) {
      const DotTraits* opt = isa.dot(t);
      const DotTraits* ref = cpu::dot_traits_ref(t);
      for (int64_t k : lengths(t)) {
        const std::vector<char> w = weights(t, 1, k, rng);
        const std::vector<char> x = activations(*ref, 1, k, rng);
        const double want = ref->vec_dot(k, w.data(), x.data());
        const double got = opt->vec_dot(k, w.data(), x.data());
        const double scale = abs_dot(t, w.data(), ref->dot_type, x.data(), k);
        EXPECT_NEAR(got, want, dot_tol(t) * scale + 1e-30) << isa.name << " " << dtype_name(t) << " k=" << k;
      }
    }
}

// ---- GEMM tiles, with packing and preparation, for every tile shape ----------------------------
void check_tiles(const Isa& isa, DType t, int64_t m_hint, std::mt19937& rng) {
  const GemmKernel gk = isa.gemm(t, m_hint);
  if (!gk.tile) return;
  const DotTraits* ref = cpu::dot_traits_ref(t);
  for (int64_t k : lengths(t)) {
    const size_t wrow = row_bytes(t, k), xrow = row_bytes(ref->dot_type, k);
    const std::vector<char> w = weights(t, gk.rows, k, rng);
    const std::vector<char> x = activations(*ref, gk.cols, k, rng);
    std::vector<char> packed(gk.pack ? gk.packed_bytes(k) + 64 : 0), aux(gk.prepare ? gk.prepared_bytes(k) + 64 : 0);
    auto* pk = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(packed.data()) + 63) / 64 * 64);
    auto* ax = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(aux.data()) + 63) / 64 * 64);
    for (int nr = 1; nr <= gk.rows; ++nr)
      for (int nc = 1; nc <= gk.cols; ++nc) {
        const size_t ys = size_t(gk.rows) + 3;  // a stride wider than the tile
        std::vector<float> y(ys * size_t(nc), -7.0f);
        if (gk.pack) gk.pack(k, w.data(), wrow, nr, pk);
        if (gk.prepare) gk.prepare(k, x.data(), xrow, nc, ax);
        const cpu::GemmTile tile{k, gk.pack ? pk : w.data(), wrow, nr, x.data(), xrow, nc, ax, y.data(), ys};
        gk.tile(tile);
        for (int c = 0; c < nc; ++c)
          for (size_t r = 0; r < ys; ++r) {
            const float got = y[size_t(c) * ys + r];
            if (r >= size_t(nr)) {
              ASSERT_EQ(got, -7.0f) << "tile wrote outside its rows";
              continue;
            }
            const void* wr = w.data() + r * wrow;
            const void* xr = x.data() + size_t(c) * xrow;
            const double want = ref->vec_dot(k, wr, xr);
            const double scale = abs_dot(t, wr, ref->dot_type, xr, k);
            ASSERT_NEAR(got, want, dot_tol(t) * scale + 1e-30)
                << isa.name << " " << dtype_name(t) << " m_hint=" << m_hint << " k=" << k << " tile " << nr << "x" << nc
                << " at " << r << "," << c;
          }
      }
  }
}

TEST(CpuSimd, GemmTilesMatchReference) {
  std::mt19937 rng(13);
  for (const Isa& isa : isas())
    for (DType t : kTypes)
      for (int64_t m_hint : {1, 2, 512}) check_tiles(isa, t, m_hint, rng);
}

// ---- whole matmuls through the backend: every path (matvec, dot tiles, packed), 1–4 threads ----
struct MatmulShape {
  int64_t k, n, m;
};

class CpuSimdMatmul : public ::testing::TestWithParam<std::tuple<DType, int>> {};

TEST_P(CpuSimdMatmul, MatchesReferenceDots) {
  const auto [t, threads] = GetParam();
  const DotTraits* ref = cpu::dot_traits_ref(t);
  const bool block = dtype_info(t).block_size > 1;
  const MatmulShape shapes[] = {{block ? 32 : 1, 1, 1}, {block ? 32 : 5, 3, 2},  {block ? 64 : 9, 13, 7},
                                {block ? 96 : 33, 8, 8}, {block ? 160 : 40, 17, 9}, {block ? 352 : 100, 67, 33},
                                {256, 2, 40},            {block ? 64 : 24, 3, 1}};
  std::mt19937 rng(14);
  cpu::CpuBackend backend(threads);
  for (const MatmulShape& s : shapes) {
    const std::vector<char> wb = weights(t, s.n, s.k, rng);
    std::vector<float> xf = randn(size_t(s.k * s.m), rng);
    Tensor w = make_tensor("w", t, {s.k, s.n, 1, 1});
    w.data = const_cast<char*>(wb.data());
    Tensor x = make_tensor("x", DType::F32, {s.k, s.m, 1, 1});
    x.data = xf.data();
    Graph g;
    const int y = g.add(Op::MatMul, make_tensor("y", DType::F32, {s.n, s.m, 1, 1}), {g.leaf(w), g.leaf(x), -1});
    g.set_output(y);
    backend.compute(g);
    const float* got = g.node(y).out.as<float>();
    const size_t xrow = row_bytes(ref->dot_type, s.k), wrow = row_bytes(t, s.k);
    std::vector<char> xq(xrow);
    for (int64_t m = 0; m < s.m; ++m) {
      ref->from_float(xf.data() + m * s.k, xq.data(), s.k);
      for (int64_t n = 0; n < s.n; ++n) {
        const void* wr = wb.data() + size_t(n) * wrow;
        const double want = ref->vec_dot(s.k, wr, xq.data());
        const double scale = abs_dot(t, wr, ref->dot_type, xq.data(), s.k);
        ASSERT_NEAR(got[m * s.n + n], want, dot_tol(t) * scale + 1e-30)
            << dtype_name(t) << " " << s.k << "x" << s.n << "x" << s.m << " at n=" << n << " m=" << m;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, CpuSimdMatmul,
                         ::testing::Combine(::testing::ValuesIn(kTypes), ::testing::Values(1, 2, 3, 4)),
                         [](const auto& p) {
                           return std::string(dtype_name(std::get<0>(p.param))) + "_t" +
                                  std::to_string(std::get<1>(p.param));
                         });

// ---- attention value update: bit-exact; the fast path against the reference steps -------------
TEST(CpuSimd, AttentionRowUpdateMatchesReferenceBitForBit) {
  std::mt19937 rng(15);
  const cpu::AttentionKernels& opt = cpu::attention_kernels();
  const cpu::AttentionKernels& ref = cpu::attention_kernels_ref();
  for (int64_t n : {1, 7, 8, 20, 64, 131}) {
    const std::vector<float> v = randn(size_t(n), rng), a0 = randn(size_t(n), rng);
    std::vector<float> a = a0, b = a0;
    opt.mad_f32_f32(n, a.data(), 0.75f, 0.3f, v.data());
    ref.mad_f32_f32(n, b.data(), 0.75f, 0.3f, v.data());
    EXPECT_EQ(0, std::memcmp(a.data(), b.data(), size_t(n) * 4)) << "f32 n=" << n;
    std::vector<uint16_t> vh, ah;
    for (int64_t i = 0; i < n; ++i) {
      vh.push_back(fp32_to_fp16(v[size_t(i)]));
      ah.push_back(fp32_to_fp16(a0[size_t(i)]));
    }
    std::vector<uint16_t> bh = ah;
    opt.mad_f16_f16(n, ah.data(), 0.6f, 0.9f, vh.data());
    ref.mad_f16_f16(n, bh.data(), 0.6f, 0.9f, vh.data());
    EXPECT_EQ(ah, bh) << "f16 n=" << n;
  }
}

// The reference attention steps (llama.cpp's: q rounded to an f16 cache's type, online softmax
// with per-step rescale, an f16 V accumulator rounded every step), written out here.
std::vector<float> reference_attention(const std::vector<float>& q, const Tensor& k, const Tensor& v, int64_t D,
                                       int64_t H, int64_t T, int64_t past, float scale) {
  const int64_t group = H / k.ne[1];
  std::vector<float> out(size_t(D * H * T));
  auto at = [&](const Tensor& c, int64_t hk, int64_t j, int64_t i) {
    const char* row = c.row(hk, j);
    return c.dtype == DType::F16 ? fp16_to_fp32(reinterpret_cast<const uint16_t*>(row)[i])
                                 : reinterpret_cast<const float*>(row)[i];
  };
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < H; ++h) {
      std::vector<float> acc(size_t(D), 0.0f);
      float m = -INFINITY, sum = 0.0f;
      for (int64_t j = 0; j <= past + t; ++j) {
        float s = 0.0f;
        for (int64_t i = 0; i < D; ++i) {
          float qi = q[size_t((t * H + h) * D + i)];
          if (k.dtype == DType::F16) qi = fp16_to_fp32(fp32_to_fp16(qi));
          s += qi * at(k, h / group, j, i);
        }
        s *= scale;
        float ms = 1.0f, vs = 1.0f;
        if (s > m) ms = std::exp(m - s), m = s;
        else vs = std::exp(s - m);
        for (int64_t i = 0; i < D; ++i) {
          float a = acc[size_t(i)] * ms + at(v, h / group, j, i) * vs;
          acc[size_t(i)] = v.dtype == DType::F16 ? fp16_to_fp32(fp32_to_fp16(a)) : a;
        }
        sum = sum * ms + vs;
      }
      for (int64_t i = 0; i < D; ++i) out[size_t((t * H + h) * D + i)] = acc[size_t(i)] / sum;
    }
  return out;
}

class CpuSimdAttention : public ::testing::TestWithParam<int> {};

TEST_P(CpuSimdAttention, FastPathMatchesReferenceSteps) {
  struct Case {
    int64_t D, H, Hkv, T, past;
  };
  // Heads with and without a SIMD tail, contexts shorter and longer than one key block (64).
  const Case cases[] = {{16, 4, 2, 3, 5}, {20, 2, 1, 2, 70}, {64, 8, 2, 1, 130}, {72, 2, 2, 5, 0}};
  std::mt19937 rng(16);
  for (DType ct : {DType::F32, DType::F16})
    for (const Case& c : cases) {
      const int64_t C = c.past + c.T;
      std::vector<float> q = randn(size_t(c.D * c.H * c.T), rng), kf = randn(size_t(c.D * c.Hkv * C), rng),
                         vf = randn(size_t(c.D * c.Hkv * C), rng);
      Tensor qt = make_tensor("q", DType::F32, {c.D, c.H, c.T, 1});
      qt.data = q.data();
      Tensor kt = make_tensor("k", ct, {c.D, c.Hkv, C, 1}), vt = make_tensor("v", ct, {c.D, c.Hkv, C, 1});
      std::vector<char> kb(kt.nbytes()), vb(vt.nbytes());
      dtype_info(ct).from_float(kf.data(), kb.data(), kt.nelements());
      dtype_info(ct).from_float(vf.data(), vb.data(), vt.nelements());
      kt.data = kb.data();
      vt.data = vb.data();
      Graph g;
      OpParams p;
      p.i[0] = c.past;
      p.f[0] = 1.0f / std::sqrt(float(c.D));
      const int y = g.add(Op::Attention, make_tensor("y", DType::F32, {c.D, c.H, c.T, 1}),
                          {g.leaf(qt), g.leaf(kt), g.leaf(vt)}, p);
      g.set_output(y);
      cpu::CpuBackend backend(GetParam());
      backend.compute(g);
      const std::vector<float> want = reference_attention(q, kt, vt, c.D, c.H, c.T, c.past, p.f[0]);
      const float* got = g.node(y).out.as<float>();
      // f32: summation order only. f16: a score differing in its last bit can flip one f16
      // rounding of the accumulator (one f16 ulp, ~5e-4 relative) on the way.
      const double tol = ct == DType::F16 ? 2e-3 : 2e-5;
      for (size_t i = 0; i < want.size(); ++i)
        ASSERT_NEAR(got[i], want[i], tol * (1.0 + std::fabs(want[i])))
            << dtype_name(ct) << " D=" << c.D << " past=" << c.past << " element " << i;
    }
}

INSTANTIATE_TEST_SUITE_P(Threads, CpuSimdAttention, ::testing::Values(1, 2, 3, 4),
                         [](const auto& p) { return "t" + std::to_string(p.param); });

}  // namespace
}  // namespace db
