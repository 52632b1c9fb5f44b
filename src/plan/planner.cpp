#include "plan/planner.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "drawbridge/builder.h"
#include "drawbridge/error.h"

namespace db::plan {

namespace {

// Token counts above this are costed as whole chunks of it: every op is then far into its
// compute-bound regime, so time is linear in tokens (and engines prefill in chunks of this order).
constexpr int64_t kChunk = 8192;
// Share of device memory an engine lets itself use (vLLM's default gpu_memory_utilization = 0.9;
// SGLang's mem_fraction_static is of the same order).
constexpr double kMemoryFraction = 0.9;
constexpr double kActivationBytes = 2;  // bf16 activations on the wire

DType graph_dtype(const std::string& d) {
  if (d == "f32") return DType::F32;
  if (d == "f16") return DType::F16;
  if (d == "bf16") return DType::BF16;
  if (d == "fp8" || d == "int8") return DType::I8;  // same size; the format is passed to the cost model
  if (d == "q8_0") return DType::Q8_0;
  if (d == "int4" || d == "q4_0") return DType::Q4_0;
  fail("[plan] unknown dtype '{}' (f32 f16 bf16 fp8 int8 int4 q8_0 q4_0)", d);
}

std::string compute_format(const Precision& p) {
  if (!p.compute.empty()) return p.compute;
  if (p.weight == "fp8") return "fp8";
  if (p.weight == "int8" || p.weight == "int4") return "int8";
  return "";
}

// Learned position tables end at n_ctx_train: a longer context is not a model that exists.
void check_positions(const PlanModel& m, const Workload& w) {
  const ModelConfig& c = m.config;
  if (c.pos_embd == PosEmbd::Learned)
    DB_CHECK(int64_t(w.input_len) + w.output_len <= c.n_ctx_train,
             "[plan] {}: {} + {} tokens exceed the {} positions it was trained with", m.id, w.input_len, w.output_len,
             c.n_ctx_train);
}

}  // namespace

double bytes_per_element(const std::string& d) {
  const DType t = graph_dtype(d);
  const auto& info = dtype_info(t);
  return double(info.block_bytes) / double(info.block_size);
}

std::string Layout::str() const {
  std::string s = fmt::format("TP{} PP{}", tp, pp);
  if (ep > 1) s += fmt::format(" EP{}", ep);
  s += fmt::format(" DP{}", dp);
  if (attention_dp) s += " (attention DP)";
  return s;
}

Planner::Planner(const perf::DeviceProfile& profile, std::string framework)
    : cost_(profile), comm_(profile), framework_(&perf::calibration().framework(framework)) {}

namespace {

int div_up(int64_t x, int64_t d) { return int(std::max<int64_t>(1, (x + d - 1) / d)); }

// Block-quantized stand-ins (int4 as q4_0) need rows in whole 32-element blocks: a shard width
// that is not is rounded up (engines pad the same way).
int width(int64_t w, bool blocks) { return blocks ? div_up(w, 32) * 32 : div_up(w, 1); }

// The pair config as one device of a TP group holds it: attention, DeltaNet and indexer-free
// projections split by heads, dense FFN and (ep = 1) every expert split by width, the vocabulary
// split. With ep > 1 each rank holds n_expert/ep whole experts; its tokens are sized in pair_cost.
ModelConfig shard(const ModelConfig& c, int tp, int ep, bool blocks) {
  ModelConfig s = c;
  s.n_head = std::max(1, c.n_head / tp);
  s.n_head_kv = std::max(1, c.n_head_kv / tp);
  s.n_ff = width(int64_t(c.n_ff) / tp, blocks);
  s.n_vocab = div_up(c.n_vocab, tp);
  if (c.linear_attn.enabled()) {
    LinearAttnConfig& a = s.linear_attn;
    a.n_head_k = std::max(1, c.linear_attn.n_head_k / tp);
    a.n_head_v = std::max(a.n_head_k, c.linear_attn.n_head_v / tp / a.n_head_k * a.n_head_k);
  }
  if (c.moe.enabled()) {
    MoeConfig& m = s.moe;
    if (ep > 1) {
      m.n_expert = c.moe.n_expert / ep;
      m.n_expert_used = std::min(c.moe.n_expert_used, m.n_expert);
      m.n_expert_shared = std::min(c.moe.n_expert_shared, m.n_expert);
      m.n_ff_expert = width(c.moe.n_ff_expert, blocks);
      // Shared experts split over the tp/ep ranks that serve the same tokens (whole when ep = tp).
      if (c.moe.n_ff_shared > 0) m.n_ff_shared = width(int64_t(c.moe.n_ff_shared) * ep / tp, blocks);
    } else {
      m.n_ff_expert = width(int64_t(c.moe.n_ff_expert) / tp, blocks);
      if (c.moe.n_ff_shared > 0) m.n_ff_shared = width(int64_t(c.moe.n_ff_shared) / tp, blocks);
    }
  }
  return s;
}

enum class Part { Head, Mixing, Ffn };
struct Where {
  Part part = Part::Head;
  int layer = 0;
};

// Which layer of the pair a node belongs to ("l0.", "l1.") and whether it is FFN or token mixing.
Where where(const std::string& name) {
  if (name.size() < 3 || name[0] != 'l' || (name[1] != '0' && name[1] != '1') || name[2] != '.') return {};
  const std::string_view rest = std::string_view(name).substr(3);
  static constexpr std::string_view ffn[] = {"ffn_", "router", "experts", "expert_w", "moe_", "exp_", "shexp_"};
  const bool is_ffn = std::any_of(std::begin(ffn), std::end(ffn), [&](std::string_view f) { return rest.starts_with(f); });
  return {is_ffn ? Part::Ffn : Part::Mixing, name[1] - '0'};
}

// Ops whose work belongs to one sequence (its cache or recurrent state): attention, cache writes,
// DeltaNet and convolution states, and everything computed from cached rows (MLA's expanded keys,
// the sparse indexer's scores and top-k). The rest is token-level.
std::vector<bool> per_sequence(const Graph& g) {
  std::vector<bool> from_cache(g.nodes().size()), seq(g.nodes().size());
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    const Node& n = g.nodes()[i];
    bool src_cached = false;
    for (int s : n.src)
      if (s >= 0 && from_cache[size_t(s)]) src_cached = true;
    const bool state_op = n.op == Op::Attention || n.op == Op::DeltaNet || n.op == Op::ShortConv;
    from_cache[i] = n.op == Op::KvStore || n.op == Op::Convert || (src_cached && !state_op && n.op != Op::TopK);
    seq[i] = from_cache[i] || state_op || (n.op == Op::TopK && src_cached);
  }
  return seq;
}

// The node behind a chain of views.
int through_views(const Graph& g, int id) {
  while (id >= 0 && g.node(id).op == Op::View) id = g.node(id).src[0];
  return id;
}

// Per-sequence score chains that engines run as one kernel (the sparse indexer's q·k → relu →
// weighted sum over heads, DeepGEMM's fp8_mqa_logits): a MatMul or Relu whose only consumer is a
// Relu or WeightedSum hands its output over on chip. Marks those producers.
std::vector<bool> fused_producers(const Graph& g, const std::vector<bool>& seq) {
  const size_t n = g.nodes().size();
  std::vector<int> uses(n), consumer(n, -1);
  for (size_t i = 0; i < n; ++i) {
    if (g.nodes()[i].op == Op::View) continue;
    for (int s : g.nodes()[i].src) {
      const int p = through_views(g, s);
      if (p < 0) continue;
      ++uses[size_t(p)];
      consumer[size_t(p)] = int(i);
    }
  }
  std::vector<bool> fused(n);
  for (size_t i = 0; i < n; ++i) {
    const Op op = g.nodes()[i].op;
    if (!seq[i] || (op != Op::MatMul && op != Op::Relu) || uses[i] != 1) continue;
    const Op next = g.node(consumer[i]).op;
    fused[i] = next == Op::Relu || next == Op::WeightedSum;
  }
  return fused;
}

bool has_node(const Graph& g, std::string_view suffix) {
  return std::any_of(g.nodes().begin(), g.nodes().end(), [&](const Node& n) { return n.out.name.ends_with(suffix); });
}

}  // namespace

