// Every CPU op against a naive double-precision reference written here, across thread counts and
// odd shapes. Tolerances are per dtype: what the format's rounding of operands can explain.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "drawbridge/error.h"
#include "drawbridge/graph.h"

namespace db {
namespace {

struct Buf {
  Tensor t;
  std::vector<char> bytes;
};

// A tensor of `dtype` filled from N(0, 1) values; `values` receives what the tensor holds
// after rounding to its dtype (the reference uses those).
Buf random_tensor(const std::string& name, DType dtype, std::array<int64_t, 4> ne, std::mt19937& rng,
                  std::vector<float>* values = nullptr) {
  Buf b;
  b.t = make_tensor(name, dtype, ne);
  b.bytes.resize(b.t.nbytes());
  b.t.data = b.bytes.data();
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(size_t(b.t.nelements()));
  for (auto& x : v) x = dist(rng);
  const auto& info = dtype_info(dtype);
  info.from_float(v.data(), b.t.data, b.t.nelements());
  if (values) {
    values->resize(v.size());
    info.to_float(b.t.data, values->data(), b.t.nelements());
  }
  return b;
}

std::vector<float> result(const Graph& g, int id) {
  const Tensor& t = g.node(id).out;
  const float* p = t.as<float>();
  return std::vector<float>(p, p + t.nelements());
}

void expect_close(const std::vector<float>& got, const std::vector<double>& want, double tol, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], tol * (1.0 + std::fabs(want[i]))) << what << " element " << i;
}

class CpuOps : public ::testing::TestWithParam<int> {
 protected:
  std::mt19937 rng{1234};
  int threads() const { return GetParam(); }
  // The backend owns the activations, so it lives as long as the test reads results.
  std::unique_ptr<cpu::CpuBackend> backend;
  void run(Graph& g) {
    backend = std::make_unique<cpu::CpuBackend>(threads());
    backend->compute(g);
  }
};

// ---- matmul, per weight dtype -------------------------------------------------------------
struct MatMulCase {
  DType dtype;
  double tol;  // relative to sqrt(K): activations are rounded to the dot type
};

class CpuMatMul : public ::testing::TestWithParam<std::tuple<MatMulCase, int, std::array<int64_t, 3>>> {};

TEST_P(CpuMatMul, MatchesReference) {
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
  std::vector<double> want(size_t(N * M));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += double(wv[size_t(n * K + k)]) * xv[size_t(m * K + k)];
      want[size_t(m * N + n)] = s;
    }
  const std::vector<float> got = result(g, y);
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], mc.tol * std::sqrt(double(K))) << dtype_name(mc.dtype) << " element " << i;
}

INSTANTIATE_TEST_SUITE_P(
    AllDtypes, CpuMatMul,
    ::testing::Combine(::testing::Values(MatMulCase{DType::F32, 1e-5}, MatMulCase{DType::F16, 2e-3},
                                         MatMulCase{DType::BF16, 1.5e-2}, MatMulCase{DType::Q8_0, 2e-2},
                                         MatMulCase{DType::Q4_0, 2e-2}),
                       ::testing::Values(1, 2, 3, 4),
                       ::testing::Values(std::array<int64_t, 3>{32, 1, 1}, std::array<int64_t, 3>{64, 7, 3},
                                         std::array<int64_t, 3>{96, 33, 5}, std::array<int64_t, 3>{256, 17, 1})),
    [](const auto& p) {
      const auto& s = std::get<2>(p.param);
      return std::string(dtype_name(std::get<0>(p.param).dtype)) + "_t" + std::to_string(std::get<1>(p.param)) +
             "_" + std::to_string(s[0]) + "x" + std::to_string(s[1]) + "x" + std::to_string(s[2]);
    });

// ---- element-wise and row-wise ops ----------------------------------------------------------
TEST_P(CpuOps, AddAndMulBroadcast) {
  std::vector<float> av, bv, cv;
  Buf a = random_tensor("a", DType::F32, {13, 5, 1, 1}, rng, &av);
  Buf b = random_tensor("b", DType::F32, {13, 5, 1, 1}, rng, &bv);
  Buf c = random_tensor("c", DType::F32, {13, 1, 1, 1}, rng, &cv);
  Graph g;
  const int ia = g.leaf(a.t), ib = g.leaf(b.t), ic = g.leaf(c.t);
  const int sum = g.add(Op::Add, make_tensor("s", DType::F32, {13, 5, 1, 1}), {ia, ib, -1});
  const int prod = g.add(Op::Mul, make_tensor("p", DType::F32, {13, 5, 1, 1}), {sum, ic, -1});
  g.set_output(sum);
  g.set_output(prod);
  run(g);
  std::vector<double> ws(av.size()), wp(av.size());
  for (size_t i = 0; i < av.size(); ++i) {
    ws[i] = double(av[i]) + bv[i];
    wp[i] = ws[i] * cv[i % 13];
  }
  expect_close(result(g, sum), ws, 1e-6, "add");
  expect_close(result(g, prod), wp, 1e-6, "mul");
}

