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

// The thread-count flag every command shares: when given it must be 1..1024 (an explicit 0 or
// 100000 is a mistake, not a request); when absent the command uses all cores.
inline CLI::Option* add_threads_option(CLI::App* cmd, const std::string& flags, int& n_threads,
                                       const std::string& help) {
  const CLI::Validator range(
      [](std::string& s) -> std::string {
        try {
          size_t used = 0;
          const long n = std::stol(s, &used);
          if (used == s.size() && n >= 1 && n <= 1024) return "";
        } catch (const std::exception&) {
        }
        return "thread count " + s + " must be in 1..1024 (leave the flag out to use all cores)";
      },
      "1..1024");
  return cmd->add_option(flags, n_threads, help)->check(range);
}

}  // namespace db::cli
