// `drawbridge devices --calibrate`, `bench --device sim:<id> [--profile]` and `quantize --for`, end
// to end through the binary.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>

#include "perf/device_profile.h"
#include "cli/cli_util.h"
#include "test_util.h"

namespace db {
namespace {

bool has(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

// A small llama model of `type` in dir (4 heads of 64, 2 kv heads, 2 layers).
std::string synth(const std::filesystem::path& dir, const std::string& type) {
  const auto path = (dir / ("m-" + type + ".gguf")).string();
  const Result r = cli("synth --arch llama --n-layer 2 --n-embd 256 --n-ff 512 --n-head 4 --n-head-kv 2 --n-vocab 512 "
                       "--type " + type + " -o " + path);
  EXPECT_EQ(r.status, 0) << r.err;
  return path;
}

TEST(CliCalibrate, WithoutCalibrationTheHostSaysHowToCalibrate) {
  const auto dir = test::temp_dir();
  const std::string env = "XDG_CACHE_HOME=" + dir.string();
  const Result r = cli("devices", env);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(has(r.out, "sim:host")) << r.out;
  EXPECT_TRUE(has(r.out, "not calibrated: run")) << r.out;
  const Result show = cli("devices show host", env);
  EXPECT_TRUE(has(show.out, "not calibrated: run drawbridge devices --calibrate")) << show.out;
  const Result sim = cli("bench -m nowhere.gguf --device sim:host", env);
  EXPECT_NE(sim.status, 0);
}

TEST(CliCalibrate, QuickCalibrationWritesAHostProfileThatSimHostUses) {
  const auto dir = test::temp_dir();
  const std::string env = "XDG_CACHE_HOME=" + dir.string();
  const Result r = cli("devices --calibrate --quick -t 2", env);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto file = dir / "drawbridge" / "host.toml";
  ASSERT_TRUE(std::filesystem::exists(file)) << r.out;
  const perf::DeviceProfile p = perf::load_profile(file);  // valid against the schema
  for (const char* f : {"f32", "f16", "bf16", "q8_0", "q4_0"}) {
    EXPECT_TRUE(p.peak_flops(f).has_value()) << f;
    EXPECT_TRUE(p.find(std::string("calibration.gemm_shape_efficiency.") + f)) << f;
  }
  EXPECT_GT(p.bandwidth(), 0);
  EXPECT_TRUE(p.find("calibration.memory_efficiency_by_bytes"));
  EXPECT_TRUE(has(p.find("memory.bandwidth_gbps")->source, "measured by drawbridge devices --calibrate on "));
  EXPECT_TRUE(has(p.find("compute.native_dtypes")->note, "amx_tile")) << "absent units are reported";
  // The profile shows in the table and through `show`, and sim:host runs a model with it.
  EXPECT_FALSE(has(cli("devices", env).out, "not calibrated"));
  EXPECT_TRUE(has(cli("devices show sim:host", env).out, "calibration.gemm_shape_efficiency.q4_0"));
  const auto model = synth(dir, "q4_0");
  const Result b = cli("bench -m " + model + " -p 16 -n 4 -r 1 --device sim:host", env);
  ASSERT_EQ(b.status, 0) << b.err;
  EXPECT_TRUE(has(b.out, "| sim:host ")) << b.out;
  EXPECT_TRUE(has(b.out, "modeled: t/s are modeled for sim:host")) << b.out;
}

TEST(CliBench, SimDevicePrintsModeledTableAndPerOpProfile) {
  const auto dir = test::temp_dir();
  const auto model = synth(dir, "f16");
  const Result r = cli("bench -m " + model + " -p 32 -n 4 -r 3 --device sim:ascend-910b2 --profile");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(has(r.out, "| sim:ascend-910b2 |")) << r.out;
  EXPECT_TRUE(has(r.out, "pp32") && has(r.out, "tg4")) << r.out;
  EXPECT_TRUE(has(r.out, "modeled: t/s are modeled for sim:ascend-910b2 by the cost model")) << r.out;
  EXPECT_TRUE(has(r.out, "per-op modeled time, pp32 on sim:ascend-910b2")) << r.out;
  EXPECT_TRUE(has(r.out, "per-op modeled time, tg4 on sim:ascend-910b2")) << r.out;
  for (const char* col : {"op", "shape", "dtype", "FLOPs", "bytes", "bound", "modeled µs", "share"})
    EXPECT_TRUE(has(r.out, col)) << col;
  EXPECT_TRUE(has(r.out, "matmul     ffn_up")) << r.out;
  // Decode on a 910B is memory-bound; the share column sums to about 100 %.
  const auto tg = r.out.substr(r.out.find("per-op modeled time, tg4"));
  EXPECT_TRUE(has(tg, " memory ")) << tg;
  double share = 0;
  for (size_t at = tg.find('%'); at != std::string::npos; at = tg.find('%', at + 1)) {
    size_t b = at;
    while (b > 0 && (std::isdigit(static_cast<unsigned char>(tg[b - 1])) || tg[b - 1] == '.')) --b;
    share += std::stod(tg.substr(b, at - b));
  }
  EXPECT_NEAR(share, 100.0, 1.0);
  // The modeled speed is the chip's, not the host's: the same however many host threads run it
  // (compared without timing anything on the host, which would make the test depend on load).
  const Result cpu = cli("bench -m " + model + " -p 32 -n 0 -r 1 -o json");
  const Result sim = cli("bench -m " + model + " -p 32 -n 0 -r 1 -t 1 -o json --device sim:ascend-910b2");
  const Result sim2 = cli("bench -m " + model + " -p 32 -n 0 -r 1 -t 2 -o json --device sim:ascend-910b2");
  auto tps = [](const std::string& json) { return std::stod(json.substr(json.find("\"avg_ts\": ") + 10)); };
  EXPECT_GT(tps(sim.out), 0.0);
  EXPECT_EQ(tps(sim.out), tps(sim2.out));
  EXPECT_TRUE(has(sim.out, "\"modeled\": true")) << sim.out;
  EXPECT_TRUE(has(cpu.out, "\"modeled\": false")) << cpu.out;
}

// tg's GB/s is judged against the read bandwidth measured in the same run (BW %).
TEST(CliBench, DecodeReportsItsShareOfTheMeasuredReadBandwidth) {
  const auto dir = test::temp_dir();
  const auto model = synth(dir, "q8_0");
  const Result md = cli("bench -m " + model + " -p 0 -n 4 -r 1");
  ASSERT_EQ(md.status, 0) << md.err;
  EXPECT_TRUE(has(md.out, " BW % |")) << md.out;
  EXPECT_TRUE(has(md.out, "read bandwidth measured after the tests: ")) << md.out;
  const Result js = cli("bench -m " + model + " -p 0 -n 4 -r 1 -o json");
  ASSERT_EQ(js.status, 0) << js.err;
  auto field = [&](const std::string& name) { return std::stod(js.out.substr(js.out.find("\"" + name + "\": ") + name.size() + 4)); };
  EXPECT_GT(field("read_gbps"), 0.1);
  EXPECT_GT(field("bandwidth_share"), 0.0);
  EXPECT_NEAR(field("bandwidth_share"), field("gbps") / field("read_gbps"), 1e-3 + 1e-3 * field("bandwidth_share"));
}

TEST(CliBench, ProfileNeedsAVirtualDevice) {
  const Result r = cli("bench -m x.gguf --profile");
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(has(r.err, "[bench] --profile breaks down modeled time: use it with --device sim:<id>")) << r.err;
}

TEST(CliQuantize, ForHanguangPicksInt8BlocksSaysWhyAndTheResultRuns) {
  const auto dir = test::temp_dir();
  const auto f16 = synth(dir, "f16");
  const auto out = (dir / "hg.gguf").string();
  const Result q = cli("quantize " + f16 + " " + out + " --for thead-hanguang-800");
  ASSERT_EQ(q.status, 0) << q.err;
  EXPECT_TRUE(has(q.out, "--for thead-hanguang-800: Q8_0, because")) << q.out;
  EXPECT_TRUE(has(q.out, "int8, int16 (compute.native_dtypes, source: [HG])")) << q.out;
  EXPECT_TRUE(has(q.err, "100%")) << "progress bar on stderr: " << q.err;
  const Result b = cli("bench -m " + out + " -p 8 -n 2 -r 1 --device sim:thead-hanguang-800");
  EXPECT_EQ(b.status, 0) << b.err;
  // The float original is refused there, naming the fix.
  const Result f = cli("bench -m " + f16 + " -p 8 -n 2 -r 1 --device sim:thead-hanguang-800");
  EXPECT_NE(f.status, 0);
  EXPECT_TRUE(has(f.err, "--for thead-hanguang-800")) << f.err;
}

TEST(CliQuantize, ForAnAscendReasonsFromTheCostModel) {
  const auto dir = test::temp_dir();
  const Result q = cli("quantize " + synth(dir, "f16") + " " + (dir / "a.gguf").string() + " --for sim:ascend-910b2");
  ASSERT_EQ(q.status, 0) << q.err;
  EXPECT_TRUE(has(q.out, "Q8_0, because fastest modeled decode")) << q.out;
  EXPECT_TRUE(has(q.out, "F16 ") && has(q.out, "Q8_0 ")) << "the ranking lists the candidates: " << q.out;
}

TEST(CliQuantize, ForAndTypeAreExclusiveAndDevicesMustExist) {
  const Result both = cli("quantize a.gguf b.gguf --type q8_0 --for thead-hanguang-800");
  EXPECT_NE(both.status, 0);
  EXPECT_TRUE(has(both.err, "[quantize] give either --type or --for <device>, not both")) << both.err;
  const Result none = cli("quantize a.gguf b.gguf");
  EXPECT_TRUE(has(none.err, "[quantize] --type is required (or --for <device>)")) << none.err;
  const Result bad = cli("quantize a.gguf b.gguf --for sim:nope");
  EXPECT_TRUE(has(bad.err, "[quantize] unknown device 'sim:nope'")) << bad.err;
}

}  // namespace
}  // namespace db