TEST_P(CpuOps, UnaryOps) {
  std::vector<float> av, bv;
  Buf a = random_tensor("a", DType::F32, {37, 3, 1, 1}, rng, &av);
  Buf b = random_tensor("b", DType::F32, {37, 3, 1, 1}, rng, &bv);
  Graph g;
  const int ia = g.leaf(a.t), ib = g.leaf(b.t);
  auto out = [](const char* n) { return make_tensor(n, DType::F32, {37, 3, 1, 1}); };
  OpParams sp;
  sp.f[0] = 0.5f;
  const int scale = g.add(Op::Scale, out("scale"), {ia, -1, -1}, sp);
  const int silu = g.add(Op::Silu, out("silu"), {ia, -1, -1});
  const int gelu = g.add(Op::Gelu, out("gelu"), {ia, -1, -1});
  const int swiglu = g.add(Op::SwiGlu, out("swiglu"), {ia, ib, -1});
  const int soft = g.add(Op::SoftMax, out("softmax"), {ia, -1, -1}, sp);
  for (int id : {scale, silu, gelu, swiglu, soft}) g.set_output(id);
  run(g);
  std::vector<double> ws, wsi, wg, wsw, wsm(av.size());
  for (size_t i = 0; i < av.size(); ++i) {
    const double x = av[i];
    ws.push_back(x * 0.5);
    wsi.push_back(x / (1 + std::exp(-x)));
    wg.push_back(0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))));
    wsw.push_back(x / (1 + std::exp(-x)) * bv[i]);
  }
  for (int r = 0; r < 3; ++r) {
    double mx = -1e30, sum = 0;
    for (int i = 0; i < 37; ++i) mx = std::max(mx, 0.5 * av[size_t(r * 37 + i)]);
    for (int i = 0; i < 37; ++i) sum += std::exp(0.5 * av[size_t(r * 37 + i)] - mx);
    for (int i = 0; i < 37; ++i) wsm[size_t(r * 37 + i)] = std::exp(0.5 * av[size_t(r * 37 + i)] - mx) / sum;
  }
  expect_close(result(g, scale), ws, 1e-6, "scale");
  expect_close(result(g, silu), wsi, 1e-5, "silu");
  expect_close(result(g, gelu), wg, 1e-5, "gelu");
  expect_close(result(g, swiglu), wsw, 1e-5, "swiglu");
  expect_close(result(g, soft), wsm, 1e-5, "softmax");
}

TEST_P(CpuOps, RmsNormWithWeight) {
  std::vector<float> xv, wv;
  Buf x = random_tensor("x", DType::F32, {50, 4, 1, 1}, rng, &xv);
  Buf w = random_tensor("w", DType::F32, {50, 1, 1, 1}, rng, &wv);
  Graph g;
  OpParams p;
  p.f[0] = 1e-5f;
  const int y = g.add(Op::RmsNorm, make_tensor("y", DType::F32, {50, 4, 1, 1}), {g.leaf(x.t), g.leaf(w.t), -1}, p);
  g.set_output(y);
  run(g);
  std::vector<double> want(xv.size());
  for (int r = 0; r < 4; ++r) {
    double ss = 0;
    for (int i = 0; i < 50; ++i) ss += double(xv[size_t(r * 50 + i)]) * xv[size_t(r * 50 + i)];
    const double inv = 1 / std::sqrt(ss / 50 + 1e-5);
    for (int i = 0; i < 50; ++i) want[size_t(r * 50 + i)] = xv[size_t(r * 50 + i)] * inv * wv[size_t(i)];
  }
  expect_close(result(g, y), want, 1e-5, "rms_norm");
}

// RoPE in both pair layouts, partial rotary dims, frequency factors, positions out of order.
TEST_P(CpuOps, RopeNormalAndNeox) {
  for (int neox = 0; neox < 2; ++neox) {
    const int64_t D = 8, H = 3, T = 4, n_rot = 6;
    std::vector<float> xv, fv;
    Buf x = random_tensor("x", DType::F32, {D, H, T, 1}, rng, &xv);
    Buf f = random_tensor("f", DType::F32, {n_rot / 2, 1, 1, 1}, rng, &fv);
    for (auto& v : fv) v = 1.0f + std::fabs(v);
    std::memcpy(f.t.data, fv.data(), fv.size() * 4);
    std::vector<int32_t> pos{5, 0, 17, 3};
    Tensor pt = make_tensor("pos", DType::I32, {T, 1, 1, 1});
    pt.data = pos.data();
    Graph g;
    OpParams p;
    p.f[0] = 10000.0f;
    p.f[1] = 0.5f;
    p.i[0] = n_rot;
    p.i[1] = neox;
    const int y = g.add(Op::Rope, make_tensor("y", DType::F32, {D, H, T, 1}), {g.leaf(x.t), g.leaf(pt), g.leaf(f.t)}, p);
    g.set_output(y);
    run(g);
    std::vector<double> want(xv.begin(), xv.end());
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < n_rot / 2; ++i) {
          const double theta = 0.5 * pos[size_t(t)] * std::pow(10000.0, -2.0 * double(i) / double(n_rot)) / fv[size_t(i)];
          const int64_t base = (t * H + h) * D;
          const int64_t a = neox ? i : 2 * i, b = neox ? i + n_rot / 2 : 2 * i + 1;
          const double x0 = xv[size_t(base + a)], x1 = xv[size_t(base + b)];
          want[size_t(base + a)] = x0 * std::cos(theta) - x1 * std::sin(theta);
          want[size_t(base + b)] = x0 * std::sin(theta) + x1 * std::cos(theta);
        }
    expect_close(result(g, y), want, 1e-4, neox ? "rope neox" : "rope normal");
  }
}

