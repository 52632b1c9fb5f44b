// The golden end-to-end test: stories260K at temperature 0 must reproduce llama.cpp's greedy
// token ids, as recorded in ../shared/models/SOURCES.md (read from there, not copied here).
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "drawbridge/generate.h"
#include "drawbridge/model.h"
#include "drawbridge/session.h"
#include "test_util.h"

namespace db {
namespace {

// The bracketed id list that follows `marker` in SOURCES.md.
std::vector<Token> ids_after(const std::string& text, const std::string& marker) {
  const size_t at = text.find(marker);
  if (at == std::string::npos) return {};
  const size_t open = text.find('[', at), close = text.find(']', open);
  std::vector<Token> ids;
  std::stringstream ss(text.substr(open + 1, close - open - 1));
  for (std::string item; std::getline(ss, item, ',');) ids.push_back(std::stoi(item));
  return ids;
}

TEST(Golden, Stories260KGreedyMatchesLlamaCpp) {
  const auto model_path = test::shared_file("models/stories260K.gguf");
  const auto sources = test::shared_file("models/SOURCES.md");
  REQUIRE_SHARED(model_path);
  REQUIRE_SHARED(sources);
  std::ifstream in(sources);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::vector<Token> want_prompt = ids_after(text, "Prompt tokens (BOS added)");
  const std::vector<Token> want_gen = ids_after(text, "64 generated token ids");
  ASSERT_EQ(want_prompt.size(), 5u);
  ASSERT_EQ(want_gen.size(), 64u);

  auto model = Model::load(model_path.string());
  auto tok = Tokenizer::create(*model->vocab());
  for (int threads : {1, 2, 3}) {
    SessionOptions so;
    so.n_threads = threads;
    Session session(*model, so);
    GenerateOptions go;
    go.prompt = "Once upon a time";
    go.n_predict = 64;
    go.sampler.temperature = 0;
    std::string out;
    const GenerateStats st = generate(session, *tok, go, [&](std::string_view s) { out += s; });
    const std::vector<Token> prompt(st.tokens.begin(), st.tokens.begin() + st.n_prompt);
    const std::vector<Token> gen(st.tokens.begin() + st.n_prompt, st.tokens.end());
    EXPECT_EQ(prompt, want_prompt) << threads << " threads";
    EXPECT_EQ(gen, want_gen) << threads << " threads";
  }
}

// A prompt processed in several batches must give the same tokens as one batch.
TEST(Golden, BatchSizeDoesNotChangeTokens) {
  const auto model_path = test::shared_file("models/stories260K.gguf");
  REQUIRE_SHARED(model_path);
  auto model = Model::load(model_path.string());
  auto tok = Tokenizer::create(*model->vocab());
  std::vector<std::vector<Token>> runs;
  for (int batch : {512, 3, 1}) {
    SessionOptions so;
    so.n_threads = 2;
    so.n_batch = batch;
    Session session(*model, so);
    GenerateOptions go;
    go.prompt = "Lily and Tom went to the park to play with a big red ball";
    go.n_predict = 24;
    go.sampler.temperature = 0;
    runs.push_back(generate(session, *tok, go, [](std::string_view) {}).tokens);
  }
  EXPECT_EQ(runs[0], runs[1]);
  EXPECT_EQ(runs[0], runs[2]);
}

}  // namespace
}  // namespace db
