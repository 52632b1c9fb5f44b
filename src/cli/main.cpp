// drawbridge: the command-line front end. Thin: parse arguments, call the library, print.
// Every failure becomes one line on stderr and a non-zero exit, never a crash.
#include <cstdio>
#include <exception>
#include <string>

#include "cli/commands.h"
#include "drawbridge/error.h"

namespace {

// Messages quote names taken from files (keys, tensor names, tokens); a newline or other control
// byte among them must not break the one-line error, so those bytes print as \xNN.
std::string one_line(std::string_view message) {
  std::string out;
  for (const char c : message) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

void print_error(std::string_view message, std::string_view suffix = "") {
  std::fprintf(stderr, "error: %s%s\n", one_line(message).c_str(), std::string(suffix).c_str());
}

}  // namespace

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
    print_error(e.what(), " (see --help)");
    return e.get_exit_code();
  } catch (const db::Error& e) {
    print_error(e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    print_error("out of memory");
    return 1;
  } catch (const std::exception& e) {
    print_error(e.what());
    return 1;
  }
  return 0;
}
