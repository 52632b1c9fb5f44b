#include "perf/device_profile.h"

#include <fmt/format.h>

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

std::string_view confidence_name(Confidence c) {
  switch (c) {
    case Confidence::High: return "high";
    case Confidence::Medium: return "medium";
    default: return "low";
  }
}

std::string Field::value_str() const {
  if (const auto* d = std::get_if<double>(&value)) return fmt::format("{}", *d);
  if (const auto* s = std::get_if<std::string>(&value)) return *s;
  if (const auto* pts = std::get_if<std::vector<std::vector<double>>>(&value)) {
    std::vector<std::string> rows;
    for (const auto& r : *pts) rows.push_back(fmt::format("[{}]", fmt::join(r, ", ")));
    return fmt::format("{}", fmt::join(rows, " "));
  }
  return fmt::format("{}", fmt::join(std::get<std::vector<std::string>>(value), ", "));
}

const std::vector<std::string>& profile_block_formats() {
  static const std::vector<std::string> blocks = {"q8_0", "q4_0", "q4_1", "q5_0",  "q5_1",  "q2_K",
                                                  "q3_K", "q4_K", "q5_K", "q6_K", "iq4_nl"};
  return blocks;
}

const std::vector<std::string>& profile_dtypes() {
  static const std::vector<std::string> dtypes = [] {
    std::vector<std::string> d = {"f32", "tf32", "hf32", "f16", "bf16", "fp8", "int16", "int8", "int4"};
    d.insert(d.end(), profile_block_formats().begin(), profile_block_formats().end());
    return d;
  }();
  return dtypes;
}

