// Helpers shared by the test binaries: where ../shared lives, temporary files, running the CLI.
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace db::test {

// ../shared beside the checkout (or $DRAWBRIDGE_SHARED); tests that need it skip when it is absent.
inline std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("DRAWBRIDGE_SHARED")) return env;
  return std::filesystem::path(DRAWBRIDGE_SOURCE_DIR) / ".." / "shared";
}

inline std::filesystem::path shared_file(const std::string& rel) { return shared_dir() / rel; }

// A fresh directory under the system temp dir, unique per test.
inline std::filesystem::path temp_dir() {
  auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  auto dir = std::filesystem::temp_directory_path() /
             (std::string("drawbridge-") + info->test_suite_name() + "-" + info->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace db::test

// Skips the current test with a clear message when a file from ../shared is missing.
#define REQUIRE_SHARED(path)                                                              \
  do {                                                                                    \
    if (!std::filesystem::exists(path))                                                   \
      GTEST_SKIP() << "needs " << (path) << " (../shared is absent on this checkout)";    \
  } while (0)
