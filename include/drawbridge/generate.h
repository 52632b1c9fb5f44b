// The generation loop: tokenize, prefill, then sample token by token, streaming text.
#pragma once
#include <functional>
#include <string>
#include <string_view>

#include "drawbridge/sampler.h"
#include "drawbridge/session.h"
#include "drawbridge/tokenizer.h"

namespace db {

struct GenerateOptions {
  std::string prompt;
  int n_predict = 128;  // < 0: until end of generation or a full context
  SamplerOptions sampler;
  bool echo_prompt = true;  // stream the prompt's text first, as llama.cpp does
};

struct GenerateStats {
  int n_prompt = 0;
  int n_generated = 0;
  double prompt_seconds = 0;
  double generate_seconds = 0;
  bool context_full = false;  // stopped because the context was full
  std::vector<Token> tokens;  // prompt then generated ids
};

// Runs one generation in `session` (which is reset first). on_text receives text as it is produced.
GenerateStats generate(Session& session, const Tokenizer& tokenizer, const GenerateOptions& options,
                       const std::function<void(std::string_view)>& on_text);

}  // namespace db
