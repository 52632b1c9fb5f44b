// Every model profile builds through the same graph builder with meta weights, and the graph
// agrees with the published parameter counts, with 2 FLOPs per active weight per token, and with
// the KV-cache sizes the architectures imply.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "drawbridge/builder.h"
#include "drawbridge/error.h"

namespace db {
namespace {

struct Counts {
  double matmul_flops = 0;     // MatMul + MatMulId
  double attention_flops = 0;  // Attention (+ DeltaNet)
};

Counts count(const Graph& g) {
  Counts c;
  for (const Node& n : g.nodes()) {
    if (n.op == Op::MatMul || n.op == Op::MatMulId) c.matmul_flops += op_cost(g, n).flops;
    if (n.op == Op::Attention || n.op == Op::DeltaNet) c.attention_flops += op_cost(g, n).flops;
  }
  return c;
}

TEST(ModelGraphs, ParameterCountsMatchThePublishedTotals) {
  for (const auto& id : model_profile_ids()) {
    const ModelProfile p = load_model_profile_full(id);
    auto m = Model::meta(p.config, DType::BF16);
    const double total = double(m->n_params()), active = double(m->n_params_active());
    std::printf("  %-22s total %8.2f B (public %7.1f)  active %7.2f B (public %5.1f)\n", id.c_str(), total / 1e9,
                p.public_params_total / 1e9, active / 1e9, p.public_params_active / 1e9);
    ASSERT_GT(p.public_params_total, 0) << id << ": the profile states no public parameter count";
    EXPECT_NEAR(total / p.public_params_total, 1.0, std::max(0.02, p.public_tolerance)) << id;
    if (p.public_params_active > 0)
      EXPECT_NEAR(active / p.public_params_active, 1.0, std::max(0.02, p.public_tolerance)) << id;
    if (!p.config.moe.enabled()) EXPECT_EQ(m->n_params(), m->n_params_active()) << id;
  }
}

TEST(ModelGraphs, EveryProfileBuildsDecodeAndPrefillGraphs) {
  for (const auto& id : model_profile_ids()) {
    SCOPED_TRACE(id);
    const ModelConfig c = load_model_profile(id);
    auto m = Model::meta(c, DType::F16);
    KvCache cache(c, 4096, DType::F16, nullptr);
    const int limit = c.pos_embd == PosEmbd::Learned ? std::min(c.n_ctx_train, 4096) : 4096;
    for (auto [T, past] : {std::pair{1, limit - 1}, std::pair{512, 0}, std::pair{64, limit / 2}}) {
      ForwardGraph fg = build_forward(*m, cache, T, past, /*last_logits_only=*/true);
      for (const Node& n : fg.graph.nodes()) ASSERT_TRUE(n.out.is_meta()) << n.out.name;
      EXPECT_EQ(fg.graph.node(fg.logits).out.ne[0], c.n_vocab);
    }
  }
}

// Decode at a short context: the matrix FLOPs are 2 per active weight, except the embedding
// table (a lookup), the learned positions and the norm/bias vectors.
TEST(ModelGraphs, DecodeFlopsAreTwicePerActiveWeight) {
  for (const auto& id : model_profile_ids()) {
    SCOPED_TRACE(id);
    const ModelConfig c = load_model_profile(id);
    auto m = Model::meta(c, DType::F16);
    KvCache cache(c, 64, DType::F16, nullptr);
    ForwardGraph fg = build_forward(*m, cache, 1, 8, true);
    const Counts k = count(fg.graph);
    double lookups = double(c.n_embd) * c.n_vocab * (c.tied_output ? 0 : 1);
    if (c.pos_embd == PosEmbd::Learned) lookups += double(c.n_embd) * c.n_ctx_train;
    const double matrix_active = double(m->n_params_active()) - lookups;
    // vectors (norms, biases, DeltaNet gates) and the sparse indexer's keys are under 1 %
    EXPECT_NEAR(k.matmul_flops / (2.0 * matrix_active), 1.0, 0.01) << id;
    EXPECT_LT(k.attention_flops, 0.05 * k.matmul_flops) << id;
  }
}

TEST(ModelGraphs, KvCacheBytesFollowTheArchitecture) {
  // Llama 2 70B: 80 layers × (K + V) × 8 heads × 128 × 2 bytes
  EXPECT_EQ(load_model_profile("llama-2-70b").kv_bytes_per_token(DType::F16), 80ull * 2 * 8 * 128 * 2);
  // DeepSeek-V3: one latent of 512 + 64 per layer
  const ModelConfig v3 = load_model_profile("deepseek-v3");
  EXPECT_EQ(v3.kv_bytes_per_token(DType::F16), 61ull * 576 * 2);
  EXPECT_EQ(KvCache::bytes_needed(v3, 1000, DType::F16), 61ull * 576 * 2 * 1000);
  // V3.2 adds the indexer's 128-wide keys
  EXPECT_EQ(load_model_profile("deepseek-v3.2").kv_bytes_per_token(DType::F16), 61ull * (576 + 128) * 2);
  // Qwen3-Next: 12 of 48 layers attend (2 KV heads of 256); the rest keep a fixed state
  const ModelConfig qn = load_model_profile("qwen3-next-80b-a3b");
  EXPECT_EQ(qn.kv_bytes_per_token(DType::F16), 12ull * 2 * 2 * 256 * 2);
  const uint64_t state = 36ull * 4 * (32ull * 128 * 128 + 8192ull * 3);
  EXPECT_EQ(qn.state_bytes_per_sequence(), state);
  EXPECT_EQ(KvCache::bytes_needed(qn, 100, DType::F16), 12ull * 2 * 2 * 256 * 2 * 100 + state);
}

TEST(ModelGraphs, SparseAttentionCapsTheKeysPerQuery) {
  const ModelConfig c = load_model_profile("deepseek-v3.2");
  auto m = Model::meta(c, DType::F16);
  KvCache cache(c, 65536, DType::F16, nullptr);
  ForwardGraph fg = build_forward(*m, cache, 1, 60000, true);
  int sparse = 0;
  for (const Node& n : fg.graph.nodes())
    if (n.op == Op::Attention) {
      ASSERT_GE(n.src[2], 0);
      EXPECT_EQ(fg.graph.node(n.src[2]).out.ne[0], 2048);
      // 128 heads × 2048 keys × (576 + 512) × 2
      EXPECT_DOUBLE_EQ(op_cost(fg.graph, n).flops, 2.0 * 128 * 2048 * (576 + 512));
      ++sparse;
    }
  EXPECT_EQ(sparse, 61);
}

TEST(ModelGraphs, MlaPicksTheCheaperFormPerBatch) {
  const ModelConfig c = load_model_profile("deepseek-v3");
  auto m = Model::meta(c, DType::F16);
  KvCache cache(c, 8192, DType::F16, nullptr);
  auto attention_dims = [&](int T, int past) {
    ForwardGraph fg = build_forward(*m, cache, T, past, true);
    for (const Node& n : fg.graph.nodes())
      if (n.op == Op::Attention) return fg.graph.node(n.src[0]).out.ne[0];
    return int64_t(0);
  };
  EXPECT_EQ(attention_dims(1, 4000), 576);  // decode: latent (absorbed) attention
  EXPECT_EQ(attention_dims(4096, 0), 192);  // prefill: per-head keys of nope + rope
}

TEST(ModelGraphs, MoeWeightsReadAreTheExpectedExpertsTouched) {
  const ModelConfig c = load_model_profile("mixtral-8x7b");
  auto m = Model::meta(c, DType::F16);
  KvCache cache(c, 256, DType::F16, nullptr);
  for (int T : {1, 4, 64}) {
    ForwardGraph fg = build_forward(*m, cache, T, 0, true);
    for (const Node& n : fg.graph.nodes()) {
      if (n.op != Op::MatMulId) continue;
      const Tensor& w = fg.graph.node(n.src[0]).out;
      const double touched = 8.0 * (1.0 - std::pow(1.0 - 2.0 / 8.0, T));
      const double expert_bytes = double(w.nb[2]);
      // the input is read once per routed slot (gate/up share one row per token across 2 slots)
      const Tensor& x = fg.graph.node(n.src[1]).out;
      const double acts = double(x.nbytes()) * (x.ne[1] == 1 ? 2.0 : 1.0) + double(fg.graph.node(n.src[2]).out.nbytes());
      EXPECT_DOUBLE_EQ(op_cost(fg.graph, n).bytes_read, touched * expert_bytes + acts) << n.out.name;
    }
  }
  EXPECT_DOUBLE_EQ(expected_experts_touched(256, 8, 1), 8.0);
  EXPECT_NEAR(expected_experts_touched(256, 8, 1000), 256.0, 1e-6);
}

TEST(ModelGraphs, LargestGraphsBuildFast) {
  for (const char* id : {"deepseek-v3", "llama-3.1-405b", "qwen3-235b-a22b"}) {
    const ModelConfig c = load_model_profile(id);
    auto m = Model::meta(c, DType::F16);
    KvCache cache(c, 8192, DType::F16, nullptr);
    build_forward(*m, cache, 1, 100, true);  // warm up
    const int reps = 20;
    const auto t0 = std::chrono::steady_clock::now();
    size_t nodes = 0;
    for (int i = 0; i < reps; ++i) nodes = build_forward(*m, cache, 256, 1000, true).graph.nodes().size();
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / reps;
    std::printf("  %-16s %zu nodes built in %.2f ms\n", id, nodes, ms);
    EXPECT_LT(ms, 25.0) << id;  // the goal is well under 10 ms; headroom for a loaded test machine
  }
}

// Sliding-window attention (Mistral-style; none of the profiled models enables it): windowed layers
// attend to at most `window` keys, and every full_every-th layer to all of them.
TEST(ModelGraphs, SlidingWindowCapsAttentionPerLayer) {
  ModelConfig c = load_model_profile("llama-3.1-8b");
  c.n_layer = 4;
  c.swa.window = 1024;
  c.swa.full_every = 2;
  auto m = Model::meta(c, DType::F16);
  KvCache cache(c, 8192, DType::F16, nullptr);
  ForwardGraph fg = build_forward(*m, cache, 1, 6000, true);
  std::vector<double> flops;
  for (const Node& n : fg.graph.nodes())
    if (n.op == Op::Attention) flops.push_back(op_cost(fg.graph, n).flops);
  ASSERT_EQ(flops.size(), 4u);
  const double per_key = 2.0 * 32 * (128 + 128);
  EXPECT_DOUBLE_EQ(flops[0], per_key * 1024);      // windowed
  EXPECT_DOUBLE_EQ(flops[1], per_key * 6000.5);    // full: past + T/2
  EXPECT_DOUBLE_EQ(flops[2], per_key * 1024);
  EXPECT_DOUBLE_EQ(flops[3], per_key * 6000.5);
  ModelConfig bad = c;
  bad.swa.full_every = 9;
  EXPECT_THROW(bad.validate(), Error);
}

TEST(ModelGraphs, LearnedPositionsLimitTheContext) {
  const ModelConfig c = load_model_profile("gpt-22b");
  auto m = Model::meta(c, DType::F16);
  KvCache cache(c, 4096, DType::F16, nullptr);
  EXPECT_NO_THROW(build_forward(*m, cache, 2048, 0, true));
  try {
    build_forward(*m, cache, 16, 2040, true);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[forward] 2056 positions exceed the 2048 learned position embeddings"),
              std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace db