const Planner::PairCost& Planner::pair_cost(const PlanModel& m, const Precision& p, int tp, int ep, int64_t tokens,
                                            int seqs, int new_per_seq, int past) {
  const std::string fmt_compute = compute_format(p);
  const Key key{m.id, tp, ep, seqs, new_per_seq, past, tokens, p.weight, p.kv, fmt_compute};
  if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  const DType wdt = graph_dtype(p.weight), kvdt = graph_dtype(p.kv);
  const ModelConfig s = shard(m.pair, tp, ep, dtype_info(wdt).block_size > 1);
  const auto model = Model::meta(s, wdt);
  PairCost pc;
  auto note_unknown = [&](const perf::OpEstimate& e) {
    if (!e.unknown.empty() && std::find(unknowns_.begin(), unknowns_.end(), e.unknown) == unknowns_.end())
      unknowns_.push_back(e.unknown);
  };
  // Per-sequence graph: one sequence of new_per_seq tokens after `past`; its per-sequence ops run
  // for `seqs` sequences in one batched kernel each (the work scales, the launch cost does not).
  ForwardOptions opts;
  if (seqs > 0 && new_per_seq > 0) {
    const KvCache cache(s, past + new_per_seq, kvdt, false);
    const ForwardGraph fg = build_forward(*model, cache, new_per_seq, past, false);
    const std::vector<bool> seq = per_sequence(fg.graph);
    const std::vector<bool> fused = fused_producers(fg.graph, seq);
    for (size_t i = 0; i < fg.graph.nodes().size(); ++i) {
      const Node& n = fg.graph.nodes()[i];
      const Where w = where(n.out.name);
      if (!seq[i] || w.part != Part::Mixing) continue;
      perf::OpEstimate e = cost_.estimate(fg.graph, n, fmt_compute);
      note_unknown(e);
      // A fused chain neither writes nor re-reads its intermediate, and launches once.
      const int src = through_views(fg.graph, n.src[0]);
      const bool fed = src >= 0 && fused[size_t(src)];
      if (fused[i] || fed) {
        const double rate = e.bytes > 0 ? e.memory_s / e.bytes : 0;
        if (fused[i]) e.bytes -= double(n.out.nbytes());
        if (fed) {
          e.bytes -= double(fg.graph.node(src).out.nbytes());
          e.overhead_s = 0;
        }
        e.memory_s = std::max(0.0, e.bytes) * rate;
        e.seconds = std::max(e.compute_s, e.memory_s) + e.overhead_s;
      }
      pc.mixing_sequences[size_t(w.layer)] += (e.seconds - e.overhead_s) * seqs + e.overhead_s;
    }
    // The token-level graph takes the same MLA form (absorbed for decode, expanded for prefill).
    if (s.mla.enabled()) opts.mla = has_node(fg.graph, ".attn_lat") ? ForwardOptions::Mla::Absorbed : ForwardOptions::Mla::Expanded;
  }
  // Token-level graph: the batch's tokens (≤ one chunk; more are whole chunks) as one sequence.
  // With ep > 1 an expert rank sees tokens·k/ep routed pairs: tokens·k/(ep·slots) tokens here.
  int64_t chunk = kChunk;
  if (s.pos_embd == PosEmbd::Learned) chunk = std::min<int64_t>(chunk, s.n_ctx_train);
  int64_t graph_tokens = tokens;
  if (ep > 1 && m.moe())
    graph_tokens = std::max<int64_t>(1, (tokens * m.config.moe.n_expert_used + int64_t(ep) * s.moe.n_expert_used - 1) /
                                            (int64_t(ep) * s.moe.n_expert_used));
  const int64_t dense_tokens = std::min(std::max<int64_t>(graph_tokens, 1), chunk);
  const double scale = double(std::max<int64_t>(graph_tokens, 1)) / double(dense_tokens);
  {
    const KvCache cache(s, int(dense_tokens), kvdt, false);
    const ForwardGraph fg = build_forward(*model, cache, int(dense_tokens), 0, false, opts);
    const std::vector<bool> seq = per_sequence(fg.graph);
    for (size_t i = 0; i < fg.graph.nodes().size(); ++i) {
      const Node& n = fg.graph.nodes()[i];
      if (n.op == Op::Leaf || n.op == Op::View || seq[i]) continue;
      const perf::OpEstimate e = cost_.estimate(fg.graph, n, fmt_compute);
      note_unknown(e);
      const Where w = where(n.out.name);
      const double t = e.seconds * scale;
      if (w.part == Part::Head) pc.head += t;
      else if (w.part == Part::Ffn) pc.ffn[size_t(w.layer)] += t;
      else pc.mixing_tokens[size_t(w.layer)] += t;
    }
  }
  return cache_[key] = pc;
}

