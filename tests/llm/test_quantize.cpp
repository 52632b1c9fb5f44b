// `quantize_model`: llama-quantize's names, its per-tensor type choices for each mix (recorded from
// llama-quantize runs), the bytes of every tensor, the metadata it writes, requantization rules,
// and that the result loads and runs.
#include "drawbridge/quantize.h"

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <map>
#include <sstream>

#include "drawbridge/error.h"
#include "drawbridge/gguf.h"
#include "drawbridge/model.h"
#include "drawbridge/session.h"
#include "drawbridge/synth.h"
#include "test_util.h"

namespace db {
namespace {

SynthOptions shape(Arch arch, int n_layer, int n_embd, int n_ff, int n_head, int n_head_kv, DType type) {
  SynthOptions o;
  o.arch = arch;
  o.n_layer = n_layer;
  o.n_embd = n_embd;
  o.n_ff = n_ff;
  o.n_head = n_head;
  o.n_head_kv = n_head_kv;
  o.n_vocab = 512;
  o.n_ctx = 256;
  o.weight_type = type;
  return o;
}

std::string synth_file(const std::filesystem::path& dir, const SynthOptions& o) {
  const std::string path = (dir / "in.gguf").string();
  synth_model(o, path);
  return path;
}

// A model shared by the instances of a parameterized test (test::temp_dir() is per instance).
std::string shared_model(const std::string& name, const SynthOptions& o) {
  const auto dir = std::filesystem::temp_directory_path() / ("drawbridge-quantize-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / name).string();
  if (!std::filesystem::exists(path)) synth_model(o, path);
  return path;
}

QuantizeOptions options(std::string_view type) {
  QuantizeOptions o;
  o.type = *quant_type_from_name(type);
  o.n_threads = 2;
  return o;
}

TEST(Quantize, NamesAsLlamaQuantize) {
  EXPECT_EQ(quant_type_from_name("q4_k_m")->ftype, 15u);
  EXPECT_EQ(quant_type_from_name("Q4_K")->name, "Q4_K_M");  // llama-quantize's alias
  EXPECT_EQ(quant_type_from_name("q3_k")->name, "Q3_K_M");
  EXPECT_EQ(quant_type_from_name("q5_k")->name, "Q5_K_M");
  EXPECT_EQ(quant_type_from_name("Q6_K")->base, DType::Q6_K);
  EXPECT_EQ(quant_type_from_name("iq4_nl")->ftype, 25u);
  EXPECT_EQ(quant_type_from_name("bf16")->ftype, 32u);
  EXPECT_EQ(quant_type_from_name("f32")->ftype, 0u);
  EXPECT_EQ(quant_type_from_name("17")->name, "Q5_K_M");  // numeric ftype
  EXPECT_FALSE(quant_type_from_name("q9_9"));
  EXPECT_FALSE(quant_type_from_name("Q2_K_S"));  // needs an importance matrix
  EXPECT_FALSE(quant_type_from_name(""));
  const std::string names = quant_type_names();
  for (const char* n : {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_M", "Q4_K_S", "Q4_K_M", "Q5_K_M", "Q6_K",
                        "IQ4_NL", "Q8_0", "F16", "BF16", "F32"})
    EXPECT_NE(names.find(n), std::string::npos) << n;
}

// The types a plan gives, in a compact form: output, token_embd, attn_v per layer, ffn_down per
// layer, and the one type of the other matrices.
std::string summarize(const std::vector<TensorPlan>& plan, int n_layer) {
  std::map<std::string, std::string> t;
  for (const TensorPlan& p : plan) t[p.name] = std::string(dtype_name(p.to));
  std::ostringstream s;
  s << "out " << t["output.weight"] << " emb " << t["token_embd.weight"] << " | v:";
  for (int i = 0; i < n_layer; ++i) s << " " << t["blk." + std::to_string(i) + ".attn_v.weight"];
  s << " | down:";
  for (int i = 0; i < n_layer; ++i) s << " " << t["blk." + std::to_string(i) + ".ffn_down.weight"];
  s << " | rest:";
  for (const char* n : {"attn_k", "attn_output", "attn_q", "ffn_gate", "ffn_up"})
    s << " " << t[std::string("blk.0.") + n + ".weight"];
  return s.str();
}

// Expected plans were read back from files llama-quantize (llama.cpp de3ff815) wrote from the same
// synth models: `llama-quantize in.gguf out.gguf <TYPE>`.
struct MixCase {
  const char* type;
  const char* want;
};

class QuantizePlanLlama8 : public ::testing::TestWithParam<MixCase> {};

TEST_P(QuantizePlanLlama8, MatchesLlamaQuantize) {
  // 8 layers exercise use_more_bits; 8 heads over 2 KV heads (gqa 4) the Q2_K attn_v rule.
  const std::string path = shared_model("l8.gguf", shape(Arch::Llama, 8, 256, 512, 8, 2, DType::F16));
  const auto file = gguf::File::open(path);
  EXPECT_EQ(summarize(plan_quantization(*file, options(GetParam().type)), 8), GetParam().want);
}

INSTANTIATE_TEST_SUITE_P(
    Mixes, QuantizePlanLlama8,
    ::testing::Values(
        MixCase{"Q2_K", "out q6_K emb q2_K | v: q4_K q4_K q4_K q4_K q4_K q4_K q4_K q4_K | down: q3_K q3_K q3_K q3_K "
                        "q3_K q3_K q3_K q3_K | rest: q2_K q3_K q2_K q2_K q2_K"},
        MixCase{"Q3_K_M", "out q6_K emb q3_K | v: q5_K q5_K q4_K q4_K q4_K q4_K q4_K q4_K | down: q4_K q4_K q4_K q4_K "
                          "q4_K q4_K q4_K q4_K | rest: q3_K q4_K q3_K q3_K q3_K"},
        MixCase{"Q4_K_S", "out q6_K emb q4_K | v: q5_K q5_K q5_K q5_K q4_K q4_K q4_K q4_K | down: q5_K q4_K q4_K q4_K "
                          "q4_K q4_K q4_K q4_K | rest: q4_K q4_K q4_K q4_K q4_K"},
        MixCase{"Q4_K_M", "out q6_K emb q4_K | v: q6_K q4_K q4_K q6_K q4_K q4_K q6_K q6_K | down: q6_K q4_K q4_K q6_K "
                          "q4_K q4_K q6_K q6_K | rest: q4_K q4_K q4_K q4_K q4_K"},
        MixCase{"Q5_K_M", "out q6_K emb q5_K | v: q6_K q5_K q5_K q6_K q5_K q5_K q6_K q6_K | down: q6_K q5_K q5_K q6_K "
                          "q5_K q5_K q6_K q6_K | rest: q5_K q5_K q5_K q5_K q5_K"},
        MixCase{"Q6_K", "out q6_K emb q6_K | v: q6_K q6_K q6_K q6_K q6_K q6_K q6_K q6_K | down: q6_K q6_K q6_K q6_K "
                        "q6_K q6_K q6_K q6_K | rest: q6_K q6_K q6_K q6_K q6_K"},
        MixCase{"IQ4_NL", "out q6_K emb iq4_nl | v: q5_K q5_K q5_K q5_K q5_K q5_K q5_K q5_K | down: q5_K iq4_nl iq4_nl "
                          "iq4_nl iq4_nl iq4_nl iq4_nl iq4_nl | rest: iq4_nl iq4_nl iq4_nl iq4_nl iq4_nl"},
        MixCase{"Q4_0", "out q6_K emb q4_0 | v: q4_0 q4_0 q4_0 q4_0 q4_0 q4_0 q4_0 q4_0 | down: q4_0 q4_0 q4_0 q4_0 "
                        "q4_0 q4_0 q4_0 q4_0 | rest: q4_0 q4_0 q4_0 q4_0 q4_0"}),
    [](const auto& p) { return std::string(p.param.type); });

// Rows of 384 and 800 elements do not fit 256-blocks: llama.cpp's fallbacks (Q4_K -> Q5_0,
// Q6_K -> Q8_0, Q2_K -> Q4_0; output.weight straight to Q8_0).
TEST(Quantize, FallbackWhenRowsDoNotFitSuperBlocks) {
  const std::string path = synth_file(test::temp_dir(), shape(Arch::Qwen2, 4, 384, 800, 6, 6, DType::F32));
  const auto file = gguf::File::open(path);
  const auto plan = plan_quantization(*file, options("Q4_K_M"));
  EXPECT_EQ(summarize(plan, 4),
            "out q8_0 emb q5_0 | v: q5_0 q5_0 q8_0 q8_0 | down: q5_0 q5_0 q8_0 q8_0 | rest: q5_0 q5_0 q5_0 q5_0 q5_0");
  for (const TensorPlan& p : plan)
    EXPECT_EQ(p.fallback, p.to != p.from && p.name != "output.weight") << p.name;
  EXPECT_EQ(summarize(plan_quantization(*file, options("Q2_K")), 4),
            "out q8_0 emb q4_0 | v: q4_0 q4_0 q4_0 q4_0 | down: q4_0 q4_0 q4_0 q4_0 | rest: q4_0 q4_0 q4_0 q4_0 q4_0");
}

// Tensor order is llama.cpp's (non-layer tensors by name, then layer by layer, by name); norms and
// biases are never quantized; --pure gives every matrix the base type.
TEST(Quantize, OrderNormsAndPure) {
  const std::string path = synth_file(test::temp_dir(), shape(Arch::Qwen2, 2, 256, 512, 4, 2, DType::F32));
  const auto file = gguf::File::open(path);
  QuantizeOptions o = options("Q4_K_M");
  o.pure = true;
  const auto plan = plan_quantization(*file, o);
  ASSERT_EQ(plan.size(), file->tensors().size());
  EXPECT_EQ(plan[0].name, "output.weight");
  EXPECT_EQ(plan[1].name, "output_norm.weight");
  EXPECT_EQ(plan[2].name, "token_embd.weight");
  EXPECT_EQ(plan[3].name, "blk.0.attn_k.bias");
  EXPECT_EQ(plan.back().name, "blk.1.ffn_up.weight");
  for (const TensorPlan& p : plan) {
    const bool matrix = p.name.find("norm") == std::string::npos && p.name.find(".bias") == std::string::npos;
    EXPECT_EQ(p.to, matrix ? DType::Q4_K : DType::F32) << p.name;
  }
}

// The output file: llama-quantize's metadata (input keys in order, quantization_version and
// file_type last), every tensor's bytes equal to the reference quantizer's, and progress reports.
TEST(Quantize, WritesTensorsMetadataAndProgress) {
  const auto dir = test::temp_dir();
  const std::string in = synth_file(dir, shape(Arch::Llama, 2, 256, 512, 4, 2, DType::F32));
  const std::string out = (dir / "out.gguf").string();
  uint64_t last_done = 0, total = 0;
  size_t calls = 0;
  const QuantizeResult r = quantize_model(in, out, options("q4_k_m"), [&](const QuantizeProgress& p) {
    EXPECT_GE(p.bytes_done, last_done);
    last_done = p.bytes_done;
    total = p.bytes_total;
    ++calls;
  });
  EXPECT_EQ(last_done, total);
  EXPECT_EQ(total, r.bytes_out);
  EXPECT_GE(calls, r.plan.size());

  const auto src = gguf::File::open(in), dst = gguf::File::open(out);
  const auto& kv_in = src->metadata();
  const auto& kv_out = dst->metadata();
  ASSERT_GE(kv_out.size(), 2u);
  EXPECT_EQ(kv_out[kv_out.size() - 2].key, "general.quantization_version");
  EXPECT_EQ(kv_out.back().key, "general.file_type");
  EXPECT_EQ(dst->get_int("general.file_type"), 15);
  std::vector<std::string> kept_in, kept_out;
  for (const auto& kv : kv_in)
    if (kv.key != "general.file_type" && kv.key != "general.quantization_version") kept_in.push_back(kv.key);
  for (size_t i = 0; i + 2 < kv_out.size(); ++i) kept_out.push_back(kv_out[i].key);
  EXPECT_EQ(kept_in, kept_out);

  ASSERT_EQ(dst->tensors().size(), r.plan.size());
  for (size_t i = 0; i < r.plan.size(); ++i) {
    const Tensor& o = dst->tensors()[i].tensor;
    const Tensor& s = src->find_tensor(o.name)->tensor;
    EXPECT_EQ(o.name, r.plan[i].name);
    ASSERT_EQ(o.dtype, r.plan[i].to) << o.name;
    std::vector<char> want(o.nbytes());
    dtype_info(o.dtype).from_float(s.as<float>(), want.data(), s.nelements());
    EXPECT_EQ(std::memcmp(want.data(), o.data, want.size()), 0) << o.name;
  }
}

TEST(Quantize, RequantizingNeedsTheFlag) {
  const auto dir = test::temp_dir();
  const std::string in = synth_file(dir, shape(Arch::Llama, 2, 256, 512, 4, 2, DType::Q8_0));
  const std::string out = (dir / "out.gguf").string();
  try {
    quantize_model(in, out, options("Q4_K_M"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--allow-requantize"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(out));
  QuantizeOptions o = options("Q4_K_M");
  o.allow_requantize = true;
  quantize_model(in, out, o);
  EXPECT_EQ(gguf::File::open(out)->find_tensor("blk.0.attn_q.weight")->tensor.dtype, DType::Q4_K);
  // Same type in and out is a copy, not a requantization.
  EXPECT_NO_THROW(quantize_model(in, out, options("Q8_0")));
}

TEST(Quantize, UnsupportedArchitectureAndMissingFile) {
  const auto dir = test::temp_dir();
  EXPECT_THROW(quantize_model((dir / "missing.gguf").string(), (dir / "x.gguf").string(), options("Q4_0")), Error);
  gguf::Writer w;
  w.set("general.architecture", gguf::Value::str("falcon"));
  const std::string path = (dir / "falcon.gguf").string();
  w.write(path);
  try {
    plan_quantization(*gguf::File::open(path), options("Q4_0"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("falcon"), std::string::npos) << e.what();
  }
}

// Every mix loads and runs, with logits near the f32 model's: the relative RMS difference stays
// under ~1.3x what each mix measures on this random model (which is far noisier than a trained one).
struct RunCase {
  const char* type;
  double max_rel;
};
class QuantizedModelRuns : public ::testing::TestWithParam<RunCase> {};

TEST_P(QuantizedModelRuns, LogitsTrackF32) {
  const std::string in = shared_model("runs.gguf", shape(Arch::Qwen2, 2, 256, 512, 4, 2, DType::F32));
  const std::string out = (test::temp_dir() / "q.gguf").string();
  quantize_model(in, out, options(GetParam().type));
  auto logits = [](const std::string& path) {
    auto model = Model::load(path);
    SessionOptions so;
    so.n_ctx = 64;
    so.n_threads = 2;
    Session s(*model, so);
    const float* l = s.eval({1, 20, 30, 40});
    return std::vector<float>(l, l + model->config().n_vocab);
  };
  const std::vector<float> ref = logits(in), got = logits(out);
  double err = 0, norm = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    ASSERT_TRUE(std::isfinite(got[i]));
    err += (got[i] - ref[i]) * double(got[i] - ref[i]);
    norm += double(ref[i]) * ref[i];
  }
  EXPECT_LT(std::sqrt(err / norm), GetParam().max_rel) << GetParam().type;
}

INSTANTIATE_TEST_SUITE_P(Mixes, QuantizedModelRuns,
                         ::testing::Values(RunCase{"Q2_K", 0.65}, RunCase{"Q3_K_M", 0.30}, RunCase{"Q4_K_S", 0.19},
                                           RunCase{"Q4_K_M", 0.21}, RunCase{"Q5_K_M", 0.11}, RunCase{"Q6_K", 0.065},
                                           RunCase{"IQ4_NL", 0.25}, RunCase{"Q4_1", 0.25}, RunCase{"Q5_0", 0.125},
                                           RunCase{"Q5_1", 0.145}),
                         [](const auto& p) { return std::string(p.param.type); });

}  // namespace
}  // namespace db
