// The cost model: calibrated GEMM efficiencies reproduce the public GEMM measurements they came
// from, shape effects (tile fit, memory-bound decode) behave, emulation paths are chosen and
// charged as documented, and unknown rates are reported rather than guessed.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "drawbridge/builder.h"
#include "drawbridge/error.h"
#include "drawbridge/model.h"
#include "perf/cost_model.h"
#include "test_util.h"

namespace db::perf {
namespace {

const DeviceProfile& profile(const std::string& id) {
  const DeviceProfile* p = find_profile(id);
  if (!p) throw std::runtime_error("no profile " + id);
  return *p;
}

// y[N, M] = W[K, N] · x[K, M] with meta weights; returns the graph and the matmul node.
std::pair<Graph, int> gemm(DType w, int64_t k, int64_t n, int64_t m) {
  Graph g;
  const int wi = g.leaf(make_tensor("w", w, {k, n, 1, 1}));
  const int x = g.leaf(make_tensor("x", DType::F32, {k, m, 1, 1}));
  const int y = g.add(Op::MatMul, make_tensor("y", DType::F32, {n, m, 1, 1}), {wi, x, -1});
  return {std::move(g), y};
}

double modeled_tflops(const std::string& device, DType w, int64_t size) {
  const CostModel model(profile(device));
  auto [g, y] = gemm(w, size, size, size);
  const OpEstimate e = model.estimate(g, g.node(y));
  EXPECT_TRUE(e.compute_bound);
  return e.flops / e.seconds / 1e12;
}

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  for (std::string cell; std::getline(ss, cell, ',');) out.push_back(cell);
  return out;
}

// Each GEMM row of measured-performance.csv is reproduced by its device's calibrated profile.
TEST(CostModel, ReproducesTheMeasuredGemmRows) {
  const auto csv = test::shared_file("reference/measured-performance.csv");
  REQUIRE_SHARED(csv);
  std::ifstream in(csv);
  std::string line;
  int checked = 0;
  while (std::getline(in, line)) {
    const auto c = split(line);  // id,hardware,...,weight_dtype(4),...,metric(16),value(17)
    if (c.size() < 18 || (c[16] != "gemm_tflops" && c[16] != "gemm_tops_int8")) continue;
    const DType w = c[4] == "f16" ? DType::F16 : c[4] == "bf16" ? DType::BF16 : c[4] == "f32" ? DType::F32 : DType::Q8_0;
    const double measured = std::stod(c[17]);
    EXPECT_NEAR(modeled_tflops(c[1], w, 8192), measured, 0.02 * measured) << c[0] << " on " << c[1];
    ++checked;
  }
  EXPECT_GE(checked, 6);
}

TEST(CostModel, TileFitPadsToTheNativeTile) {
  const CostModel ascend(profile("ascend-910b2"));  // 16×16×16 cube
  EXPECT_DOUBLE_EQ(ascend.tile_fit(16, 4096, 4096), 1.0);
  EXPECT_DOUBLE_EQ(ascend.tile_fit(1, 4096, 4096), 1.0 / 16);
  EXPECT_DOUBLE_EQ(ascend.tile_fit(17, 16, 16), 17.0 / 32);
  const CostModel h100(profile("nvidia-h100-sxm"));  // no tile published: no padding charged
  EXPECT_DOUBLE_EQ(h100.tile_fit(1, 4096, 4096), 1.0);
}

TEST(CostModel, DecodeGemvIsMemoryBoundAtCalibratedBandwidth) {
  const DeviceProfile& p = profile("ascend-910b2");
  const CostModel model(p);
  auto [g, y] = gemm(DType::F16, 4096, 4096, 1);
  const OpEstimate e = model.estimate(g, g.node(y));
  EXPECT_FALSE(e.compute_bound);
  const double bytes = 4096.0 * 4096 * 2 + 4096 * 4 + 4096 * 4;
  EXPECT_DOUBLE_EQ(e.bytes, bytes);
  EXPECT_NEAR(e.seconds, bytes / (1600e9 * 0.80) + 5e-6, 1e-12);
}

TEST(CostModel, WithoutCalibrationItIsAPlainRoofline) {
  const DeviceProfile p = parse_profile(R"(
id = "roof"
name = "Roof"
vendor = "Test"
[compute]
native_dtypes = { value = ["f16"], source = "t", confidence = "high" }
peak_tflops.f16 = { value = 100, source = "t", confidence = "high" }
[memory]
bandwidth_gbps = { value = 1000, source = "t", confidence = "high" }
)", "roof.toml");
  const CostModel model(p);
  auto [g, y] = gemm(DType::F16, 4096, 4096, 4096);
  const OpEstimate e = model.estimate(g, g.node(y));
  EXPECT_DOUBLE_EQ(e.seconds, 2.0 * 4096 * 4096 * 4096 / 100e12);
}

TEST(CostModel, PathsFollowTheChipsFormats) {
  const ComputePath biren = matmul_path(profile("biren-br100"), DType::F16);  // no FP16 listed
  EXPECT_EQ(biren.kind, PathKind::Emulated);
  EXPECT_EQ(biren.used, "bf16");
  EXPECT_TRUE(swaps_16bit(biren));

  const ComputePath hanguang = matmul_path(profile("thead-hanguang-800"), DType::F32);
  EXPECT_EQ(hanguang.kind, PathKind::Refused);
  EXPECT_NE(hanguang.why.find("drawbridge quantize"), std::string::npos) << hanguang.why;
  EXPECT_EQ(matmul_path(profile("thead-hanguang-800"), DType::Q8_0).kind, PathKind::Native);
  EXPECT_EQ(matmul_path(profile("thead-hanguang-800"), DType::Q4_0).kind, PathKind::Emulated);

  const ComputePath c = matmul_path(profile("ascend-910c"), DType::F32);  // FP32 rate n/f
  EXPECT_EQ(c.used, "bf16");
  EXPECT_EQ(c.passes, 3);
  EXPECT_NE(c.why.find("time only"), std::string::npos);

  const ComputePath s3000 = matmul_path(profile("mthreads-mtt-s3000"), DType::F16);
  EXPECT_EQ(s3000.used, "f32");
}

TEST(CostModel, SplitPrecisionCostsThreePasses) {
  const CostModel model(profile("ascend-910c"));
  auto [g32, y32] = gemm(DType::F32, 8192, 8192, 8192);
  auto [g16, y16] = gemm(DType::BF16, 8192, 8192, 8192);
  const OpEstimate f32 = model.estimate(g32, g32.node(y32));
  const OpEstimate bf16 = model.estimate(g16, g16.node(y16));
  EXPECT_NEAR(f32.compute_s / bf16.compute_s, 3.0, 1e-9);
}

TEST(CostModel, UnknownRatesAreReportedNotGuessed) {
  const CostModel model(profile("amd-mi300x"));  // FP32 rate not retrieved
  auto [g, y] = gemm(DType::F32, 4096, 4096, 4096);
  const GraphEstimate e = model.estimate(g);
  ASSERT_EQ(e.unknowns.size(), 1u);
  EXPECT_NE(e.unknowns[0].find("f32 peak rate unknown"), std::string::npos);
  EXPECT_EQ(e.ops[0].compute_s, 0);
  EXPECT_GT(e.ops[0].memory_s, 0);
}

TEST(CostModel, KvStoreChargesOnlyTheNewRows) {
  const CostModel model(profile("nvidia-h100-sxm"));
  auto kv_bytes = [&](int64_t n_ctx) {
    Graph g;
    const Tensor cache = make_tensor("cache", DType::F16, {128, 8, n_ctx, 1});
    const int x = g.leaf(make_tensor("k", DType::F32, {128, 8, 1, 1}));
    const int c = g.leaf(cache);
    const int s = g.add(Op::KvStore, cache, {x, c, -1});
    return model.estimate(g, g.node(s)).bytes;
  };
  EXPECT_DOUBLE_EQ(kv_bytes(256), kv_bytes(65536));
  EXPECT_DOUBLE_EQ(kv_bytes(256), 128 * 8 * 4 + 128 * 8 * 2);
}

// A 7B decode step on an A100 costs at least its weights at peak bandwidth, and not much more than
// its weights at calibrated bandwidth plus per-op overheads.
TEST(CostModel, SevenBillionDecodeStepIsWeightBound) {
  ModelConfig c;
  c.n_layer = 32;
  c.n_embd = 4096;
  c.n_ff = 11008;
  c.n_head = 32;
  c.n_head_kv = 32;
  c.head_dim = 128;
  c.n_vocab = 32000;
  c.n_ctx_train = 4096;
  c.n_rot = 128;
  const auto model = Model::meta(c, DType::F16);
  const KvCache cache(c, 512, DType::F16, /*allocate=*/false);
  const ForwardGraph fg = build_forward(*model, cache, 1, 0, true);
  const DeviceProfile& p = profile("nvidia-a100-sxm-80gb");
  const GraphEstimate e = CostModel(p).estimate(fg.graph);
  const double weights = double(model->weight_bytes());
  EXPECT_TRUE(e.unknowns.empty());
  EXPECT_GT(e.seconds, weights / p.bandwidth());
  EXPECT_LT(e.seconds, 1.3 * weights / (p.bandwidth() * 0.80));
}

// Expert-indexed matmul: a matrix op at the weights' format, FLOPs for the routed pairs only, and
// weight bytes for the distinct experts the tokens touch, E·(1 − (1 − k/E)^T).
TEST(CostModel, MatMulIdIsAMatrixOpReadingOnlyTouchedExperts) {
  const DeviceProfile& p = profile("nvidia-h100-sxm");
  const CostModel model(p);
  const int64_t K = 1024, N = 512, X = 64, S = 8;
  auto op = [&](int64_t T) {
    Graph g;
    const int w = g.leaf(make_tensor("exps", DType::BF16, {K, N, X, 1}));
    const int x = g.leaf(make_tensor("x", DType::F32, {K, 1, T, 1}));
    const int ids = g.leaf(make_tensor("ids", DType::I32, {S, T, 1, 1}));
    const int y = g.add(Op::MatMulId, make_tensor("y", DType::F32, {N, S, T, 1}), {w, x, ids});
    return model.estimate(g, g.node(y));
  };
  const OpEstimate one = op(1), many = op(4096);
  EXPECT_EQ(one.format, "bf16");
  EXPECT_DOUBLE_EQ(one.flops, 2.0 * K * N * S);
  EXPECT_DOUBLE_EQ(many.flops, 2.0 * K * N * S * 4096);
  const double expert = double(K * N * 2);
  // One token: its 8 experts' weights, its row gathered once per slot, ids, 8 outputs.
  EXPECT_NEAR(one.bytes, S * expert + S * K * 4 + S * 4 + N * S * 4, 1.0);
  EXPECT_NEAR(many.bytes - (S * K + S + N * S) * 4.0 * 4096, X * expert, expert * 1e-6);  // every expert
  EXPECT_DOUBLE_EQ(one.overhead_s, *p.number("calibration.matmul_overhead_us") * 1e-6);
  EXPECT_FALSE(one.compute_bound);  // one token: streaming 8 experts' weights
  // Charged at the calibrated bf16 GEMM rate, as a dense matmul of the same FLOPs.
  EXPECT_NEAR(many.compute_s, many.flops / (*p.peak_flops("bf16") * model.gemm_efficiency("bf16")), 1e-12);
  // 64 tokens touch E·(1 − (1 − k/E)^64) experts.
  EXPECT_NEAR(op(64).bytes - (S * K + S + N * S) * 4.0 * 64, expected_experts_touched(64, 8, 64) * expert, 1.0);
}

// Attention charges the keys it reads: the window, the selected key list, one shared latent row.
TEST(CostModel, AttentionChargesOnlyTheKeysItReads) {
  const CostModel model(profile("nvidia-h100-sxm"));
  const int64_t D = 128, H = 8, ctx = 10000;
  auto dense = [&](int64_t window) {
    Graph g;
    const int q = g.leaf(make_tensor("q", DType::F32, {D, H, 1, 1}));
    const int k = g.leaf(make_tensor("k", DType::BF16, {D, H, ctx, 1}));
    const int v = g.leaf(make_tensor("v", DType::BF16, {D, H, ctx, 1}));
    OpParams at;
    at.i[0] = ctx - 1;
    at.i[1] = window;
    const int a = g.add(Op::Attention, make_tensor("a", DType::F32, {D, H, 1, 1}), {q, k, v}, at);
    return model.estimate(g, g.node(a));
  };
  const OpEstimate full = dense(0), win = dense(1000);
  const double row = D * H * 2.0, qo = D * H * 4.0 * 2;
  EXPECT_DOUBLE_EQ(full.bytes, 2 * row * ctx + qo);
  EXPECT_DOUBLE_EQ(win.bytes, 2 * row * 1000 + qo);
  EXPECT_DOUBLE_EQ(full.flops, 2.0 * H * (ctx - 0.5) * 2 * D);
  EXPECT_DOUBLE_EQ(win.flops, 2.0 * H * 1000 * 2 * D);
  EXPECT_EQ(full.format, "bf16");

  // MLA (absorbed): 128 heads over one 576-wide latent row per key, values its first 512 columns.
  const int64_t L = 576, Dv = 512, Hq = 128, topk = 2048;
  auto latent = [&](bool sparse) {
    Graph g;
    const int q = g.leaf(make_tensor("q", DType::F32, {L, Hq, 1, 1}));
    const int k = g.leaf(make_tensor("latent", DType::BF16, {L, 1, ctx, 1}));
    const int ids = sparse ? g.leaf(make_tensor("ids", DType::I32, {topk, 1, 1, 1})) : -1;
    OpParams at;
    at.i[0] = ctx - 1;
    const int a = g.add(Op::Attention, make_tensor("a", DType::F32, {Dv, Hq, 1, 1}), {q, k, ids}, at);
    return model.estimate(g, g.node(a));
  };
  const OpEstimate mla = latent(false), dsa = latent(true);
  const double q_out = (L + Dv) * Hq * 4.0;
  EXPECT_DOUBLE_EQ(mla.bytes, L * 2.0 * ctx + q_out);  // one row per key, read once
  EXPECT_DOUBLE_EQ(dsa.bytes, L * 2.0 * topk + q_out + topk * 4.0 * 0 /* ids are not a cache */);
  EXPECT_DOUBLE_EQ(dsa.flops, 2.0 * Hq * topk * (L + Dv));
}

// DeltaNet: 8·Hv·Dk·Dv FLOPs per token (decay, k·S, rank-1 update, q·S) and the f32 state read
// and written once per call, whatever the token count.
TEST(CostModel, DeltaNetChargesStateUpdatesAndStateBytes) {
  const CostModel model(profile("nvidia-h100-sxm"));
  const int64_t Hk = 16, Dk = 128, Hv = 32, Dv = 128;
  auto op = [&](int64_t T) {
    Graph g;
    const int x = g.leaf(make_tensor("qkv", DType::F32, {2 * Hk * Dk + Hv * Dv, T, 1, 1}));
    const int gates = g.leaf(make_tensor("gates", DType::F32, {2, Hv, T, 1}));
    const int st = g.leaf(make_tensor("state", DType::F32, {Dk, Dv, Hv, 1}));
    OpParams dp;
    dp.i = {Hk, Dk, Hv, Dv};
    const int y = g.add(Op::DeltaNet, make_tensor("y", DType::F32, {Dv, Hv, T, 1}), {x, gates, st}, dp);
    return model.estimate(g, g.node(y));
  };
  const double state = Dk * Dv * Hv * 4.0;
  const OpEstimate one = op(1), chunk = op(512);
  EXPECT_DOUBLE_EQ(one.flops, 8.0 * Hv * Dk * Dv);
  EXPECT_DOUBLE_EQ(chunk.flops, 512 * one.flops);
  const double per_token = (2 * Hk * Dk + Hv * Dv + 2 * Hv + Dv * Hv) * 4.0;
  EXPECT_DOUBLE_EQ(one.bytes, 2 * state + per_token);
  EXPECT_DOUBLE_EQ(chunk.bytes, 2 * state + 512 * per_token);
  EXPECT_EQ(one.format, "vector");
}

// Routing, gathers, concatenation and normalizations are vector ops charged by their bytes.
TEST(CostModel, NewVectorOpsAreChargedAsVectorOps) {
  const DeviceProfile& p = profile("nvidia-h100-sxm");
  const CostModel model(p);
  const int64_t E = 4096, X = 64, T = 32, k = 8;
  Graph g;
  const int x = g.leaf(make_tensor("x", DType::F32, {E, T, 1, 1}));
  const int probs = g.leaf(make_tensor("probs", DType::F32, {X, T, 1, 1}));
  OpParams tk;
  tk.i[0] = -1;
  const int ids = g.add(Op::TopK, make_tensor("ids", DType::I32, {k, T, 1, 1}), {probs, -1, -1}, tk);
  const int w = g.add(Op::Gather, make_tensor("w", DType::F32, {k, T, 1, 1}), {probs, ids, -1});
  const int outs = g.leaf(make_tensor("outs", DType::F32, {E, k, T, 1}));
  const int sum = g.add(Op::WeightedSum, make_tensor("sum", DType::F32, {E, T, 1, 1}), {outs, w, -1});
  const int ln = g.add(Op::LayerNorm, make_tensor("ln", DType::F32, {E, T, 1, 1}), {x, -1, -1});
  const int ge = g.add(Op::Gelu, make_tensor("ge", DType::F32, {E, T, 1, 1}), {x, -1, -1});
  const int a = g.leaf(make_tensor("a", DType::F32, {512, 1, T, 1}));
  const int b = g.leaf(make_tensor("b", DType::F32, {64, 1, T, 1}));
  const int cat = g.add(Op::Concat, make_tensor("cat", DType::F32, {576, 1, T, 1}), {a, b, -1});
  for (int id : {ids, w, sum, ln, ge, cat}) {
    const OpEstimate e = model.estimate(g, g.node(id));
    EXPECT_EQ(e.format, "vector") << e.op;
    EXPECT_GT(e.flops, 0) << e.op;
    EXPECT_DOUBLE_EQ(e.overhead_s, *p.number("calibration.op_overhead_us") * 1e-6) << e.op;
    EXPECT_FALSE(e.compute_bound) << e.op;
  }
  EXPECT_DOUBLE_EQ(model.estimate(g, g.node(sum)).bytes, (E * k * T + k * T + E * T) * 4.0);
  EXPECT_DOUBLE_EQ(model.estimate(g, g.node(cat)).bytes, (512 + 64 + 576) * T * 4.0);
  EXPECT_DOUBLE_EQ(model.estimate(g, g.node(ln)).flops, 5.0 * E * T);
}

}  // namespace
}  // namespace db::perf

