// drawbridge devices: the real and virtual devices in one table; `show <id>` prints one profile
// with the source and confidence of every field; `--ops-matrix` prints docs/ops.md.
#include <cstdio>
#include <memory>
#include <thread>

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
  for (const auto& p : profiles)
    std::fputs(fmt::format(fmt::runtime(row), "sim:" + p.id, p.name, p.vendor, memory_cell(p),
                           number_or_unknown(p, "memory.bandwidth_gbps", ""),
                           number_or_unknown(p, "compute.peak_tflops.bf16", ""),
                           number_or_unknown(p, "compute.peak_tflops.f16", ""),
                           number_or_unknown(p, "compute.peak_tflops.int8", ""),
                           number_or_unknown(p, "power.tdp_w", " W"), perf::confidence_name(p.weakest(headline)))
                   .c_str(),
               stdout);
  std::fputs("\nconf: the weakest confidence among the row's numbers. `drawbridge devices show <id>` gives every\n"
             "field with its source. Peaks are dense (no sparsity); unknown = not published.\n",
             stdout);
}

void print_profile(const std::string& id) {
  if (id == "cpu") {
    std::puts("cpu: the host CPU (no profile yet: `drawbridge devices --calibrate` is not implemented)");
    return;
  }
  const std::string chip = id.starts_with("sim:") ? id.substr(4) : id;
  const perf::DeviceProfile* p = perf::find_profile(chip);
  DB_CHECK(p, "[devices] unknown device '{}' (see drawbridge devices)", id);
  std::printf("sim:%s: %s %s\nprofile: %s\n\n", p->id.c_str(), p->vendor.c_str(), p->name.c_str(), p->origin.c_str());
  std::printf("%-36s %-28s %-7s %s\n", "field", "value", "conf", "source");
  for (const auto& spec : perf::profile_schema()) {
    const perf::Field* f = p->find(spec.path);
    if (!f) {
      std::printf("%-36s %-28s\n", spec.path.c_str(), kUnknown);
      continue;
    }
    const std::string unit = spec.unit.empty() || spec.unit == "fraction" ? "" : " " + spec.unit;
    std::printf("%-36s %-28s %-7s %s\n", spec.path.c_str(), (f->value_str() + unit).c_str(),
                std::string(perf::confidence_name(f->confidence)).c_str(), f->source.c_str());
    if (!f->note.empty()) std::printf("%-36s note: %s\n", "", f->note.c_str());
  }
}

}  // namespace

void register_devices(CLI::App& app) {
  auto ops_matrix = std::make_shared<bool>(false);
  auto show_id = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("devices", "List real and virtual devices (sim:<id>) with their profiles");
  cmd->add_flag("--ops-matrix", *ops_matrix, "Print the op × device support matrix (docs/ops.md) as Markdown");
  CLI::App* show = cmd->add_subcommand("show", "Show every field of one device profile with its source");
  show->add_option("id", *show_id, "Device id: sim:<id> or <id>")->required();
  cmd->callback([=] {
    if (show->parsed())
      print_profile(*show_id);
    else if (*ops_matrix)
      std::fputs(ops_matrix_markdown().c_str(), stdout);
    else
      print_table();
  });
}

}  // namespace db::cli
