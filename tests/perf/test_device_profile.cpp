// Device profiles: the catalogue loads, every fact carries a source and confidence, unknowns stay
// absent, and bad files fail with one clear "[profile] <file>: <field> ..." message.
#include <gtest/gtest.h>

#include <fstream>

#include "drawbridge/error.h"
#include "perf/device_profile.h"
#include "test_util.h"

namespace db::perf {
namespace {

// The ids of the issue (and of ../shared/reference/measured-performance.csv), exactly.
const std::vector<std::string> kCatalogueIds = {
    "ascend-910b2",         "ascend-910b3",        "ascend-910c",          "ascend-310p3",
    "cambricon-mlu370-x8",  "cambricon-mlu590",    "mthreads-mtt-s4000",   "mthreads-mtt-s3000",
    "biren-br100",          "biren-br104",         "thead-hanguang-800",   "kunlunxin-p800",
    "nvidia-a100-sxm-80gb", "nvidia-a100-pcie-80gb", "nvidia-a100-sxm-40gb", "nvidia-h100-sxm",
    "nvidia-h200-sxm",      "nvidia-h20",          "nvidia-h800",          "nvidia-rtx-6000-ada",
    "amd-mi300x"};

const char* kMinimal = R"(
id = "tiny"
name = "Tiny"
vendor = "Test"
[compute]
native_dtypes = { value = ["f32"], source = "test", confidence = "high" }
)";

std::string expect_error(const std::string& text) {
  try {
    parse_profile(text, "bad.toml");
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error for:\n" << text;
  return "";
}

TEST(DeviceProfile, CatalogueHasEveryIssueIdAndTheyLoad) {
  for (const auto& id : kCatalogueIds) {
    const DeviceProfile* p = find_profile(id);
    ASSERT_NE(p, nullptr) << id;
    EXPECT_FALSE(p->name.empty());
    EXPECT_FALSE(p->vendor.empty());
    EXPECT_FALSE(p->native_dtypes().empty()) << id;
    EXPECT_TRUE(p->find("calibration.gemm_efficiency.default")) << id << ": calibration has no GEMM efficiency";
  }
  EXPECT_EQ(catalogue().size(), kCatalogueIds.size());
}

TEST(DeviceProfile, SourceFilesMatchTheirIds) {
  const auto dir = std::filesystem::path(DRAWBRIDGE_SOURCE_DIR) / "data" / "devices";
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const DeviceProfile p = load_profile(e.path());  // throws on any invalid field
    EXPECT_EQ(p.id, e.path().stem().string());
    ++n;
  }
  EXPECT_EQ(n, kCatalogueIds.size());
}

TEST(DeviceProfile, EveryFieldHasSourceAndConfidence) {
  for (const auto& p : catalogue())
    for (const auto& [path, f] : p.fields) EXPECT_FALSE(f.source.empty()) << p.id << " " << path;
}

TEST(DeviceProfile, UnknownStaysAbsent) {
  const DeviceProfile* mi300x = find_profile("amd-mi300x");
  ASSERT_NE(mi300x, nullptr);
  EXPECT_FALSE(mi300x->number("compute.peak_tflops.int8"));  // not retrieved (accelerators.md §2.5)
  EXPECT_FALSE(mi300x->peak_flops("f32"));
  EXPECT_DOUBLE_EQ(*mi300x->peak_flops("bf16"), 1307.4e12);
  const DeviceProfile* b3 = find_profile("ascend-910b3");
  EXPECT_FALSE(b3->number("power.tdp_w"));
}

TEST(DeviceProfile, UnitsAndConflictsAreRecorded) {
  const DeviceProfile* b2 = find_profile("ascend-910b2");
  EXPECT_EQ(b2->memory_bytes(), 64ull << 30);
  EXPECT_DOUBLE_EQ(b2->bandwidth(), 1600e9);
  EXPECT_EQ(b2->find("compute.peak_tflops.bf16")->confidence, Confidence::Medium);
  EXPECT_NE(b2->find("compute.peak_tflops.bf16")->note.find("376"), std::string::npos);  // the conflict
  // No DRAM: the on-chip SRAM is the memory.
  EXPECT_EQ(find_profile("thead-hanguang-800")->memory_bytes(), 192ull << 20);
}

TEST(DeviceProfile, MinimalProfileParses) {
  const DeviceProfile p = parse_profile(kMinimal, "tiny.toml");
  EXPECT_EQ(p.id, "tiny");
  EXPECT_TRUE(p.native("f32"));
  EXPECT_EQ(p.memory_bytes(), 0u);  // unknown
}

TEST(DeviceProfile, BadFilesNameTheFileAndField) {
  struct Bad {
    std::string extra;
    std::string expect;
  };
  const std::vector<Bad> cases = {
      {"[memory]\nbandwidth_gbps = { value = -5, source = \"x\", confidence = \"high\" }", "memory.bandwidth_gbps is negative"},
      {"[memory]\nbandwidth_gbps = { value = 5, confidence = \"high\" }", "memory.bandwidth_gbps has no source"},
      {"[memory]\nbandwidth_gbps = { value = 5, source = \"x\" }", "memory.bandwidth_gbps has no confidence"},
      {"[memory]\nbandwidth_gbps = { value = 5, source = \"x\", confidence = \"sure\" }", "confidence 'sure'"},
      {"[memory]\nbandwidth_gbps = { value = \"fast\", source = \"x\", confidence = \"high\" }", "memory.bandwidth_gbps must be a number"},
      {"[memory]\nbandwith_gbps = { value = 5, source = \"x\", confidence = \"high\" }", "memory.bandwith_gbps is not a known field"},
      {"[memory]\nbandwidth_gbps = 5", "memory.bandwidth_gbps must be a table"},
      {"[calibration]\nmemory_efficiency = { value = 1.5, source = \"x\", confidence = \"high\" }", "must lie in (0, 1]"},
      {"[memory]\nbandwidth_gbps = { value = 5, source = \"x\", confidence = \"high\", cite = \"y\" }", "unknown key 'cite'"},
      {"[memory\n", "bad.toml: line"},
  };
  for (const auto& c : cases) {
    const std::string msg = expect_error(std::string(kMinimal) + c.extra);
    EXPECT_EQ(msg.rfind("[profile] bad.toml: ", 0), 0u) << msg;
    EXPECT_NE(msg.find(c.expect), std::string::npos) << "want '" << c.expect << "' in: " << msg;
  }
  EXPECT_NE(expect_error("name = \"x\"\nvendor = \"y\"").find("id is missing"), std::string::npos);
  EXPECT_NE(expect_error("id = \"x\"\nname = \"x\"\nvendor = \"y\"").find("compute.native_dtypes is missing"),
            std::string::npos);
}

TEST(DeviceProfile, FileNameMustMatchId) {
  const auto dir = test::temp_dir();
  std::ofstream(dir / "other.toml") << kMinimal;
  try {
    load_profile(dir / "other.toml");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("id 'tiny' does not match the file name"), std::string::npos) << e.what();
  }
}

