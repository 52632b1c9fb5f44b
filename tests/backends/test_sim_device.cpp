// Virtual devices: same numbers as the CPU, the chip's formats and memory enforced (Hanguang 800
// float refusal, out-of-memory refusal), a modeled clock, and docs/ops.md kept current.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "backends/virtual/sim_device.h"
#include "drawbridge/builder.h"
#include "drawbridge/error.h"
#include "drawbridge/generate.h"
#include "drawbridge/session.h"
#include "test_util.h"

namespace db {
namespace {

std::unique_ptr<Device> sim(const std::string& id) {
  register_builtin_devices();
  return Registry::global().create("sim:" + id, DeviceOptions{1});
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

ModelConfig llama(int n_layer, int n_embd, int n_ff, int n_head, int n_head_kv, int n_vocab = 32000) {
  ModelConfig c;
  c.n_layer = n_layer;
  c.n_embd = n_embd;
  c.n_ff = n_ff;
  c.n_head = n_head;
  c.n_head_kv = n_head_kv;
  c.head_dim = n_embd / n_head;
  c.n_vocab = n_vocab;
  c.n_ctx_train = 4096;
  c.n_rot = c.head_dim;
  return c;
}

// Schedules one decode step of a meta model on the device (no data needed).
void place(const Model& m, const Device& d, int n_ctx = 64) {
  const KvCache cache(m.config(), n_ctx, DType::F16, /*allocate=*/false);
  const ForwardGraph fg = build_forward(m, cache, 1, 0, true);
  schedule(fg.graph, {&d}, /*allow_fallback=*/false);
}

std::vector<Token> greedy(const std::string& device, int n, const SimClock** clock_out = nullptr,
                          std::unique_ptr<Session>* keep = nullptr) {
  static auto model = Model::load(test::shared_file("models/stories260K.gguf").string());
  auto tok = Tokenizer::create(*model->vocab());
  SessionOptions so;
  so.device = device;
  so.n_threads = 1;
  auto session = std::make_unique<Session>(*model, so);
  GenerateOptions go;
  go.prompt = "Once upon a time";
  go.n_predict = n;
  go.sampler.temperature = 0;
  const auto st = generate(*session, *tok, go, [](std::string_view) {});
  if (clock_out) *clock_out = sim_clock(session->device());
  if (keep) *keep = std::move(session);
  return st.tokens;
}

TEST(SimDevice, PropertiesComeFromTheProfile) {
  const auto d = sim("ascend-910b2");
  EXPECT_EQ(d->props().id, "sim:ascend-910b2");
  EXPECT_EQ(d->props().kind, "sim");
  EXPECT_EQ(d->props().memory_bytes, 64ull << 30);
  EXPECT_DOUBLE_EQ(d->props().peak_flops.at(DType::BF16), 353.9e12);
  EXPECT_DOUBLE_EQ(d->props().memory_bandwidth, 1600e9);
}

TEST(SimDevice, UnknownIdListsTheCatalogue) {
  const std::string msg = error_of([] { sim("ascend-999"); });
  EXPECT_NE(msg.find("unknown virtual device 'sim:ascend-999'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("ascend-910b2"), std::string::npos) << msg;
}

TEST(SimDevice, SameTokensAsTheCpuAndAModeledClock) {
  const auto model = test::shared_file("models/stories260K.gguf");
  REQUIRE_SHARED(model);
  const SimClock* clock = nullptr;
  std::unique_ptr<Session> keep;
  EXPECT_EQ(greedy("sim:ascend-910b2", 24, &clock, &keep), greedy("cpu", 24));
  ASSERT_NE(clock, nullptr);
  EXPECT_GT(clock->seconds(), 0);
  EXPECT_TRUE(clock->unknowns().empty());
  const ModeledSpeed m = modeled_speed(*clock, 5);  // "Once upon a time" is 5 tokens with BOS
  EXPECT_EQ(m.prompt_tokens, 5);
  EXPECT_GE(m.generation_steps, 23);
  EXPECT_GT(m.prompt_tps(), m.generation_tps());  // a batch amortizes the per-op overheads
  EXPECT_NE(format_op_profile(*clock).find("matmul"), std::string::npos);
}

TEST(SimDevice, HanguangRefusesFloatWeightsSuggestingQuantize) {
  const auto d = sim("thead-hanguang-800");
  const auto f16 = Model::meta(llama(2, 256, 512, 4, 4, 512), DType::F16);
  const std::string msg = error_of([&] { place(*f16, *d); });
  EXPECT_NE(msg.find("not supported on sim:thead-hanguang-800"), std::string::npos) << msg;
  EXPECT_NE(msg.find("weights are f16"), std::string::npos) << msg;
  EXPECT_NE(msg.find("drawbridge quantize"), std::string::npos) << msg;
  // int8 weights are what it runs.
  const auto q8 = Model::meta(llama(2, 256, 512, 4, 4, 512), DType::Q8_0);
  EXPECT_EQ(error_of([&] { place(*q8, *d); }), "");
}

TEST(SimDevice, HanguangRefusesTheFloatGoldenModelInASession) {
  const auto model = test::shared_file("models/stories260K.gguf");
  REQUIRE_SHARED(model);
  const std::string msg = error_of([] { greedy("sim:thead-hanguang-800", 4); });
  EXPECT_NE(msg.find("drawbridge quantize"), std::string::npos) << msg;
}

TEST(SimDevice, ModelLargerThanMemoryIsRefusedWithTheNumbers) {
  const auto d = sim("nvidia-a100-sxm-80gb");
  const auto m70b = Model::meta(llama(80, 8192, 28672, 64, 8), DType::F16);  // Llama-2-70B shape
  const std::string msg = error_of([&] { place(*m70b, *d); });
  EXPECT_NE(msg.find("[sim:nvidia-a100-sxm-80gb] the model does not fit"), std::string::npos) << msg;
  EXPECT_NE(msg.find("weights 127.99 GiB + KV cache 20.0 MiB = 128.01 GiB"), std::string::npos) << msg;
  EXPECT_NE(msg.find("> 80.00 GiB"), std::string::npos) << msg;
  // The same model in 4-bit blocks fits.
  const auto q4 = Model::meta(llama(80, 8192, 28672, 64, 8), DType::Q4_0);
  EXPECT_EQ(error_of([&] { place(*q4, *d); }), "");
}

TEST(SimDevice, KvCacheCountsTowardsMemory) {
  const perf::DeviceProfile tiny = perf::parse_profile(R"(
id = "tiny"
name = "Tiny"
vendor = "Test"
[compute]
native_dtypes = { value = ["f32", "f16"], source = "test", confidence = "high" }
[memory]
capacity_gib = { value = 0.01, source = "test", confidence = "high" }
)", "tiny.toml");
  const auto d = make_sim_device(tiny, DeviceOptions{1});
  const auto m = Model::meta(llama(2, 256, 512, 4, 4, 512), DType::F16);  // ~2.8 MiB of weights
  EXPECT_EQ(error_of([&] { place(*m, *d, 64); }), "");
  const std::string msg = error_of([&] { place(*m, *d, 16384); });  // + 32 MiB of KV cache
  EXPECT_NE(msg.find("KV cache 32.0 MiB"), std::string::npos) << msg;
  EXPECT_NE(msg.find("> 10.2 MiB"), std::string::npos) << msg;
}

// A chip without FP16 (Biren BR100) computes f16 weights as bf16: its numbers, not the host's.
TEST(SimDevice, F16WeightsRunAsBf16WhereTheChipLacksF16) {
  const int64_t K = 64, N = 8;
  std::vector<uint16_t> w(static_cast<size_t>(K * N));
  std::vector<float> x(static_cast<size_t>(K));
  for (size_t i = 0; i < w.size(); ++i) w[i] = fp32_to_fp16(0.1f + 0.001f * float(i % 97));
  for (size_t i = 0; i < x.size(); ++i) x[i] = 1.0f + 0.01f * float(i);
  auto run = [&](Device& d, DType wt, void* wdata) {
    Graph g;
    Tensor wt_t = make_tensor("w", wt, {K, N, 1, 1});
    wt_t.data = wdata;
    Tensor xt = make_tensor("x", DType::F32, {K, 1, 1, 1});
    xt.data = x.data();
    const int y = g.add(Op::MatMul, make_tensor("y", DType::F32, {N, 1, 1, 1}), {g.leaf(wt_t), g.leaf(xt), -1});
    d.compute(g);
    const float* out = g.node(y).out.as<float>();
    return std::vector<float>(out, out + N);
  };
  std::vector<uint16_t> wb(w.size());
  for (size_t i = 0; i < w.size(); ++i) wb[i] = fp32_to_bf16(fp16_to_fp32(w[i]));
  register_builtin_devices();
  auto cpu = Registry::global().create("cpu", DeviceOptions{1});
  auto biren = sim("biren-br100");
  const auto on_chip = run(*biren, DType::F16, w.data());
  EXPECT_EQ(on_chip, run(*cpu, DType::BF16, wb.data()));
  EXPECT_NE(on_chip, run(*cpu, DType::F16, w.data()));
}

// Issue 7: an int8 chip without a q4_0 kernel computes q4_0 weights as the q8_0 blocks its runtime
// would unpack them into at load: its numbers, not the host's q4_0 ones.
TEST(SimDevice, BlockFormatsTheChipLacksAreDequantizedOnLoad) {
  const int64_t K = 256, N = 8;
  std::vector<float> wf(static_cast<size_t>(K * N)), x(static_cast<size_t>(K));
  for (size_t i = 0; i < wf.size(); ++i) wf[i] = 0.05f * float(int(i % 23) - 11);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 1.0f - 0.003f * float(i);
  std::vector<char> q4(make_tensor("w", DType::Q4_0, {K, N, 1, 1}).nbytes());
  dtype_info(DType::Q4_0).from_float(wf.data(), q4.data(), K * N);
  std::vector<float> unpacked(wf.size());
  dtype_info(DType::Q4_0).to_float(q4.data(), unpacked.data(), K * N);
  std::vector<char> q8(make_tensor("w", DType::Q8_0, {K, N, 1, 1}).nbytes());
  dtype_info(DType::Q8_0).from_float(unpacked.data(), q8.data(), K * N);
  auto run = [&](Device& d, DType wt, void* wdata) {
    Graph g;
    Tensor w = make_tensor("w", wt, {K, N, 1, 1});
    w.data = wdata;
    Tensor xt = make_tensor("x", DType::F32, {K, 1, 1, 1});
    xt.data = x.data();
    const int y = g.add(Op::MatMul, make_tensor("y", DType::F32, {N, 1, 1, 1}), {g.leaf(w), g.leaf(xt), -1});
    d.compute(g);
    const float* out = g.node(y).out.as<float>();
    return std::vector<float>(out, out + N);
  };
  register_builtin_devices();
  auto cpu = Registry::global().create("cpu", DeviceOptions{1});
  auto ascend = sim("ascend-910b2");
  const auto on_chip = run(*ascend, DType::Q4_0, q4.data());
  EXPECT_EQ(on_chip, run(*cpu, DType::Q8_0, q8.data()));
  EXPECT_NE(on_chip, run(*cpu, DType::Q4_0, q4.data()));
}

TEST(SimDevice, DequantizingOnLoadIsChargedToMemoryAndStated) {
  const perf::DeviceProfile tiny = perf::parse_profile(R"(
id = "tiny8"
name = "Tiny8"
vendor = "Test"
[compute]
native_dtypes = { value = ["int8"], source = "test", confidence = "high" }
[memory]
capacity_gib = { value = 0.0013, source = "test", confidence = "high" }
)", "tiny8.toml");
  const auto d = make_sim_device(tiny, DeviceOptions{1});
  // ~0.8 MiB of q4_0 weights become ~1.4 MiB of q8_0 on load: over the 1.33 MiB of this chip.
  const auto m = Model::meta(llama(2, 256, 512, 4, 4, 512), DType::Q4_0);
  const std::string msg = error_of([&] { place(*m, *d, 16); });
  EXPECT_NE(msg.find("the model does not fit"), std::string::npos) << msg;
  EXPECT_NE(msg.find("from dequantizing block formats the chip lacks on load"), std::string::npos) << msg;
  // The explain note states the cost.
  const KvCache cache(m->config(), 16, DType::F16, /*allocate=*/false);
  const ForwardGraph fg = build_forward(*m, cache, 1, 0, true);
  const std::string note = load_notes(tiny, fg.graph);
  EXPECT_NE(note.find("dequantized on load"), std::string::npos) << note;
  EXPECT_NE(note.find("(+"), std::string::npos) << note;
  // Why per op names the conversion and its bits per weight (asked of a chip where the model fits).
  std::string why;
  const auto ascend = sim("ascend-910b2");
  for (const Node& n : fg.graph.nodes())
    if (n.op == Op::MatMul) {
      why.clear();
      EXPECT_EQ(ascend->supports(fg.graph, n, &why), Support::Emulated);
      EXPECT_NE(why.find("block format not native on the Ascend 910B2: dequantized on load to q8_0 (8.5 bits per weight)"), std::string::npos) << why;
      break;
    }
}

TEST(SimDevice, OpsMatrixDocIsCurrent) {
  const auto path = std::filesystem::path(DRAWBRIDGE_SOURCE_DIR) / "docs" / "ops.md";
  std::ifstream in(path);
  const std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(doc, ops_matrix_markdown()) << "regenerate: drawbridge devices --ops-matrix > docs/ops.md";
}

}  // namespace
}  // namespace db