namespace db::perf {
namespace {

const char* kCurveProfile = R"(
id = "curved"
name = "Curved"
vendor = "Test"
[compute]
native_dtypes = { value = ["f16", "q4_0"], source = "t", confidence = "high" }
peak_tflops.f16 = { value = 1, source = "t", confidence = "high" }
[memory]
bandwidth_gbps = { value = 100, source = "t", confidence = "high" }
[calibration]
memory_efficiency_by_bytes = { value = [[1048576, 1.0], [1024, 0.1]], source = "t", confidence = "high" }
[calibration.gemm_shape_efficiency]
f16 = { value = [[1, 2048, 2048, 0.01], [16, 2048, 2048, 0.16], [512, 2048, 2048, 1.0], [1, 256, 2048, 0.005], [512, 256, 2048, 0.5]], source = "t", confidence = "high" }
)";

TEST(CostModelCurves, GemmShapeCurveInterpolatesOverTokensAtTheNearestMatrix) {
  const CostModel m(parse_profile(kCurveProfile, "curved.toml"));
  EXPECT_DOUBLE_EQ(m.gemm_efficiency("f16", 1, 2048, 2048), 0.01);
  EXPECT_DOUBLE_EQ(m.gemm_efficiency("f16", 512, 2048, 2048), 1.0);
  EXPECT_NEAR(m.gemm_efficiency("f16", 4, 2048, 2048), 0.085, 1e-12);  // halfway in log m from 1 to 16
  EXPECT_DOUBLE_EQ(m.gemm_efficiency("f16", 4096, 2048, 2048), 1.0);   // clamped beyond the grid
  EXPECT_DOUBLE_EQ(m.gemm_efficiency("f16", 512, 200, 2048), 0.5);     // nearest (n, k) is 256 × 2048
  EXPECT_DOUBLE_EQ(m.gemm_efficiency("f16", 512, 4096, 4096), 1.0);    // nearest is 2048 × 2048
  // No curve for a format: the scalar efficiency (absent = 1, a roofline).
  EXPECT_DOUBLE_EQ(m.gemm_efficiency("q4_0", 1, 2048, 2048), 1.0);
}

TEST(CostModelCurves, OpsAreChargedFromTheCurvesNotARoofline) {
  const CostModel m(parse_profile(kCurveProfile, "curved.toml"));
  Graph g;
  const int w = g.leaf(make_tensor("w", DType::F16, {2048, 2048, 1, 1}));
  const int x = g.leaf(make_tensor("x", DType::F32, {2048, 1, 1, 1}));
  const int y = g.add(Op::MatMul, make_tensor("y", DType::F32, {2048, 1, 1, 1}), {w, x, -1});
  const OpEstimate e = m.estimate(g, g.node(y));
  // compute: 2·2048² FLOP at 1 TFLOP/s × 0.01, far above the streaming time of 8 MiB at 100 GB/s.
  EXPECT_NEAR(e.compute_s, 2.0 * 2048 * 2048 / 1e10, 1e-12);
  EXPECT_TRUE(e.compute_bound);
  EXPECT_DOUBLE_EQ(m.memory_efficiency(1024), 0.1);
  EXPECT_DOUBLE_EQ(m.memory_efficiency(4 << 20), 1.0);
  EXPECT_NEAR(m.memory_efficiency(32768), 0.55, 1e-12);  // halfway in log bytes
}

TEST(CostModelCurves, BadCurvesAreRejectedWithTheField) {
  auto error_of = [](const std::string& text) {
    try {
      parse_profile(text, "bad.toml");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const std::string head = "id = \"b\"\nname = \"B\"\nvendor = \"T\"\n[compute]\nnative_dtypes = { value = [\"f16\"], "
                           "source = \"t\", confidence = \"high\" }\n[calibration.gemm_shape_efficiency]\n";
  EXPECT_NE(error_of(head + "f16 = { value = [[1, 2, 3, 1.5]], source = \"t\", confidence = \"high\" }")
                .find("efficiency above 1"),
            std::string::npos);
  EXPECT_NE(error_of(head + "f16 = { value = [[1, 2, 3, 0.5], [1, 2]], source = \"t\", confidence = \"high\" }")
                .find("rows differ in length"),
            std::string::npos);
  EXPECT_NE(error_of(head + "f16 = { value = [[1, -2, 3, 0.5]], source = \"t\", confidence = \"high\" }")
                .find("not a positive number"),
            std::string::npos);
}

// Issue 7: a block format the chip has no kernel for is dequantized on load, never run as native.
TEST(CostModelBlockFormats, NonNativeBlockFormatsAreDequantizedOnLoadOrRefused) {
  const DeviceProfile& ascend = *find_profile("ascend-910b2");  // int8 cube: q8_0 is native
  EXPECT_EQ(matmul_path(ascend, DType::Q8_0).kind, PathKind::Native);
  EXPECT_FALSE(matmul_path(ascend, DType::Q8_0).load_as);
  for (DType t : {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q2_K, DType::Q3_K, DType::Q4_K,
                  DType::Q5_K, DType::Q6_K, DType::IQ4_NL}) {
    const ComputePath p = matmul_path(ascend, t);
    EXPECT_EQ(p.kind, PathKind::Emulated) << dtype_name(t);
    ASSERT_TRUE(p.load_as) << dtype_name(t);
    EXPECT_EQ(*p.load_as, DType::Q8_0);
    EXPECT_NE(p.why.find("dequantized on load to q8_0"), std::string::npos) << p.why;
  }
  // A float-only chip unpacks to its 16-bit format; a chip with no matrix format refuses.
  const DeviceProfile fp = parse_profile(R"(
id = "fp"
name = "FP"
vendor = "T"
[compute]
native_dtypes = { value = ["bf16"], source = "t", confidence = "high" }
)", "fp.toml");
  EXPECT_EQ(*matmul_path(fp, DType::Q4_K).load_as, DType::BF16);
  EXPECT_EQ(*matmul_path(fp, DType::Q8_0).load_as, DType::BF16);
  const DeviceProfile none = parse_profile(R"(
id = "none"
name = "None"
vendor = "T"
[compute]
native_dtypes = { value = ["int16"], source = "t", confidence = "high" }
)", "none.toml");
  const ComputePath refused = matmul_path(none, DType::Q4_0);
  EXPECT_EQ(refused.kind, PathKind::Refused);
  EXPECT_NE(refused.why.find("no matrix format to unpack q4_0 blocks into"), std::string::npos) << refused.why;
  // A stack that lists the block format (the calibrated host) computes it as it is.
  const DeviceProfile host = parse_profile(kCurveProfile, "curved.toml");
  EXPECT_EQ(matmul_path(host, DType::Q4_0).kind, PathKind::Native);
  EXPECT_EQ(matmul_path(host, DType::Q4_0).used, "q4_0");
  EXPECT_EQ(*matmul_path(host, DType::Q6_K).load_as, DType::F16);
}

// Costed without running (the planner's view), q4_K weights on an int8 chip move q8_0's bytes.
TEST(CostModelBlockFormats, DequantizedWeightsAreChargedAtTheirLoadedSize) {
  const CostModel model(*find_profile("ascend-910b2"));
  auto [gk, yk] = gemm(DType::Q4_K, 4096, 4096, 1);
  auto [g8, y8] = gemm(DType::Q8_0, 4096, 4096, 1);
  const OpEstimate k = model.estimate(gk, gk.node(yk));
  const OpEstimate q8 = model.estimate(g8, g8.node(y8));
  EXPECT_DOUBLE_EQ(k.bytes, q8.bytes);
  EXPECT_DOUBLE_EQ(k.seconds, q8.seconds);
}

}  // namespace
}  // namespace db::perf