TEST_P(CpuOps, EmbedDequantizesRows) {
  for (DType dt : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_0}) {
    std::vector<float> tv;
    Buf table = random_tensor("table", dt, {64, 10, 1, 1}, rng, &tv);
    std::vector<int32_t> ids{3, 9, 0, 3};
    Tensor it = make_tensor("ids", DType::I32, {4, 1, 1, 1});
    it.data = ids.data();
    Graph g;
    const int y = g.add(Op::Embed, make_tensor("y", DType::F32, {64, 4, 1, 1}), {g.leaf(table.t), g.leaf(it), -1});
    g.set_output(y);
    run(g);
    std::vector<double> want;
    for (int32_t id : ids)
      for (int i = 0; i < 64; ++i) want.push_back(tv[size_t(id * 64 + i)]);
    expect_close(result(g, y), want, 0, "embed");
  }
}

// Attention with grouped-query heads over a cache that already holds `past` positions.
TEST_P(CpuOps, KvStoreAndAttention) {
  for (DType cache_dt : {DType::F32, DType::F16}) {
    const int64_t D = 16, H = 4, Hkv = 2, C = 12, past = 5, T = 3;
    std::vector<float> qv, kv, vv, kcv, vcv;
    Buf q = random_tensor("q", DType::F32, {D, H, T, 1}, rng, &qv);
    Buf k = random_tensor("k", DType::F32, {D, Hkv, T, 1}, rng, &kv);
    Buf v = random_tensor("v", DType::F32, {D, Hkv, T, 1}, rng, &vv);
    Buf kc = random_tensor("kc", cache_dt, {D, Hkv, C, 1}, rng, &kcv);
    Buf vc = random_tensor("vc", cache_dt, {D, Hkv, C, 1}, rng, &vcv);
    Graph g;
    OpParams p;
    p.i[0] = past;
    const int ks = g.add(Op::KvStore, kc.t, {g.leaf(k.t), g.leaf(kc.t), -1}, p);
    const int vs = g.add(Op::KvStore, vc.t, {g.leaf(v.t), g.leaf(vc.t), -1}, p);
    p.f[0] = 0.25f;
    const int y = g.add(Op::Attention, make_tensor("y", DType::F32, {D, H, T, 1}), {g.leaf(q.t), ks, vs}, p);
    g.set_output(y);
    run(g);
    // Reference: the cache after the store holds the new rows (rounded to the cache dtype).
    auto round = [&](float x) { return cache_dt == DType::F16 ? fp16_to_fp32(fp32_to_fp16(x)) : x; };
    for (int64_t t = 0; t < T; ++t)
      for (int64_t i = 0; i < D * Hkv; ++i) {
        kcv[size_t((past + t) * D * Hkv + i)] = round(kv[size_t(t * D * Hkv + i)]);
        vcv[size_t((past + t) * D * Hkv + i)] = round(vv[size_t(t * D * Hkv + i)]);
      }
    std::vector<double> want(size_t(D * H * T));
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < H; ++h) {
        const int64_t hk = h / (H / Hkv), n_kv = past + t + 1;
        std::vector<double> s(static_cast<size_t>(n_kv));
        double mx = -1e30, sum = 0;
        for (int64_t j = 0; j < n_kv; ++j) {
          double d = 0;
          for (int64_t i = 0; i < D; ++i)
            d += double(round(qv[size_t((t * H + h) * D + i)])) * kcv[size_t((j * Hkv + hk) * D + i)];
          s[size_t(j)] = 0.25 * d;
          mx = std::max(mx, s[size_t(j)]);
        }
        for (auto& x : s) sum += (x = std::exp(x - mx));
        for (int64_t i = 0; i < D; ++i) {
          double o = 0;
          for (int64_t j = 0; j < n_kv; ++j) o += s[size_t(j)] / sum * vcv[size_t((j * Hkv + hk) * D + i)];
          want[size_t((t * H + h) * D + i)] = o;
        }
      }
    // With an f16 cache the weighted sum of V is accumulated in f16 (as llama.cpp's CPU flash
    // attention does), rounded to 11 significant bits after each of the up to 8 steps here, so the
    // error is a few f16 ulps (2^-11 relative each) rather than float rounding.
    const double tol = cache_dt == DType::F16 ? 4e-3 : 1e-5;
    expect_close(result(g, y), want, tol, cache_dt == DType::F16 ? "attention f16" : "attention f32");
    // The store wrote the new rows into the cache.
    std::vector<float> cache_now(size_t(D * Hkv * C));
    dtype_info(cache_dt).to_float(kc.t.data, cache_now.data(), D * Hkv * C);
    for (size_t i = 0; i < cache_now.size(); ++i) ASSERT_EQ(cache_now[i], kcv[i]) << "k cache " << i;
  }
}

