// Bad input through the real `drawbridge` binary, table-driven: malformed GGUF files, absurd flags,
// unknown devices and broken device profiles. Every case must exit non-zero with exactly one stderr
// line naming the problem, finish within a timeout, and stay under a memory bound: peak RSS at most
// the RSS of `drawbridge --version` plus 16 x the input file's size plus 64 MiB (docs/testing.md).
// Under AddressSanitizer (whose quarantine and redzones change RSS) the bound is not checked.
// Needs nothing from ../shared: the model is made with `drawbridge synth`.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <thread>

#include <fmt/format.h>

#include "drawbridge/gguf.h"
#include "gguf_bytes.h"
#include "test_util.h"

namespace db {
namespace {

namespace fs = std::filesystem;
using test::Raw;
using test::read_bytes;
using test::write_bytes;

constexpr int kTimeoutSeconds = 30;
constexpr long kSlackKiB = 64 * 1024;  // documented bound on top of the baseline and 16 x file size
constexpr long kPerFileByte = 16;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kRssMeaningful = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kRssMeaningful = false;
#else
constexpr bool kRssMeaningful = true;
#endif
#else
constexpr bool kRssMeaningful = true;
#endif

struct Outcome {
  int exit_code = -1;  // -1: killed by a signal
  int signal = 0;
  bool timed_out = false;
  long max_rss_kib = 0;
  std::string err;
};

// Runs the CLI with `args` (no shell), stderr to a file, stdout discarded, `env` added to the
// environment; kills it after kTimeoutSeconds.
Outcome run_cli(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
  const fs::path err_path = fs::temp_directory_path() / ("db-bad-input-err-" + std::to_string(::getpid()));
  const pid_t pid = ::fork();
  if (pid == 0) {
    for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
    std::FILE* err = std::freopen(err_path.c_str(), "w", stderr);
    std::FILE* out = std::freopen("/dev/null", "w", stdout);
    if (!err || !out) ::_exit(127);
    std::vector<char*> argv = {const_cast<char*>(DRAWBRIDGE_CLI)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(DRAWBRIDGE_CLI, argv.data());
    ::_exit(127);
  }
  Outcome o;
  int status = 0;
  rusage usage{};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kTimeoutSeconds);
  while (::wait4(pid, &status, WNOHANG, &usage) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      o.timed_out = true;
      ::kill(pid, SIGKILL);
      ::wait4(pid, &status, 0, &usage);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (WIFEXITED(status)) o.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) o.signal = WTERMSIG(status);
  o.max_rss_kib = usage.ru_maxrss;
  std::ifstream e(err_path);
  o.err.assign(std::istreambuf_iterator<char>(e), std::istreambuf_iterator<char>());
  fs::remove(err_path);
  return o;
}

constexpr uint32_t kF32 = 0;
constexpr uint32_t kString = 8;

struct Case {
  Case(std::string n, std::vector<std::string> a, std::string e, fs::path i = {}, std::vector<std::string> v = {})
      : name(std::move(n)), args(std::move(a)), expect(std::move(e)), input(std::move(i)), env(std::move(v)) {}
  std::string name;
  std::vector<std::string> args;
  std::string expect;            // a phrase the one stderr line must contain
  fs::path input;                // the file whose size bounds memory ("" = none)
  std::vector<std::string> env;  // added to the environment
};

class CliBadInput : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("drawbridge-bad-input-" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    fs::create_directories(*dir_);
    good_ = new fs::path(*dir_ / "good.gguf");
    const Outcome o = run_cli({"synth", "--arch", "llama", "--n-layer", "1", "--n-embd", "32", "--n-ff", "64",
                               "--n-head", "2", "--n-head-kv", "2", "--n-vocab", "300", "--n-ctx", "64", "-o",
                               good_->string()});
    ASSERT_EQ(o.exit_code, 0) << o.err;
    baseline_kib_ = run_cli({"--version"}).max_rss_kib;
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    delete good_;
  }

  static fs::path file(const std::string& name, std::string_view bytes) {
    const fs::path p = *dir_ / name;
    write_bytes(p, bytes);
    return p;
  }

