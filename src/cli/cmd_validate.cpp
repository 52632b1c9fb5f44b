// drawbridge validate --points FILE.csv: every measured point the planner can predict, its
// prediction and signed error; the median absolute error overall, per confidence and per section;
// the rows it skipped and why.
#include <cstdio>
#include <fmt/format.h>

#include <functional>
#include <map>

#include "cli/commands.h"
#include "plan/validate.h"

namespace db::cli {

namespace {

std::string median_cell(const std::vector<plan::Prediction>& preds, const std::function<bool(const perf::Point&)>& keep) {
  size_t n = 0, total = 0;
  for (const auto& p : preds)
    if (keep(*p.point)) {
      ++total;
      if (p.predicted) ++n;
    }
  const auto m = plan::median_abs_error(preds, keep);
  return m ? fmt::format("{:6.1f} %   ({} of {} rows)", *m, n, total) : fmt::format("     -     (0 of {} rows)", total);
}

void run_validate(const std::string& path, bool quiet) {
  const std::vector<perf::Point> points = perf::load_points(path);
  const std::vector<plan::Prediction> preds = plan::predict_all(points);
  if (!quiet) {
    std::printf("%-10s %-22s %-24s %-24s %12s %12s %8s  %s\n", "id", "hardware", "model", "metric", "measured",
                "predicted", "error", "conf");
    for (const auto& p : preds) {
      if (!p.predicted) continue;
      const perf::Point& pt = *p.point;
      std::printf("%-10s %-22s %-24s %-24s %12.4g %12.4g %+7.1f%%  %s%s\n", pt.id.c_str(), pt.hardware.c_str(),
                  pt.model.empty() ? "-" : pt.model.c_str(), pt.metric.c_str(), pt.value, *p.predicted, p.error_pct(),
                  std::string(perf::confidence_name(pt.confidence)).c_str(),
                  p.assumed.empty() ? "" : ("  (" + p.assumed + ")").c_str());
    }
    std::puts("\nskipped:");
    for (const auto& p : preds)
      if (!p.predicted) std::printf("  %-10s %s\n", p.point->id.c_str(), p.skipped.c_str());
  }
  std::puts("\nmedian absolute error:");
  std::printf("  %-22s %s\n", "all rows", median_cell(preds, [](const perf::Point&) { return true; }).c_str());
  std::printf("  %-22s %s\n", "high + medium", median_cell(preds, [](const perf::Point& p) { return p.confidence != perf::Confidence::Low; }).c_str());
  // Section L's GEMM and all_gather rows set the GEMM and HCCS efficiencies: reproduced by construction.
  std::printf("  %-22s %s\n", "high + medium, not L", median_cell(preds, [](const perf::Point& p) {
                return p.confidence != perf::Confidence::Low && p.section() != "L";
              }).c_str());
  for (auto c : {perf::Confidence::High, perf::Confidence::Medium, perf::Confidence::Low})
    std::printf("  %-22s %s\n", std::string(perf::confidence_name(c)).c_str(),
                median_cell(preds, [c](const perf::Point& p) { return p.confidence == c; }).c_str());
  std::map<std::string, int> sections;
  for (const auto& p : points) sections[p.section()]++;
  for (const auto& [s, n] : sections)
    std::printf("  %-22s %s\n", ("section " + s).c_str(),
                median_cell(preds, [s = s](const perf::Point& p) { return p.section() == s; }).c_str());
}

}  // namespace

void register_validate(CLI::App& app) {
  auto* cmd = app.add_subcommand("validate", "Predict the measured performance points and report the error");
  static std::string points;
  static bool quiet = false;
  cmd->add_option("--points", points, "CSV of measured points (schema: measured-performance.md)")->required();
  cmd->add_flag("--summary", quiet, "Print only the error summary");
  cmd->callback([] { run_validate(points, quiet); });
}

}  // namespace db::cli
