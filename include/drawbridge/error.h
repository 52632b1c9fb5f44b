// The one error type of Drawbridge. Every failure a user can cause (bad file, bad flag, unsupported
// op or dtype on a device) is reported as a db::Error whose message starts with the subsystem or op
// in brackets, e.g. "[gguf] tensor 'output.weight': data offset 123 past end of file (size 100)".
#pragma once
#include <fmt/format.h>
#include <stdexcept>
#include <string>

namespace db {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Throws db::Error with a formatted message.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace db

// Checks a condition that depends on input; on failure throws db::Error with the formatted message.
#define DB_CHECK(cond, ...)          \
  do {                               \
    if (!(cond)) ::db::fail(__VA_ARGS__); \
  } while (0)
