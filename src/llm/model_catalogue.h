// Model profile texts built into the binary from data/models/*.toml (generated model_catalogue.cpp),
// so `--model <id>` works from any directory.
#pragma once
#include <cstddef>

namespace db {
struct EmbeddedModel {
  const char* file;  // "llama-2-70b.toml"
  const char* text;
};
extern const EmbeddedModel kEmbeddedModels[];
extern const size_t kEmbeddedModelCount;
}  // namespace db
