// Synthetic models: every architecture and weight type loads back as a valid model with a working
// tokenizer, the bytes are reproducible, and the weights have the promised distribution.
#include "drawbridge/synth.h"

#include <cmath>
#include <fstream>
#include <sstream>
#include <tuple>

#include "drawbridge/error.h"
#include "drawbridge/gguf.h"
#include "test_util.h"

namespace db {
namespace {

SynthOptions tiny(Arch arch, DType type = DType::F16) {
  SynthOptions o;
  o.arch = arch;
  o.n_layer = 2;
  o.n_embd = 64;
  o.n_ff = 96;
  o.n_head = 4;
  o.n_head_kv = 2;
  o.n_vocab = 300;
  o.n_ctx = 256;
  o.weight_type = type;
  return o;
}

std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string synth_to(const SynthOptions& o, const std::filesystem::path& path) {
  synth_model(o, path.string());
  return read_bytes(path);
}

using ArchType = std::tuple<Arch, DType>;
class SynthEveryType : public ::testing::TestWithParam<ArchType> {};

TEST_P(SynthEveryType, LoadsWithConfigTypesAndTokenizer) {
  const auto [arch, type] = GetParam();
  const auto path = (test::temp_dir() / "m.gguf").string();
  synth_model(tiny(arch, type), path);

  auto model = Model::load(path);
  const ModelConfig& c = model->config();
  EXPECT_EQ(c.arch, arch);
  EXPECT_EQ(c.n_layer, 2);
  EXPECT_EQ(c.n_embd, 64);
  EXPECT_EQ(c.n_ff, 96);
  EXPECT_EQ(c.n_head, 4);
  EXPECT_EQ(c.n_head_kv, 2);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.n_rot, 16);
  EXPECT_EQ(c.n_vocab, 300);
  EXPECT_EQ(c.n_ctx_train, 256);
  EXPECT_FLOAT_EQ(c.rope_freq_base, arch == Arch::Qwen2 ? 1e6f : 1e4f);
  EXPECT_EQ(c.has_qkv_bias, arch == Arch::Qwen2);

  const ModelWeights& w = model->weights();
  EXPECT_EQ(w.token_embd->dtype, type);
  EXPECT_EQ(w.output->dtype, type);
  EXPECT_NE(w.output, w.token_embd);  // a separate classifier, like TinyLlama
  EXPECT_EQ(w.output_norm->dtype, DType::F32);
  for (const LayerWeights& L : w.layers) {
    for (const Tensor* m : {L.wq, L.wk, L.wv, L.wo, L.ffn_gate, L.ffn_up, L.ffn_down}) EXPECT_EQ(m->dtype, type) << m->name;
    EXPECT_EQ(L.attn_norm->dtype, DType::F32);
    EXPECT_EQ(L.ffn_norm->dtype, DType::F32);
    if (arch == Arch::Qwen2) {
      for (const Tensor* b : {L.bq, L.bk, L.bv}) EXPECT_EQ(b->dtype, DType::F32) << b->name;
    }
  }
  EXPECT_EQ(model->n_params(), uint64_t(2 * 300 * 64 + 64 +
                                        2 * (2 * 64 + 64 * 64 * 2 + 2 * 64 * 32 + 3 * 64 * 96 +
                                             (arch == Arch::Qwen2 ? 64 + 2 * 32 : 0))));