// Batches of 64+ queries take llama.cpp's tiled flash-attention algorithm (64 keys per tile, q kept
// in f32, V accumulated in f32), also over cached positions and with keys past the batch masked.
TEST_P(CpuOps, AttentionTiledForLongBatches) {
  const int64_t D = 16, H = 4, Hkv = 2, C = 160, past = 7, T = 70;
  std::vector<float> qv, kcv, vcv;
  Buf q = random_tensor("q", DType::F32, {D, H, T, 1}, rng, &qv);
  Buf kc = random_tensor("kc", DType::F16, {D, Hkv, C, 1}, rng, &kcv);
  Buf vc = random_tensor("vc", DType::F16, {D, Hkv, C, 1}, rng, &vcv);
  Graph g;
  OpParams p;
  p.i[0] = past;
  p.f[0] = 0.25f;
  const int y = g.add(Op::Attention, make_tensor("y", DType::F32, {D, H, T, 1}), {g.leaf(q.t), g.leaf(kc.t), g.leaf(vc.t)}, p);
  g.set_output(y);
  run(g);
  std::vector<double> want(size_t(D * H * T));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < H; ++h) {
      const int64_t hk = h / (H / Hkv), n_kv = past + t + 1;
      std::vector<double> s(static_cast<size_t>(n_kv));
      double mx = -1e30, sum = 0;
      for (int64_t j = 0; j < n_kv; ++j) {
        double d = 0;
        for (int64_t i = 0; i < D; ++i) d += double(qv[size_t((t * H + h) * D + i)]) * kcv[size_t((j * Hkv + hk) * D + i)];
        s[size_t(j)] = 0.25 * d;
        mx = std::max(mx, s[size_t(j)]);
      }
      for (auto& x : s) sum += (x = std::exp(x - mx));
      for (int64_t i = 0; i < D; ++i) {
        double o = 0;
        for (int64_t j = 0; j < n_kv; ++j) o += s[size_t(j)] / sum * vcv[size_t((j * Hkv + hk) * D + i)];
        want[size_t((t * H + h) * D + i)] = o;
      }
    }
  expect_close(result(g, y), want, 1e-5, "tiled attention");
}

TEST_P(CpuOps, ConvertBetweenDtypes) {
  std::vector<float> xv;
  Buf x = random_tensor("x", DType::F32, {64, 3, 1, 1}, rng, &xv);
  Graph g;
  const int h = g.add(Op::Convert, make_tensor("h", DType::F16, {64, 3, 1, 1}), {g.leaf(x.t), -1, -1});
  const int back = g.add(Op::Convert, make_tensor("back", DType::F32, {64, 3, 1, 1}), {h, -1, -1});
  g.set_output(back);
  run(g);
  std::vector<double> want;
  for (float v : xv) want.push_back(fp16_to_fp32(fp32_to_fp16(v)));
  expect_close(result(g, back), want, 0, "convert");
}

TEST(CpuGraph, ReportsUnsupportedDtypeByOpAndName) {
  // q8_K is an activation-only format: no matmul kernel takes it as a weight.
  std::vector<char> bytes(292 * 4);
  Tensor w = make_tensor("blk.0.ffn_up.weight", DType::Q8_K, {256, 4, 1, 1});
  w.data = bytes.data();
  std::vector<float> xb(256);
  Tensor x = make_tensor("x", DType::F32, {256, 1, 1, 1});
  x.data = xb.data();
  Graph g;
  g.set_output(g.add(Op::MatMul, make_tensor("y", DType::F32, {4, 1, 1, 1}), {g.leaf(w), g.leaf(x), -1}));
  try {
    cpu::CpuBackend(1).compute(g);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[matmul]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("q8_K"), std::string::npos) << e.what();
  }
}

// The memory plan and support check are kept while op, dtype, shape and sources of every node and
// the outputs stay the same (Session's rebased decode graph); anything else is planned and checked
// again, and data pointers are taken afresh on every run.
TEST(CpuGraph, PlanIsKeptOnlyWhileTheStructureIsUnchanged) {
  std::mt19937 rng(7);
  auto add_mul = [&](int64_t rows, Buf& a, Buf& b) {
    a = random_tensor("a", DType::F32, {13, rows, 1, 1}, rng);
    b = random_tensor("b", DType::F32, {13, rows, 1, 1}, rng);
    Graph g;
    const int ia = g.leaf(a.t), ib = g.leaf(b.t);
    const int sum = g.add(Op::Add, make_tensor("s", DType::F32, {13, rows, 1, 1}), {ia, ib, -1});
    g.set_output(g.add(Op::Mul, make_tensor("p", DType::F32, {13, rows, 1, 1}), {sum, ib, -1}));
    return g;
  };
  auto expect_result = [](const Graph& g, const Buf& a, const Buf& b) {
    const float *av = a.t.as<float>(), *bv = b.t.as<float>(), *y = g.node(g.outputs()[0]).out.as<float>();
    for (int64_t i = 0; i < a.t.nelements(); ++i) ASSERT_EQ(y[i], (av[i] + bv[i]) * bv[i]) << i;
  };
  cpu::CpuBackend backend(2);
  Buf a, b, a2, b2;
  Graph g = add_mul(5, a, b);
  backend.compute(g);
  expect_result(g, a, b);
  EXPECT_EQ(backend.plans_made(), 1);
  Graph same = add_mul(5, a2, b2);  // another graph, other data, same structure
  backend.compute(same);
  expect_result(same, a2, b2);
  Graph copy = g;
  backend.compute(copy);
  expect_result(copy, a, b);
  EXPECT_EQ(backend.plans_made(), 1);
  Graph taller = add_mul(6, a2, b2);
  backend.compute(taller);
  expect_result(taller, a2, b2);
  EXPECT_EQ(backend.plans_made(), 2);
  taller.set_output(2);  // the sum is now an output too
  backend.compute(taller);
  EXPECT_EQ(backend.plans_made(), 3);
  // A leaf without data is refused on every run, planned or not.
  taller.node(0).out.data = nullptr;
  EXPECT_THROW(backend.compute(taller), Error);
  // A weight dtype change is a structure change: the support check runs again and refuses q8_K.
  std::vector<char> wb(292 * 4), xb(256 * 4);
  Tensor w = make_tensor("w", DType::F32, {256, 4, 1, 1}), x = make_tensor("x", DType::F32, {256, 1, 1, 1});
  std::vector<char> wf(w.nbytes());
  w.data = wf.data();
  x.data = xb.data();
  Graph mm;
  mm.set_output(mm.add(Op::MatMul, make_tensor("y", DType::F32, {4, 1, 1, 1}), {mm.leaf(w), mm.leaf(x), -1}));
  backend.compute(mm);
  mm.node(0).out.dtype = DType::Q8_K;
  mm.node(0).out.data = wb.data();
  set_contiguous_strides(mm.node(0).out);
  try {
    backend.compute(mm);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("q8_K"), std::string::npos) << e.what();
  }
}

