// GGUF reader/writer: round trips, real files from ../shared, and every class of malformed input.
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <numeric>

#include "drawbridge/error.h"
#include "drawbridge/gguf.h"
#include "gguf_bytes.h"
#include "test_util.h"

namespace db::gguf {
namespace {

namespace fs = std::filesystem;
using test::Raw;
using test::read_bytes;
using test::write_bytes;

// The message of the db::Error that `fn` throws ("" and a test failure when it does not throw).
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a db::Error";
  return "";
}

// Parses bytes from a heap buffer of exactly their size, so ASan flags any read past the end.
void parse_bytes(std::string_view bytes, const std::string& name = "mem") {
  auto copy = std::make_unique<char[]>(bytes.size() + 1);
  std::memcpy(copy.get(), bytes.data(), bytes.size());
  File::open_memory(copy.get(), bytes.size(), name);
}

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t(i * 31 + seed);
  return v;
}

// A small file with metadata and tensors whose last tensor ends exactly at end of file, so that
// cutting it anywhere leaves something missing.
void write_small_model(const fs::path& path) {
  Writer w;
  w.set("general.architecture", Value::str("llama"));
  w.set("llama.block_count", Value::u32(2));
  w.set("tokenizer.ggml.tokens", Value::str_array({"<s>", "</s>", "hi"}));
  w.set("tokenizer.ggml.scores", Value::f32_array({0.0, -1.5, 2.25}));
  w.set("general.flag", Value::boolean(true));
  static const auto a = pattern(32, 1), b = pattern(34, 2), c = pattern(32, 3);
  w.add_tensor(make_tensor("a", DType::F32, {4, 2, 1, 1}), a.data());
  w.add_tensor(make_tensor("b", DType::Q8_0, {32, 1, 1, 1}), b.data());
  w.add_tensor(make_tensor("c", DType::F32, {8, 1, 1, 1}), c.data());
  w.write(path.string());
}

// ---------------------------------------------------------------- round trips

struct NamedValue {
  std::string key;
  Value value;
};

std::vector<NamedValue> every_value_type() {
  using V = Value;
  auto arr = [](ValueType elem, auto items) { return V{ValueType::ARRAY, elem, std::move(items)}; };
  return {
      {"u8", {ValueType::UINT8, ValueType::UINT32, int64_t(255)}},
      {"i8", {ValueType::INT8, ValueType::UINT32, int64_t(-128)}},
      {"u16", {ValueType::UINT16, ValueType::UINT32, int64_t(65535)}},
      {"i16", {ValueType::INT16, ValueType::UINT32, int64_t(-32768)}},
      {"u32", V::u32(4000000000u)},
      {"i32", V::i32(-2000000000)},
      {"f32", V::f32(0.1f)},
      {"bool", V::boolean(true)},
      {"string", V::str("héllo\nworld")},
      {"u64", V::u64(UINT64_MAX)},
      {"i64", {ValueType::INT64, ValueType::UINT32, int64_t(INT64_MIN)}},
      {"f64", {ValueType::FLOAT64, ValueType::UINT32, 1e300}},
      {"arr.u8", arr(ValueType::UINT8, std::vector<int64_t>{0, 255})},
      {"arr.i8", arr(ValueType::INT8, std::vector<int64_t>{-128, 127})},
      {"arr.u16", arr(ValueType::UINT16, std::vector<int64_t>{65535})},
      {"arr.i16", arr(ValueType::INT16, std::vector<int64_t>{-1, 2})},
      {"arr.u32", arr(ValueType::UINT32, std::vector<int64_t>{4000000000})},
      {"arr.i32", V::i32_array({-5, 0, 7})},
      {"arr.u64", arr(ValueType::UINT64, std::vector<int64_t>{-1, 3})},  // -1 is u64 max
      {"arr.i64", arr(ValueType::INT64, std::vector<int64_t>{INT64_MIN, INT64_MAX})},
      {"arr.f32", V::f32_array({1.5, -0.25})},
      {"arr.f64", arr(ValueType::FLOAT64, std::vector<double>{1e-300, 3.0})},
      {"arr.bool", arr(ValueType::BOOL, std::vector<bool>{true, false, true})},
      {"arr.string", V::str_array({"", "a", "bc"})},
      {"arr.empty", V::str_array({})},
  };
}

