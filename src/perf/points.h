// Measured performance points (../shared/reference/measured-performance.md): one CSV row is one
// published number for one hardware + model + workload. Typed rows with the exact header checked,
// so `drawbridge validate` and the calibration tests read the same thing.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "perf/device_profile.h"

namespace db::perf {

// The exact header the schema prescribes, in order.
const std::vector<std::string>& points_header();
// Metrics the schema defines (the `metric` column).
const std::vector<std::string>& points_metrics();

struct Point {
  std::string id;        // "VP-B01", "VP-I07-a"
  std::string hardware;  // device id
  std::optional<int> count;
  std::string model;     // empty for micro-benchmarks
  std::string weight_dtype, act_dtype, kv_dtype;  // empty: not stated
  std::optional<int> tp, pp, ep, dp, batch, concurrency, input_len, output_len;
  std::optional<double> spec_decode_accept;
  std::string metric;
  double value = 0;
  Confidence confidence = Confidence::Low;
  std::string source;  // title; notes after the first ';'
  int line = 0;        // line in the file, for messages

  // The section letter of the id ("B" for VP-B01).
  std::string section() const;
};

// Parses the CSV text; `what` names it in errors ("[points] <what>:<line>: ...").
std::vector<Point> parse_points(std::string_view text, std::string_view what);
std::vector<Point> load_points(const std::string& path);

}  // namespace db::perf