TEST(CpuGraph, ValidationNamesTheOp) {
  Graph g;
  const int a = g.leaf(make_tensor("a", DType::F32, {8, 2, 1, 1}));
  const int b = g.leaf(make_tensor("b", DType::F32, {9, 2, 1, 1}));
  try {
    g.add(Op::Add, make_tensor("c", DType::F32, {8, 2, 1, 1}), {a, b, -1});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[add]"), std::string::npos) << e.what();
  }
}

// ---- ops for MoE, MLA, GPT and DeltaNet architectures ------------------------------------------
TEST_P(CpuOps, LayerNormWithWeightAndBias) {
  std::vector<float> xv, wv, bv;
  Buf x = random_tensor("x", DType::F32, {29, 4, 1, 1}, rng, &xv);
  Buf w = random_tensor("w", DType::F32, {29, 1, 1, 1}, rng, &wv);
  Buf b = random_tensor("b", DType::F32, {29, 1, 1, 1}, rng, &bv);
  Graph g;
  OpParams p;
  p.f[0] = 1e-5f;
  const int y = g.add(Op::LayerNorm, make_tensor("y", DType::F32, {29, 4, 1, 1}), {g.leaf(x.t), g.leaf(w.t), g.leaf(b.t)}, p);
  g.set_output(y);
  run(g);
  std::vector<double> want(xv.size());
  for (int r = 0; r < 4; ++r) {
    double mean = 0, var = 0;
    for (int i = 0; i < 29; ++i) mean += xv[size_t(r * 29 + i)];
    mean /= 29;
    for (int i = 0; i < 29; ++i) var += std::pow(xv[size_t(r * 29 + i)] - mean, 2);
    const double inv = 1.0 / std::sqrt(var / 29 + 1e-5);
    for (int i = 0; i < 29; ++i) want[size_t(r * 29 + i)] = (xv[size_t(r * 29 + i)] - mean) * inv * wv[size_t(i)] + bv[size_t(i)];
  }
  expect_close(result(g, y), want, 1e-5, "layer_norm");
}

// Experts [K, N, X] picked per slot by ids, input broadcast over slots; also transposed and
// per-head (no ids) forms.
TEST_P(CpuOps, MatMulIdPicksExpertsPerSlot) {
  const int64_t K = 32, N = 5, X = 4, S = 2, T = 3;
  for (DType dt : {DType::F32, DType::F16}) {
    std::vector<float> wv, xv;
    Buf w = random_tensor("w", dt, {K, N, X, 1}, rng, &wv);
    Buf x = random_tensor("x", DType::F32, {K, 1, T, 1}, rng, &xv);
    Buf ids;
    ids.t = make_tensor("ids", DType::I32, {S, T, 1, 1});
    ids.bytes.resize(ids.t.nbytes());
    ids.t.data = ids.bytes.data();
    const int32_t pick[] = {3, 0, 1, 3, -1, 2};  // token 2, slot 0 is padding (-1)
    std::memcpy(ids.t.data, pick, sizeof(pick));
    Graph g;
    const int y = g.add(Op::MatMulId, make_tensor("y", DType::F32, {N, S, T, 1}), {g.leaf(w.t), g.leaf(x.t), g.leaf(ids.t)});
    g.set_output(y);
    run(g);
    std::vector<double> want(size_t(N * S * T), 0.0);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t s = 0; s < S; ++s) {
        const int e = pick[t * S + s];
        if (e < 0) continue;
        for (int64_t n = 0; n < N; ++n) {
          double acc = 0;
          for (int64_t k = 0; k < K; ++k) acc += double(wv[size_t((e * N + n) * K + k)]) * xv[size_t(t * K + k)];
          want[size_t((t * S + s) * N + n)] = acc;
        }
      }
    expect_close(result(g, y), want, 1e-5, "matmul_id");
  }
  // transposed experts [N, K] without ids: slot s uses expert s (per-head weights)
  std::vector<float> wv, xv;
  Buf w = random_tensor("w", DType::F32, {N, K, X, 1}, rng, &wv);
  Buf x = random_tensor("x", DType::F32, {K, X, T, 1}, rng, &xv);
  Graph g;
  OpParams p;
  p.i[0] = 1;
  const int y = g.add(Op::MatMulId, make_tensor("y", DType::F32, {N, X, T, 1}), {g.leaf(w.t), g.leaf(x.t), -1}, p);
  g.set_output(y);
  run(g);
  std::vector<double> want(size_t(N * X * T));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t e = 0; e < X; ++e)
      for (int64_t n = 0; n < N; ++n) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k) acc += double(wv[size_t((e * K + k) * N + n)]) * xv[size_t((t * X + e) * K + k)];
        want[size_t((t * X + e) * N + n)] = acc;
      }
  expect_close(result(g, y), want, 1e-5, "matmul_id transposed");
}

