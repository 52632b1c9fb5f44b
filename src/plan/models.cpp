// Model profiles (data/models/<id>.toml, via load_model_profile) to what the planner costs: the
// real architecture, and a two-layer config whose layers are of the model's kinds of token mixing
// and FFN, so that one build_forward graph per shape covers every layer (Planner::pair_cost).
#include "plan/models.h"

#include "drawbridge/error.h"

namespace db::plan {

namespace {

struct Kinds {
  bool linear = false, windowed = false, full = false, dense = false, moe = false;
};

Kinds kinds_of(const ModelConfig& c) {
  Kinds k;
  for (int il = 0; il < c.n_layer; ++il) {
    if (!c.layer_has_attention(il)) k.linear = true;
    else if (c.layer_window(il) > 0) k.windowed = true;
    else k.full = true;
    (c.layer_is_moe(il) ? k.moe : k.dense) = true;
  }
  return k;
}

}  // namespace

PlanModel plan_model(const std::string& id, const ModelConfig& src) {
  src.validate();
  PlanModel m;
  m.id = id;
  m.config = src;
  const Kinds k = kinds_of(src);
  if (k.linear && k.windowed)
    fail("[plan] {}: DeltaNet layers together with sliding-window layers are not modeled by the planner", id);
  // Layer 0 of the pair: DeltaNet, windowed attention or (like layer 1) full attention; a dense FFN
  // when the model has both kinds. Layer 1: full attention (windowed if every layer is), MoE if any.
  ModelConfig& p = m.pair;
  p = src;
  p.n_layer = 2;
  if (k.linear) p.linear_attn.full_attn_interval = 2;
  if (k.windowed) p.swa.full_every = k.full ? 2 : 0;
  if (k.moe) {
    p.moe.n_layer_dense_lead = k.dense ? 1 : 0;
    p.moe.layer_step = 1;
  }
  p.validate();
  for (int il = 0; il < src.n_layer; ++il) {
    const bool mixing_like_l0 = !src.layer_has_attention(il) || (src.layer_window(il) > 0 && k.full);
    ++m.mixing_layers[mixing_like_l0 ? 0 : 1];
    ++m.ffn_layers[src.layer_is_moe(il) == p.layer_is_moe(1) ? 1 : 0];
  }
  const auto meta = Model::meta(src, DType::F32);
  m.n_params = double(meta->n_params());
  m.n_params_active = double(meta->n_params_active());
  if (src.sparse_attn.enabled()) m.notes.push_back("sparse-attention indexer heads replicated on every TP rank");
  if (src.moe.enabled()) m.notes.push_back("balanced expert routing (uniform top-k)");
  return m;
}

PlanModel find_model(const std::string& id) {
  const ModelProfile p = load_model_profile_full(id);
  return plan_model(p.id.empty() ? id : p.id, p.config);
}

std::vector<std::string> model_ids() { return model_profile_ids(); }

}  // namespace db::plan
