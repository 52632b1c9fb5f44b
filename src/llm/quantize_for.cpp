#include "llm/quantize_for.h"

#include <fmt/format.h>

#include <cmath>
#include <vector>

#include "drawbridge/error.h"
#include "perf/cost_model.h"

namespace db {

namespace {

// Candidates, most bits first (the tie-break prefers the earlier one).
constexpr const char* kCandidates[] = {"F32", "BF16", "F16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_1", "Q5_0",
                                       "Q4_K_M", "Q4_1", "IQ4_NL", "Q4_0", "Q3_K_M", "Q2_K"};

bool native(const perf::DeviceProfile& p, DType t) { return perf::matmul_path(p, t).kind == perf::PathKind::Native; }

// Modeled seconds of one decode GEMV with `t` weights; negative when the model cannot charge it.
double decode_gemv_seconds(const perf::CostModel& model, DType t) {
  Graph g;
  const int w = g.leaf(make_tensor("w", t, {4096, 4096, 1, 1}));
  const int x = g.leaf(make_tensor("x", DType::F32, {4096, 1, 1, 1}));
  const int y = g.add(Op::MatMul, make_tensor("y", DType::F32, {4096, 1, 1, 1}), {w, x, -1});
  const perf::OpEstimate e = model.estimate(g, g.node(y));
  return e.unknown.empty() ? e.seconds : INFINITY;  // unknown rates rank last
}

std::string natives_with_source(const perf::DeviceProfile& p) {
  const perf::Field* f = p.find("compute.native_dtypes");
  return f ? fmt::format("{} (compute.native_dtypes, source: {})", f->value_str(), f->source) : "none listed";
}

}  // namespace

WeightFormatChoice preferred_weight_format(const perf::DeviceProfile& p) {
  if (const perf::Field* f = p.find("software.preferred_weight_format")) {
    const auto t = quant_type_from_name(f->value_str());
    DB_CHECK(t, "[quantize] {}: software.preferred_weight_format '{}' is not a quantize type ({})", p.id, f->value_str(),
             quant_type_names());
    return {*t, fmt::format("software.preferred_weight_format of {} is {} (source: {})", p.id, t->name, f->source)};
  }
  const perf::CostModel model(p);
  struct Scored {
    QuantType type;
    double seconds;
  };
  std::vector<Scored> scored;
  for (const char* name : kCandidates) {
    const auto t = quant_type_from_name(name);
    if (!t || !native(p, t->base)) continue;
    // llama.cpp's mixes below 8 bits keep output.weight in q6_K: it must run natively too.
    const bool mixed = dtype_info(t->base).quantized && t->base != DType::Q8_0;
    if (mixed && !native(p, DType::Q6_K)) continue;
    scored.push_back({*t, decode_gemv_seconds(model, t->base)});
  }
  DB_CHECK(!scored.empty(), "[quantize] the {} computes none of the quantize types natively (native formats: {})", p.name,
           natives_with_source(p));
  const Scored* best = &scored.front();
  for (const Scored& s : scored)
    if (s.seconds < best->seconds * 0.99) best = &s;
  std::string ranking;
  for (const Scored& s : scored)
    ranking += fmt::format("{}{} {}", ranking.empty() ? "" : ", ", s.type.name,
                           std::isfinite(s.seconds) ? fmt::format("{:.1f} µs", s.seconds * 1e6) : "unknown");
  const std::string why =
      scored.size() == 1
          ? fmt::format("{} is the only quantize type the {} computes natively; native formats: {}", best->type.name, p.name,
                        natives_with_source(p))
          : fmt::format("fastest modeled decode among the types the {} computes natively (one 4096×4096 GEMV: {}); "
                        "native formats: {}",
                        p.name, ranking, natives_with_source(p));
  return {best->type, why};
}

const perf::DeviceProfile& profile_for_device(const std::string& device) {
  std::string id = device.starts_with("sim:") ? device.substr(4) : device;
  if (id == "cpu") id = "host";
  const perf::DeviceProfile* p = perf::find_profile(id);
  if (!p && id == "host") fail("[quantize] the host is not calibrated: run drawbridge devices --calibrate first");
  DB_CHECK(p, "[quantize] unknown device '{}' (see drawbridge devices)", device);
  return *p;
}

}  // namespace db
