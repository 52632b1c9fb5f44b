#include <gtest/gtest.h>

#include "drawbridge/error.h"
#include "perf/calibration.h"
#include "perf/collectives.h"

using namespace db::perf;

namespace {
const DeviceProfile& profile(const char* id) {
  const DeviceProfile* p = find_profile(id);
  EXPECT_NE(p, nullptr) << id;
  return *p;
}
}  // namespace

TEST(Collectives, HccsAllGatherReproducesItsCalibrationRow) {
  // VP-L06: 2 × 910B all_gather busbw 38 GB/s (the row the HCCS efficiency was taken from).
  const Collectives c(profile("ascend-910b2"));
  EXPECT_EQ(c.link().id, "hccs");
  EXPECT_NEAR(c.bus_bandwidth(Collective::AllGather, {2, 1}) / 1e9, 38.0, 0.1);
  // A full mesh: 8 ranks use 7 links, so the bus bandwidth grows with the group.
  EXPECT_GT(c.bus_bandwidth(Collective::AllGather, {8, 1}), 6 * c.bus_bandwidth(Collective::AllGather, {2, 1}));
}

TEST(Collectives, LinkClassesFollowTheProfiles) {
  EXPECT_EQ(Collectives(profile("nvidia-h100-sxm")).link().id, "nvlink");
  EXPECT_EQ(Collectives(profile("ascend-910c")).link().id, "ub");
  EXPECT_EQ(Collectives(profile("nvidia-rtx-6000-ada")).link().id, "pcie");
  EXPECT_EQ(Collectives(profile("amd-mi300x")).link().id, "xgmi");
}

TEST(Collectives, AlphaBetaShapes) {
  const Collectives c(profile("nvidia-h100-sxm"));
  const double mb = 64e6;
  EXPECT_EQ(c.seconds(Collective::AllReduce, mb, {1, 1}), 0);
  const double ag = c.seconds(Collective::AllGather, mb, {8, 1});
  const double ar = c.seconds(Collective::AllReduce, mb, {8, 1});
  const double alpha = c.link().latency_us.value * 1e-6;
  EXPECT_NEAR(ar - alpha, 2 * (ag - alpha), 1e-9);  // ring all-reduce = reduce-scatter + all-gather
  EXPECT_NEAR(c.seconds(Collective::ReduceScatter, mb, {8, 1}), ag, 1e-12);
  // Tiny messages cost the latency; big ones the bandwidth.
  EXPECT_NEAR(c.seconds(Collective::AllReduce, 8, {8, 1}), alpha, 1e-7);
  // NVLink one way 450 GB/s × efficiency: busbw = that.
  EXPECT_NEAR(c.bus_bandwidth(Collective::AllReduce, {8, 1}) / 1e9, 450 * c.link().efficiency.value, 1);
  // Across nodes the NIC is the bottleneck: slower than inside one node.
  EXPECT_GT(c.seconds(Collective::AllReduce, mb, {16, 1}), 1.3 * ar);
  EXPECT_GT(c.seconds(Collective::AllToAll, mb, {16, 1}), c.seconds(Collective::AllToAll, mb, {8, 1}));
  // A pipeline send between nodes uses the NIC.
  EXPECT_GT(c.seconds(Collective::SendRecv, mb, {2, 8}), c.seconds(Collective::SendRecv, mb, {2, 1}));
}

TEST(Collectives, BadInputIsOneError) {
  const Collectives c(profile("nvidia-h100-sxm"));
  EXPECT_THROW(c.seconds(Collective::AllReduce, 1e6, {0, 1}), db::Error);
  EXPECT_THROW(c.seconds(Collective::AllReduce, -1, {2, 1}), db::Error);
}

TEST(Calibration, EveryValueHasASource) {
  const Calibration& cal = calibration();
  for (const auto& l : cal.links)
    for (const Sourced* s : {&l.node_size, &l.direction_share, &l.efficiency, &l.latency_us})
      EXPECT_FALSE(s->source.empty()) << l.id;
  for (const auto& f : cal.frameworks) EXPECT_FALSE(f.decode_step_ms.source.empty()) << f.id;
  EXPECT_EQ(cal.framework_in("SGLang with the Ascend attention backend").id, "sglang");
  EXPECT_EQ(cal.framework_in("trtllm-bench").id, "trtllm");
  EXPECT_EQ(cal.framework_in("nothing known").id, "default");
}

TEST(Calibration, RejectsUnsourcedValues) {
  const char* text = R"(
[link.pcie]
match = []
topology = "switch"
node_size = { value = 8, confidence = "low" }
)";
  try {
    parse_calibration(text, "t.toml");
    FAIL() << "accepted a value without a source";
  } catch (const db::Error& e) {
    EXPECT_NE(std::string(e.what()).find("[calibration] t.toml: link.pcie.node_size has no source"), std::string::npos) << e.what();
  }
}
