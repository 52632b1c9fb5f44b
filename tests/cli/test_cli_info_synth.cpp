// `drawbridge synth` and `drawbridge info`, run as a user would run them.
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "drawbridge/gguf.h"
#include "drawbridge/model.h"
#include "drawbridge/tokenizer.h"
#include "test_util.h"

namespace {

struct Result {
  int status;
  std::string out;  // stdout and stderr together
};

Result run_cli(const std::string& args) {
  const std::string cmd = std::string(DRAWBRIDGE_CLI) + " " + args + " 2>&1";
  Result r{-1, {}};
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
  const int raw = pclose(p);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

const char* kTinyLlama = "synth --arch llama --n-layer 2 --n-embd 64 --n-ff 128 --n-head 4 --n-head-kv 2 --n-vocab 320";

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(CliSynthInfo, SynthThenInfo) {
  const auto path = (db::test::temp_dir() / "tiny.gguf").string();
  const Result synth = run_cli(std::string(kTinyLlama) + " --type q8_0 -o " + path);
  ASSERT_EQ(synth.status, 0) << synth.out;
  EXPECT_TRUE(contains(synth.out, "wrote " + path)) << synth.out;

  const Result info = run_cli("info " + path);
  ASSERT_EQ(info.status, 0) << info.out;
  for (const char* part : {"GGUF v3", "general.architecture = \"llama\"", "llama.block_count = 2",
                           "tokenizer.ggml.tokens = [320 strings: \"", "token_embd.weight", "output_norm.weight",
                           "blk.1.ffn_down.weight", "[128, 64]", "q8_0", "architecture    llama",
                           "KV cache        512.00 KiB at 2048 tokens", "context         2048"})
    EXPECT_TRUE(contains(info.out, part)) << "missing '" << part << "' in:\n" << info.out;
  EXPECT_FALSE(contains(info.out, "\"<unk>\", \"<s>\", \"</s>\", \"<0x00>\"")) << "long arrays must be truncated";

  const uint64_t params = db::Model::load(path)->n_params();
  EXPECT_TRUE(contains(info.out, "parameters      " + std::to_string(params / 1000) + ".")) << info.out;
  EXPECT_TRUE(contains(info.out, "(" + std::to_string(params) + ")")) << info.out;
}

TEST(CliSynthInfo, InfoContextAndAllMetadata) {
  const auto path = (db::test::temp_dir() / "tiny.gguf").string();
  ASSERT_EQ(run_cli(std::string(kTinyLlama) + " --n-ctx 512 -o " + path).status, 0);
  // 2 (K and V) x 2 layers x 1000 tokens x 32 kv dims x 2 bytes = 256000 bytes
  const Result info = run_cli("info " + path + " --ctx 1000 --all-metadata");
  ASSERT_EQ(info.status, 0) << info.out;
  EXPECT_TRUE(contains(info.out, "KV cache        250.00 KiB at 1000 tokens")) << info.out;
  EXPECT_TRUE(contains(info.out, "context         512 (training)")) << info.out;
  EXPECT_FALSE(contains(info.out, ", ...]")) << "--all-metadata prints arrays in full";
}

TEST(CliSynthInfo, InfoOnAFileThatIsNotAModel) {
  const auto path = (db::test::temp_dir() / "vocab.gguf").string();
  db::gguf::Writer w;
  db::write_vocab(w, db::synth_vocab(300));
  w.write(path);
  // A vocab-only GGUF still gets its metadata printed, then the reason there is no summary.
  const Result info = run_cli("info " + path);
  ASSERT_EQ(info.status, 0) << info.out;
  EXPECT_TRUE(contains(info.out, "tokenizer.ggml.model = \"llama\"")) << info.out;
  EXPECT_TRUE(contains(info.out, "tensors (0)")) << info.out;
  EXPECT_TRUE(contains(info.out, "no model summary: [model]")) << info.out;
  EXPECT_TRUE(contains(info.out, "general.architecture is missing")) << info.out;

  const Result missing = run_cli("info " + path + ".absent");
  EXPECT_NE(missing.status, 0);
  EXPECT_TRUE(contains(missing.out, "error: ")) << missing.out;
}

void expect_one_line_error(const std::string& args, const std::string& part) {
  const Result r = run_cli(args);
  EXPECT_NE(r.status, 0) << args;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_TRUE(contains(r.out, "error: ")) << r.out;
  EXPECT_TRUE(contains(r.out, part)) << r.out;
}

TEST(CliSynthInfo, BadSynthFlagsFailWithOneLine) {
  const std::string out = " -o " + (db::test::temp_dir() / "x.gguf").string();
  expect_one_line_error(std::string(kTinyLlama) + " --n-head 5" + out, "not a multiple of n_head 5");
  expect_one_line_error(std::string(kTinyLlama) + " --n-head-kv 3" + out, "not a multiple of n_head_kv 3");
  expect_one_line_error(std::string(kTinyLlama) + " --n-vocab 100" + out, "at least 259");
  expect_one_line_error(std::string(kTinyLlama) + " --type q5_k" + out, "not supported");
  expect_one_line_error(std::string(kTinyLlama) + " --type nonsense" + out, "unknown --type");
  expect_one_line_error(std::string(kTinyLlama) + " --arch gpt9" + out, "unknown --arch");
  expect_one_line_error(std::string(kTinyLlama) + " --type q4_0 --n-ff 100" + out, "blk.0.ffn_down.weight");
  expect_one_line_error(std::string(kTinyLlama), "-o/--output is required");
  expect_one_line_error("synth --arch llama" + out, "--n-layer is required");
}

}  // namespace

namespace {

TEST(CliInfoModel, PrintsAProfilesSizesAndKvBytes) {
  const Result info = run_cli("info --model llama-2-70b --ctx 4096");
  ASSERT_EQ(info.status, 0) << info.out;
  // 80 layers x (K + V) x 8 heads x 128 x 2 bytes = 320 KiB per token; x 4096 = 1.25 GiB
  for (const char* part : {"llama-2-70b (Llama 2 70B)", "architecture    llama", "heads           64 (kv 8, head dim 128)",
                           "parameters      68.98 B (68976648192; 70.0 B published)", "KV / token      320.00 KiB (f16)",
                           "KV cache        1.25 GiB at 4096 tokens (f16)", "huggingface.co/meta-llama/Llama-2-70b-hf"})
    EXPECT_TRUE(contains(info.out, part)) << "missing '" << part << "' in:\n" << info.out;
  const Result moe = run_cli("info --model mixtral-8x7b");
  ASSERT_EQ(moe.status, 0) << moe.out;
  EXPECT_TRUE(contains(moe.out, "experts         8 routed (top-2)")) << moe.out;
  EXPECT_TRUE(contains(moe.out, "active / token  12.88 B")) << moe.out;
}

TEST(CliInfoModel, UnknownModelIsOneClearLine) {
  const Result r = run_cli("info --model no-such-model");
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(contains(r.out, "[model] unknown model 'no-such-model' (known: deepseek-r1")) << r.out;
  const Result list = run_cli("info --list-models");
  ASSERT_EQ(list.status, 0);
  EXPECT_TRUE(contains(list.out, "qwen3-next-80b-a3b\n")) << list.out;
}

}  // namespace