TEST_P(CpuOps, TopKGatherAndWeightedSumRouteTokens) {
  const int64_t E = 6, T = 3, k = 2, N = 7;
  std::vector<float> pv, av;
  Buf probs = random_tensor("p", DType::F32, {E, T, 1, 1}, rng, &pv);
  Buf outs = random_tensor("o", DType::F32, {N, k, T, 1}, rng, &av);
  Graph g;
  const int ip = g.leaf(probs.t);
  OpParams nc;
  nc.i[0] = -1;
  const int ids = g.add(Op::TopK, make_tensor("ids", DType::I32, {k, T, 1, 1}), {ip, -1, -1}, nc);
  OpParams causal;
  causal.i[0] = 0;  // row t sees entries 0..t
  const int cids = g.add(Op::TopK, make_tensor("cids", DType::I32, {k, T, 1, 1}), {ip, -1, -1}, causal);
  const int w = g.add(Op::Gather, make_tensor("w", DType::F32, {k, T, 1, 1}), {ip, ids, -1});
  const int y = g.add(Op::WeightedSum, make_tensor("y", DType::F32, {N, T, 1, 1}), {g.leaf(outs.t), w, -1});
  for (int id : {ids, cids, w, y}) g.set_output(id);
  run(g);
  const int32_t* got_ids = g.node(ids).out.as<int32_t>();
  const int32_t* got_c = g.node(cids).out.as<int32_t>();
  std::vector<double> want_w(size_t(k * T)), want_y(size_t(N * T), 0.0);
  for (int64_t t = 0; t < T; ++t) {
    std::vector<int> order(E);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return pv[size_t(t * E + a)] > pv[size_t(t * E + b)]; });
    for (int64_t j = 0; j < k; ++j) {
      EXPECT_EQ(got_ids[t * k + j], order[size_t(j)]);
      want_w[size_t(t * k + j)] = pv[size_t(t * E + order[size_t(j)])];
    }
    // causal: only the first t + 1 entries compete; the rest of the k slots are -1
    std::vector<int> pre(size_t(t + 1));
    std::iota(pre.begin(), pre.end(), 0);
    std::stable_sort(pre.begin(), pre.end(), [&](int a, int b) { return pv[size_t(t * E + a)] > pv[size_t(t * E + b)]; });
    for (int64_t j = 0; j < k; ++j) EXPECT_EQ(got_c[t * k + j], j <= t ? pre[size_t(j)] : -1);
    for (int64_t j = 0; j < k; ++j)
      for (int64_t i = 0; i < N; ++i) want_y[size_t(t * N + i)] += want_w[size_t(t * k + j)] * av[size_t((t * k + j) * N + i)];
  }
  expect_close(result(g, w), want_w, 0, "gather");
  expect_close(result(g, y), want_y, 1e-6, "weighted_sum");
}

TEST_P(CpuOps, ConcatBroadcastsOneHead) {
  std::vector<float> av, bv;
  Buf a = random_tensor("a", DType::F32, {5, 3, 2, 1}, rng, &av);
  Buf b = random_tensor("b", DType::F32, {4, 1, 2, 1}, rng, &bv);
  Graph g;
  const int y = g.add(Op::Concat, make_tensor("y", DType::F32, {9, 3, 2, 1}), {g.leaf(a.t), g.leaf(b.t), -1});
  g.set_output(y);
  run(g);
  std::vector<double> want;
  for (int t = 0; t < 2; ++t)
    for (int h = 0; h < 3; ++h) {
      for (int i = 0; i < 5; ++i) want.push_back(av[size_t((t * 3 + h) * 5 + i)]);
      for (int i = 0; i < 4; ++i) want.push_back(bv[size_t(t * 4 + i)]);
    }
  expect_close(result(g, y), want, 0, "concat");
}

TEST_P(CpuOps, SigmoidSoftplusRelu) {
  std::vector<float> av;
  Buf a = random_tensor("a", DType::F32, {17, 3, 1, 1}, rng, &av);
  av[0] = 30.0f;  // softplus of a large input must not overflow
  std::memcpy(a.t.data, av.data(), av.size() * 4);
  Graph g;
  const int ia = g.leaf(a.t);
  const int sg = g.add(Op::Sigmoid, make_tensor("s", DType::F32, {17, 3, 1, 1}), {ia, -1, -1});
  const int sp = g.add(Op::Softplus, make_tensor("p", DType::F32, {17, 3, 1, 1}), {ia, -1, -1});
  const int re = g.add(Op::Relu, make_tensor("r", DType::F32, {17, 3, 1, 1}), {ia, -1, -1});
  for (int id : {sg, sp, re}) g.set_output(id);
  run(g);
  std::vector<double> ws, wp, wr;
  for (float x : av) {
    ws.push_back(1.0 / (1.0 + std::exp(-double(x))));
    wp.push_back(std::log1p(std::exp(double(x))));
    wr.push_back(x > 0 ? x : 0);
  }
  expect_close(result(g, sg), ws, 1e-6, "sigmoid");
  expect_close(result(g, sp), wp, 1e-6, "softplus");
  expect_close(result(g, re), wr, 0, "relu");
}

