// drawbridge: the command-line front end. Thin: parse arguments, call the library, print.
// Every failure becomes one line on stderr and a non-zero exit, never a crash.
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "drawbridge/error.h"

int main(int argc, char** argv) {
  CLI::App app{"Drawbridge: one model, any AI accelerator", "drawbridge"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "drawbridge 0.1.0");
  db::cli::register_run(app);
  db::cli::register_info(app);
  db::cli::register_synth(app);
  db::cli::register_bench(app);
  db::cli::register_quantize(app);
  db::cli::register_devices(app);
  db::cli::register_plan(app);
  db::cli::register_compare(app);
  db::cli::register_validate(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::fprintf(stderr, "error: %s (see --help)\n", e.what());
    return e.get_exit_code();
  } catch (const db::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