LayerCost Planner::layer(const PlanModel& m, const Precision& p, int tp, int64_t tokens, int seqs, int new_per_seq,
                         int past) {
  const PairCost& pc = pair_cost(m, p, tp, 1, tokens, seqs, new_per_seq, past);
  LayerCost lc;
  for (size_t k = 0; k < 2; ++k) {
    lc.dense += m.mixing_layers[k] * pc.mixing_tokens[k] + m.ffn_layers[k] * pc.ffn[k];
    lc.attention += m.mixing_layers[k] * pc.mixing_sequences[k];
  }
  lc.dense /= m.config.n_layer;
  lc.attention /= m.config.n_layer;
  return lc;
}

double Planner::head(const PlanModel& m, const Precision& p, int tp, int64_t tokens) {
  return pair_cost(m, p, tp, 1, tokens, 0, 0, 0).head;
}

double Planner::forward(const PlanModel& m, const Precision& p, const Layout& l, int seqs, int new_per_seq, int past) {
  const ModelConfig& c = m.config;
  const int mb = (seqs + l.pp - 1) / l.pp;  // micro-batch per pipeline stage
  const int attn_groups = l.attention_dp ? std::max(1, l.dp) : 1;
  const int tp_attn = std::max(1, l.tp / attn_groups);
  const int seqs_attn = (mb + attn_groups - 1) / attn_groups;
  const int64_t tokens = int64_t(mb) * new_per_seq;
  const int64_t tokens_attn = int64_t(seqs_attn) * new_per_seq;
  const int ep = m.moe() ? std::max(1, l.ep) : 1;

  const PairCost& mixing = pair_cost(m, p, tp_attn, 1, tokens_attn, seqs_attn, new_per_seq, past);
  const PairCost& ffn = pair_cost(m, p, l.tp, 1, tokens, 0, 0, 0);
  const PairCost& experts = ep > 1 ? pair_cost(m, p, l.tp, ep, tokens, 0, 0, 0) : ffn;
  const double act = double(c.n_embd) * kActivationBytes;
  const double ar_attn = comm_.seconds(perf::Collective::AllReduce, double(tokens_attn) * act, {tp_attn, 1});
  const double ar_ffn = comm_.seconds(perf::Collective::AllReduce, double(tokens) * act, {l.tp, 1});
  // Dispatch and combine: each token's hidden state to and from its experts.
  const double a2a = ep > 1 ? 2 * comm_.seconds(perf::Collective::AllToAll,
                                                double(tokens) / ep * c.moe.n_expert_used * act, {ep, 1})
                            : 0;
  double layers_s = 0;
  for (size_t k = 0; k < 2; ++k) {
    layers_s += m.mixing_layers[k] * (mixing.mixing_tokens[k] + mixing.mixing_sequences[k] + ar_attn);
    const bool moe_kind = m.pair.layer_is_moe(int(k));
    // GPT-J's parallel block sums attention and MLP before one all-reduce.
    const double reduce = moe_kind && ep > 1 ? a2a : c.parallel_block ? 0 : ar_ffn;
    layers_s += m.ffn_layers[k] * ((moe_kind ? experts.ffn[k] : ffn.ffn[k]) + reduce);
  }
  const double stage = layers_s / l.pp + head(m, p, l.tp, mb);
  const double send = l.pp > 1 ? comm_.seconds(perf::Collective::SendRecv, double(tokens) * act, {2, l.tp}) : 0;
  return l.pp * (stage + send);
}

