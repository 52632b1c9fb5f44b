// drawbridge devices: the real and virtual devices in one table; `show <id>` prints one profile
// with the source and confidence of every field; `--ops-matrix` prints docs/ops.md.
#include <cstdio>
#include <memory>
#include <algorithm>
#include <chrono>
#include <thread>

#include <filesystem>
#include <fstream>

#include "backends/virtual/calibrate.h"
#include "backends/virtual/sim_device.h"
#include "cli/commands.h"
#include "drawbridge/error.h"

namespace db::cli {

namespace {

constexpr const char* kUnknown = "unknown";

std::string number_or_unknown(const perf::DeviceProfile& p, const std::string& path, const char* unit) {
  const auto v = p.number(path);
  return v ? fmt::format("{}{}", *v, unit) : kUnknown;
}

std::string memory_cell(const perf::DeviceProfile& p) {
  const auto gib = p.number("memory.capacity_gib");
  if (gib && *gib > 0) return fmt::format("{} GiB", *gib);
  if (p.memory_bytes() > 0) return fmt::format("{} MiB SRAM", p.number("buffers.sram_mib").value_or(0));
  return kUnknown;
}

std::string profile_row(const char* row, const perf::DeviceProfile& p, const std::vector<std::string>& headline) {
  return fmt::format(fmt::runtime(row), "sim:" + p.id, p.name.substr(0, 24), p.vendor, memory_cell(p),
                     number_or_unknown(p, "memory.bandwidth_gbps", ""), number_or_unknown(p, "compute.peak_tflops.bf16", ""),
                     number_or_unknown(p, "compute.peak_tflops.f16", ""), number_or_unknown(p, "compute.peak_tflops.int8", ""),
                     number_or_unknown(p, "power.tdp_w", " W"), perf::confidence_name(p.weakest(headline)));
}

void print_table() {
  const auto& profiles = perf::catalogue();  // first: a broken profile fails before any output
  const std::vector<std::string> headline = {"memory.capacity_gib", "memory.bandwidth_gbps", "compute.peak_tflops.bf16",
                                             "compute.peak_tflops.f16", "compute.peak_tflops.int8", "power.tdp_w"};
  const char* row = "{:<30} {:<24} {:<18} {:>12} {:>11} {:>9} {:>9} {:>9} {:>8} {:<6}\n";
  std::fputs(fmt::format(fmt::runtime(row), "id", "name", "vendor", "memory", "GB/s", "bf16 TF", "fp16 TF",
                         "int8 TOPS", "TDP", "conf").c_str(), stdout);
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::fputs(fmt::format(fmt::runtime(row), "cpu", fmt::format("host CPU, {} threads", threads), "host", kUnknown,
                         kUnknown, kUnknown, kUnknown, kUnknown, kUnknown, "-").c_str(), stdout);
  if (const perf::DeviceProfile* host = perf::host_profile())
    std::fputs(profile_row(row, *host, headline).c_str(), stdout);
  else
    std::fputs(fmt::format(fmt::runtime(row), "sim:host", "not calibrated: run", "drawbridge devices", "--calibrate",
                           "", "", "", "", "", "-").c_str(), stdout);
  for (const auto& p : profiles) std::fputs(profile_row(row, p, headline).c_str(), stdout);
  std::fputs("\nconf: the weakest confidence among the row's numbers. `drawbridge devices show <id>` gives every\n"
             "field with its source. Peaks are dense (no sparsity); unknown = not published.\n",
             stdout);
}

void print_profile(const std::string& id) {
  const std::string chip = id == "cpu" ? "host" : id.starts_with("sim:") ? id.substr(4) : id;
  const perf::DeviceProfile* p = perf::find_profile(chip);
  if (!p && chip == "host") {
    std::printf("%s: the host CPU, not calibrated: run drawbridge devices --calibrate (writes %s)\n", id.c_str(),
                perf::host_profile_path().c_str());
    return;
  }
  DB_CHECK(p, "[devices] unknown device '{}' (see drawbridge devices)", id);
  std::printf("sim:%s: %s %s\nprofile: %s\n\n", p->id.c_str(), p->vendor.c_str(), p->name.c_str(), p->origin.c_str());
  std::printf("%-36s %-28s %-7s %s\n", "field", "value", "conf", "source");
  for (const auto& spec : perf::profile_schema()) {
    const perf::Field* f = p->find(spec.path);
    if (!f) {
      // Block formats and measured curves exist in calibrated profiles only: not listed as unknown.
      const bool optional = spec.kind == perf::FieldKind::Points ||
                            std::any_of(perf::profile_block_formats().begin(), perf::profile_block_formats().end(),
                                        [&](const std::string& b) { return spec.path.ends_with("." + b); });
      if (!optional) std::printf("%-36s %-28s\n", spec.path.c_str(), kUnknown);
      continue;
    }
    const std::string unit = spec.unit.empty() || spec.unit == "fraction" ? "" : " " + spec.unit;
    std::printf("%-36s %-28s %-7s %s\n", spec.path.c_str(), (f->value_str() + unit).c_str(),
                std::string(perf::confidence_name(f->confidence)).c_str(), f->source.c_str());
    if (!f->note.empty()) std::printf("%-36s note: %s\n", "", f->note.c_str());
  }
}

}  // namespace

struct CalibrateArgs {
  bool calibrate = false;
  bool quick = false;
  int n_threads = 0;
};

void calibrate(const CalibrateArgs& a) {
  DB_CHECK(a.n_threads >= 0 && a.n_threads <= 1024, "[calibrate] --threads {} must be in 0..1024", a.n_threads);
  const auto path = perf::host_profile_path();
  std::fprintf(stderr, "calibrating %s with Drawbridge's CPU kernels%s...\n", cpu_model_name().c_str(),
               a.quick ? " (quick)" : "");
  const auto t0 = std::chrono::steady_clock::now();
  CalibrationOptions o;
  o.n_threads = a.n_threads;
  o.quick = a.quick;
  o.progress = [](const std::string& line) { std::fprintf(stderr, "  %s\n", line.c_str()); };
  const std::string toml = calibrate_host(o);
  perf::parse_profile(toml, path.string());  // what we write must load back
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  DB_CHECK(!ec, "[calibrate] cannot create {}: {}", path.parent_path().string(), ec.message());
  const auto tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    out << toml;
    DB_CHECK(out.good(), "[calibrate] cannot write {}", tmp);
  }
  std::filesystem::rename(tmp, path, ec);
  DB_CHECK(!ec, "[calibrate] cannot write {}: {}", path.string(), ec.message());
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("wrote %s in %.1f s; sim:host now uses it (drawbridge devices show host)\n", path.c_str(), s);
}

