// Runs the drawbridge binary (or a shell command) for the CLI tests and captures stdout, stderr
// and the raw wait status.
#pragma once
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace db {

struct Result {
  int status;       // as returned by pclose: 0 on success
  std::string out;  // stdout
  std::string err;  // stderr
};

inline Result sh(const std::string& cmd) {
  const auto err_path = std::filesystem::temp_directory_path() / ("db-cli-err-" + std::to_string(::getpid()));
  Result r;
  FILE* p = ::popen((cmd + " 2>" + err_path.string()).c_str(), "r");
  std::array<char, 4096> buf;
  for (size_t n; (n = std::fread(buf.data(), 1, buf.size(), p)) > 0;) r.out.append(buf.data(), n);
  r.status = ::pclose(p);
  std::ifstream e(err_path);
  r.err.assign(std::istreambuf_iterator<char>(e), std::istreambuf_iterator<char>());
  std::filesystem::remove(err_path);
  return r;
}

// `env` is prepended to the command line, e.g. "XDG_CACHE_HOME=/tmp/x".
inline Result cli(const std::string& args, const std::string& env = "") {
  return sh(env + " " + std::string(DRAWBRIDGE_CLI) + " " + args);
}

}  // namespace db
