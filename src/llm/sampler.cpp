#include "drawbridge/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "drawbridge/error.h"

namespace db {

void SamplerOptions::validate() const {
  DB_CHECK(std::isfinite(temperature), "[sampler] temperature {} is not a number", temperature);
  DB_CHECK(top_k >= 0, "[sampler] top-k {} must be ≥ 0", top_k);
  DB_CHECK(top_p > 0.0f && top_p <= 1.0f, "[sampler] top-p {} must be in (0, 1]", top_p);
  DB_CHECK(min_p >= 0.0f && min_p <= 1.0f, "[sampler] min-p {} must be in [0, 1]", min_p);
  DB_CHECK(repeat_penalty > 0.0f && std::isfinite(repeat_penalty), "[sampler] repeat penalty {} must be > 0",
           repeat_penalty);
  DB_CHECK(repeat_last_n >= 0, "[sampler] repeat-last-n {} must be ≥ 0", repeat_last_n);
}

Sampler::Sampler(const SamplerOptions& o) : opt_(o), rng_(uint32_t(o.seed)) { o.validate(); }

void Sampler::accept(Token t) {
  if (opt_.repeat_last_n == 0) return;
  recent_.push_back(t);
  while (int(recent_.size()) > opt_.repeat_last_n) recent_.pop_front();
}

// Penalizes every token seen in the last n: positive logits are divided, negative multiplied.
void Sampler::apply_penalty(std::vector<Candidate>& c) const {
  if (opt_.repeat_penalty == 1.0f || recent_.empty()) return;
  const std::unordered_set<Token> seen(recent_.begin(), recent_.end());
  for (Candidate& x : c)
    if (seen.count(x.id)) x.logit = x.logit > 0 ? x.logit / opt_.repeat_penalty : x.logit * opt_.repeat_penalty;
}

Token Sampler::sample(const float* logits, int n_vocab) {
  cand_.resize(size_t(n_vocab));
  for (int i = 0; i < n_vocab; ++i) cand_[size_t(i)] = {i, logits[i]};
  apply_penalty(cand_);
  auto by_logit = [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };
  if (opt_.temperature <= 0.0f) return std::min_element(cand_.begin(), cand_.end(), by_logit)->id;

  // top-k, then sort what is left by logit, highest first.
  size_t keep = opt_.top_k > 0 ? std::min(cand_.size(), size_t(opt_.top_k)) : cand_.size();
  std::partial_sort(cand_.begin(), cand_.begin() + long(keep), cand_.end(), by_logit);
  cand_.resize(keep);
  // Probabilities at temperature 1 for top-p and min-p (as llama.cpp's chain computes them).
  std::vector<double> p(cand_.size());
  double sum = 0;
  for (size_t i = 0; i < cand_.size(); ++i) sum += (p[i] = std::exp(double(cand_[i].logit - cand_[0].logit)));
  size_t n = cand_.size();
  if (opt_.top_p < 1.0f) {
    double cum = 0;
    for (size_t i = 0; i < cand_.size(); ++i) {
      cum += p[i] / sum;
      if (cum >= opt_.top_p) {
        n = i + 1;
        break;
      }
    }
  }
  if (opt_.min_p > 0.0f) {
    size_t m = 1;
    while (m < n && p[m] >= opt_.min_p * p[0]) ++m;
    n = m;
  }
  cand_.resize(n);
  // Temperature, then a draw from the renormalized distribution.
  std::vector<double> w(n);
  for (size_t i = 0; i < n; ++i) w[i] = std::exp(double(cand_[i].logit - cand_[0].logit) / opt_.temperature);
  std::discrete_distribution<size_t> dist(w.begin(), w.end());
  return cand_[dist(rng_)].id;
}

}  // namespace db