void register_devices(CLI::App& app) {
  auto cal = std::make_shared<CalibrateArgs>();
  auto ops_matrix = std::make_shared<bool>(false);
  auto show_id = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("devices", "List real and virtual devices (sim:<id>) with their profiles");
  cmd->add_flag("--ops-matrix", *ops_matrix, "Print the op × device support matrix (docs/ops.md) as Markdown");
  cmd->add_flag("--calibrate", cal->calibrate,
                "Measure this machine through Drawbridge's CPU kernels and write the host profile to the cache directory");
  cmd->add_flag("--quick", cal->quick, "With --calibrate: small buffers and one repetition (seconds; for tests)");
  cmd->add_option("-t,--threads", cal->n_threads, "With --calibrate: threads (0: all cores)");
  CLI::App* show = cmd->add_subcommand("show", "Show every field of one device profile with its source");
  show->add_option("id", *show_id, "Device id: sim:<id> or <id>")->required();
  cmd->callback([=] {
    if (cal->calibrate)
      calibrate(*cal);
    else if (cal->quick)
      fail("[devices] --quick only applies to --calibrate");
    else if (show->parsed())
      print_profile(*show_id);
    else if (*ops_matrix)
      std::fputs(ops_matrix_markdown().c_str(), stdout);
    else
      print_table();
  });
}

}  // namespace db::cli