std::array<double, 4> Planner::layer_weight_bytes(const PlanModel& m, const Precision& p, int tp_attn, int tp, int ep) {
  const auto key = std::make_tuple(m.id, tp_attn, tp, ep, p.weight);
  if (auto it = weight_cache_.find(key); it != weight_cache_.end()) return it->second;
  const DType wdt = graph_dtype(p.weight);
  const bool blocks = dtype_info(wdt).block_size > 1;
  auto bytes = [&](const TensorSpec& t) {
    const double rows = double(t.ne[1]) * double(t.ne[2]) * double(t.ne[3]);
    return t.is_matrix ? double(row_bytes(wdt, t.ne[0])) * rows : 4.0 * double(t.ne[0]) * rows;
  };
  // [mixing l0, mixing l1, ffn l0, ffn l1] on one device.
  std::array<double, 4> out{};
  for (const TensorSpec& t : tensor_specs(shard(m.pair, tp_attn, 1, blocks)))
    for (int l = 0; l < 2; ++l)
      if (t.name.starts_with(fmt::format("blk.{}.", l)) && !t.name.starts_with(fmt::format("blk.{}.ffn_", l)))
        out[size_t(l)] += bytes(t);
  for (const TensorSpec& t : tensor_specs(shard(m.pair, tp, m.moe() ? ep : 1, blocks)))
    for (int l = 0; l < 2; ++l)
      if (t.name.starts_with(fmt::format("blk.{}.ffn_", l))) out[2 + size_t(l)] += bytes(t);
  return weight_cache_[key] = out;
}

