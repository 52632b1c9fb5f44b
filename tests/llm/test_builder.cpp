// The graph builder works from shapes alone (meta weights): the planner costs exactly the graph
// that runs.
#include <gtest/gtest.h>

#include "drawbridge/builder.h"
#include "drawbridge/error.h"

namespace db {
namespace {

ModelConfig tinyllama() {
  ModelConfig c;
  c.n_layer = 22;
  c.n_embd = 2048;
  c.n_ff = 5632;
  c.n_head = 32;
  c.n_head_kv = 4;
  c.head_dim = 64;
  c.n_rot = 64;
  c.n_vocab = 32000;
  c.n_ctx_train = 2048;
  return c;
}

TEST(Builder, MetaGraphHasTheModelsFlops) {
  auto model = Model::meta(tinyllama(), DType::Q4_0);
  KvCache cache(model->config(), 2048, DType::F16, nullptr);
  EXPECT_EQ(cache.bytes(), 2ull * 22 * 2048 * 256 * 2);
  const int T = 16;
  ForwardGraph fg = build_forward(*model, cache, T, 100, /*last_logits_only=*/false);
  double matmul_flops = 0;
  int n_matmul = 0;
  for (const Node& n : fg.graph.nodes()) {
    EXPECT_TRUE(n.out.is_meta()) << n.out.name;
    if (n.op == Op::MatMul) {
      matmul_flops += op_cost(fg.graph, n).flops;
      ++n_matmul;
    }
  }
  EXPECT_EQ(n_matmul, 22 * 7 + 1);
  // 2 FLOPs per weight per token, for every matrix except the embedding table (a lookup).
  const double matrix_params = 1100048384.0 - 2048.0 * 32000 - 2048.0 * (2 * 22 + 1);
  EXPECT_NEAR(matmul_flops, 2.0 * matrix_params * T, 1e-6 * matmul_flops);
  EXPECT_EQ(fg.graph.node(fg.logits).out.ne[0], 32000);
  EXPECT_EQ(fg.graph.node(fg.logits).out.ne[1], T);
}

TEST(Builder, LastLogitsOnlyAndQwen2Bias) {
  ModelConfig c = tinyllama();
  c.arch = Arch::Qwen2;
  c.has_qkv_bias = true;
  c.rope_type = RopeType::Neox;
  c.n_layer = 2;
  auto model = Model::meta(c, DType::F16);
  KvCache cache(c, 64, DType::F16, nullptr);
  ForwardGraph fg = build_forward(*model, cache, 8, 0, /*last_logits_only=*/true);
  EXPECT_EQ(fg.graph.node(fg.logits).out.ne[1], 1);
  int adds = 0;
  for (const Node& n : fg.graph.nodes()) adds += n.op == Op::Add;
  EXPECT_EQ(adds, 2 * (3 + 2));  // q/k/v bias + two residuals per layer
}

TEST(Builder, RejectsBatchesOverTheContext) {
  auto model = Model::meta(tinyllama(), DType::F16);
  KvCache cache(model->config(), 32, DType::F16, nullptr);
  EXPECT_THROW(build_forward(*model, cache, 16, 20, true), Error);
  EXPECT_THROW(build_forward(*model, cache, 0, 0, true), Error);
}

TEST(Builder, ConfigValidationNamesTheField) {
  ModelConfig c = tinyllama();
  c.n_head_kv = 5;
  try {
    c.validate();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("head_count_kv"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace db
