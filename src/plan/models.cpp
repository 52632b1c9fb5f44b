// Until data/models/<id>.toml lands (branch `models`), the llama-family shapes the planner's tests
// and the measured rows need, from the models' published config.json files.
#include "plan/models.h"

#include "drawbridge/error.h"

namespace db::plan {

namespace {

PlanModel llama(std::string id, int layers, int embd, int ff, int heads, int kv_heads, int vocab, float rope_base) {
  PlanModel m;
  m.id = std::move(id);
  ModelConfig& c = m.config;
  c.arch = Arch::Llama;
  c.n_layer = layers;
  c.n_embd = embd;
  c.n_ff = ff;
  c.n_head = heads;
  c.n_head_kv = kv_heads;
  c.head_dim = embd / heads;
  c.n_rot = c.head_dim;
  c.n_vocab = vocab;
  c.n_ctx_train = 131072;
  c.rope_freq_base = rope_base;
  return m;
}

const std::vector<PlanModel>& builtin() {
  static const std::vector<PlanModel> all = {
      // meta-llama/*/config.json (hidden_size, intermediate_size, num_*_heads, num_hidden_layers, vocab_size)
      llama("llama-7b", 32, 4096, 11008, 32, 32, 32000, 10000),
      llama("llama-13b", 40, 5120, 13824, 40, 40, 32000, 10000),
      llama("llama-2-70b", 80, 8192, 28672, 64, 8, 32000, 10000),
      llama("llama-3-8b", 32, 4096, 14336, 32, 8, 128256, 500000),
      llama("llama-3.1-8b", 32, 4096, 14336, 32, 8, 128256, 500000),
      llama("llama-3.3-70b", 80, 8192, 28672, 64, 8, 128256, 500000),
      llama("llama-3.1-405b", 126, 16384, 53248, 128, 8, 128256, 500000),
  };
  return all;
}

}  // namespace

PlanModel find_model(const std::string& id) {
  for (const PlanModel& m : builtin())
    if (m.id == id) return m;
  fail("[plan] unknown model '{}' (known: {})", id, fmt::join(model_ids(), ", "));
}

std::vector<std::string> model_ids() {
  std::vector<std::string> ids;
  for (const PlanModel& m : builtin()) ids.push_back(m.id);
  return ids;
}

}  // namespace db::plan