  static void check(const Case& c) {
    SCOPED_TRACE(c.name);
    const Outcome o = run_cli(c.args, c.env);
    EXPECT_FALSE(o.timed_out) << "hung for " << kTimeoutSeconds << " s";
    EXPECT_EQ(o.signal, 0) << "killed by signal " << o.signal << "; stderr: " << o.err;
    EXPECT_GT(o.exit_code, 0) << o.err;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << "stderr: " << o.err;
    EXPECT_NE(o.err.find(c.expect), std::string::npos) << "stderr: " << o.err;
    expect_rss_bounded(o, c.input);
  }

  static void expect_rss_bounded(const Outcome& o, const fs::path& input) {
    if (!kRssMeaningful) return;
    const long file_kib = input.empty() ? 0 : long(fs::file_size(input) / 1024);
    EXPECT_LE(o.max_rss_kib, baseline_kib_ + kPerFileByte * file_kib + kSlackKiB)
        << "peak RSS " << o.max_rss_kib << " KiB, baseline " << baseline_kib_ << " KiB, file " << file_kib << " KiB";
  }

  // `run` and `info` on the same malformed file.
  static void check_model(const std::string& name, const fs::path& p, const std::string& expect) {
    check({name + " (run)", {"run", "-m", p.string(), "-p", "hi", "-n", "1"}, expect, p});
    check({name + " (info)", {"info", p.string()}, expect, p});
  }

  static inline fs::path* dir_ = nullptr;
  static inline fs::path* good_ = nullptr;
  static inline long baseline_kib_ = 0;
};

TEST_F(CliBadInput, GoodModelRuns) {  // the control: the cases below fail because of their defect
  const Outcome o = run_cli({"run", "-m", good_->string(), "-p", "hi", "-n", "2", "-t", "1"});
  EXPECT_EQ(o.exit_code, 0) << o.err;
}

TEST_F(CliBadInput, GgufTruncatedAtManyOffsets) {
  const std::string bytes = read_bytes(*good_);
  std::vector<size_t> cuts;
  for (size_t i = 0; i < 64; ++i) cuts.push_back(i);                      // every header byte
  for (size_t i = 64; i < bytes.size(); i += bytes.size() / 97) cuts.push_back(i);  // across the rest
  cuts.push_back(bytes.size() - 1);
  for (size_t cut : cuts) {
    const fs::path p = file("cut.gguf", bytes.substr(0, cut));
    check({"truncated at " + std::to_string(cut) + " (info)", {"info", p.string()}, "[gguf]", p});
  }
  for (size_t cut : {size_t(3), size_t(20), bytes.size() / 2, bytes.size() - 1}) {
    const fs::path p = file("cut.gguf", bytes.substr(0, cut));
    check({"truncated at " + std::to_string(cut) + " (run)", {"run", "-m", p.string(), "-p", "hi"}, "[gguf]", p});
  }
}

TEST_F(CliBadInput, MalformedGgufStructure) {
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"data offset past the end", Raw().header(1, 0).tensor("w", {4}, kF32, 4096).pad(32).zeros(16).b,
       "past end of file"},
      {"data offset near 2^64", Raw().header(1, 0).tensor("w", {4}, kF32, ~uint64_t(31)).pad(32).zeros(16).b,
       "past end of file"},
      {"five dims", Raw().header(1, 0).tensor("w", {1, 1, 1, 1, 1}, kF32, 0).pad(32).zeros(16).b,
       "n_dims 5"},
      {"dims product overflows int64",
       Raw().header(1, 0).tensor("w", {uint64_t(1) << 32, uint64_t(1) << 32}, kF32, 0).pad(32).b, "overflows"},
      {"byte size overflows", Raw().header(1, 0).tensor("w", {uint64_t(1) << 62, 1}, kF32, 0).pad(32).b,
       "past end of file"},
      {"zero dim", Raw().header(1, 0).tensor("w", {4, 0}, kF32, 0).pad(32).b, "invalid dimension"},
      {"key length past the end", Raw().header(0, 1).u64(uint64_t(1) << 40).zeros(16).b, "exceeds the"},
      {"string value length past the end",
       Raw().header(0, 1).str("general.name").u32(kString).u64(~uint64_t(0)).b, "exceeds the"},
      {"tensor name length past the end", Raw().header(1, 0).u64(1000).zeros(32).b, "exceeds the"},
      {"unknown value type", Raw().header(0, 1).str("general.name").u32(99).u32(0).b, "unknown value type 99"},
      {"unknown tensor type", Raw().header(1, 0).tensor("w", {4}, 99, 0).pad(32).zeros(16).b,
       "unknown type id 99"},
      {"duplicate tensor names",
       Raw().header(2, 0).tensor("w", {4}, kF32, 0).tensor("w", {4}, kF32, 32).pad(32).zeros(64).b,
       "duplicate tensor name 'w'"},
      {"duplicate keys",
       Raw().header(0, 2).str("k").u32(4).u32(1).str("k").u32(4).u32(2).b, "duplicate key 'k'"},
      {"absurd tensor count", Raw().header(uint64_t(1) << 60, 0).b, "absurd"},
      {"absurd key count", Raw().header(0, uint64_t(1) << 60).b, "absurd"},
      {"array count past the end",
       Raw().header(0, 1).str("a").u32(9).u32(kString).u64(uint64_t(1) << 59).b, "array count"},
      {"newline in a duplicate key stays on one line",
       Raw().header(0, 2).str("k\nx").u32(4).u32(1).str("k\nx").u32(4).u32(2).b, "duplicate key 'k\\x0ax'"},
  };
  for (const auto& [name, bytes, expect] : cases) check_model(name, file("bad.gguf", bytes), expect);
}

