// compare's outputs: one row per device, as a text table, an SVG bar chart and a self-contained
// HTML page (table + inline SVG, no scripts or external files).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "plan/planner.h"

namespace db::plan {

struct CompareRow {
  std::string device;  // id
  std::string name;
  bool fits = false;
  std::string why;     // when it does not fit or could not be planned
  Estimate e;
  std::optional<double> tok_s_per_kw;
};

struct CompareSpec {
  std::string model;
  int count = 1;
  int input_len = 0, output_len = 0;
  double max_tpot_ms = 0;
  std::string weight_dtype;
};

std::string compare_table(const CompareSpec& s, const std::vector<CompareRow>& rows);
std::string compare_svg(const CompareSpec& s, const std::vector<CompareRow>& rows);
std::string compare_html(const CompareSpec& s, const std::vector<CompareRow>& rows);

}  // namespace db::plan
