// Model loading rejects files that do not fit their architecture, with one clear message each.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>

#include "drawbridge/error.h"
#include "drawbridge/gguf.h"
#include "drawbridge/model.h"
#include "drawbridge/synth.h"
#include "test_util.h"

namespace db {
namespace {

std::string small_model(const std::filesystem::path& dir) {
  SynthOptions o;
  o.n_layer = 2;
  o.n_embd = 64;
  o.n_ff = 128;
  o.n_head = 4;
  o.n_head_kv = 2;
  o.n_vocab = 300;
  o.weight_type = DType::F32;
  const std::string path = (dir / "ok.gguf").string();
  synth_model(o, path);
  return path;
}

// Copies `src` to `dst`, letting `edit_kv` and `edit_tensor` change metadata and tensor shapes.
void rewrite(const std::string& src, const std::string& dst, const std::function<void(gguf::KeyValue&)>& edit_kv,
             const std::function<bool(Tensor&)>& edit_tensor) {
  auto f = gguf::File::open(src);
  gguf::Writer w;
  for (gguf::KeyValue kv : f->metadata()) {
    edit_kv(kv);
    w.set(kv.key, kv.value);
  }
  for (const auto& ti : f->tensors()) {
    Tensor t = ti.tensor;
    if (!edit_tensor(t)) continue;  // dropped
    set_contiguous_strides(t);
    const void* data = ti.tensor.data;
    const size_t have = ti.tensor.nbytes();
    w.add_tensor(t, [data, have](void* dst, size_t n) {
      std::memset(dst, 0, n);
      std::memcpy(dst, data, std::min(n, have));
    });
  }
  w.write(dst);
}

void expect_load_error(const std::string& path, const std::string& phrase) {
  try {
    Model::load(path);
    FAIL() << "expected an error containing '" << phrase << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(phrase), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
  }
}

TEST(ModelLoad, AcceptsTheSynthesizedModel) {
  const auto dir = test::temp_dir();
  auto m = Model::load(small_model(dir));
  EXPECT_EQ(m->config().n_layer, 2);
  EXPECT_EQ(m->config().n_vocab, 300);
  EXPECT_EQ(m->weights().layers.size(), 2u);
}

TEST(ModelLoad, UnknownArchitecture) {
  const auto dir = test::temp_dir();
  const std::string bad = (dir / "bad.gguf").string();
  rewrite(small_model(dir), bad,
          [](gguf::KeyValue& kv) { if (kv.key == "general.architecture") kv.value = gguf::Value::str("gpt9"); },
          [](Tensor&) { return true; });
  expect_load_error(bad, "unknown architecture 'gpt9'");
}

TEST(ModelLoad, TensorShapeDoesNotMatchTheArchitecture) {
  const auto dir = test::temp_dir();
  const std::string bad = (dir / "bad.gguf").string();
  rewrite(small_model(dir), bad, [](gguf::KeyValue&) {},
          [](Tensor& t) {
            if (t.name == "blk.1.ffn_up.weight") t.ne[1] = 96;
            return true;
          });
  expect_load_error(bad, "'blk.1.ffn_up.weight' has shape [64, 96] but the architecture needs [64, 128]");
}

TEST(ModelLoad, MissingTensor) {
  const auto dir = test::temp_dir();
  const std::string bad = (dir / "bad.gguf").string();
  rewrite(small_model(dir), bad, [](gguf::KeyValue&) {}, [](Tensor& t) { return t.name != "blk.0.attn_k.weight"; });
  expect_load_error(bad, "tensor 'blk.0.attn_k.weight' is missing");
}

TEST(ModelLoad, InconsistentHyperparameters) {
  const auto dir = test::temp_dir();
  const std::string bad = (dir / "bad.gguf").string();
  rewrite(small_model(dir), bad,
          [](gguf::KeyValue& kv) { if (kv.key == "llama.attention.head_count_kv") kv.value = gguf::Value::u32(3); },
          [](Tensor&) { return true; });
  expect_load_error(bad, "head_count_kv");
}

TEST(ModelLoad, VocabularySizeMustMatchTheEmbedding) {
  const auto dir = test::temp_dir();
  const std::string bad = (dir / "bad.gguf").string();
  rewrite(small_model(dir), bad, [](gguf::KeyValue&) {},
          [](Tensor& t) {
            if (t.name == "token_embd.weight" || t.name == "output.weight") t.ne[1] = 320;
            return true;
          });
  expect_load_error(bad, "vocabulary has 300 tokens but token_embd.weight has 320 rows");
}

}  // namespace
}  // namespace db