  auto tok = Tokenizer::create(*model->vocab());
  EXPECT_EQ(tok->n_vocab(), 300);
  const auto ids = tok->encode("Hello world", /*add_special=*/false);
  EXPECT_FALSE(ids.empty());
  EXPECT_EQ(tok->decode(ids), "Hello world");
}

INSTANTIATE_TEST_SUITE_P(
    All, SynthEveryType,
    ::testing::Combine(::testing::Values(Arch::Llama, Arch::Qwen2),
                       ::testing::Values(DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0)),
    [](const ::testing::TestParamInfo<ArchType>& info) {
      return std::string(arch_name(std::get<0>(info.param))) + "_" +
             std::string(dtype_name(std::get<1>(info.param)));
    });

TEST(Synth, SameSeedSameBytesOtherSeedOtherBytes) {
  const auto dir = test::temp_dir();
  SynthOptions o = tiny(Arch::Llama, DType::Q4_0);
  o.n_threads = 1;
  const std::string a = synth_to(o, dir / "a.gguf");
  o.n_threads = 3;  // rows split differently across threads: same bytes
  EXPECT_EQ(synth_to(o, dir / "b.gguf"), a);
  o.seed = 43;
  const std::string c = synth_to(o, dir / "c.gguf");
  EXPECT_EQ(c.size(), a.size());
  EXPECT_NE(c, a);
}

TEST(Synth, WeightsHaveTheDocumentedDistribution) {
  const auto path = (test::temp_dir() / "m.gguf").string();
  SynthOptions o = tiny(Arch::Qwen2, DType::F32);
  o.n_embd = 256;
  o.n_ff = 512;
  synth_model(o, path);
  auto model = Model::load(path);
  const LayerWeights& L = model->weights().layers[0];

  auto moments = [](const Tensor& t) {
    const float* x = t.as<float>();
    double sum = 0, sum2 = 0;
    for (int64_t i = 0; i < t.nelements(); ++i) sum += x[i], sum2 += double(x[i]) * x[i];
    const double mean = sum / double(t.nelements());
    return std::pair{mean, std::sqrt(sum2 / double(t.nelements()) - mean * mean)};
  };
  const auto [mean, stddev] = moments(*L.ffn_up);  // 131072 samples
  EXPECT_NEAR(mean, 0.0, 3e-4);
  EXPECT_NEAR(stddev, 0.02, 3e-4);
  // Roughly 0.27% of normal samples lie beyond 3 sigma; the tails must be there but not fat.
  int64_t beyond = 0;
  for (int64_t i = 0; i < L.ffn_up->nelements(); ++i) beyond += std::fabs(L.ffn_up->as<float>()[i]) > 0.06f;
  EXPECT_GT(beyond, 200);
  EXPECT_LT(beyond, 520);
  EXPECT_NEAR(moments(*L.bq).second, 0.02, 3e-3);
  for (int64_t i = 0; i < L.attn_norm->nelements(); ++i) ASSERT_EQ(L.attn_norm->as<float>()[i], 1.0f);
}

TEST(Synth, VocabFromAnotherFile) {
  const auto dir = test::temp_dir();
  synth_model(tiny(Arch::Llama), (dir / "donor.gguf").string());
  const Vocab donor = read_vocab(*gguf::File::open((dir / "donor.gguf").string()));

  SynthOptions o = tiny(Arch::Qwen2);
  o.n_vocab = 0;  // taken from the vocabulary
  o.vocab = donor;
  synth_model(o, (dir / "m.gguf").string());
  auto model = Model::load((dir / "m.gguf").string());
  EXPECT_EQ(model->config().n_vocab, 300);
  EXPECT_EQ(model->vocab()->tokens, donor.tokens);

  o.n_vocab = 512;
  EXPECT_THROW(synth_config(o), Error);
}

void expect_error(const SynthOptions& o, const std::string& fragment) {
  try {
    synth_config(o);
    ADD_FAILURE() << "expected an error containing: " << fragment;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(Synth, RejectsInvalidOptions) {
  SynthOptions o = tiny(Arch::Llama);
  o.n_head = 5;
  expect_error(o, "n_embd 64 is not a multiple of n_head 5");
  o = tiny(Arch::Llama);
  o.n_head_kv = 3;
  expect_error(o, "n_head 4 is not a multiple of n_head_kv 3");
  o = tiny(Arch::Llama);
  o.n_vocab = 100;
  expect_error(o, "at least 259");
  o = tiny(Arch::Llama);
  o.n_layer = 0;
  expect_error(o, "n_layer must be positive");
  o = tiny(Arch::Llama, DType::Q4_0);
  o.n_ff = 100;
  expect_error(o, "'blk.0.ffn_down.weight' has rows of 100 elements");
  o = tiny(Arch::Llama, DType::Q4_K);
  expect_error(o, "q4_K is not supported");
}

TEST(Synth, RopeBaseOverride) {
  const auto path = (test::temp_dir() / "m.gguf").string();
  SynthOptions o = tiny(Arch::Qwen2);
  o.rope_base = 5000.0f;
  o.name = "tiny-qwen";
  synth_model(o, path);
  auto file = gguf::File::open(path);
  EXPECT_FLOAT_EQ(read_config(*file).rope_freq_base, 5000.0f);
  EXPECT_EQ(file->get_string("general.name"), "tiny-qwen");
}

}  // namespace
}  // namespace db
