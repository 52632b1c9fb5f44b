// Model profiles (data/models/<id>.toml, via load_model_profile) to what the planner costs. The
// builder makes Llama-style decoder layers; other blocks are costed as Llama layers with the same
// parameters and FLOPs (stand-ins, listed in PlanModel::notes):
//  * GELU MLPs (2 matrices of n_ff) as SwiGLU of width 2·n_ff/3 (3 matrices): same parameters and FLOPs;
//  * MoE: the attention layer from the graph, routed and shared experts costed per expert (planner);
//  * MLA: projections as an MQA layer of the same parameter count; the attention core costed on the
//    latent (kv_lora_rank + rope dims per token), see Planner::cost_graph.
#include "plan/models.h"

#include <cmath>

#include "drawbridge/error.h"

namespace db::plan {

namespace {

int even(double x) { return std::max(2, int(std::lround(x / 2)) * 2); }

}  // namespace

PlanModel plan_model(const std::string& id, const ModelConfig& src) {
  PlanModel m;
  m.id = id;
  ModelConfig& c = m.config;
  c = ModelConfig{};
  c.arch = Arch::Llama;
  c.n_layer = src.n_layer;
  c.n_embd = src.n_embd;
  c.n_head = src.n_head;
  c.n_head_kv = src.n_head_kv;
  c.head_dim = src.head_dim;
  c.n_rot = src.n_rot > 0 ? std::min(src.n_rot, src.head_dim) : src.head_dim;
  c.n_vocab = src.n_vocab;
  c.n_ctx_train = src.n_ctx_train;
  c.rope_freq_base = src.rope_freq_base;
  c.n_ff = src.ffn_type == FfnType::Gelu ? even(2.0 * src.n_ff / 3) : src.n_ff;
  if (src.ffn_type == FfnType::Gelu) m.notes.push_back("GELU MLP costed as SwiGLU of equal parameters and FLOPs");
  if (src.moe.enabled()) {
    m.n_expert = src.moe.n_expert;
    m.n_expert_used = src.moe.n_expert_used;
    m.expert_ff = src.moe.n_ff_expert;
    m.shared_ff = src.moe.n_ff_shared;
    m.n_dense_layers = src.moe.n_layer_dense_lead;
    if (c.n_ff <= 0) c.n_ff = m.expert_ff;
  }
  if (src.mla.enabled()) {
    const auto& a = src.mla;
    const double E = src.n_embd, H = src.n_head;
    const double q = a.q_lora_rank > 0 ? E * a.q_lora_rank + double(a.q_lora_rank) * H * (a.qk_nope_head_dim + a.qk_rope_head_dim)
                                       : E * H * (a.qk_nope_head_dim + a.qk_rope_head_dim);
    const double kv = E * (a.kv_lora_rank + a.qk_rope_head_dim) + double(a.kv_lora_rank) * H * (a.qk_nope_head_dim + a.v_head_dim);
    const double o = H * a.v_head_dim * E;
    // MQA stand-in (one KV head) with the same projection parameters: 2·E·D·(H + 1) = q + kv + o.
    c.n_head_kv = 1;
    // A multiple of 32 so that block-quantized stand-in weights (int4 as q4_0) tile any head split.
    c.head_dim = std::max(32, int(std::lround((q + kv + o) / (2 * E * (H + 1)) / 32)) * 32);
    c.n_rot = c.head_dim;
    m.mla_latent = a.kv_lora_rank;
    m.mla_rope = a.qk_rope_head_dim;
    m.kv_per_token = a.kv_lora_rank + a.qk_rope_head_dim;
    m.notes.push_back("MLA: projections as MQA of equal parameters; attention on the compressed latent (absorbed form)");
  }
  if (src.swa.enabled()) {
    m.window = src.swa.window;
    m.full_every = src.swa.full_every;
  }
  if (src.linear_attn.n_head_v > 0 || src.state_bytes_per_sequence() > 0)
    fail("[plan] {}: linear-attention (DeltaNet) layers are not modeled by the planner yet", id);
  if (src.sparse_attn.enabled()) m.notes.push_back("sparse attention indexer not modeled: attention over the full context");
  if (c.n_ff <= 0) fail("[plan] {}: no FFN width", id);
  return m;
}

PlanModel find_model(const std::string& id) {
  const ModelProfile p = load_model_profile_full(id);
  return plan_model(p.id.empty() ? id : p.id, p.config);
}

std::vector<std::string> model_ids() { return model_profile_ids(); }

}  // namespace db::plan
