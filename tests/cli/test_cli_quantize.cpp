// `drawbridge quantize`, run as a user would run it: a mix end to end with its progress line,
// and bad input reported as one clear line.
#include <sys/wait.h>

#include <cstdio>
#include <string>

#include "drawbridge/gguf.h"
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

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string synth_f32(const std::filesystem::path& dir) {
  const std::string path = (dir / "in.gguf").string();
  const Result r = run_cli("synth --arch llama --n-layer 2 --n-embd 256 --n-ff 512 --n-head 4 --n-head-kv 2 "
                           "--n-vocab 300 --type f32 -o " + path);
  EXPECT_EQ(r.status, 0) << r.out;
  return path;
}

TEST(CliQuantize, MixEndToEnd) {
  const auto dir = db::test::temp_dir();
  const std::string in = synth_f32(dir), out = (dir / "out.gguf").string();
  const Result r = run_cli("quantize " + in + " " + out + " --type q4_k_m -t 2");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "wrote " + out + " (Q4_K_M)")) << r.out;
  EXPECT_TRUE(contains(r.out, "types: f32 5, q4_K 13, q6_K 3")) << r.out;  // as llama-quantize
  EXPECT_TRUE(contains(r.out, "\r[  21/  21] blk.1.ffn_up.weight")) << r.out;
  EXPECT_TRUE(contains(r.out, "100%\n")) << r.out;
  const auto f = db::gguf::File::open(out);
  EXPECT_EQ(f->find_tensor("output.weight")->tensor.dtype, db::DType::Q6_K);
  EXPECT_EQ(f->get_int("general.file_type"), 15);
}

TEST(CliQuantize, BadInputIsOneClearLine) {
  const auto dir = db::test::temp_dir();
  const std::string out = (dir / "out.gguf").string();
  Result r = run_cli("quantize " + (dir / "missing.gguf").string() + " " + out + " --type q4_0");
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(contains(r.out, "error: [gguf]")) << r.out;
  EXPECT_TRUE(contains(r.out, "missing.gguf")) << r.out;

  const std::string in = synth_f32(dir);
  r = run_cli("quantize " + in + " " + out + " --type q9_9");
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(contains(r.out, "error: [quantize] unknown type 'q9_9' (valid: Q4_0, Q4_1,")) << r.out;
  EXPECT_TRUE(contains(r.out, "Q4_K_M")) << r.out;
  EXPECT_FALSE(std::filesystem::exists(out));

  r = run_cli("quantize " + in + " " + out);
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(contains(r.out, "--type is required")) << r.out;
}

}  // namespace
