// The CLI end to end: `drawbridge run` prints llama.cpp's golden text byte for byte, and bad
// input gives one clear error line and a non-zero exit.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>

#include "cli/cli_util.h"
#include "test_util.h"

namespace db {
namespace {

// The Python-repr string on the line after "Exact stdout" in SOURCES.md, unescaped.
std::string golden_stdout(const std::string& sources) {
  std::ifstream in(sources);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t at = text.find("Exact stdout");
  at = text.find("\n\"", at) + 2;
  const size_t end = text.find("\"\n", at);
  std::string raw = text.substr(at, end - at), out;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\\' && i + 1 < raw.size()) {
      const char c = raw[++i];
      out += c == 'n' ? '\n' : c == 't' ? '\t' : c;
    } else {
      out += raw[i];
    }
  }
  return out;
}

TEST(CliRun, GoldenTextByteForByte) {
  const auto model = test::shared_file("models/stories260K.gguf");
  REQUIRE_SHARED(model);
  const std::string want = golden_stdout(test::shared_file("models/SOURCES.md").string());
  ASSERT_EQ(want.size(), 194u);
  const Result r = cli("run -m " + model.string() + " -p \"Once upon a time\" -n 64 --temp 0 --seed 42 -t 2");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, want);
  EXPECT_NE(r.err.find("tokens/s"), std::string::npos) << r.err;
}

struct BadRun {
  const char* name;
  std::string args;
  const char* expect;  // a phrase the one-line error must contain
};

TEST(CliRun, BadInputGivesOneClearLine) {
  const auto model = test::shared_file("models/stories260K.gguf");
  REQUIRE_SHARED(model);
  const auto dir = test::temp_dir();
  {
    std::ofstream(dir / "truncated.gguf", std::ios::binary) << std::string("GGUF\x03\0\0\0", 8);
    std::ofstream(dir / "text.gguf") << "this is not a model";
  }
  const std::string m = model.string();
  const std::string long_prompt(3000, 'a');
  const std::vector<BadRun> cases = {
      {"missing file", "run -m /nonexistent/model.gguf -p hi", "/nonexistent/model.gguf"},
      {"truncated", "run -m " + (dir / "truncated.gguf").string() + " -p hi", "[gguf]"},
      {"not gguf", "run -m " + (dir / "text.gguf").string() + " -p hi", "[gguf]"},
      {"vocab only", "run -m " + test::shared_file("tokenizers/ggml-vocab-llama-spm.gguf").string() + " -p hi", "[model]"},
      {"prompt over context", "run -m " + m + " -c 16 -p \"" + long_prompt + "\"", "context"},
      {"zero threads?", "run -m " + m + " -t 100000 -p hi", "thread"},
      {"negative temperature is greedy, bad top-p", "run -m " + m + " --top-p 2 -p hi", "top-p"},
      {"bad number", "run -m " + m + " -n abc -p hi", "n-predict"},
      {"missing prompt", "run -m " + m, "prompt"},
  };
  for (const BadRun& c : cases) {
    const Result r = cli(c.args);
    EXPECT_NE(r.status, 0) << c.name;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.name << ": " << r.err;
    EXPECT_LE(std::count(r.err.begin(), r.err.end(), '\n'), 2) << c.name << ": " << r.err;
    EXPECT_EQ(r.err.find("Segmentation"), std::string::npos) << c.name;
  }
}

}  // namespace
}  // namespace db