TEST(GgufRoundTrip, EveryValueType) {
  const auto path = test::temp_dir() / "values.gguf";
  Writer w;
  for (const auto& [key, value] : every_value_type()) w.set(key, value);
  w.write(path.string());

  auto f = File::open(path.string());
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->alignment(), 32u);
  EXPECT_EQ(f->find("general.alignment"), nullptr);  // default alignment is not written
  const auto expected = every_value_type();
  ASSERT_EQ(f->metadata().size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    const KeyValue& kv = f->metadata()[i];
    SCOPED_TRACE(expected[i].key);
    EXPECT_EQ(kv.key, expected[i].key);
    EXPECT_EQ(kv.value.type, expected[i].value.type);
    if (kv.value.type == ValueType::ARRAY) {
      EXPECT_EQ(kv.value.elem_type, expected[i].value.elem_type);
    }
    EXPECT_EQ(kv.value.v, expected[i].value.v);
  }
  EXPECT_TRUE(f->tensors().empty());
}

TEST(GgufRoundTrip, TensorsOfSeveralDtypes) {
  const auto path = test::temp_dir() / "tensors.gguf";
  struct Case {
    const char* name;
    DType dtype;
    std::array<int64_t, 4> ne;
  };
  const std::vector<Case> cases = {
      {"f32", DType::F32, {4, 3, 1, 1}},
      {"f16", DType::F16, {8, 2, 2, 1}},
      {"q8_0", DType::Q8_0, {64, 2, 1, 1}},
      {"q4_0", DType::Q4_0, {32, 3, 1, 2}},
  };
  std::vector<std::vector<uint8_t>> data;
  data.reserve(cases.size());  // the fill callbacks hold pointers into it
  Writer w;
  w.set("general.architecture", Value::str("test"));
  for (size_t i = 0; i < cases.size(); ++i) {
    Tensor t = make_tensor(cases[i].name, cases[i].dtype, cases[i].ne);
    data.push_back(pattern(t.nbytes(), uint8_t(i)));
    auto* src = &data.back();
    w.add_tensor(t, [src](void* dst, size_t n) {
      ASSERT_EQ(n, src->size());
      std::memcpy(dst, src->data(), n);
    });
  }
  w.write(path.string());

  auto f = File::open(path.string());
  ASSERT_EQ(f->tensors().size(), cases.size());
  EXPECT_EQ(f->data_offset() % 32, 0u);
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].name);
    const TensorInfo* info = f->find_tensor(cases[i].name);
    ASSERT_NE(info, nullptr);
    const Tensor& t = info->tensor;
    EXPECT_EQ(t.dtype, cases[i].dtype);
    EXPECT_EQ(t.ne, cases[i].ne);
    EXPECT_TRUE(t.is_contiguous());
    EXPECT_EQ(info->offset % 32, 0u);
    ASSERT_EQ(t.nbytes(), data[i].size());
    EXPECT_EQ(std::memcmp(t.data, data[i].data(), t.nbytes()), 0);
  }
  EXPECT_EQ(f->find_tensor("missing"), nullptr);
}

TEST(GgufRoundTrip, CustomAlignmentIsWrittenAndHonoured) {
  const auto path = test::temp_dir() / "align.gguf";
  const auto a = pattern(40, 7), b = pattern(8, 9);
  Writer w;
  w.set_alignment(64);
  w.add_tensor(make_tensor("a", DType::F32, {10, 1, 1, 1}), a.data());
  w.add_tensor(make_tensor("b", DType::F32, {2, 1, 1, 1}), b.data());
  w.write(path.string());

  auto f = File::open(path.string());
  EXPECT_EQ(f->alignment(), 64u);
  EXPECT_EQ(f->get_int("general.alignment"), 64);
  EXPECT_EQ(f->data_offset() % 64, 0u);
  EXPECT_EQ(f->find_tensor("b")->offset, 64u);
  EXPECT_EQ(std::memcmp(f->find_tensor("b")->tensor.data, b.data(), 8), 0);
}