// Found by fuzz_profile: a NUL in a table header broke an internal assumption of toml++ 3.3 (undefined
// behaviour in release builds). Control bytes and oversized texts are now refused before toml++.
TEST(DeviceProfile, ControlBytesAndOversizedTextsAreRefusedBeforeToml) {
  EXPECT_EQ(expect_error(std::string(kMinimal) + std::string("[\0\0memory]\n", 11)),
            "[profile] bad.toml: line 7: control character 0x00 (TOML allows only tab and line ends)");
  EXPECT_NE(expect_error(std::string("id = \"a\x01\"\n")).find("line 1: control character 0x01"), std::string::npos);
  EXPECT_NE(expect_error(std::string(kMinimal) + "# " + std::string(kMaxProfileBytes, 'x') + "\n")
                .find("more than the 1048576 a profile may have"),
            std::string::npos);
  EXPECT_NO_THROW(parse_profile(std::string(kMinimal) + "#\ttab and CRLF\r\n", "ok.toml"));
}

// toml++ overflowed the stack (a crash) on keys nested a few hundred thousand deep; dots outside
// strings and comments are now limited per line, while dots inside strings and comments are free.
TEST(DeviceProfile, TextTomlMishandlesIsRefusedBeforeToml) {
  std::string deep;
  for (int i = 0; i < 400000; ++i) deep += "a.";
  EXPECT_EQ(expect_error(std::string(kMinimal) + deep + "b = 1\n"),
            "[profile] bad.toml: line 7: more than 32 dots outside strings (keys nest too deep)");
  EXPECT_NE(expect_error(std::string(kMinimal) + "[" + deep + "b]\n").find("keys nest too deep"), std::string::npos);
  // A multi-line string ending in extra quotes does not hide what follows it on the line.
  EXPECT_NE(expect_error(std::string(kMinimal) + "x = { n = \"\"\"q\"\"\"\", " + deep + "b = 1 }\n").find("keys nest too deep"),
            std::string::npos);
  // Found by fuzz_profile: toml++ 3.3's Unicode-whitespace table reaches __builtin_unreachable for
  // most non-ASCII codepoints, and it consults it for characters outside strings and after a
  // backslash in multi-line strings; those are refused first. Non-ASCII in strings and comments is fine.
  EXPECT_EQ(expect_error(std::string(kMinimal) + "year\xc3\xa9 = 1\n"),
            "[profile] bad.toml: line 7: a non-ASCII character outside strings and comments");
  EXPECT_NE(expect_error(std::string(kMinimal) + "x = \"\"\"a\\  \n  \xc2\xa7\"\"\"\n").find(
                "line 8: a non-ASCII character after a backslash in a multi-line string"),
            std::string::npos);
  EXPECT_NE(expect_error(std::string(kMinimal) + "x = \"\"\"a\\\xc2\xa7\"\"\"\n").find("after a backslash"),
            std::string::npos);
  EXPECT_NO_THROW(parse_profile("\xEF\xBB\xBF# \xc2\xa7 4\n" + std::string(kMinimal) +
                                    "[chip]\nprocess = { value = \"5 nm \xc2\xb1\", source = '\xc2\xa7', confidence = \"low\","
                                    " note = \"\"\"a\\\n  b \xc2\xa7\"\"\" }\n",
                                "ok.toml"));
  // Found by fuzz_profile: toml++ assumes a table header starts with a key character or a quote.
  EXPECT_EQ(expect_error(std::string(kMinimal) + "[ = Z1 = #x\"\nname = [1,\n"),
            "[profile] bad.toml: line 7: a table header must start with a key, not '='");
  EXPECT_NE(expect_error(std::string(kMinimal) + "[[ .x]]\n").find("must start with a key, not '.'"), std::string::npos);
  EXPECT_NE(expect_error(std::string(kMinimal) + "  [\xc2\xa0x]\n").find("non-ASCII"), std::string::npos);
  EXPECT_NO_THROW(parse_profile(std::string(kMinimal) +
                                    "  [ \"chip\" ]\nprocess = { value = \"[ = ]\", source = \"s\", confidence = \"low\" }\n",
                                "ok.toml"));
  // Past the screen, toml++ parses arrays and arrays of tables; the schema then refuses them.
  EXPECT_NE(expect_error(std::string(kMinimal) + "[chip]\nx = [ [1], [2] ]\n").find("chip.x must be a table"),
            std::string::npos);
  EXPECT_NE(expect_error(std::string(kMinimal) + "[[ y ]]\n").find("y must be a table"), std::string::npos);
  // Found by fuzz_profile: toml++ assumes an array never holds a `}` where a value should be.
  EXPECT_EQ(expect_error(std::string(kMinimal) + "[chip]\nx = { value = [\"f32\",  }\n"),
            "[profile] bad.toml: line 8: '}' inside an array");
  EXPECT_NE(expect_error(std::string(kMinimal) + "x = [\n  1, # c\n  } ]\n").find("line 9: '}' inside an array"),
            std::string::npos);
  EXPECT_EQ(expect_error(std::string(kMinimal) + "x = [\n[\n{ = 1 }]]\n").find("table header"), std::string::npos);
  const std::string dots(200, '.');
  const std::string ok = std::string(kMinimal) + "# " + dots + "\n[chip]\nprocess = { value = \"" + dots +
                         "\", source = '" + dots + "', confidence = \"low\", note = \"\"\"" + dots + "\n" + dots +
                         "\"\"\" }\n";
  EXPECT_EQ(parse_profile(ok, "ok.toml").find("chip.process")->value_str(), dots);
}

}  // namespace
}  // namespace db::perf
