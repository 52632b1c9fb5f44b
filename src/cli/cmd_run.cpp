#include "cli/commands.h"
namespace db::cli {
void register_run(CLI::App& app) { app.add_subcommand("run", "Generate text from a GGUF model (in progress)"); }
}  // namespace db::cli