TEST(GgufRoundTrip, OpenMemoryMatchesOpen) {
  const auto path = test::temp_dir() / "small.gguf";
  write_small_model(path);
  const std::string bytes = read_bytes(path);
  auto from_file = File::open(path.string());
  auto from_memory = File::open_memory(bytes.data(), bytes.size(), "small");
  EXPECT_EQ(from_memory->path(), "small");
  EXPECT_EQ(from_memory->metadata().size(), from_file->metadata().size());
  ASSERT_EQ(from_memory->tensors().size(), 3u);
  const TensorInfo& last = from_memory->tensors()[2];
  EXPECT_EQ(last.offset, 96u);  // 32 bytes of f32, then 34 of q8_0 padded to 64
  EXPECT_EQ(last.tensor.data, bytes.data() + from_memory->data_offset() + last.offset);
  EXPECT_EQ(from_file->file_size(), bytes.size());
}

// ---------------------------------------------------------------- writer

TEST(GgufWriter, SetReplacesValueAndKeepsPosition) {
  const auto path = test::temp_dir() / "set.gguf";
  Writer w;
  w.set("a", Value::u32(1));
  w.set("b", Value::u32(2));
  w.set("a", Value::str("one"));
  w.write(path.string());
  auto f = File::open(path.string());
  ASSERT_EQ(f->metadata().size(), 2u);
  EXPECT_EQ(f->metadata()[0].key, "a");
  EXPECT_EQ(f->get_string("a"), "one");
}

TEST(GgufWriter, RejectsInvalidInputWhenAdded) {
  Writer w;
  EXPECT_NE(error_of([&] { w.set("x", {ValueType::UINT8, ValueType::UINT32, int64_t(300)}); })
                .find("does not fit in u8"), std::string::npos);
  EXPECT_NE(error_of([&] { w.set("x", {ValueType::STRING, ValueType::UINT32, int64_t(1)}); })
                .find("does not match its type string"), std::string::npos);
  EXPECT_NE(error_of([&] { w.set("x", {ValueType::ARRAY, ValueType::ARRAY, std::vector<int64_t>{}}); })
                .find("does not match"), std::string::npos);
  EXPECT_NE(error_of([&] { w.set("general.alignment", Value::u32(48)); }).find("power of two"),
            std::string::npos);
  Tensor t = make_tensor("t", DType::F32, {4, 1, 1, 1});
  const float data[4] = {};
  w.add_tensor(t, data);
  EXPECT_NE(error_of([&] { w.add_tensor(t, data); }).find("duplicate tensor name 't'"), std::string::npos);
  Tensor bad = t;
  bad.name = "q";
  bad.dtype = DType::Q8_0;  // 4 elements: not a whole Q8_0 block
  EXPECT_NE(error_of([&] { w.add_tensor(bad, data); }).find("tensor 'q'"), std::string::npos);
}

TEST(GgufWriter, FailingFillLeavesNoFile) {
  const auto dir = test::temp_dir();
  Writer w;
  w.add_tensor(make_tensor("t", DType::F32, {4, 1, 1, 1}),
               [](void*, size_t) { fail("[test] fill failed"); });
  EXPECT_THROW(w.write((dir / "out.gguf").string()), Error);
  EXPECT_FALSE(fs::exists(dir / "out.gguf"));
  EXPECT_FALSE(fs::exists(dir / "out.gguf.tmp"));
}

TEST(GgufWriter, UnwritablePathIsAnError) {
  Writer w;
  w.set("a", Value::u32(1));
  const auto path = test::temp_dir() / "no-such-dir" / "out.gguf";
  EXPECT_NE(error_of([&] { w.write(path.string()); }).find("cannot create"), std::string::npos);
}

// A full disk, simulated with a file size limit: writes fail with EFBIG instead of ENOSPC.
TEST(GgufWriter, FailedWriteIsAnErrorAndLeavesNoFile) {
  const auto dir = test::temp_dir();
  const auto path = dir / "big.gguf";
  const std::vector<uint8_t> data(1 << 20);
  Writer w;
  w.add_tensor(make_tensor("t", DType::F32, {1 << 18, 1, 1, 1}), data.data());
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  rlimit small = old;
  small.rlim_cur = 64 << 10;
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);  // else the kernel kills us at the limit
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  const std::string msg = error_of([&] { w.write(path.string()); });
  setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_NE(msg.find("[gguf] " + path.string() + ": write failed"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path.string() + ".tmp"));
}

// ---------------------------------------------------------------- getters and display

