// Token sampling with llama.cpp's default chain: repetition penalty → top-k → top-p → min-p →
// temperature → random draw. Temperature ≤ 0 means greedy (argmax after penalties).
#pragma once
#include <cstdint>
#include <deque>
#include <random>
#include <vector>

#include "drawbridge/tokenizer.h"

namespace db {

struct SamplerOptions {
  float temperature = 0.8f;
  int top_k = 40;          // 0: off
  float top_p = 0.95f;     // 1: off
  float min_p = 0.05f;     // 0: off
  float repeat_penalty = 1.0f;  // 1: off
  int repeat_last_n = 64;
  uint64_t seed = 0xFFFFFFFF;  // llama.cpp's "random" default is replaced by a fixed seed here
  void validate() const;   // db::Error("[sampler] ...") for out-of-range values
};

class Sampler {
 public:
  explicit Sampler(const SamplerOptions& options);
  Token sample(const float* logits, int n_vocab);
  void accept(Token t);  // records a token for the repetition penalty

 private:
  struct Candidate {
    Token id;
    float logit;
  };
  void apply_penalty(std::vector<Candidate>& c) const;
  SamplerOptions opt_;
  std::mt19937 rng_;
  std::deque<Token> recent_;
  std::vector<Candidate> cand_;
};

}  // namespace db