// Two batches through the convolution equal one batch: the state carries the tail.
TEST_P(CpuOps, ShortConvCarriesItsState) {
  const int64_t C = 6, W = 4, T = 5;
  std::vector<float> xv, wv;
  Buf x = random_tensor("x", DType::F32, {C, T, 1, 1}, rng, &xv);
  Buf w = random_tensor("w", DType::F32, {W, C, 1, 1}, rng, &wv);
  Buf st = random_tensor("st", DType::F32, {C, W - 1, 1, 1}, rng);
  std::memset(st.t.data, 0, st.t.nbytes());
  Graph g;
  const int y = g.add(Op::ShortConv, make_tensor("y", DType::F32, {C, T, 1, 1}), {g.leaf(x.t), g.leaf(w.t), g.leaf(st.t)});
  g.set_output(y);
  run(g);
  std::vector<double> want(size_t(C * T));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t t = 0; t < T; ++t) {
      double acc = 0;
      for (int64_t j = 0; j < W; ++j) {
        const int64_t src_t = t - (W - 1) + j;
        if (src_t >= 0) acc += double(wv[size_t(c * W + j)]) * xv[size_t(src_t * C + c)];
      }
      want[size_t(t * C + c)] = acc;
    }
  expect_close(result(g, y), want, 1e-5, "short_conv");
  const float* s = st.t.as<float>();
  for (int64_t j = 0; j < W - 1; ++j)
    for (int64_t c = 0; c < C; ++c) EXPECT_EQ(s[j * C + c], xv[size_t((T - (W - 1) + j) * C + c)]);
}

// The gated delta rule against a double-precision transcription of Qwen3-Next's recurrence.
TEST_P(CpuOps, DeltaNetMatchesTheRecurrence) {
  const int64_t Hk = 1, Dk = 4, Hv = 2, Dv = 3, T = 4;
  std::vector<float> xv, gv;
  Buf x = random_tensor("x", DType::F32, {2 * Hk * Dk + Hv * Dv, T, 1, 1}, rng, &xv);
  Buf gates = random_tensor("g", DType::F32, {2, Hv, T, 1}, rng, &gv);
  for (size_t i = 0; i < gv.size(); i += 2) {
    gv[i] = -std::fabs(gv[i]);                                // log decay ≤ 0
    gv[i + 1] = float(1.0 / (1.0 + std::exp(-gv[i + 1])));  // beta in (0, 1)
  }
  std::memcpy(gates.t.data, gv.data(), gv.size() * 4);
  Buf st = random_tensor("st", DType::F32, {Dk, Dv, Hv, 1}, rng);
  std::vector<double> S(size_t(Dk * Dv * Hv));
  for (size_t i = 0; i < S.size(); ++i) S[i] = st.t.as<float>()[i];
  Graph g;
  OpParams p;
  p.i = {Hk, Dk, Hv, Dv};
  const int y = g.add(Op::DeltaNet, make_tensor("y", DType::F32, {Dv, Hv, T, 1}), {g.leaf(x.t), g.leaf(gates.t), g.leaf(st.t)}, p);
  g.set_output(y);
  run(g);
  std::vector<double> want(size_t(Dv * Hv * T));
  const int64_t W = 2 * Hk * Dk + Hv * Dv;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < Hv; ++h) {
      std::vector<double> q(static_cast<size_t>(Dk)), k(static_cast<size_t>(Dk));
      double nq = 0, nk = 0;
      for (int64_t i = 0; i < Dk; ++i) {
        q[size_t(i)] = xv[size_t(t * W + i)];
        k[size_t(i)] = xv[size_t(t * W + Dk + i)];
        nq += q[size_t(i)] * q[size_t(i)];
        nk += k[size_t(i)] * k[size_t(i)];
      }
      for (int64_t i = 0; i < Dk; ++i) {
        q[size_t(i)] /= std::sqrt(nq + 1e-6) * std::sqrt(double(Dk));
        k[size_t(i)] /= std::sqrt(nk + 1e-6);
      }
      double* Sh = S.data() + h * Dk * Dv;
      const double decay = std::exp(double(gv[size_t((t * Hv + h) * 2)])), beta = gv[size_t((t * Hv + h) * 2 + 1)];
      for (int64_t i = 0; i < Dk * Dv; ++i) Sh[i] *= decay;
      for (int64_t j = 0; j < Dv; ++j) {
        double kv = 0;
        for (int64_t i = 0; i < Dk; ++i) kv += Sh[i + Dk * j] * k[size_t(i)];
        const double delta = beta * (xv[size_t(t * W + 2 * Dk + h * Dv + j)] - kv);
        for (int64_t i = 0; i < Dk; ++i) Sh[i + Dk * j] += k[size_t(i)] * delta;
      }
      for (int64_t j = 0; j < Dv; ++j) {
        double o = 0;
        for (int64_t i = 0; i < Dk; ++i) o += Sh[i + Dk * j] * q[size_t(i)];
        want[size_t((t * Hv + h) * Dv + j)] = o;
      }
    }
  expect_close(result(g, y), want, 1e-5, "delta_net");
  for (size_t i = 0; i < S.size(); ++i) ASSERT_NEAR(st.t.as<float>()[i], S[i], 1e-5 * (1 + std::fabs(S[i]))) << "state " << i;
}