TEST(GgufGetters, TypedAccessAbsentAndWrongType) {
  const auto path = test::temp_dir() / "get.gguf";
  Writer w;
  w.set("i", Value::u32(7));
  w.set("big", Value::u64(UINT64_MAX));
  w.set("f", Value::f32(0.5f));
  w.set("b", Value::boolean(false));
  w.set("s", Value::str("text"));
  w.set("ss", Value::str_array({"x"}));
  w.set("ii", Value::i32_array({1, 2}));
  w.set("ff", Value::f32_array({0.5}));
  w.write(path.string());
  auto f = File::open(path.string());

  EXPECT_EQ(f->get_int("i"), 7);
  EXPECT_EQ(f->get_float("i"), 7.0);
  EXPECT_EQ(f->get_float("f"), 0.5);
  EXPECT_EQ(f->get_bool("b"), false);
  EXPECT_EQ(f->get_string("s"), "text");
  EXPECT_EQ(*f->get_string_array("ss"), std::vector<std::string>{"x"});
  EXPECT_EQ(*f->get_int_array("ii"), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(*f->get_float_array("ff"), std::vector<double>{0.5});

  EXPECT_EQ(f->get_int("absent"), std::nullopt);
  EXPECT_EQ(f->get_string("absent"), std::nullopt);
  EXPECT_EQ(f->get_string_array("absent"), nullptr);

  EXPECT_NE(error_of([&] { f->get_int("s"); }).find("key 's' is string, expected an integer"), std::string::npos);
  EXPECT_NE(error_of([&] { f->get_int("big"); }).find("does not fit in int64"), std::string::npos);
  EXPECT_NE(error_of([&] { f->get_string("i"); }).find("key 'i' is u32, expected string"), std::string::npos);
  EXPECT_NE(error_of([&] { f->get_bool("i"); }).find("expected bool"), std::string::npos);
  EXPECT_NE(error_of([&] { f->get_float("s"); }).find("expected a number"), std::string::npos);
  EXPECT_NE(error_of([&] { f->get_string_array("ii"); }).find("is array of i32"), std::string::npos);
  EXPECT_NE(error_of([&] { f->get_int_array("ff"); }).find("expected array of integers"), std::string::npos);
  EXPECT_NE(error_of([&] { f->get_float_array("ii"); }).find("expected array of floats"), std::string::npos);
}

TEST(GgufValue, ToString) {
  EXPECT_EQ(Value::u32(5).to_string(), "5");
  EXPECT_EQ(Value::f32(0.1f).to_string(), "0.1");
  EXPECT_EQ(Value::boolean(true).to_string(), "true");
  EXPECT_EQ(Value::str("a\"b\n").to_string(), "\"a\\\"b\\n\"");
  EXPECT_EQ(Value::u64(UINT64_MAX).to_string(), "18446744073709551615");
  EXPECT_EQ(Value::i32_array({1, 2, 3}).to_string(), "[1, 2, 3]");
  EXPECT_EQ(Value::i32_array({1, 2, 3}).to_string(2), "[1, 2, ... 1 more]");
  EXPECT_EQ(Value::str_array({"a", "b"}).to_string(), "[\"a\", \"b\"]");
  EXPECT_EQ((Value{ValueType::ARRAY, ValueType::UINT64, std::vector<int64_t>{-1}}).to_string(),
            "[18446744073709551615]");
  EXPECT_EQ(value_type_name(ValueType::FLOAT64), "f64");
  std::string long_string = Value::str(std::string(1000, 'x')).to_string();
  EXPECT_LT(long_string.size(), 300u);
  EXPECT_NE(long_string.find("(1000 bytes)"), std::string::npos);
}

// ---------------------------------------------------------------- real files

TEST(GgufShared, Stories260K) {
  const auto path = test::shared_file("models/stories260K.gguf");
  REQUIRE_SHARED(path);
  auto f = File::open(path.string());
  EXPECT_EQ(f->tensors().size(), 48u);
  EXPECT_EQ(f->get_string("general.architecture"), "llama");
  EXPECT_EQ(f->get_int("llama.block_count"), 5);
  const TensorInfo* embd = f->find_tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->tensor.shape_str(), "[64, 512]");
  EXPECT_EQ(embd->tensor.dtype, DType::F32);
  for (const TensorInfo& t : f->tensors()) {
    EXPECT_EQ((f->data_offset() + t.offset) % f->alignment(), 0u) << t.tensor.name;
    EXPECT_LE(f->data_offset() + t.offset + t.tensor.nbytes(), f->file_size()) << t.tensor.name;
  }
  for (const KeyValue& kv : f->metadata()) EXPECT_FALSE(kv.value.to_string().empty());
}

