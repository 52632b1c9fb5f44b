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

bool is_head(const std::string& name) { return name == "embd" || name == "output_norm" || name == "logits"; }

}  // namespace

double bytes_per_element(const std::string& d) {
  const DType t = graph_dtype(d);
  const auto& info = dtype_info(t);
  return double(info.block_bytes) / double(info.block_size);
}

double PlanModel::params() const {
  const ModelConfig& c = config;
  const double E = c.n_embd, Q = double(c.n_head) * c.head_dim, KV = double(c.n_embd_kv());
  const double attn = 2 * E * Q + 2 * E * KV;
  const double dense_ffn = 3 * E * c.n_ff;
  const double moe_ffn = 3 * E * (double(n_expert) * expert_ff + shared_ff) + E * n_expert;
  const int moe_layers = moe() ? c.n_layer - n_dense_layers : 0;
  return c.n_layer * attn + (c.n_layer - moe_layers) * dense_ffn + moe_layers * moe_ffn + 2 * E * c.n_vocab;
}

double PlanModel::active_params() const {
  if (!moe()) return params();
  const ModelConfig& c = config;
  const double E = c.n_embd;
  const int moe_layers = c.n_layer - n_dense_layers;
  return params() - moe_layers * 3 * E * double(n_expert - n_expert_used) * expert_ff;
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

LayerCost Planner::cost_graph(const PlanModel& m, const Precision& p, int tp, int ffn_width, int64_t tokens, int seqs,
                              int new_per_seq, int past, bool with_head, double* head_s) {
  const std::string fmt_compute = compute_format(p);
  const Key key{tp, ffn_width, seqs, new_per_seq, past, tokens, p.weight, p.kv, fmt_compute};
  if (auto it = cache_.find(key); it != cache_.end()) {
    if (head_s) *head_s = it->second.second;
    return it->second.first;
  }
  const ModelConfig& c = m.config;
  ModelConfig s = c;
  s.n_layer = 1;
  s.n_head = c.n_head / tp;
  s.n_head_kv = std::max(1, c.n_head_kv / tp);
  // Block-quantized stand-ins (int4 as q4_0) need rows in whole 32-element blocks: a shard width
  // that is not is rounded up (engines pad the same way).
  const bool blocks = dtype_info(graph_dtype(p.weight)).block_size > 1;
  s.n_ff = std::max(32, blocks ? (ffn_width + 31) / 32 * 32 : ffn_width);
  s.n_vocab = int((c.n_vocab + tp - 1) / tp);
  const auto model = Model::meta(s, graph_dtype(p.weight));
  // Dense part: `tokens` tokens as one sequence (its attention is not used); attention part: one
  // sequence of new_per_seq tokens after `past`, then counted once per sequence.
  const int64_t dense_tokens = std::min<int64_t>(tokens, kChunk);
  const double scale = double(tokens) / double(dense_tokens);
  LayerCost lc;
  double head = 0;
  auto note_unknown = [&](const perf::OpEstimate& e) {
    if (!e.unknown.empty() && std::find(unknowns_.begin(), unknowns_.end(), e.unknown) == unknowns_.end())
      unknowns_.push_back(e.unknown);
  };
  // Dense part: `tokens` tokens as one sequence (its attention core is not used here).
  {
    const KvCache cache(s, int(dense_tokens), graph_dtype(p.kv), false);
    const ForwardGraph fg = build_forward(*model, cache, int(dense_tokens), 0, /*last_logits_only=*/false);
    for (const Node& n : fg.graph.nodes()) {
      if (n.op == Op::Leaf || n.op == Op::View || n.op == Op::Attention || n.op == Op::KvStore) continue;
      const perf::OpEstimate e = cost_.estimate(fg.graph, n, fmt_compute);
      note_unknown(e);
      if (is_head(n.out.name)) {
        head += e.seconds;
        continue;
      }
      const bool ffn = n.out.name.find(".ffn_") != std::string::npos;
      if (ffn && ffn_width == 0) continue;
      lc.dense += e.seconds * scale;
      if (ffn) {
        lc.ffn += e.seconds * scale;
        lc.ffn_overhead += e.overhead_s * scale;
      }
    }
  }
  // Attention core: one sequence of new_per_seq tokens after `past`, run for `seqs` sequences in
  // one batched kernel (work scales, the launch cost does not).
  if (seqs > 0 && new_per_seq > 0) {
    auto core_ops = [&](const ModelConfig& cfg) {
      const auto mm = Model::meta(cfg, graph_dtype(p.weight));
      const KvCache cache(cfg, past + new_per_seq, graph_dtype(p.kv), false);
      const ForwardGraph fg = build_forward(*mm, cache, new_per_seq, past, false);
      std::vector<perf::OpEstimate> ops;
      for (const Node& n : fg.graph.nodes())
        if (n.op == Op::Attention || n.op == Op::KvStore) ops.push_back(cost_.estimate(fg.graph, n, fmt_compute));
      return ops;
    };
    std::vector<perf::OpEstimate> ops = core_ops(s);
    if (m.mla_latent > 0) {
      // Absorbed MLA attends over the latent: per token the cache holds latent + rope values, and
      // each head does 2·(2·latent + rope) FLOPs per cached token. Two MQA stand-ins reproduce
      // those exactly: bytes from one with head_dim (latent + rope)/2, FLOPs from one with
      // head_dim (2·latent + rope)/2.
      ModelConfig bytes_cfg = s, flops_cfg = s;
      bytes_cfg.n_head_kv = flops_cfg.n_head_kv = 1;
      bytes_cfg.head_dim = bytes_cfg.n_rot = std::max(2, (m.mla_latent + m.mla_rope) / 2 / 2 * 2);
      flops_cfg.head_dim = flops_cfg.n_rot = std::max(2, (2 * m.mla_latent + m.mla_rope) / 2 / 2 * 2);
      const auto by_bytes = core_ops(bytes_cfg), by_flops = core_ops(flops_cfg);
      for (size_t i = 0; i < ops.size(); ++i) {
        ops[i] = by_bytes[i];
        ops[i].compute_s = std::max(by_bytes[i].compute_s, by_flops[i].compute_s);
        ops[i].seconds = std::max(ops[i].compute_s, ops[i].memory_s) + ops[i].overhead_s;
      }
    }
    for (const perf::OpEstimate& e : ops) {
      note_unknown(e);
      lc.attention += (e.seconds - e.overhead_s) * seqs + e.overhead_s;
    }
  }
  cache_[key] = {lc, head};
  if (head_s) *head_s = head;
  return lc;
}

LayerCost Planner::layer(const PlanModel& m, const Precision& p, int tp, int ffn_width, int64_t tokens, int seqs,
                         int new_per_seq, int past) {
  return cost_graph(m, p, tp, ffn_width, tokens, seqs, new_per_seq, past, false, nullptr);
}

double Planner::head(const PlanModel& m, const Precision& p, int tp, int64_t tokens) {
  double h = 0;
  cost_graph(m, p, tp, 0, tokens, 0, 0, 0, true, &h);
  return h * double(tokens) / double(std::min<int64_t>(tokens, kChunk));
}

double Planner::moe_ffn(const PlanModel& m, const Precision& p, const Layout& l, int64_t tokens) {
  // Experts are whole on their EP rank (ep > 1), or split over the TP group (ep = 1). Tokens pick
  // n_expert_used experts each, uniformly (balanced routing): a rank runs the experts it holds
  // that at least one token picked, each over its share of the tokens.
  const int ep = std::max(1, l.ep);
  const int split = ep > 1 ? 1 : l.tp;
  const double local_experts = double(m.n_expert) / ep;
  const double picks = double(tokens) * m.n_expert_used;  // token-expert pairs in the replica
  const double touched = local_experts * (1 - std::pow(1 - 1.0 / m.n_expert, picks));
  const double per_expert = std::max(1.0, picks / m.n_expert);
  const int64_t t = int64_t(std::ceil(per_expert));
  // Engines run all local experts as one grouped GEMM: the work adds up, the fixed per-op cost is
  // paid once.
  const LayerCost one = layer(m, p, 1, std::max(1, m.expert_ff / split), t, 0, 0, 0);
  double s = (one.ffn - one.ffn_overhead) * std::max(1.0, touched) + one.ffn_overhead;
  if (m.shared_ff > 0) s += layer(m, p, 1, std::max(1, m.shared_ff / l.tp), tokens, 0, 0, 0).ffn;
  if (ep > 1) {
    // Dispatch and combine: each token's hidden state to and from its experts.
    const double bytes = double(tokens) / ep * m.n_expert_used * m.config.n_embd * kActivationBytes;
    s += 2 * comm_.seconds(perf::Collective::AllToAll, bytes, {ep, 1});
  }
  return s;
}

double Planner::forward(const PlanModel& m, const Precision& p, const Layout& l, int seqs, int new_per_seq, int past) {
  const ModelConfig& c = m.config;
  const int mb = (seqs + l.pp - 1) / l.pp;  // micro-batch per pipeline stage
  const int attn_groups = l.attention_dp ? std::max(1, l.dp) : 1;
  const int tp_attn = std::max(1, l.tp / attn_groups);
  const int seqs_attn = (mb + attn_groups - 1) / attn_groups;
  const int64_t tokens = int64_t(mb) * new_per_seq;
  const int64_t tokens_attn = int64_t(seqs_attn) * new_per_seq;

  LayerCost attn = layer(m, p, tp_attn, 0, tokens_attn, seqs_attn, new_per_seq, past);
  if (m.window > 0 && past > m.window) {
    // Windowed layers attend to the last `window` tokens only; every full_every-th layer to all.
    const double full_share = m.full_every > 0 ? 1.0 / m.full_every : 0.0;
    const LayerCost windowed = layer(m, p, tp_attn, 0, tokens_attn, seqs_attn, new_per_seq, m.window);
    attn.attention = full_share * attn.attention + (1 - full_share) * windowed.attention;
  }
  const double ar_attn = comm_.seconds(perf::Collective::AllReduce, double(tokens_attn) * c.n_embd * kActivationBytes,
                                       {tp_attn, 1});
  const double dense_ffn = layer(m, p, l.tp, c.n_ff / l.tp, tokens, 0, 0, 0).ffn +
                           comm_.seconds(perf::Collective::AllReduce, double(tokens) * c.n_embd * kActivationBytes,
                                         {l.tp, 1});
  double ffn_moe = 0;
  if (m.moe()) ffn_moe = moe_ffn(m, p, l, tokens) + (l.ep > 1 ? 0 : comm_.seconds(perf::Collective::AllReduce,
                                                                                    double(tokens) * c.n_embd * kActivationBytes, {l.tp, 1}));
  const int moe_layers = m.moe() ? c.n_layer - m.n_dense_layers : 0;
  const double layers_s = c.n_layer * (attn.dense + attn.attention + ar_attn) + (c.n_layer - moe_layers) * dense_ffn +
                          moe_layers * ffn_moe;
  const double stage = layers_s / l.pp + head(m, p, l.tp, mb);
  const double send = l.pp > 1 ? comm_.seconds(perf::Collective::SendRecv, double(tokens) * c.n_embd * kActivationBytes,
                                               {2, l.tp})
                               : 0;
  return l.pp * (stage + send);
}

Memory Planner::memory(const PlanModel& m, const Precision& p, const Layout& l, int context, int seqs) {
  const ModelConfig& c = m.config;
  const double E = c.n_embd, D = c.head_dim;
  const int attn_groups = l.attention_dp ? std::max(1, l.dp) : 1;
  const int tp_attn = std::max(1, l.tp / attn_groups);
  const double kv_heads = std::max(1, c.n_head_kv / tp_attn);
  const double attn = (2 * E * D * (double(c.n_head) / tp_attn) + 2 * E * D * kv_heads);
  const double dense_ffn = 3 * E * c.n_ff / l.tp;
  const int moe_layers = m.moe() ? c.n_layer - m.n_dense_layers : 0;
  const int ep = std::max(1, l.ep);
  const double moe_ffn = m.moe() ? 3 * E * (double(m.n_expert) * m.expert_ff / (ep > 1 ? ep : l.tp) + double(m.shared_ff) / l.tp) +
                                       E * m.n_expert
                                 : 0;
  const double layers_per_stage = std::ceil(double(c.n_layer) / l.pp);
  const double moe_share = double(moe_layers) / c.n_layer;
  const double per_layer = attn + (1 - moe_share) * dense_ffn + moe_share * moe_ffn;
  const double embed = (l.pp > 1 ? 1 : 2) * E * c.n_vocab / l.tp;
  Memory mem;
  mem.weights = (layers_per_stage * per_layer + embed) * bytes_per_element(p.weight);
  const double kv_elems = m.kv_per_token > 0 ? m.kv_per_token : 2 * D * kv_heads;
  const double kv_per_seq = layers_per_stage * kv_elems * bytes_per_element(p.kv) * context;
  const int seqs_per_device = (seqs + attn_groups - 1) / attn_groups;
  mem.kv_cache = kv_per_seq * seqs_per_device;
  // Activations: one layer's intermediate tensors (f32 in the graph) for a full prefill chunk,
  // which engines reserve up front whatever the batch.
  const double chunk = double(kChunk);
  mem.activations = chunk * (4 * E + 2 * double(std::max(c.n_ff, m.expert_ff * std::max(1, m.n_expert_used))) / l.tp) * 4;
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
    DB_CHECK(m.n_expert % l.ep == 0, "[plan] EP{} does not divide the {} experts of {}", l.ep, m.n_expert, m.id);
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
      const LayerCost one = layer(m, r.precision, l.tp, c.n_ff / l.tp, seqs, seqs, 1, ctx_mid);
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
  std::vector<Layout> layouts;
  for (int tp : powers_of_two_dividing(r.count, c.n_head))
    if (c.n_head % tp == 0)
      for (int pp : powers_of_two_dividing(r.count / tp, c.n_layer)) {
        const int dp = r.count / (tp * pp);
        std::vector<int> eps = {1};
        if (r.model.moe())
          for (int ep = 2; ep <= tp && r.model.n_expert % ep == 0; ep *= 2) eps.push_back(ep);
        for (int ep : eps) layouts.push_back({tp, pp, ep, dp, false});
      }
  std::vector<Candidate> out;
  size_t done = 0;
  for (const Layout& l : layouts) {
    const Request probe = r;
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
