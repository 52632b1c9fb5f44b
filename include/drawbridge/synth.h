// Synthetic models: a valid GGUF of a known architecture with random weights and a working
// tokenizer, for tests and benchmarks that need a model of a given shape but not a trained one.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "drawbridge/dtype.h"
#include "drawbridge/model.h"
#include "drawbridge/tokenizer.h"

namespace db {

struct SynthOptions {
  Arch arch = Arch::Llama;
  int n_layer = 0;
  int n_embd = 0;
  int n_ff = 0;
  int n_head = 0;
  int n_head_kv = 0;
  int n_vocab = 0;                  // 0: the size of `vocab` (required when there is no vocab)
  int n_ctx = 2048;
  std::optional<float> rope_base;   // default: 10000 (llama), 1000000 (qwen2)
  DType weight_type = DType::F16;   // for every 2-D matrix; norms and biases stay f32
  uint64_t seed = 42;
  std::string name;                 // general.name; default "synth-<arch>"
  std::optional<Vocab> vocab;       // default: synth_vocab(n_vocab)
  int n_threads = 0;                // 0: all cores; the output never depends on it
};

// The smallest vocabulary synth_vocab can build: 3 control tokens and 256 byte tokens.
constexpr int kMinSynthVocab = 259;

// The model config the options describe; db::Error("[synth] ...") for invalid options.
ModelConfig synth_config(const SynthOptions& options);

// Writes the model to `path`: matrices ~ N(0, 0.02) in options.weight_type, norm weights 1,
// biases ~ N(0, 0.02) in f32. Tensors are generated one at a time while the file is written, and
// each row's values depend only on (seed, tensor name, row), so the bytes are reproducible.
void synth_model(const SynthOptions& options, const std::string& path);

}  // namespace db