TEST(GgufShared, VocabFiles) {
  const auto dir = test::shared_file("tokenizers");
  REQUIRE_SHARED(dir);
  for (const char* name : {"llama-spm", "llama-bpe", "qwen2", "gpt-2", "deepseek-llm"}) {
    const auto path = dir / fmt::format("ggml-vocab-{}.gguf", name);
    SCOPED_TRACE(path.string());
    REQUIRE_SHARED(path);
    auto f = File::open(path.string());
    EXPECT_TRUE(f->version() == 2 || f->version() == 3);
    EXPECT_TRUE(f->get_string("tokenizer.ggml.model").has_value());
    const auto* tokens = f->get_string_array("tokenizer.ggml.tokens");
    ASSERT_NE(tokens, nullptr);
    EXPECT_GT(tokens->size(), 1000u);
  }
}

// Reading a llama.cpp-written file and writing it back must reproduce it byte for byte: the
// strongest check that reader and writer agree with the reference implementation.
void expect_rewrite_identical(const fs::path& src) {
  auto f = File::open(src.string());
  Writer w;
  w.set_alignment(f->alignment());
  for (const KeyValue& kv : f->metadata()) w.set(kv.key, kv.value);
  for (const TensorInfo& t : f->tensors()) w.add_tensor(t.tensor, t.tensor.data);
  const auto out = test::temp_dir() / "rewrite.gguf";
  w.write(out.string());
  const std::string a = read_bytes(src), b = read_bytes(out);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_TRUE(a == b) << "first difference at byte "
                      << std::mismatch(a.begin(), a.end(), b.begin()).first - a.begin();
}

TEST(GgufShared, RewriteIsByteIdentical) {
  const auto model = test::shared_file("models/stories260K.gguf");
  REQUIRE_SHARED(model);
  expect_rewrite_identical(model);
  for (const char* name : {"llama-spm", "llama-bpe", "qwen2", "gpt-2", "deepseek-llm"}) {
    const auto vocab = test::shared_file(fmt::format("tokenizers/ggml-vocab-{}.gguf", name));
    REQUIRE_SHARED(vocab);
    SCOPED_TRACE(vocab.string());
    expect_rewrite_identical(vocab);
  }
}

// ---------------------------------------------------------------- malformed input

void expect_one_line_error(const std::string& msg, const std::string& path) {
  EXPECT_EQ(msg.rfind("[gguf] " + path + ": ", 0), 0u) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

TEST(GgufCorrupt, EveryTruncationIsAnError) {
  const auto dir = test::temp_dir();
  const auto full = dir / "full.gguf";
  write_small_model(full);
  const std::string bytes = read_bytes(full);
  {
    auto f = File::open(full.string());  // the tail of the file is the last tensor's data
    const TensorInfo& last = f->tensors().back();
    ASSERT_EQ(f->data_offset() + last.offset + last.tensor.nbytes(), bytes.size());
  }
  const auto cut_path = dir / "cut.gguf";
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    SCOPED_TRACE(cut);
    write_bytes(cut_path, std::string_view(bytes).substr(0, cut));
    expect_one_line_error(error_of([&] { File::open(cut_path.string()); }), cut_path.string());
    EXPECT_THROW(parse_bytes(std::string_view(bytes).substr(0, cut)), Error);
  }
}

// Flipping any single byte must give either a valid file or a db::Error, never a crash.
TEST(GgufCorrupt, EveryByteFlipIsSafe) {
  const auto full = test::temp_dir() / "full.gguf";
  write_small_model(full);
  const std::string bytes = read_bytes(full);
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (uint8_t x : {uint8_t(0xff), uint8_t(0x80), uint8_t(0x01)}) {
      std::string mutated = bytes;
      mutated[i] = char(uint8_t(mutated[i]) ^ x);
      try {
        parse_bytes(mutated);
      } catch (const Error&) {
      }
    }
  }
}

struct CraftedCase {
  const char* name;
  std::string bytes;
  const char* phrase;
};

