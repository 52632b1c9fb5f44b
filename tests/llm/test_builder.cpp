// The graph builder works from shapes alone (meta weights): the planner costs exactly the graph
// that runs.
#include <gtest/gtest.h>

#include "drawbridge/builder.h"
#include "drawbridge/error.h"
#include "drawbridge/model.h"

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

// Everything build_forward decides per node, data pointers aside.
void expect_same_graph(const ForwardGraph& got, const ForwardGraph& want, const std::string& label) {
  ASSERT_EQ(got.graph.nodes().size(), want.graph.nodes().size()) << label;
  EXPECT_EQ(got.graph.outputs(), want.graph.outputs()) << label;
  EXPECT_EQ(got.n_past, want.n_past) << label;
  for (size_t j = 0; j < want.graph.nodes().size(); ++j) {
    const Node &a = got.graph.nodes()[j], &b = want.graph.nodes()[j];
    EXPECT_TRUE(a.op == b.op && a.src == b.src && a.view_of == b.view_of && a.out.name == b.out.name &&
                a.out.dtype == b.out.dtype && a.out.ne == b.out.ne && a.out.nb == b.out.nb &&
                a.params.f == b.params.f && a.params.i == b.params.i)
        << label << ": node " << j << " '" << b.out.name << "' differs";
  }
}

// A rebased graph is exactly the graph built for the new position, for every architecture whose
// shapes do not depend on n_past (dense GQA, biases, learned positions, MoE, DeltaNet, absorbed MLA).
TEST(Builder, RebasedGraphIsTheGraphBuiltForThatPosition) {
  ModelConfig qwen2 = tinyllama();
  qwen2.arch = Arch::Qwen2;
  qwen2.has_qkv_bias = true;
  qwen2.rope_type = RopeType::Neox;
  qwen2.n_layer = 2;
  const std::pair<std::string, ModelConfig> configs[] = {
      {"tinyllama", tinyllama()},          {"qwen2", qwen2},
      {"gpt-3-175b", load_model_profile("gpt-3-175b")}, {"mixtral-8x7b", load_model_profile("mixtral-8x7b")},
      {"qwen3-next-80b-a3b", load_model_profile("qwen3-next-80b-a3b")}, {"deepseek-v3", load_model_profile("deepseek-v3")}};
  for (const auto& [name, c] : configs) {
    auto model = Model::meta(c, DType::F16);
    KvCache cache(c, 512, DType::F16, nullptr);
    ForwardOptions absorbed;  // DeepSeek: Auto picks the form from n_past; a fixed form does not
    absorbed.mla = ForwardOptions::Mla::Absorbed;
    for (int T : {1, 4}) {
      ForwardGraph fg = build_forward(*model, cache, T, 0, true, absorbed);
      ASSERT_TRUE(fg.rebasable()) << name;
      for (int past : {1, 37, 300, 512 - T, 5}) {
        fg.rebase(past);
        expect_same_graph(fg, build_forward(*model, cache, T, past, true, absorbed), name + " T=" + std::to_string(T));
      }
    }
  }
}

// Shapes or forms chosen from n_past (MLA's Auto form and expanded cached rows, the sparse
// indexer's key count) make a graph for that n_past only: rebasing it is refused.
TEST(Builder, GraphsShapedByThePastAreNotRebasable) {
  for (const char* id : {"deepseek-v3", "deepseek-v3.2"}) {
    const ModelConfig c = load_model_profile(id);
    auto model = Model::meta(c, DType::F16);
    KvCache cache(c, 4096, DType::F16, nullptr);
    ForwardGraph fg = build_forward(*model, cache, 1, 100, true);
    EXPECT_FALSE(fg.rebasable()) << id;
    try {
      fg.rebase(101);
      ADD_FAILURE() << id << ": rebase of a graph shaped by n_past";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("[forward]"), std::string::npos) << e.what();
    }
  }
  ForwardOptions expanded;
  expanded.mla = ForwardOptions::Mla::Expanded;
  const ModelConfig v3 = load_model_profile("deepseek-v3");
  auto model = Model::meta(v3, DType::F16);
  KvCache cache(v3, 4096, DType::F16, nullptr);
  EXPECT_FALSE(build_forward(*model, cache, 1, 100, true, expanded).rebasable());
}

TEST(Builder, RebaseStaysWithinTheContextAndLearnedPositions) {
  auto model = Model::meta(tinyllama(), DType::F16);
  KvCache cache(model->config(), 32, DType::F16, nullptr);
  ForwardGraph fg = build_forward(*model, cache, 4, 0, true);
  fg.rebase(28);
  EXPECT_THROW(fg.rebase(29), Error);
  EXPECT_THROW(fg.rebase(-1), Error);
  EXPECT_EQ(fg.n_past, 28);
  const ModelConfig gpt = load_model_profile("gpt-3-175b");  // learned positions: n_ctx_train of them
  ASSERT_EQ(gpt.pos_embd, PosEmbd::Learned);
  auto gpt_model = Model::meta(gpt, DType::F16);
  KvCache big(gpt, gpt.n_ctx_train + 64, DType::F16, nullptr);
  ForwardGraph g1 = build_forward(*gpt_model, big, 1, 0, true);
  g1.rebase(gpt.n_ctx_train - 1);
  EXPECT_THROW(g1.rebase(gpt.n_ctx_train), Error);
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