// Valid files made of nothing but the cheapest metadata: the most bookkeeping per file byte the
// reader can be made to build (each case ~10x its size in RSS when measured). `info` accepts them;
// `run` refuses them; both stay within the bound.
TEST_F(CliBadInput, WorstCaseMetadataStaysBounded) {
  constexpr uint64_t kBytes = 8 << 20;
  Raw i8;  // one array of 1-byte integers, each widened to int64
  i8.header(0, 1).str("a").u32(9).u32(1).u64(kBytes).zeros(kBytes);
  Raw strings;  // one array of empty strings, 8 bytes each in the file, a std::string in memory
  strings.header(0, 1).str("a").u32(9).u32(kString).u64(kBytes / 8).zeros(kBytes);
  Raw kvs;  // as many distinct keys with u8 values as fit
  std::string body;
  uint64_t n_kv = 0;
  for (; body.size() < kBytes; ++n_kv) {
    Raw e;
    e.str(fmt::format("{:x}", n_kv)).u32(0).b.push_back('\1');
    body += e.b;
  }
  kvs.header(0, n_kv).b += body;
  Raw tensors;  // as many 1-byte tensors as fit, each in its own aligned slot
  uint64_t n_t = kBytes / 48;
  Raw infos;
  for (uint64_t i = 0; i < n_t; ++i) infos.tensor(fmt::format("{:x}", i), {}, 24, i);  // i8, 0 dims
  tensors.header(n_t, 1).str("general.alignment").u32(4).u32(1).b += infos.b;
  tensors.zeros(n_t);
  for (const auto& [name, raw] : {std::pair{"i8 array", &i8}, {"string array", &strings}, {"many keys", &kvs},
                                   {"many tensors", &tensors}}) {
    SCOPED_TRACE(name);
    const fs::path p = file("worst.gguf", raw->b);
    const Outcome info = run_cli({"info", p.string()});
    EXPECT_EQ(info.exit_code, 0) << info.err;
    expect_rss_bounded(info, p);
    check({std::string(name) + " (run)", {"run", "-m", p.string(), "-p", "hi"}, "[model]", p});
  }
}

// Rewrites the good model with `edit` applied to its metadata (the Writer keeps the rest as it was).
fs::path rewrite(const fs::path& good, const fs::path& out, const std::function<void(gguf::Writer&)>& edit) {
  auto f = gguf::File::open(good.string());
  gguf::Writer w;
  for (const auto& kv : f->metadata()) w.set(kv.key, kv.value);
  edit(w);
  for (const auto& t : f->tensors()) w.add_tensor(t.tensor, t.tensor.data);
  w.write(out.string());
  return out;
}

fs::path with_tokens(const fs::path& good, const fs::path& out, const std::function<void(std::vector<std::string>&)>& edit) {
  std::vector<std::string> tokens = *gguf::File::open(good.string())->get_string_array("tokenizer.ggml.tokens");
  edit(tokens);
  return rewrite(good, out, [&](gguf::Writer& w) { w.set("tokenizer.ggml.tokens", gguf::Value::str_array(tokens)); });
}

