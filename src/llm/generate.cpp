#include "drawbridge/generate.h"

#include <chrono>

#include "drawbridge/error.h"

namespace db {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

GenerateStats generate(Session& session, const Tokenizer& tok, const GenerateOptions& opt,
                       const std::function<void(std::string_view)>& on_text) {
  GenerateStats st;
  session.reset();
  Sampler sampler(opt.sampler);
  const std::vector<Token> prompt = tok.encode(opt.prompt, /*add_special=*/true);
  DB_CHECK(!prompt.empty(), "[generate] the prompt is empty and the vocabulary adds no BOS token");
  DB_CHECK(int(prompt.size()) <= session.n_ctx(),
           "[generate] the prompt has {} tokens but the context holds only {} (raise -c)", prompt.size(),
           session.n_ctx());
  st.n_prompt = int(prompt.size());
  st.tokens = prompt;
  if (opt.echo_prompt)
    for (Token t : prompt) on_text(tok.token_to_piece(t));
  for (Token t : prompt) sampler.accept(t);

  auto t0 = std::chrono::steady_clock::now();
  const float* logits = session.eval(prompt);
  st.prompt_seconds = seconds_since(t0);

  t0 = std::chrono::steady_clock::now();
  const int n_vocab = session.model().config().n_vocab;
  while (opt.n_predict < 0 || st.n_generated < opt.n_predict) {
    const Token next = sampler.sample(logits, n_vocab);
    if (tok.is_eog(next)) break;
    sampler.accept(next);
    st.tokens.push_back(next);
    ++st.n_generated;
    on_text(tok.token_to_piece(next));
    if (opt.n_predict >= 0 && st.n_generated == opt.n_predict) break;
    if (session.n_past() >= session.n_ctx()) {
      st.context_full = true;
      break;
    }
    logits = session.eval(std::span<const Token>(&next, 1));
  }
  st.generate_seconds = seconds_since(t0);
  return st;
}

}  // namespace db
