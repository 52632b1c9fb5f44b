#include "plan/report.h"

#include <fmt/format.h>

#include <algorithm>

namespace db::plan {

namespace {

std::string ms(double s) { return fmt::format("{:.1f}", s * 1e3); }
std::string opt(const std::optional<double>& v, const char* f) { return v ? fmt::format(fmt::runtime(f), *v) : "-"; }

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string title(const CompareSpec& s) {
  return fmt::format("{} ({}) on {} device{} each, {} in / {} out tokens, TPOT ≤ {} ms", s.model, s.weight_dtype, s.count,
                     s.count > 1 ? "s" : "", s.input_len, s.output_len, s.max_tpot_ms);
}

struct Cells {
  std::vector<std::string> v;
};

std::vector<std::string> header() {
  return {"device", "fits", "layout", "batch", "TTFT ms", "TPOT ms", "tok/s/device", "tok/s per kW", "$ per Mtok"};
}

Cells cells(const CompareRow& r) {
  if (!r.fits) return {{r.device, "no", r.why, "-", "-", "-", "-", "-", "-"}};
  return {{r.device, "yes", r.e.layout.str(), std::to_string(r.e.batch), ms(r.e.ttft_s), ms(r.e.tpot_s),
           fmt::format("{:.0f}", r.e.output_tok_s_per_device), opt(r.tok_s_per_kw, "{:.0f}"), opt(r.e.usd_per_mtok, "{:.3f}")}};
}

}  // namespace

std::string compare_table(const CompareSpec& s, const std::vector<CompareRow>& rows) {
  std::string out = title(s) + "\n\n";
  const char* f = "{:<24} {:<4} {:<22} {:>6} {:>9} {:>8} {:>13} {:>13} {:>11}\n";
  const auto h = header();
  out += fmt::format(fmt::runtime(f), h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8]);
  for (const auto& r : rows) {
    const auto c = cells(r).v;
    out += fmt::format(fmt::runtime(f), c[0], c[1], c[2].substr(0, 22), c[3], c[4], c[5], c[6], c[7], c[8]);
  }
  return out;
}

std::string compare_svg(const CompareSpec& s, const std::vector<CompareRow>& rows) {
  const int bar_h = 18, gap = 6, left = 210, width = 760, top = 40;
  double best = 1;
  for (const auto& r : rows)
    if (r.fits) best = std::max(best, r.e.output_tok_s_per_device);
  const int height = top + int(rows.size()) * (bar_h + gap) + 30;
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"chart\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<title>{}</title>\n"
      "<text x=\"10\" y=\"20\" font-size=\"14\">Output tokens/s per device: {}</text>\n",
      width, height, width, height, escape(title(s)), escape(s.model));
  int y = top;
  for (const auto& r : rows) {
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", left - 8, y + 13, escape(r.device));
    if (r.fits) {
      const double w = (width - left - 90) * r.e.output_tok_s_per_device / best;
      svg += fmt::format("<rect class=\"bar\" x=\"{}\" y=\"{}\" width=\"{:.1f}\" height=\"{}\" fill=\"#3b6ea5\"/>\n", left, y, w, bar_h);
      svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\">{:.0f}</text>\n", left + w + 6, y + 13, r.e.output_tok_s_per_device);
    } else {
      svg += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"#999\">does not fit / not planned</text>\n", left + 4, y + 13);
    }
    y += bar_h + gap;
  }
  svg += "</svg>\n";
  return svg;
}

std::string compare_html(const CompareSpec& s, const std::vector<CompareRow>& rows) {
  std::string html = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Drawbridge compare: " + escape(s.model) +
                     "</title>\n<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
                     "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}"
                     "</style></head><body>\n<h1>Drawbridge compare</h1>\n<p>" + escape(title(s)) + "</p>\n<table id=\"compare\">\n<tr>";
  for (const auto& h : header()) html += "<th>" + escape(h) + "</th>";
  html += "</tr>\n";
  for (const auto& r : rows) {
    html += "<tr>";
    for (const auto& c : cells(r).v) html += "<td>" + escape(c) + "</td>";
    html += "</tr>\n";
  }
  html += "</table>\n" + compare_svg(s, rows) +
          "<p>Predicted by the Drawbridge planner from the device profiles (every number sourced; see "
          "<code>drawbridge devices show &lt;id&gt;</code>) and data/calibration/planner.toml. Energy uses TDP; "
          "$ uses list price amortised over 3 years where the profile has one.</p>\n</body></html>\n";
  return html;
}

}  // namespace db::plan