// Hyperparameters that disagree with the tensors must fail before anything is sized from them.
TEST_F(CliBadInput, HyperparametersOutOfProportion) {
  const auto set = [&](const std::string& name, const std::string& key, uint32_t value) {
    return rewrite(*good_, *dir_ / (name + ".gguf"), [&](gguf::Writer& w) { w.set(key, gguf::Value::u32(value)); });
  };
  const auto run = [](const std::string& name, const fs::path& p, const std::string& expect) {
    check({name, {"run", "-m", p.string(), "-p", "hi", "-n", "1"}, expect, p});
  };
  run("16 million layers", set("layers", "llama.block_count", 16000000), "block_count");
  run("2^31 - 1 layers", set("layers2", "llama.block_count", 0x7fffffff), "block_count");
  run("huge embedding", set("embd", "llama.embedding_length", 16000000), "token_embd.weight");
  run("huge feed-forward", set("ff", "llama.feed_forward_length", 16000000), "ffn_gate");
  run("huge head count", set("heads", "llama.attention.head_count", 16000000), "head");
  check({"info --ctx beyond any session", {"info", good_->string(), "--ctx", "4611686018427387904"}, "--ctx", *good_});
}

// `run` loads the tokenizer and must refuse these; `info` only shows the metadata, so it may not.
TEST_F(CliBadInput, BadVocabulary) {
  const auto run = [](const std::string& name, const fs::path& p, const std::string& expect) {
    check({name, {"run", "-m", p.string(), "-p", "hi", "-n", "1"}, expect, p});
  };
  run("invalid UTF-8 token", with_tokens(*good_, *dir_ / "utf8.gguf", [](auto& t) { t[100] = "ab\xff\xfe"; }),
      "token 100 is not valid UTF-8 (byte 0xff at offset 2)");
  run("overlong UTF-8 token", with_tokens(*good_, *dir_ / "overlong.gguf", [](auto& t) { t[101] = "\xc0\xaf"; }),
      "token 101 is not valid UTF-8");
  run("UTF-8 surrogate token", with_tokens(*good_, *dir_ / "surrogate.gguf", [](auto& t) { t[101] = "\xed\xa0\x80"; }),
      "token 101 is not valid UTF-8");
  run("truncated UTF-8 token", with_tokens(*good_, *dir_ / "short.gguf", [](auto& t) { t[101] = "x\xe2\x82"; }),
      "token 101 is not valid UTF-8 (byte 0xe2 at offset 1)");
  run("duplicate token", with_tokens(*good_, *dir_ / "dup.gguf", [](auto& t) { t[102] = t[103]; }),
      "duplicate token");
  run("newline in a duplicate token stays on one line",
      with_tokens(*good_, *dir_ / "dupnl.gguf", [](auto& t) { t[102] = t[103] = "a\nb"; }), "duplicate token 'a\\x0ab'");
}

TEST_F(CliBadInput, BadRunFlags) {
  const std::string m = good_->string();
  const std::string long_prompt(400, 'a');
  const std::vector<Case> cases = {
      {"prompt longer than the context", {"run", "-m", m, "-c", "16", "-p", long_prompt}, "context"},
      {"prompt longer than the training context", {"run", "-m", m, "-p", long_prompt}, "context"},
      {"zero threads", {"run", "-m", m, "-t", "0", "-p", "hi"}, "thread count 0 must be in 1..1024"},
      {"100000 threads", {"run", "-m", m, "-t", "100000", "-p", "hi"}, "thread count 100000 must be in 1..1024"},
      {"negative threads", {"run", "-m", m, "-t", "-3", "-p", "hi"}, "thread count -3 must be in 1..1024"},
      {"bench with zero threads", {"bench", "-m", m, "-t", "0"}, "thread"},
      {"bench with 100000 threads", {"bench", "-m", m, "-t", "100000"}, "thread"},
      {"quantize with 100000 threads", {"quantize", m, (*dir_ / "q.gguf").string(), "--type", "q8_0", "-t", "100000"},
       "thread count 100000"},
      {"synth with zero threads", {"synth", "--arch", "llama", "--threads", "0", "-o", (*dir_ / "s.gguf").string()},
       "thread count 0"},
      {"huge context", {"run", "-m", m, "-c", "2000000000", "-p", "hi"}, "context size"},
      {"unknown device", {"run", "-m", m, "--device", "tpu9", "-p", "hi"}, "tpu9"},
      {"unknown virtual device", {"run", "-m", m, "--device", "sim:nope", "-p", "hi"}, "sim:nope"},
      {"unknown device shown", {"devices", "show", "sim:nope"}, "unknown device 'sim:nope'"},
  };
  for (const Case& c : cases) check(c);
}