Memory Planner::memory(const PlanModel& m, const Precision& p, const Layout& l, int context, int seqs) {
  const ModelConfig& c = m.config;
  const double E = c.n_embd;
  const int attn_groups = l.attention_dp ? std::max(1, l.dp) : 1;
  const int tp_attn = std::max(1, l.tp / attn_groups);
  const int ep = m.moe() ? std::max(1, l.ep) : 1;
  const std::array<double, 4> w = layer_weight_bytes(m, p, tp_attn, l.tp, ep);
  double per_layer = 0;
  for (size_t k = 0; k < 2; ++k) per_layer += m.mixing_layers[k] * w[k] + m.ffn_layers[k] * w[2 + k];
  per_layer /= c.n_layer;
  const double layers_per_stage = std::ceil(double(c.n_layer) / l.pp);
  // Embedding and classifier (split over TP): both on one stage, or one at each end of a pipeline.
  const double table = E * std::ceil(double(c.n_vocab) / l.tp) * bytes_per_element(p.weight);
  const double embed = (l.pp == 1 && !c.tied_output ? 2 : 1) * table +
                       (c.pos_embd == PosEmbd::Learned ? E * c.n_ctx_train * bytes_per_element(p.weight) : 0);
  Memory mem;
  mem.weights = layers_per_stage * per_layer + embed;
  // Cache per sequence: keys/values (MLA: the latent, replicated on TP ranks; sparse attention: the
  // indexer keys) per token, DeltaNet states per sequence, for the stage's share of the layers.
  const ModelConfig sharded = shard(c, tp_attn, 1, false);
  const double stage_share = layers_per_stage / c.n_layer;
  const double kv_per_seq = stage_share * (double(sharded.kv_bytes_per_token(graph_dtype(p.kv))) * context +
                                           double(sharded.state_bytes_per_sequence()));
  const int seqs_per_device = (seqs + attn_groups - 1) / attn_groups;
  mem.kv_cache = kv_per_seq * seqs_per_device;
  // Activations: one layer's intermediate tensors (f32 in the graph) for a full prefill chunk,
  // which engines reserve up front whatever the batch.
  const double chunk = double(kChunk);
  const double ff = std::max(double(c.n_ff), double(c.moe.n_ff_expert) * std::max(1, c.moe.n_expert_used));
  mem.activations = chunk * (4 * E + 2 * ff / l.tp) * 4;
  mem.capacity = double(profile().memory_bytes()) * kMemoryFraction;
  const double free = mem.capacity - mem.weights - mem.activations;
  mem.max_sequences = free > 0 ? int(std::min(1e9, std::floor(free / kv_per_seq))) * attn_groups : 0;
  mem.fits = mem.capacity > 0 && mem.weights + mem.kv_cache + mem.activations <= mem.capacity;
  return mem;
}

