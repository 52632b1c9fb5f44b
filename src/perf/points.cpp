#include "perf/points.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "drawbridge/error.h"
#include "formats/csv.h"

namespace db::perf {

const std::vector<std::string>& points_header() {
  static const std::vector<std::string> h = {"id",        "hardware",    "count",     "model",      "weight_dtype",
                                             "act_dtype", "kv_dtype",    "tp",        "pp",         "ep",
                                             "dp",        "batch",       "concurrency", "input_len", "output_len",
                                             "spec_decode_accept", "metric", "value", "confidence", "source"};
  return h;
}

const std::vector<std::string>& points_metrics() {
  static const std::vector<std::string> m = {
      "output_tok_s",        "output_tok_s_per_device", "total_tok_s",           "prefill_tok_s_per_device",
      "decode_tok_s_per_device", "ttft_ms_mean",        "tpot_ms_mean",          "itl_ms_mean",
      "llamabench_pp_tok_s", "llamabench_tg_tok_s",     "train_step_s",          "train_tok_s_per_device",
      "train_tflops_per_device", "gemm_tflops",         "gemm_tops_int8",        "allgather_busbw_gbs",
      "images_per_s"};
  return m;
}

std::string Point::section() const {
  // "VP-<section><nn>...": the letters after "VP-".
  std::string s;
  for (size_t i = 3; i < id.size() && std::isalpha(static_cast<unsigned char>(id[i])); ++i) s += id[i];
  return s;
}

namespace {

struct RowReader {
  const std::vector<std::string>& cells;
  std::string_view what;
  int line;

  const std::string& at(int col) const { return cells[size_t(col)]; }
  [[noreturn]] void bad(int col, std::string_view why) const {
    fail("[points] {}:{}: column {} '{}': {}", what, line, points_header()[size_t(col)], at(col), why);
  }
  std::optional<int> integer(int col) const {
    const std::string& s = at(col);
    if (s.empty()) return std::nullopt;
    size_t used = 0;
    long v = 0;
    try {
      v = std::stol(s, &used);
    } catch (const std::exception&) {
      bad(col, "not an integer");
    }
    if (used != s.size()) bad(col, "not an integer");
    if (v < 0 || v > (1L << 30)) bad(col, "out of range");
    return int(v);
  }
  std::optional<double> number(int col) const {
    const std::string& s = at(col);
    if (s.empty()) return std::nullopt;
    size_t used = 0;
    double v = 0;
    try {
      v = std::stod(s, &used);
    } catch (const std::exception&) {
      bad(col, "not a number");
    }
    if (used != s.size() || !std::isfinite(v) || v < 0) bad(col, "not a finite non-negative number");
    return v;
  }
};

void check_dtype(const RowReader& r, int col) {
  static const std::vector<std::string> dtypes = {"f32", "f16", "bf16", "fp8", "int8", "int4", "q8_0", "q4_0"};
  const std::string& s = r.at(col);
  if (!s.empty() && std::find(dtypes.begin(), dtypes.end(), s) == dtypes.end())
    r.bad(col, "unknown dtype (f32 f16 bf16 fp8 int8 int4 q8_0 q4_0)");
}

Point parse_row(const RowReader& r) {
  Point p;
  p.line = r.line;
  p.id = r.at(0);
  if (!p.id.starts_with("VP-") || p.id.size() < 5) r.bad(0, "ids look like VP-A01 or VP-I07-a");
  p.hardware = r.at(1);
  if (p.hardware.empty()) r.bad(1, "hardware is required");
  p.count = r.integer(2);
  p.model = r.at(3);
  for (int c : {4, 5, 6}) check_dtype(r, c);
  p.weight_dtype = r.at(4);
  p.act_dtype = r.at(5);
  p.kv_dtype = r.at(6);
  p.tp = r.integer(7);
  p.pp = r.integer(8);
  p.ep = r.integer(9);
  p.dp = r.integer(10);
  p.batch = r.integer(11);
  p.concurrency = r.integer(12);
  p.input_len = r.integer(13);
  p.output_len = r.integer(14);
  p.spec_decode_accept = r.number(15);
  p.metric = r.at(16);
  const auto& metrics = points_metrics();
  if (std::find(metrics.begin(), metrics.end(), p.metric) == metrics.end()) r.bad(16, "unknown metric");
  const auto value = r.number(17);
  if (!value) r.bad(17, "value is required");
  p.value = *value;
  const std::string& conf = r.at(18);
  if (conf == "high") p.confidence = Confidence::High;
  else if (conf == "medium") p.confidence = Confidence::Medium;
  else if (conf == "low") p.confidence = Confidence::Low;
  else r.bad(18, "confidence must be high, medium or low");
  p.source = r.at(19);
  if (p.source.empty()) r.bad(19, "every row names its source");
  return p;
}

}  // namespace

std::vector<Point> parse_points(std::string_view text, std::string_view what) {
  const csv::Table t = csv::parse(text, what);
  DB_CHECK(t.header == points_header(), "[points] {}:1: header differs from the schema (measured-performance.md): expected {}",
           what, fmt::join(points_header(), ","));
  std::vector<Point> points;
  for (size_t i = 0; i < t.rows.size(); ++i) {
    points.push_back(parse_row(RowReader{t.rows[i], what, t.line_of_row[i]}));
    for (size_t j = 0; j + 1 < points.size(); ++j)
      DB_CHECK(points[j].id != points.back().id, "[points] {}:{}: id {} repeats line {}", what, points.back().line,
               points.back().id, points[j].line);
  }
  return points;
}

std::vector<Point> load_points(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  DB_CHECK(in, "[points] cannot read {}", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_points(ss.str(), path);
}

}  // namespace db::perf
