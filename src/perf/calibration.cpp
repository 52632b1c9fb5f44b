#include "perf/calibration.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <toml++/toml.h>

#include "drawbridge/error.h"
#include "perf/toml_screen.h"

namespace db::perf {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool mentions(std::string_view text, const std::vector<std::string>& words) {
  const std::string t = lower(text);
  return std::any_of(words.begin(), words.end(), [&](const std::string& w) { return t.find(lower(w)) != std::string::npos; });
}

Sourced sourced(const toml::table& t, const std::string& key, const std::string& where, bool required = true) {
  const toml::node* n = t.get(key);
  if (!n) {
    DB_CHECK(!required, "[calibration] {}: {}.{} is missing", where, key, "value");
    return {};
  }
  const toml::table* f = n->as_table();
  DB_CHECK(f, "[calibration] {}.{} must be a table {{ value, source, confidence }}", where, key);
  const auto v = (*f)["value"].value<double>();
  DB_CHECK(v && std::isfinite(*v) && *v > 0, "[calibration] {}.{} needs a positive number value", where, key);
  Sourced s;
  s.value = *v;
  s.source = (*f)["source"].value_or(std::string());
  DB_CHECK(!s.source.empty(), "[calibration] {}.{} has no source", where, key);
  const std::string c = (*f)["confidence"].value_or(std::string());
  DB_CHECK(c == "high" || c == "medium" || c == "low", "[calibration] {}.{} has confidence '{}' (high, medium or low)",
           where, key, c);
  s.confidence = c == "high" ? Confidence::High : c == "medium" ? Confidence::Medium : Confidence::Low;
  s.note = (*f)["note"].value_or(std::string());
  return s;
}

std::vector<std::string> words(const toml::table& t, const std::string& where) {
  std::vector<std::string> out;
  const toml::array* a = t["match"].as_array();
  DB_CHECK(a, "[calibration] {}.match must be a list of words", where);
  for (const auto& e : *a) {
    DB_CHECK(e.is_string(), "[calibration] {}.match must be a list of words", where);
    out.push_back(*e.value<std::string>());
  }
  return out;
}

template <typename F>
void each_table(const toml::table& root, const char* key, const std::string& origin, F&& f) {
  const toml::table* group = root[key].as_table();
  DB_CHECK(group, "[calibration] {}: [{}.*] tables are missing", origin, key);
  for (auto&& [name, node] : *group) {
    const toml::table* t = node.as_table();
    const std::string where = fmt::format("{}: {}.{}", origin, key, name.str());
    DB_CHECK(t, "[calibration] {} must be a table", where);
    f(std::string(name.str()), *t, where);
  }
}

}  // namespace

Calibration parse_calibration(std::string_view text, const std::string& origin) {
  screen_toml(text, origin, "calibration", kMaxTomlBytes);
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    fail("[calibration] {}:{}: {}", origin, e.source().begin.line, e.description());
  }
  Calibration cal;
  cal.origin = origin;
  each_table(root, "link", origin, [&](const std::string& id, const toml::table& t, const std::string& where) {
    LinkClass l;
    l.id = id;
    l.match = words(t, where);
    const std::string topo = t["topology"].value_or(std::string());
    DB_CHECK(topo == "switch" || topo == "full_mesh", "[calibration] {}.topology is '{}' (switch or full_mesh)", where, topo);
    l.topology = topo == "switch" ? LinkTopology::Switch : LinkTopology::FullMesh;
    l.node_size = sourced(t, "node_size", where);
    l.direction_share = sourced(t, "direction_share", where);
    l.efficiency = sourced(t, "efficiency", where);
    DB_CHECK(l.efficiency.value <= 1 && l.direction_share.value <= 1, "[calibration] {}: efficiency and direction_share must lie in (0, 1]", where);
    l.latency_us = sourced(t, "latency_us", where);
    l.bandwidth_gbps = sourced(t, "bandwidth_gbps", where, /*required=*/false);
    cal.links.push_back(std::move(l));
  });
  each_table(root, "network", origin, [&](const std::string& id, const toml::table& t, const std::string& where) {
    NetworkClass n{id, words(t, where), sourced(t, "bandwidth_gbps", where), sourced(t, "efficiency", where),
                   sourced(t, "latency_us", where)};
    DB_CHECK(n.efficiency.value <= 1, "[calibration] {}: efficiency must lie in (0, 1]", where);
    cal.networks.push_back(std::move(n));
  });
  each_table(root, "framework", origin, [&](const std::string& id, const toml::table& t, const std::string& where) {
    FrameworkClass f{id, words(t, where), sourced(t, "decode_step_ms", where), sourced(t, "prefill_ms", where),
                     sourced(t, "prefill_efficiency", where, /*required=*/false)};
    DB_CHECK(f.prefill_efficiency.value <= 1, "[calibration] {}: prefill_efficiency must lie in (0, 1]", where);
    cal.frameworks.push_back(std::move(f));
  });
  auto has = [](const auto& v, std::string_view id) {
    return std::any_of(v.begin(), v.end(), [&](const auto& x) { return x.id == id; });
  };
  DB_CHECK(has(cal.links, "pcie"), "[calibration] {}: [link.pcie] (the fallback link) is missing", origin);
  DB_CHECK(has(cal.networks, "default"), "[calibration] {}: [network.default] is missing", origin);
  DB_CHECK(has(cal.frameworks, "default"), "[calibration] {}: [framework.default] is missing", origin);
  return cal;
}