namespace {

constexpr std::string_view kFraction = "fraction";  // unit of fields that must lie in (0, 1]

std::vector<FieldSpec> build_schema() {
  using K = FieldKind;
  std::vector<FieldSpec> s = {
      {"chip.year", K::Number, "", "year of release"},
      {"chip.process", K::Text, "", "process node and die"},
      {"compute.native_dtypes", K::List, "", "number formats the matrix units run natively"},
      {"compute.cores", K::Number, "", "compute cores (AI cores, CUs, MUSA cores)"},
      {"compute.clock_mhz", K::Number, "MHz", "compute clock"},
      {"compute.tile_m", K::Number, "", "native matrix tile: rows (tokens)"},
      {"compute.tile_n", K::Number, "", "native matrix tile: columns (outputs)"},
      {"compute.tile_k", K::Number, "", "native matrix tile: reduction depth"},
      {"compute.vector_tflops", K::Number, "TFLOP/s", "non-matrix float rate (elementwise ops)"},
  };
  for (const auto& d : profile_dtypes())
    s.push_back({"compute.peak_tflops." + d, K::Number, d.starts_with("int") ? "TOP/s" : "TFLOP/s", "dense peak, " + d});
  s.push_back({"compute.threads", K::Number, "", "host threads the calibration ran (host profile)"});
  const std::vector<FieldSpec> rest = {
      {"memory.kind", K::Text, "", "memory technology"},
      {"memory.capacity_gib", K::Number, "GiB", "device memory (0: none besides on-chip SRAM)"},
      {"memory.bandwidth_gbps", K::Number, "GB/s", "peak memory bandwidth"},
      {"buffers.l2_mib", K::Number, "MiB", "L2 / last-level cache"},
      {"buffers.sram_mib", K::Number, "MiB", "on-chip SRAM"},
      {"buffers.l1_kib", K::Number, "KiB", "L1 per core"},
      {"buffers.l0a_kib", K::Number, "KiB", "L0A (left operand) per core"},
      {"buffers.l0b_kib", K::Number, "KiB", "L0B (right operand) per core"},
      {"buffers.l0c_kib", K::Number, "KiB", "L0C (accumulator) per core"},
      {"buffers.ub_kib", K::Number, "KiB", "unified (vector) buffer per core"},
      {"link.type", K::Text, "", "chip-to-chip link"},
      {"link.count", K::Number, "", "links per chip"},
      {"link.bandwidth_gbps", K::Number, "GB/s", "chip-to-chip bandwidth, aggregate per chip"},
      {"link.topology", K::Text, "", "how chips are connected"},
      {"link.die_to_die_gbps", K::Number, "GB/s", "die-to-die bandwidth inside the package"},
      {"link.host", K::Text, "", "host interface"},
      {"link.host_gbps", K::Number, "GB/s", "host interface bandwidth"},
      {"power.tdp_w", K::Number, "W", "thermal design power"},
      {"price.list_usd", K::Number, "USD", "public list price"},
      {"software.stack", K::List, "", "software stack"},
      {"software.preferred_weight_format", K::Text, "", "weight format the vendor's stack recommends (a quantize type)"},
      {"calibration.memory_efficiency", K::Number, std::string(kFraction), "share of peak bandwidth streams reach"},
      {"calibration.matmul_overhead_us", K::Number, "µs", "fixed cost per matrix op (launch, pipeline fill)"},
      {"calibration.op_overhead_us", K::Number, "µs", "fixed cost per other op"},
      {"calibration.gemm_efficiency.default", K::Number, std::string(kFraction), "share of peak a large GEMM reaches"},
  };
  s.insert(s.end(), rest.begin(), rest.end());
  for (const auto& d : profile_dtypes())
    s.push_back({"calibration.gemm_efficiency." + d, K::Number, std::string(kFraction), "share of peak a large " + d + " GEMM reaches"});
  s.push_back({"calibration.attention_efficiency", K::Number, std::string(kFraction),
               "share of the KV format's peak that attention reaches"});
  s.push_back({"calibration.memory_efficiency_by_bytes", K::Points, "[bytes, fraction]",
               "share of peak bandwidth by bytes one op streams"});
  for (const auto& d : profile_dtypes())
    s.push_back({"calibration.gemm_shape_efficiency." + d, K::Points, "[m, n, k, fraction]",
                 "share of the " + d + " peak by GEMM shape (m tokens, n outputs, k depth)"});
  return s;
}

const FieldSpec* find_spec(std::string_view path) {
  for (const auto& s : profile_schema())
    if (s.path == path) return &s;
  return nullptr;
}

std::optional<Confidence> parse_confidence(std::string_view s) {
  if (s == "high") return Confidence::High;
  if (s == "medium") return Confidence::Medium;
  if (s == "low") return Confidence::Low;
  return std::nullopt;
}

// A curve: rows of positive numbers of one length; the last column is a fraction in (0, 1] when
// `fractions`. Rows are sorted by their leading columns so lookups can interpolate.
std::vector<std::vector<double>> parse_points(const toml::node& v, const std::string& path, const std::string& origin,
                                              bool fractions) {
  const toml::array* rows = v.as_array();
  DB_CHECK(rows && !rows->empty(), "[profile] {}: {} must be a non-empty list of number rows", origin, path);
  std::vector<std::vector<double>> out;
  for (const auto& r : *rows) {
    const toml::array* cells = r.as_array();
    DB_CHECK(cells && !cells->empty(), "[profile] {}: {} must be a list of number rows", origin, path);
    std::vector<double> row;
    for (const auto& c : *cells) {
      const auto d = c.value<double>();
      DB_CHECK(c.is_number() && d && std::isfinite(*d) && *d > 0, "[profile] {}: {} has a cell that is not a positive number",
               origin, path);
      row.push_back(*d);
    }
    DB_CHECK(out.empty() || row.size() == out[0].size(), "[profile] {}: {} rows differ in length", origin, path);
    if (fractions) DB_CHECK(row.back() <= 1, "[profile] {}: {} has an efficiency above 1 ({})", origin, path, row.back());
    out.push_back(std::move(row));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Parses `{ value, source, confidence, note }` for the field at `path`, checked against the schema.
Field parse_field(const toml::table& t, const std::string& path, const std::string& origin) {
  const FieldSpec* spec = find_spec(path);
  DB_CHECK(spec, "[profile] {}: {} is not a known field", origin, path);
  for (auto&& [key, node] : t) {
    const std::string_view k = key.str();
    DB_CHECK(k == "value" || k == "source" || k == "confidence" || k == "note",
             "[profile] {}: {} has an unknown key '{}' (value, source, confidence, note)", origin, path, k);
  }
  Field f;
  const toml::node& v = *t.get("value");
  if (spec->kind == FieldKind::Number) {
    const auto d = v.value<double>();
    DB_CHECK(v.is_number() && d && std::isfinite(*d), "[profile] {}: {} must be a number", origin, path);
    DB_CHECK(*d >= 0, "[profile] {}: {} is negative ({})", origin, path, *d);
    if (spec->unit == kFraction)
      DB_CHECK(*d > 0 && *d <= 1, "[profile] {}: {} must lie in (0, 1], is {}", origin, path, *d);
    f.value = *d;
  } else if (spec->kind == FieldKind::Text) {
    DB_CHECK(v.is_string(), "[profile] {}: {} must be a string", origin, path);
    f.value = *v.value<std::string>();
  } else if (spec->kind == FieldKind::Points) {
    f.value = parse_points(v, path, origin, spec->unit.ends_with("fraction]"));
  } else {
    const toml::array* a = v.as_array();
    DB_CHECK(a, "[profile] {}: {} must be a list of strings", origin, path);
    std::vector<std::string> items;
    for (const auto& e : *a) {
      DB_CHECK(e.is_string(), "[profile] {}: {} must be a list of strings", origin, path);
      items.push_back(*e.value<std::string>());
    }
    f.value = std::move(items);
  }
  const auto source = t["source"].value<std::string>();
  DB_CHECK(source && !source->empty(), "[profile] {}: {} has no source", origin, path);
  f.source = *source;
  const auto conf = t["confidence"].value<std::string>();
  DB_CHECK(conf, "[profile] {}: {} has no confidence (high, medium or low)", origin, path);
  const auto c = parse_confidence(*conf);
  DB_CHECK(c, "[profile] {}: {} has confidence '{}' (high, medium or low)", origin, path, *conf);
  f.confidence = *c;
  f.note = t["note"].value_or(std::string());
  return f;
}

// Walks nested tables; a table with a `value` key is one field.
void walk(const toml::table& t, const std::string& prefix, DeviceProfile& p, const std::string& origin) {
  for (auto&& [key, node] : t) {
    const std::string path = prefix.empty() ? std::string(key.str()) : prefix + "." + std::string(key.str());
    if (prefix.empty() && (path == "id" || path == "name" || path == "vendor")) continue;
    const toml::table* sub = node.as_table();
    DB_CHECK(sub, "[profile] {}: {} must be a table {{ value, source, confidence }}", origin, path);
    if (sub->contains("value"))
      p.fields[path] = parse_field(*sub, path, origin);
    else
      walk(*sub, path, p, origin);
  }
}

std::string required_string(const toml::table& t, std::string_view key, const std::string& origin) {
  const auto s = t[key].value<std::string>();
  DB_CHECK(s && !s->empty(), "[profile] {}: {} is missing (a non-empty string)", origin, key);
  return *s;
}

void check_dtypes(const DeviceProfile& p, const std::string& origin) {
  const Field* f = p.find("compute.native_dtypes");
  DB_CHECK(f, "[profile] {}: compute.native_dtypes is missing", origin);
  const auto& known = profile_dtypes();
  for (const auto& d : std::get<std::vector<std::string>>(f->value))
    DB_CHECK(std::find(known.begin(), known.end(), d) != known.end(),
             "[profile] {}: compute.native_dtypes names '{}' (known: {})", origin, d, fmt::join(known, ", "));
}

std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  DB_CHECK(in, "[profile] {}: cannot read the file", file.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void add_or_replace(std::vector<DeviceProfile>& all, DeviceProfile p) {
  for (auto& q : all)
    if (q.id == p.id) {
      q = std::move(p);
      return;
    }
  all.push_back(std::move(p));
}

std::vector<DeviceProfile> load_catalogue() {
  std::vector<DeviceProfile> all;
  for (size_t i = 0; i < kEmbeddedProfileCount; ++i)
    all.push_back(parse_profile(kEmbeddedProfiles[i].text, std::string("built-in data/devices/") + kEmbeddedProfiles[i].file));
  if (const char* dir = std::getenv("DRAWBRIDGE_DEVICES_DIR"); dir && *dir) {
    // error_code overloads: a missing or unreadable directory is the user's one-line error, not a
    // std::filesystem exception.
    std::error_code ec;
    std::vector<std::filesystem::path> files;
    std::filesystem::directory_iterator it(dir, ec), end;
    for (; !ec && it != end; it.increment(ec))
      if (it->path().extension() == ".toml") files.push_back(it->path());
    DB_CHECK(!ec, "[profile] DRAWBRIDGE_DEVICES_DIR={}: cannot list the directory: {}", dir, ec.message());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) add_or_replace(all, load_profile(f));
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return all;
}

}  // namespace

const std::vector<FieldSpec>& profile_schema() {
  static const std::vector<FieldSpec> schema = build_schema();
  return schema;
}

const Field* DeviceProfile::find(std::string_view path) const {
  auto it = fields.find(path);
  return it == fields.end() ? nullptr : &it->second;
}

std::optional<double> DeviceProfile::number(std::string_view path) const {
  const Field* f = find(path);
  if (!f) return std::nullopt;
  return f->number();
}

std::optional<double> DeviceProfile::peak_flops(std::string_view dtype) const {
  const auto tflops = number("compute.peak_tflops." + std::string(dtype));
  if (!tflops || *tflops <= 0) return std::nullopt;
  return *tflops * 1e12;
}

std::vector<std::string> DeviceProfile::native_dtypes() const {
  const Field* f = find("compute.native_dtypes");
  return f ? std::get<std::vector<std::string>>(f->value) : std::vector<std::string>{};
}

bool DeviceProfile::native(std::string_view dtype) const {
  const auto all = native_dtypes();
  return std::find(all.begin(), all.end(), dtype) != all.end();
}

uint64_t DeviceProfile::memory_bytes() const {
  // Capacities are binary: 64 GB of HBM is 64 GiB.
  if (const auto gib = number("memory.capacity_gib"); gib && *gib > 0) return uint64_t(*gib * double(1ull << 30));
  if (const auto sram = number("buffers.sram_mib"); sram && number("memory.capacity_gib"))
    return uint64_t(*sram * double(1ull << 20));
  return 0;
}

double DeviceProfile::bandwidth() const { return number("memory.bandwidth_gbps").value_or(0) * 1e9; }

Confidence DeviceProfile::weakest(const std::vector<std::string>& paths) const {
  Confidence worst = Confidence::High;
  for (const auto& p : paths)
    if (const Field* f = find(p)) worst = std::max(worst, f->confidence);
  return worst;
}

DeviceProfile parse_profile(std::string_view toml_text, const std::string& origin) {
  screen_toml(toml_text, origin, "profile", kMaxProfileBytes);
  toml::table t;
  try {
    t = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    fail("[profile] {}: line {}, column {}: {}", origin, e.source().begin.line, e.source().begin.column,
         e.description());
  }
  DeviceProfile p;
  p.origin = origin;
  p.id = required_string(t, "id", origin);
  p.name = required_string(t, "name", origin);
  p.vendor = required_string(t, "vendor", origin);
  walk(t, "", p, origin);
  check_dtypes(p, origin);
  return p;
}

DeviceProfile load_profile(const std::filesystem::path& file) {
  DeviceProfile p = parse_profile(read_file(file), file.string());
  DB_CHECK(p.id == file.stem().string(), "[profile] {}: id '{}' does not match the file name", file.string(), p.id);
  return p;
}

const std::vector<DeviceProfile>& catalogue() {
  static const std::vector<DeviceProfile> all = load_catalogue();
  return all;
}

const DeviceProfile* find_profile(std::string_view id) {
  if (id == "host") return host_profile();
  for (const auto& p : catalogue())
    if (p.id == id) return &p;
  return nullptr;
}

std::filesystem::path host_profile_path() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  std::filesystem::path dir = xdg && *xdg ? std::filesystem::path(xdg)
                              : home && *home ? std::filesystem::path(home) / ".cache"
                                              : std::filesystem::temp_directory_path();
  return dir / "drawbridge" / "host.toml";
}

const DeviceProfile* host_profile() {
  static const std::optional<DeviceProfile> host = []() -> std::optional<DeviceProfile> {
    const auto path = host_profile_path();
    if (!std::filesystem::exists(path)) return std::nullopt;
    return load_profile(path);
  }();
  return host ? &*host : nullptr;
}

}  // namespace db::perf
