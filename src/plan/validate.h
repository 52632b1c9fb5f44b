// `drawbridge validate`: predict every measured point the planner can, and say why not otherwise.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "perf/points.h"

namespace db::plan {

struct Prediction {
  const perf::Point* point = nullptr;
  std::optional<double> predicted;  // absent: skipped
  std::string skipped;              // the reason when skipped
  std::string assumed;              // what was filled in for unstated fields
  double error_pct() const { return (*predicted - point->value) / point->value * 100; }
};

Prediction predict(const perf::Point& p);
std::vector<Prediction> predict_all(const std::vector<perf::Point>& points);

// Median of |error %| over the predictions accepted by `keep`; nullopt when none.
template <typename F>
std::optional<double> median_abs_error(const std::vector<Prediction>& preds, F&& keep);

std::optional<double> median_abs_error_of(std::vector<double> abs_errors);

}  // namespace db::plan

namespace db::plan {
template <typename F>
std::optional<double> median_abs_error(const std::vector<Prediction>& preds, F&& keep) {
  std::vector<double> errs;
  for (const Prediction& p : preds)
    if (p.predicted && keep(*p.point)) errs.push_back(std::abs(p.error_pct()));
  return median_abs_error_of(std::move(errs));
}
}  // namespace db::plan
