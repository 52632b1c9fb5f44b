// Every CPU op against a naive double-precision reference written here, across thread counts and
// odd shapes. Tolerances are per dtype: what the format's rounding of operands can explain.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
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

INSTANTIATE_TEST_SUITE_P(Threads, CpuOps, ::testing::Values(1, 2, 3, 4),
                         [](const auto& p) { return "t" + std::to_string(p.param); });

}  // namespace
}  // namespace db
