// `drawbridge plan`, `compare` and `validate` end to end, and compare's HTML rendered by headless
// Chromium (Debian package `chromium`; the test skips with a message when it is absent).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <fstream>

#include "cli/cli_util.h"
#include "test_util.h"

namespace db {
namespace {

std::string read(const std::filesystem::path& p) {
  std::ifstream f(p);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

TEST(CliPlan, OneLayoutPrintsMemoryLatencyThroughputAndEnergy) {
  const Result r = cli("plan --model llama-3.1-8b --device nvidia-h100-sxm --count 1 --tp 1 --concurrency 32 "
                       "--input-len 1000 --output-len 500 --weight-dtype fp8");
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* s : {"weights", "KV cache", "fits", "TTFT", "TPOT", "output tok/s system", "kWh per million"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
}

TEST(CliPlan, JsonSearchGivesAParetoFrontier) {
  const Result r = cli("plan --model llama-3.3-70b --device nvidia-h200-sxm --count 8 --input-len 1000 --output-len 1000 --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_GE(j["pareto"].size(), 2u);
  EXPECT_GT(j["candidates"].get<int>(), 10);
  EXPECT_TRUE(j["pareto"][0]["fits"].get<bool>());
}

TEST(CliPlan, TrainingStep) {
  const Result r = cli("plan --train --model llama-7b --device nvidia-a100-sxm-80gb --count 8 --tp 8 --global-batch 8 "
                       "--seq-len 2048 --recompute full --weight-dtype f16");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("MFU"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("step"), std::string::npos);
}

TEST(CliPlan, BadInputIsOneLine) {
  const struct {
    const char* args;
    const char* message;
  } cases[] = {
      {"plan --model nope --device nvidia-h100-sxm --input-len 1 --output-len 1", "[model]"},
      {"plan --model llama-3.1-8b --device nope --input-len 1 --output-len 1", "[plan] unknown device 'nope'"},
      {"plan --model llama-3.1-8b --device nvidia-h100-sxm --count 8 --tp 3 --input-len 1 --output-len 1", "[plan] TP3 × PP1 does not divide"},
      {"plan --model llama-3.1-8b --device nvidia-h100-sxm --input-len 10", "[plan] --input-len and --output-len"},
      {"plan --model llama-3.1-8b --device nvidia-h100-sxm --input-len 1 --output-len 1 --weight-dtype f12", "[plan] unknown dtype 'f12'"},
      {"plan --model llama-3.1-8b --device nvidia-h100-sxm --count 4 --input-len 1 --output-len 1 --disaggregate 1:2", "[plan] --disaggregate 1:2 uses 3"},
      {"validate --points /nonexistent.csv", "[points] cannot read /nonexistent.csv"},
  };
  for (const auto& c : cases) {
    const Result r = cli(c.args);
    EXPECT_NE(r.status, 0) << c.args;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.args << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

TEST(CliCompare, DefaultRunWritesTableSvgAndHtml) {
  const auto dir = test::temp_dir();
  const Result r = sh("cd " + dir.string() + " && " + std::string(DRAWBRIDGE_CLI) + " compare");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("nvidia-h100-sxm"), std::string::npos);
  EXPECT_NE(r.out.find("ascend-910b2"), std::string::npos);
  const std::string html = read(dir / "drawbridge-compare" / "compare.html");
  const std::string svg = read(dir / "drawbridge-compare" / "compare.svg");
  EXPECT_NE(html.find("<table id=\"compare\">"), std::string::npos);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);  // self-contained, static
  EXPECT_NE(svg.find("<rect class=\"bar\""), std::string::npos);
}

TEST(CliCompare, HtmlRendersInHeadlessChromium) {
  const std::string chromium = sh("command -v chromium || command -v chromium-browser").out;
  if (chromium.empty()) GTEST_SKIP() << "chromium is not installed (apt-get install chromium): HTML not rendered";
  const std::string bin = chromium.substr(0, chromium.find('\n'));
  const auto dir = test::temp_dir();
  const Result c = cli("compare --devices nvidia-h100-sxm,ascend-910b2,thead-hanguang-800 --out " + dir.string());
  ASSERT_EQ(c.status, 0) << c.err;
  const Result r = sh(bin + " --headless --no-sandbox --disable-gpu --dump-dom file://" + (dir / "compare.html").string());
  ASSERT_EQ(r.status, 0) << r.err;
  // The DOM after parsing: the table with one row per device, and the chart with bars.
  EXPECT_NE(r.out.find("<table id=\"compare\">"), std::string::npos) << r.out.substr(0, 2000);
  EXPECT_NE(r.out.find("<td>nvidia-h100-sxm</td>"), std::string::npos);
  EXPECT_NE(r.out.find("<td>ascend-910b2</td>"), std::string::npos);
  EXPECT_NE(r.out.find("<svg"), std::string::npos);
  EXPECT_NE(r.out.find("class=\"bar\""), std::string::npos);
}

TEST(CliValidate, PrintsErrorsPerConfidenceAndSection) {
  const auto csv = test::shared_file("reference/measured-performance.csv");
  REQUIRE_SHARED(csv);
  const Result r = cli("validate --points " + csv.string());
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* s : {"median absolute error", "high + medium", "section B", "section L", "skipped:", "VP-B01"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s;
}

}  // namespace
}  // namespace db