namespace {
// Where the earliest of the words occurs in the text (npos: none): "UB / HCCS" is a UB link first.
size_t first_mention(std::string_view text, const std::vector<std::string>& words) {
  const std::string t = lower(text);
  size_t best = std::string::npos;
  for (const auto& w : words) best = std::min(best, t.find(lower(w)));
  return best;
}
}  // namespace

const LinkClass& Calibration::link_for(const DeviceProfile& p) const {
  const Field* type = p.find("link.type");
  const LinkClass* best = nullptr;
  size_t at = std::string::npos;
  if (type && p.number("link.bandwidth_gbps"))
    for (const LinkClass& l : links)
      if (const size_t pos = first_mention(type->value_str(), l.match); l.id != "pcie" && pos < at) {
        at = pos;
        best = &l;
      }
  if (best) return *best;
  return *std::find_if(links.begin(), links.end(), [](const LinkClass& l) { return l.id == "pcie"; });
}

const NetworkClass& Calibration::network_for(const DeviceProfile& p) const {
  const Field* type = p.find("link.type");
  for (const NetworkClass& n : networks)
    if (type && !n.match.empty() && mentions(type->value_str(), n.match)) return n;
  return *std::find_if(networks.begin(), networks.end(), [](const NetworkClass& n) { return n.id == "default"; });
}

const FrameworkClass& Calibration::framework_in(std::string_view text) const {
  // The most specific mention wins: "ascend_npu_best_practice" names SGLang on Ascend, not just SGLang.
  const FrameworkClass* best = nullptr;
  size_t longest = 0;
  const std::string t = lower(text);
  for (const FrameworkClass& f : frameworks)
    for (const auto& w : f.match)
      if (w.size() > longest && t.find(lower(w)) != std::string::npos) {
        longest = w.size();
        best = &f;
      }
  return best ? *best : framework("default");
}

const FrameworkClass& Calibration::framework(std::string_view id) const {
  for (const FrameworkClass& f : frameworks)
    if (f.id == id) return f;
  std::vector<std::string> ids;
  for (const FrameworkClass& f : frameworks) ids.push_back(f.id);
  fail("[calibration] unknown framework '{}' (known: {})", id, fmt::join(ids, ", "));
}

const Calibration& calibration() {
  static const Calibration cal = [] {
    if (const char* path = std::getenv("DRAWBRIDGE_CALIBRATION"); path && *path) {
      std::ifstream in(path);
      DB_CHECK(in, "[calibration] cannot read {} ($DRAWBRIDGE_CALIBRATION)", path);
      std::stringstream ss;
      ss << in.rdbuf();
      return parse_calibration(ss.str(), path);
    }
    return parse_calibration(kEmbeddedCalibration, "built-in data/calibration/planner.toml");
  }();
  return cal;
}

}  // namespace db::perf