Estimate Planner::estimate(const Request& r, const Layout& l, int batch_limit) {
  const PlanModel& m = r.model;
  const ModelConfig& c = m.config;
  const Workload& w = r.work;
  DB_CHECK(w.input_len >= 1 && w.output_len >= 1, "[plan] --input-len and --output-len must be at least 1");
  DB_CHECK(l.tp >= 1 && l.pp >= 1 && l.dp >= 1 && l.ep >= 1, "[plan] parallel degrees must be at least 1");
  DB_CHECK(c.n_head % l.tp == 0, "[plan] TP{} does not divide the {} attention heads of {}", l.tp, c.n_head, m.id);
  DB_CHECK(l.pp <= c.n_layer, "[plan] PP{} exceeds the {} layers of {}", l.pp, c.n_layer, m.id);
  const int per_replica = l.attention_dp ? l.tp * l.pp : l.tp * l.pp;
  const int replicas = l.attention_dp ? 1 : l.dp;
  const int decode_devices = r.disagg.decode_devices > 0 ? r.disagg.decode_devices : r.count;
  DB_CHECK(per_replica * replicas == decode_devices,
           "[plan] layout {} uses {} devices but {} are given", l.str(), per_replica * replicas, decode_devices);
  if (m.moe() && l.ep > 1)
    DB_CHECK(c.moe.n_expert % l.ep == 0, "[plan] EP{} does not divide the {} experts of {}", l.ep, c.moe.n_expert, m.id);
  check_positions(m, w);
  unknowns_.clear();

  Estimate e;
  e.layout = l;
  const double a = w.spec_accept > 1 ? w.spec_accept : 1;
  const int verify = a > 1 ? std::max(2, w.spec_draft_tokens) : 1;
  const int context = w.input_len + w.output_len;
  const int ctx_mid = w.input_len + w.output_len / 2;
  const double fw_decode = framework_->decode_step_ms.value * 1e-3;
  const double fw_prefill = framework_->prefill_ms.value * 1e-3;

  // Paged KV caches grow with each sequence: on average a running sequence holds the prompt and
  // half its output, which sets how many run together.
  const Memory probe = memory(m, r.precision, l, ctx_mid, 1);
  int cap = probe.max_sequences;
  int b = 0;
  if (w.batch > 0) b = (w.batch + replicas - 1) / replicas;
  else if (w.concurrency > 0) b = std::min((w.concurrency + replicas - 1) / replicas, std::max(cap, 1));
  else {
    b = std::max(1, cap);
    e.notes.push_back("batch not given: the largest batch the KV cache holds (upper-bound throughput)");
  }
  if (batch_limit > 0) b = std::min(b, batch_limit);
  b = std::max(1, b);
  e.batch = b;
  e.memory = memory(m, r.precision, l, w.batch > 0 ? context : ctx_mid, b);

  // One decode step of b sequences at the mean context; speculative: draft passes (one layer and
  // the LM head each, EAGLE/MTP style) then one target forward over `verify` tokens per sequence.
  auto decode_step = [&](int seqs) {
    double t = forward(m, r.precision, l, seqs, verify, ctx_mid);
    if (verify > 1) {
      const LayerCost one = layer(m, r.precision, l.tp, seqs, seqs, 1, ctx_mid);
      t += (verify - 1) * (one.dense + one.attention + head(m, r.precision, l.tp, seqs));
    }
    return t + fw_decode;
  };
  // Prefill: chunks of up to kChunk tokens; per-request time at full prefill throughput.
  const int prefill_seqs = int(std::max<int64_t>(1, kChunk / w.input_len));
  const double prefill_eff = framework_->prefill_efficiency.value > 0 ? framework_->prefill_efficiency.value : 1.0;
  const double prefill_batch_s = forward(m, r.precision, l, prefill_seqs, w.input_len, 0) / prefill_eff + fw_prefill;
  const double prefill_per_request = prefill_batch_s / prefill_seqs;
  const double step = decode_step(b);

  if (w.batch > 0) {  // static batch: prefill all, then decode all
    const double prefill = forward(m, r.precision, l, b, w.input_len, 0) / prefill_eff + fw_prefill;
    const double decode = std::ceil((w.output_len - 1) / a) * step;
    e.ttft_s = prefill;  // the first token comes out of the prefill pass
    e.tpot_s = step / a;
    e.output_tok_s = replicas * double(b) * w.output_len / (prefill + step + decode);
    e.prefill_tok_s_per_device = double(b) * w.input_len / prefill / per_replica;
    e.decode_tok_s_per_device = double(b) * a / step / per_replica;
  } else {
    const bool disagg = r.disagg.prefill_devices > 0;
    // Continuous batching: each step, b·a/O requests finish and as many new ones are prefilled
    // in the same step (unless prefill runs on its own devices).
    const double arrivals_per_step = double(b) * a / w.output_len;
    const double steady = step + (disagg ? 0 : arrivals_per_step * prefill_per_request);
    e.tpot_s = steady / a;
    double out = replicas * double(b) * a / steady;
    if (disagg) {
      const int prefill_replicas = std::max(1, r.disagg.prefill_devices / per_replica);
      const double prefill_rate = prefill_replicas / prefill_per_request;  // requests/s
      out = std::min(out, prefill_rate * w.output_len);
    }
    if (w.prompts > 0 && !disagg) {
      // A finite run: the first wave's prompts are prefilled back to back before decoding settles,
      // then prompts / batch rounds of decoding; throughput is tokens over that whole duration.
      const int prompts_per_replica = (w.prompts + replicas - 1) / replicas;
      const double burst = std::min(prompts_per_replica, b) * prefill_per_request;
      const double rounds = std::ceil(double(prompts_per_replica) / b);
      const double duration = burst + rounds * std::ceil((w.output_len - 1) / a) * steady;
      out = std::min(out, replicas * double(prompts_per_replica) * w.output_len / duration);
    }
    e.output_tok_s = out;
    // TTFT: the first wave of min(concurrency, prompts) requests arrives at once and is prefilled
    // back to back; later requests arrive as slots free and wait for one prefill plus half a step.
    // Requests beyond the KV-limited batch queue for a free slot.
    const int conc = w.concurrency > 0 ? (w.concurrency + replicas - 1) / replicas : b;
    const int prompts = std::max(conc, w.prompts > 0 ? (w.prompts + replicas - 1) / replicas : conc);
    const double request_s = double(w.output_len) / a * steady + prefill_per_request;
    const double first_wave = std::min(conc, b) * prefill_per_request * (std::min(conc, b) + 1) / 2.0;
    const double queued = std::max(0, conc - b) * (request_s + prefill_per_request);
    const double later = double(prompts - conc) * (prefill_per_request + steady / 2 + (conc > b ? request_s * (conc - b) / b : 0));
    e.ttft_s = (first_wave + queued + later) / prompts;
    e.prefill_tok_s_per_device = w.input_len / prefill_per_request / per_replica;
    e.decode_tok_s_per_device = double(b) * a / step / per_replica;
    if (!disagg && w.concurrency > 0 && w.concurrency / replicas > b)
      e.notes.push_back(fmt::format("KV cache holds {} sequences per replica: {} requests queue", b, w.concurrency / replicas - b));
  }
  e.output_tok_s_per_device = e.output_tok_s / r.count;
  e.total_tok_s = e.output_tok_s * double(w.input_len + w.output_len) / w.output_len;
  const auto tdp = profile().number("power.tdp_w");
  if (tdp && e.output_tok_s > 0) e.joules_per_mtok = r.count * *tdp / e.output_tok_s * 1e6;
  const auto price = profile().number("price.list_usd");
  if (price && e.output_tok_s > 0) {
    constexpr double kThreeYears = 3 * 365.25 * 24 * 3600;
    e.usd_per_mtok = r.count * *price / kThreeYears / e.output_tok_s * 1e6;
    e.notes.push_back("$ per million tokens: list price amortised over 3 years of 24/7 use (assumption)");
  }
  if (!e.memory.fits) e.notes.push_back("does not fit in device memory");
  e.unknowns = unknowns_;
  return e;
}

