// Each drawbridge subcommand lives in its own cmd_<name>.cpp and registers itself here.
#pragma once
#include <CLI/CLI.hpp>

namespace db::cli {

void register_run(CLI::App& app);
void register_info(CLI::App& app);
void register_synth(CLI::App& app);
void register_bench(CLI::App& app);
void register_quantize(CLI::App& app);
void register_devices(CLI::App& app);
void register_validate(CLI::App& app);
void register_plan(CLI::App& app);
void register_compare(CLI::App& app);

}  // namespace db::cli