// Sliding window, MLA (values = the first Dv columns of each key row) and sparse key lists against
// a double reference over the same keys.
TEST_P(CpuOps, AttentionWindowSharedValuesAndSparseKeys) {
  const int64_t Dk = 8, Dv = 5, H = 2, T = 3, C = 10, past = 4;
  std::vector<float> qv, kv;
  Buf q = random_tensor("q", DType::F32, {Dk, H, T, 1}, rng, &qv);
  Buf k = random_tensor("k", DType::F32, {Dk, 1, C, 1}, rng, &kv);
  Buf sel;
  sel.t = make_tensor("sel", DType::I32, {3, T, 1, 1});
  sel.bytes.resize(sel.t.nbytes());
  sel.t.data = sel.bytes.data();
  const int32_t picks[] = {0, 3, -1, 4, 5, 1, 6, 2, 9};  // 9 is after query 2's position 6: skipped
  std::memcpy(sel.t.data, picks, sizeof(picks));
  auto reference = [&](auto keys_of) {
    std::vector<double> want(size_t(Dv * H * T));
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < H; ++h) {
        const std::vector<int64_t> keys = keys_of(t);
        std::vector<double> s;
        double mx = -1e300;
        for (int64_t j : keys) {
          double d = 0;
          for (int64_t i = 0; i < Dk; ++i) d += double(qv[size_t((t * H + h) * Dk + i)]) * kv[size_t(j * Dk + i)];
          s.push_back(d * 0.5);
          mx = std::max(mx, d * 0.5);
        }
        double sum = 0;
        for (double& e : s) sum += (e = std::exp(e - mx));
        for (int64_t i = 0; i < Dv; ++i) {
          double acc = 0;
          for (size_t n = 0; n < keys.size(); ++n) acc += s[n] * kv[size_t(keys[n] * Dk + i)];
          want[size_t((t * H + h) * Dv + i)] = acc / sum;
        }
      }
    return want;
  };
  Graph g;
  const int iq = g.leaf(q.t), ik = g.leaf(k.t), is = g.leaf(sel.t);
  OpParams win;
  win.i[0] = past;
  win.i[1] = 3;  // the last 3 positions
  win.f[0] = 0.5f;
  const int yw = g.add(Op::Attention, make_tensor("yw", DType::F32, {Dv, H, T, 1}), {iq, ik, -1}, win);
  OpParams sp;
  sp.i[0] = past;
  sp.f[0] = 0.5f;
  const int ys = g.add(Op::Attention, make_tensor("ys", DType::F32, {Dv, H, T, 1}), {iq, ik, is}, sp);
  g.set_output(yw);
  g.set_output(ys);
  run(g);
  expect_close(result(g, yw), reference([&](int64_t t) {
                 std::vector<int64_t> keys;
                 for (int64_t j = past + t - 2; j <= past + t; ++j) keys.push_back(j);
                 return keys;
               }), 1e-5, "windowed");
  expect_close(result(g, ys), reference([&](int64_t t) {
                 std::vector<int64_t> keys;
                 for (int n = 0; n < 3; ++n)
                   if (picks[t * 3 + n] >= 0 && picks[t * 3 + n] <= past + t) keys.push_back(picks[t * 3 + n]);
                 return keys;
               }), 1e-5, "sparse");
}

TEST(CpuGraph, NewOpsValidateTheirOperands) {
  Graph g;
  const int w = g.leaf(make_tensor("w", DType::F32, {8, 4, 3, 1}));
  const int x = g.leaf(make_tensor("x", DType::F32, {6, 1, 2, 1}));
  auto message = [&](auto fn) {
    try {
      fn();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(message([&] { g.add(Op::MatMulId, make_tensor("y", DType::F32, {4, 3, 2, 1}), {w, x, -1}); })
                .find("[matmul_id] 'y': input [6, 1, 2] does not fit experts [8, 4, 3]"),
            std::string::npos);
  const int p = g.leaf(make_tensor("p", DType::F32, {5, 2, 1, 1}));
  EXPECT_NE(message([&] { g.add(Op::TopK, make_tensor("k", DType::I32, {6, 2, 1, 1}), {p, -1, -1}); }).find("[top_k] 'k'"),
            std::string::npos);
  EXPECT_NE(message([&] { g.add(Op::Concat, make_tensor("c", DType::F32, {9, 2, 1, 1}), {p, x, -1}); }).find("[concat] 'c'"),
            std::string::npos);
  OpParams dp;
  dp.i = {1, 4, 3, 3};  // 3 value heads are not a multiple of... 1 key head is, but the widths are wrong
  EXPECT_NE(message([&] { g.add(Op::DeltaNet, make_tensor("d", DType::F32, {3, 3, 2, 1}), {x, x, x}, dp); })
                .find("[delta_net] 'd'"),
            std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Threads, CpuOps, ::testing::Values(1, 2, 3, 4),
                         [](const auto& p) { return "t" + std::to_string(p.param); });

}  // namespace
}  // namespace db