// A catalogue profile with `edit` applied, in its own DRAWBRIDGE_DEVICES_DIR.
Case profile_case(const fs::path& root, const std::string& name, const std::string& text, const std::string& expect) {
  const fs::path dir = root / ("devices-" + std::to_string(std::hash<std::string>()(name)));
  fs::create_directories(dir);
  write_bytes(dir / "my-chip.toml", text);
  return {name, {"devices"}, expect, dir / "my-chip.toml", {"DRAWBRIDGE_DEVICES_DIR=" + dir.string()}};
}

TEST_F(CliBadInput, BadDeviceProfiles) {
  const std::string head = "id = \"my-chip\"\nname = \"My Chip\"\nvendor = \"Me\"\n";
  const std::string dtypes = "compute.native_dtypes = { value = [\"f16\"], source = \"s\", confidence = \"high\" }\n";
  const std::vector<Case> cases = {
      profile_case(*dir_, "missing vendor", "id = \"my-chip\"\nname = \"My Chip\"\n" + dtypes, "vendor is missing"),
      profile_case(*dir_, "missing dtypes", head, "compute.native_dtypes is missing"),
      profile_case(*dir_, "negative bandwidth",
                   head + dtypes + "memory.bandwidth_gbps = { value = -1, source = \"s\", confidence = \"high\" }\n",
                   "memory.bandwidth_gbps is negative"),
      profile_case(*dir_, "negative capacity",
                   head + dtypes + "memory.capacity_gib = { value = -64.0, source = \"s\", confidence = \"low\" }\n",
                   "memory.capacity_gib is negative"),
      profile_case(*dir_, "missing source",
                   head + dtypes + "power.tdp_w = { value = 300, confidence = \"low\" }\n", "power.tdp_w has no source"),
      profile_case(*dir_, "missing confidence", head + dtypes + "power.tdp_w = { value = 300, source = \"s\" }\n",
                   "power.tdp_w has no confidence"),
      profile_case(*dir_, "missing value", head + dtypes + "power.tdp_w = { source = \"s\", confidence = \"low\" }\n",
                   "power.tdp_w"),
      profile_case(*dir_, "infinite", head + dtypes + "power.tdp_w = { value = inf, source = \"s\", confidence = \"low\" }\n",
                   "power.tdp_w must be a number"),
      profile_case(*dir_, "efficiency above 1",
                   head + dtypes + "calibration.memory_efficiency = { value = 1.5, source = \"s\", confidence = \"low\" }\n",
                   "must lie in (0, 1]"),
      profile_case(*dir_, "TOML syntax", head + "memory = [\n", "[profile]"),
      profile_case(*dir_, "id does not match the file", "id = \"other\"\nname = \"X\"\nvendor = \"V\"\n" + dtypes,
                   "does not match the file name"),
      profile_case(*dir_, "unknown field", head + dtypes + "memory.speed = { value = 1, source = \"s\", confidence = \"low\" }\n",
                   "memory.speed is not a known field"),
      profile_case(*dir_, "keys nested 400000 deep", head + dtypes + [] {
        std::string deep;
        for (int i = 0; i < 400000; ++i) deep += "a.";
        return deep + "b = 1\n";
      }(), "keys nest too deep"),
      profile_case(*dir_, "over 1 MiB", head + dtypes + "# " + std::string(2 << 20, 'x') + "\n", "a profile may have"),
      profile_case(*dir_, "non-ASCII after a key", head + dtypes + "power\xc3\xa9 = 1\n", "non-ASCII character"),
      profile_case(*dir_, "NUL in a table header", head + dtypes + std::string("[\0\0memory]\n", 11), "control character 0x00"),
      {"devices dir missing", {"devices"}, "DRAWBRIDGE_DEVICES_DIR", {}, {"DRAWBRIDGE_DEVICES_DIR=/nonexistent/devices"}},
  };
  for (const Case& c : cases) check(c);
  // A broken profile also stops `run --device sim:...`, with the same one line.
  Case run = cases[2];
  run.name = "negative bandwidth (run)";
  run.args = {"run", "-m", good_->string(), "--device", "sim:my-chip", "-p", "hi"};
  check(run);
}

}  // namespace
}  // namespace db