std::vector<CraftedCase> crafted_cases() {
  const uint64_t huge = uint64_t(1) << 62;
  auto one_tensor = [](std::vector<uint64_t> ne, uint32_t type, uint64_t offset = 0) {
    return Raw().header(1, 0).tensor("x", std::move(ne), type, offset).pad().zeros(64).b;
  };
  auto one_kv = [](auto&& build_value) {  // header, key "k", then the value bytes
    Raw r;
    r.header(0, 1).str("k");
    build_value(r);
    return r.zeros(16).b;
  };
  auto alignment_file = [](uint32_t a) { return Raw().header(0, 1).kv_u32("general.alignment", a).b; };
  return {
      {"empty", "", "truncated at offset 0 reading magic"},
      {"bad magic", "GGML" + Raw().u32(3).u64(0).u64(0).b, "bad magic 'GGML'"},
      {"v1", Raw().header(0, 0, 1).b, "GGUF v1 is not supported"},
      {"v7", Raw().header(0, 0, 7).b, "unsupported GGUF version 7"},
      {"big-endian", Raw().header(0, 0, 0x03000000).b, "big-endian GGUF"},
      {"truncated header", Raw().header(0, 0).b.substr(0, 12), "truncated at offset 8 reading tensor count"},
      {"absurd n_tensors", Raw().header(uint64_t(1) << 40, 0).zeros(64).b, "n_tensors 1099511627776 is absurd"},
      {"absurd n_kv", Raw().header(0, uint64_t(1) << 60).zeros(64).b, "n_kv 1152921504606846976 is absurd"},
      {"key length", Raw().header(0, 1).u64(1000).zeros(20).b, "string length 1000"},
      {"string length", one_kv([&](Raw& r) { r.u32(8).u64(huge); }), "string length 4611686018427387904"},
      {"array count", one_kv([&](Raw& r) { r.u32(9).u32(4).u64(huge); }), "array count 4611686018427387904"},
      {"string array count", one_kv([](Raw& r) { r.u32(9).u32(8).u64(3); }), "array count 3"},
      {"unknown value type", one_kv([](Raw& r) { r.u32(13); }), "key 'k' has unknown value type 13"},
      {"unknown element type", one_kv([](Raw& r) { r.u32(9).u32(99); }), "unknown value type 99"},
      {"nested array", one_kv([](Raw& r) { r.u32(9).u32(9).u64(1); }), "key 'k' is a nested array"},
      {"invalid bool", one_kv([](Raw& r) { r.u32(7).u8(2); }), "invalid bool value 2"},
      {"duplicate key", Raw().header(0, 2).kv_u32("k", 1).kv_u32("k", 2).b, "duplicate key 'k'"},
      {"alignment 0", alignment_file(0), "invalid alignment 0"},
      {"alignment 48", alignment_file(48), "invalid alignment 48"},
      {"alignment type", Raw().header(0, 1).str("general.alignment").u32(8).str("32").b,
       "general.alignment has type string"},
      {"n_dims", Raw().header(1, 0).tensor("x", {1, 1, 1, 1, 1}, 0, 0).pad().zeros(32).b,
       "tensor 'x' has n_dims 5"},
      {"zero dim", one_tensor({4, 0}, 0), "tensor 'x' has invalid dimension ne[1] = 0"},
      {"negative dim", one_tensor({4, uint64_t(-2)}, 0), "invalid dimension ne[1] = -2"},
      {"shape overflow", one_tensor({uint64_t(1) << 32, uint64_t(1) << 32}, 0), "overflows int64"},
      {"byte size overflow", one_tensor({huge}, 0), "extends past end of file"},
      {"unknown type", one_tensor({4}, 99), "tensor 'x' has unknown type id 99"},
      {"block size", one_tensor({33}, uint32_t(DType::Q8_0)), "ne[0] = 33 is not a multiple of the block size 32"},
      {"misaligned offset", one_tensor({4}, 0, 8), "tensor 'x': offset 8 is not aligned to 32"},
      {"past end", one_tensor({1024}, 0), "tensor 'x': data at offset 0 (4096 bytes) extends past end of file"},
      {"offset overflow", one_tensor({4}, 0, uint64_t(-32)), "extends past end of file"},
      {"overlap",
       Raw().header(2, 0).tensor("x", {16}, 0, 0).tensor("y", {16}, 0, 32).pad().zeros(128).b,
       "tensors 'x' and 'y' overlap"},
      {"duplicate tensor", Raw().header(2, 0).tensor("x", {8}, 0, 0).tensor("x", {8}, 0, 32).pad().zeros(64).b,
       "duplicate tensor name 'x'"},
      {"truncated tensor info", Raw().header(1, 0).tensor("x", {8}, 0, 0).b.substr(0, 50),
       "truncated at offset 49 reading offset of tensor 'x'"},
  };
}

