// `drawbridge devices` and `drawbridge run --device sim:<id>` end to end.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>

#include "cli/cli_util.h"
#include "test_util.h"

namespace db {
namespace {

const char* kIds[] = {"ascend-910b2",        "ascend-910b3",         "ascend-910c",          "ascend-310p3",
                      "cambricon-mlu370-x8", "cambricon-mlu590",     "mthreads-mtt-s4000",   "mthreads-mtt-s3000",
                      "biren-br100",         "biren-br104",          "thead-hanguang-800",   "kunlunxin-p800",
                      "nvidia-a100-sxm-80gb", "nvidia-a100-pcie-80gb", "nvidia-a100-sxm-40gb", "nvidia-h100-sxm",
                      "nvidia-h200-sxm",     "nvidia-h20",           "nvidia-h800",          "nvidia-rtx-6000-ada",
                      "amd-mi300x"};

TEST(CliDevices, TableListsTheHostAndEveryCatalogueChip) {
  const Result r = cli("devices");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("\ncpu "), std::string::npos) << r.out;
  for (const char* id : kIds) EXPECT_NE(r.out.find(std::string("sim:") + id + " "), std::string::npos) << id;
  EXPECT_NE(r.out.find("unknown"), std::string::npos);
}

TEST(CliDevices, ShowPrintsEveryFieldWithSources) {
  const Result r = cli("devices show sim:ascend-910b2");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("memory.bandwidth_gbps"), std::string::npos);
  EXPECT_NE(r.out.find("[MSM]"), std::string::npos);
  EXPECT_NE(r.out.find("compute.peak_tflops.fp8              unknown"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("VP-L05-a"), std::string::npos);  // calibration names its measurement
  const Result bad = cli("devices show sim:nope");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("unknown device 'sim:nope'"), std::string::npos) << bad.err;
}

TEST(CliDevices, RunOnAVirtualAscendPrintsTheCpuTextAndAModeledSpeed) {
  const auto model = test::shared_file("models/stories260K.gguf");
  REQUIRE_SHARED(model);
  const std::string args = "run -m " + model.string() + " -p \"Once upon a time\" -n 64 --temp 0 -t 2";
  const Result cpu = cli(args);
  const Result sim = cli(args + " --device sim:ascend-910b2");
  ASSERT_EQ(sim.status, 0) << sim.err;
  EXPECT_EQ(sim.out, cpu.out);  // the golden text (test_cli_run checks the CPU's bytes)
  EXPECT_NE(sim.err.find("modeled on sim:ascend-910b2: prompt "), std::string::npos) << sim.err;
  EXPECT_NE(sim.err.find(" t/s, generation "), std::string::npos) << sim.err;
  EXPECT_EQ(cpu.err.find("modeled on"), std::string::npos);
}

TEST(CliDevices, ExplainAndNoFallback) {
  const auto model = test::shared_file("models/stories260K.gguf");
  REQUIRE_SHARED(model);
  const std::string m = "run -m " + model.string() + " -p hi -n 2 --temp 0";
  const Result ok = cli(m + " --device sim:ascend-910b2 --explain");
  ASSERT_EQ(ok.status, 0) << ok.err;
  EXPECT_NE(ok.err.find("sim:ascend-910b2   native f32"), std::string::npos) << ok.err;
  // Hanguang 800 lacks float matmuls: --explain shows the host as the fallback candidate,
  // --no-fallback names the op and the device, and the run itself refuses.
  const Result explained = cli(m + " --device sim:thead-hanguang-800 --explain");
  EXPECT_NE(explained.status, 0);
  EXPECT_NE(explained.err.find("fallback: sim:thead-hanguang-800 lacks it"), std::string::npos) << explained.err;
  EXPECT_NE(explained.err.find("drawbridge quantize"), std::string::npos) << explained.err;
  const Result strict = cli(m + " --device sim:thead-hanguang-800 --explain --no-fallback");
  EXPECT_NE(strict.status, 0);
  EXPECT_NE(strict.err.find("error: [matmul] 'l0.q' is not supported on sim:thead-hanguang-800"), std::string::npos)
      << strict.err;
}

TEST(CliDevices, UserProfilesAddDevicesAndTooSmallMemoryIsRefused) {
  const auto model = test::shared_file("models/stories260K.gguf");
  REQUIRE_SHARED(model);
  const auto dir = test::temp_dir();
  std::ofstream(dir / "tiny-npu.toml") << R"(id = "tiny-npu"
name = "Tiny NPU"
vendor = "Test"
[compute]
native_dtypes = { value = ["f32"], source = "test", confidence = "high" }
[memory]
capacity_gib = { value = 0.0005, source = "test", confidence = "high" }
)";
  const std::string env = "DRAWBRIDGE_DEVICES_DIR=" + dir.string();
  EXPECT_NE(cli("devices", env).out.find("sim:tiny-npu"), std::string::npos);
  const Result r = cli("run -m " + model.string() + " -p hi -n 2 --device sim:tiny-npu", env);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("error: [sim:tiny-npu] the model does not fit: weights 1."), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("> 524.3 KiB of device memory"), std::string::npos) << r.err;

  std::ofstream(dir / "broken.toml") << "id = \"broken\"\nname = \"B\"\nvendor = \"T\"\n[memory]\ncapacity_gib = -1\n";
  const Result bad = cli("devices", env);
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("[profile] " + (dir / "broken.toml").string() + ": memory.capacity_gib"), std::string::npos)
      << bad.err;
}

}  // namespace
}  // namespace db