namespace {

std::vector<int> powers_of_two_dividing(int n, int limit) {
  std::vector<int> v;
  for (int x = 1; x <= std::min(n, limit); x *= 2)
    if (n % x == 0) v.push_back(x);
  return v;
}

}  // namespace

std::vector<Planner::Candidate> Planner::search(const Request& r, const std::function<void(double)>& progress) {
  const ModelConfig& c = r.model.config;
  check_positions(r.model, r.work);
  std::vector<Layout> layouts;
  for (int tp : powers_of_two_dividing(r.count, c.n_head))
    if (c.n_head % tp == 0)
      for (int pp : powers_of_two_dividing(r.count / tp, c.n_layer)) {
        const int dp = r.count / (tp * pp);
        std::vector<int> eps = {1};
        if (r.model.moe())
          for (int ep = 2; ep <= tp && c.moe.n_expert % ep == 0; ep *= 2) eps.push_back(ep);
        for (int ep : eps) layouts.push_back({tp, pp, ep, dp, false});
      }
  std::vector<Candidate> out;
  size_t done = 0;
  for (const Layout& l : layouts) {
    const Memory mem = memory(r.model, r.precision, l, r.work.input_len + r.work.output_len, 1);
    if (++done, progress) progress(double(done) / layouts.size());
    if (!mem.fits || mem.max_sequences < 1) continue;
    const int limit = r.work.concurrency > 0 ? std::max(1, r.work.concurrency / l.dp) : mem.max_sequences;
    for (int b = 1; b <= limit; b *= 2) {
      Request q = r;
      q.work.batch = 0;
      q.work.concurrency = b * l.dp;
      out.push_back({estimate(q, l, b), false});
      if (b * 2 > limit && b != limit) {
        q.work.concurrency = limit * l.dp;
        out.push_back({estimate(q, l, limit), false});
      }
    }
  }
  // Pareto: no other candidate has both more system throughput and a lower TPOT.
  std::vector<size_t> order(out.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    return out[x].e.tpot_s != out[y].e.tpot_s ? out[x].e.tpot_s < out[y].e.tpot_s : out[x].e.output_tok_s > out[y].e.output_tok_s;
  });
  double best = -1;
  for (size_t i : order)
    if (out[i].e.output_tok_s > best) {
      out[i].pareto = true;
      best = out[i].e.output_tok_s;
    }
  return out;
}

}  // namespace db::plan