TEST(GgufCorrupt, CraftedFilesNameTheProblem) {
  const auto dir = test::temp_dir();
  for (const CraftedCase& c : crafted_cases()) {
    SCOPED_TRACE(c.name);
    const auto path = (dir / "crafted.gguf").string();
    write_bytes(path, c.bytes);
    const std::string msg = error_of([&] { File::open(path); });
    expect_one_line_error(msg, path);
    EXPECT_NE(msg.find(c.phrase), std::string::npos) << msg;
    const std::string mem_msg = error_of([&] { parse_bytes(c.bytes, path); });
    EXPECT_EQ(mem_msg, msg);
  }
}

TEST(GgufCorrupt, CraftedValidFileParses) {
  // Guards the crafted cases: the same construction without the defect is accepted.
  const std::string bytes = Raw().header(2, 1).kv_u32("general.alignment", 64)
                                .tensor("x", {16}, 0, 0).tensor("y", {16}, 0, 64).pad(64).zeros(128).b;
  EXPECT_NO_THROW(parse_bytes(bytes));
}

TEST(GgufOpen, MissingFileAndDirectory) {
  const auto dir = test::temp_dir();
  const auto missing = (dir / "missing.gguf").string();
  EXPECT_NE(error_of([&] { File::open(missing); }).find("[gguf] " + missing + ": cannot open"),
            std::string::npos);
  EXPECT_NE(error_of([&] { File::open(dir.string()); }).find("not a regular file"), std::string::npos);
}

// ---------------------------------------------------------------- fuzz seed corpus

// The GGUF seed corpus is written, not committed (model files stay out of the repository):
// tools/fuzz.sh runs `DRAWBRIDGE_WRITE_FUZZ_CORPUS=DIR test_formats --gtest_filter='GgufFuzzCorpus.Write'`.
void write_seed_corpus(const fs::path& dir) {
  fs::create_directories(dir);
  {
    Writer w;
    for (const auto& [key, value] : every_value_type()) w.set(key, value);
    w.write((dir / "valid_every_value_type.gguf").string());
  }
  write_small_model(dir / "valid_small_model.gguf");
  {
    Writer w;
    w.set_alignment(64);
    const auto h = pattern(16 * 2, 5), q = pattern(18 * 2, 6);
    w.add_tensor(make_tensor("h", DType::F16, {16, 1, 1, 1}), h.data());
    w.add_tensor(make_tensor("q", DType::Q4_0, {32, 2, 1, 1}), q.data());
    w.write((dir / "valid_align64.gguf").string());
  }
  const std::string model = read_bytes(dir / "valid_small_model.gguf");
  write_bytes(dir / "invalid_truncated.gguf", model.substr(0, model.size() * 2 / 3));
  write_bytes(dir / "invalid_overlap.gguf",
              Raw().header(2, 0).tensor("x", {16}, 0, 0).tensor("y", {16}, 0, 32).pad().zeros(128).b);
}

TEST(GgufFuzzCorpus, Write) {
  const char* dir = std::getenv("DRAWBRIDGE_WRITE_FUZZ_CORPUS");
  if (!dir) GTEST_SKIP() << "set DRAWBRIDGE_WRITE_FUZZ_CORPUS=DIR (tools/fuzz.sh does)";
  write_seed_corpus(dir);
}

TEST(GgufFuzzCorpus, SeedsBehaveAsNamed) {
  const fs::path dir = fs::temp_directory_path() / ("db_gguf_seeds_" + std::to_string(::getpid()));
  write_seed_corpus(dir);
  int seen = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    SCOPED_TRACE(name);
    EXPECT_LT(entry.file_size(), 4096u);
    if (name.rfind("valid_", 0) == 0) EXPECT_NO_THROW(File::open(entry.path().string()));
    else EXPECT_THROW(File::open(entry.path().string()), Error);
    ++seen;
  }
  fs::remove_all(dir);
  EXPECT_GE(seen, 3);
}

}  // namespace
}  // namespace db::gguf
